package io.github.ssrencoder.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code config.json} of a diffusers {@code ControlNetModel} (0.23.1 defaults for absent keys): the UNet part
 * it shares with {@link UNetConfig} (time embedding, down blocks, mid block; read by the same rules) plus the
 * conditioning embedding. Older files lack {@code conditioning_channels} and {@code global_pool_conditions};
 * they default to 3 and false.
 *
 * @param unet                 the shared part, as a UNet config (up block types mirror the down blocks)
 * @param embeddingChannels    {@code conditioning_embedding_out_channels}: one stride-2 step between entries
 * @param conditioningChannels channels of the control image (3)
 * @param bgr                  {@code controlnet_conditioning_channel_order == "bgr"}: the model flips the image's channels
 */
public record ControlNetConfig(UNetConfig unet, List<Integer> embeddingChannels, int conditioningChannels, boolean bgr) {

    public ControlNetConfig {
        embeddingChannels = List.copyOf(embeddingChannels);
    }

    /** Parses and validates {@code file}. */
    public static ControlNetConfig read(Path file) {
        return fromJson(file, JsonFiles.readObject(file));
    }

    static ControlNetConfig fromJson(Path file, JsonObject o) {
        String cls = JsonFiles.getString(file, o, "_class_name", "ControlNetModel");
        if (!cls.equals("ControlNetModel")) {
            throw ConfigValues.unsupported(file, "_class_name", cls, "expected ControlNetModel");
        }
        if (JsonFiles.getBoolean(file, o, "global_pool_conditions", false)) {
            throw ConfigValues.unsupported(file, "global_pool_conditions", true,
                    "ControlNets that pool their conditions (guess mode, e.g. shuffle) are not supported");
        }
        String order = JsonFiles.getString(file, o, "controlnet_conditioning_channel_order", "rgb");
        if (!order.equals("rgb") && !order.equals("bgr")) {
            throw ConfigValues.unsupported(file, "controlnet_conditioning_channel_order", order, "rgb or bgr expected");
        }
        List<Integer> embedding = ConfigValues.ints(file, o, "conditioning_embedding_out_channels", List.of(16, 32, 96, 256));
        int channels = JsonFiles.getInt(file, o, "conditioning_channels", 3);
        if (channels != 3) {
            throw ConfigValues.unsupported(file, "conditioning_channels", channels, "RGB control images have 3");
        }
        JsonObject shared = o.deepCopy();
        for (String key : List.of("controlnet_conditioning_channel_order", "conditioning_embedding_out_channels",
                "conditioning_channels", "global_pool_conditions")) {
            shared.remove(key);
        }
        shared.addProperty("_class_name", "UNet2DConditionModel");
        JsonArray up = new JsonArray();
        List<String> down = ConfigValues.strings(file, o, "down_block_types",
                List.of("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"));
        for (int i = down.size() - 1; i >= 0; i--) {
            up.add(down.get(i).equals("CrossAttnDownBlock2D") ? "CrossAttnUpBlock2D" : "UpBlock2D");
        }
        shared.add("up_block_types", up);
        UNetConfig unet = UNetConfig.fromJson(file, shared);
        return new ControlNetConfig(unet, embedding, channels, order.equals("bgr"));
    }

    /** How many times the conditioning embedding halves the control image (one stride-2 step per entry after the first). */
    public int embeddingDownscale() {
        return 1 << (embeddingChannels.size() - 1);
    }
}
