package io.github.ssrencoder.model;

import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.WeightFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The {@code unet/config.json} of a diffusers {@code UNet2DConditionModel}, with diffusers 0.23.1's defaults for
 * absent keys, resolved per block. Only the SD1.x/SD2.x family is accepted (positional time embedding,
 * cross-attention down/up blocks, no class/added embeddings); anything else is refused naming the key.
 * {@code num_attention_heads}, which diffusers 0.23.1 itself refuses, is honoured with the meaning later
 * diffusers versions give it. {@code upcast_attention} is accepted and has no effect: attention is always
 * computed in float32.
 *
 * @param headsPerBlock          attention heads per down block ({@code num_attention_heads}, or
 *                               {@code attention_head_dim}, which SD configs use as the head count)
 * @param layersPerBlock         resnets per down block (up blocks have one more)
 * @param transformerLayersPerBlock transformer blocks per attention, per down block
 * @param onlyCrossAttention     per down block
 */
public record UNetConfig(Integer sampleSize, int inChannels, int outChannels, boolean centerInputSample, boolean flipSinToCos,
                         float freqShift, List<String> downBlockTypes, String midBlockType, List<String> upBlockTypes,
                         List<Boolean> onlyCrossAttention, List<Integer> blockOutChannels, List<Integer> layersPerBlock,
                         int downsamplePadding, float midBlockScaleFactor, String actFn, int normNumGroups, float normEps,
                         int crossAttentionDim, List<Integer> transformerLayersPerBlock, List<Integer> headsPerBlock,
                         boolean useLinearProjection, boolean upcastAttention, String resnetTimeScaleShift,
                         String timeEmbeddingType, int convInKernel, int convOutKernel) {

    private static final Set<String> DOWN_TYPES = Set.of("CrossAttnDownBlock2D", "DownBlock2D");
    private static final Set<String> UP_TYPES = Set.of("CrossAttnUpBlock2D", "UpBlock2D");

    public UNetConfig {
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        onlyCrossAttention = List.copyOf(onlyCrossAttention);
        blockOutChannels = List.copyOf(blockOutChannels);
        layersPerBlock = List.copyOf(layersPerBlock);
        transformerLayersPerBlock = List.copyOf(transformerLayersPerBlock);
        headsPerBlock = List.copyOf(headsPerBlock);
    }

    /** Number of down (and up) blocks. */
    public int numBlocks() {
        return blockOutChannels.size();
    }

    /** Parses and validates {@code file}. */
    public static UNetConfig read(Path file) {
        return fromJson(file, JsonFiles.readObject(file));
    }

    /** Validates a config object read from {@code file} (named in errors), e.g. one derived from an original yaml. */
    public static UNetConfig fromJson(Path file, JsonObject o) {
        String cls = JsonFiles.getString(file, o, "_class_name", "UNet2DConditionModel");
        if (!cls.equals("UNet2DConditionModel")) {
            throw ConfigValues.unsupported(file, "_class_name", cls, "expected UNet2DConditionModel");
        }
        String why = "only Stable Diffusion 1.x/2.x UNets are supported";
        for (String key : List.of("addition_embed_type", "class_embed_type", "num_class_embeds", "encoder_hid_dim",
                "encoder_hid_dim_type", "time_cond_proj_dim", "timestep_post_act", "time_embedding_dim",
                "time_embedding_act_fn", "reverse_transformer_layers_per_block", "cross_attention_norm",
                "projection_class_embeddings_input_dim", "addition_time_embed_dim")) {
            ConfigValues.requireAbsent(file, o, key, why);
        }
        ConfigValues.requireOneOf(file, o, "dual_cross_attention", why, "false");
        ConfigValues.requireOneOf(file, o, "resnet_skip_time_act", why, "false");
        ConfigValues.requireOneOf(file, o, "attention_type", why, "default");
        ConfigValues.requireOneOf(file, o, "resnet_time_scale_shift", why, "default");
        ConfigValues.requireOneOf(file, o, "time_embedding_type", why, "positional");
        ConfigValues.requireOneOf(file, o, "mid_block_type", why, "UNetMidBlock2DCrossAttn");
        ConfigValues.requireOneOf(file, o, "act_fn", why, "silu", "swish");
        ConfigValues.requireOneOf(file, o, "class_embeddings_concat", why, "false");
        if (JsonFiles.getDouble(file, o, "resnet_out_scale_factor", 1.0) != 1.0) {
            throw ConfigValues.unsupported(file, "resnet_out_scale_factor", o.get("resnet_out_scale_factor"), why);
        }
        if (o.has("mid_block_type") && o.get("mid_block_type").isJsonNull()) {
            throw ConfigValues.unsupported(file, "mid_block_type", "null", "a UNetMidBlock2DCrossAttn is required");
        }
        if (o.has("cross_attention_dim") && o.get("cross_attention_dim").isJsonArray()) {
            throw ConfigValues.unsupported(file, "cross_attention_dim", o.get("cross_attention_dim"), "one value for all blocks expected");
        }

        List<Integer> channels = ConfigValues.ints(file, o, "block_out_channels", List.of(320, 640, 1280, 1280));
        int n = channels.size();
        List<String> down = ConfigValues.strings(file, o, "down_block_types",
                List.of("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"));
        List<String> up = ConfigValues.strings(file, o, "up_block_types",
                List.of("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"));
        if (down.size() != n || up.size() != n) {
            throw WeightFileException.of(file, "'down_block_types' (" + down.size() + ") and 'up_block_types' (" + up.size()
                    + ") must have one entry per 'block_out_channels' (" + n + ")");
        }
        for (String t : down) {
            if (!DOWN_TYPES.contains(t)) {
                throw ConfigValues.unsupported(file, "down_block_types", t, "supported: " + DOWN_TYPES);
            }
        }
        for (String t : up) {
            if (!UP_TYPES.contains(t)) {
                throw ConfigValues.unsupported(file, "up_block_types", t, "supported: " + UP_TYPES);
            }
        }
        List<Integer> heads = ConfigValues.intsPerBlock(file, o, "num_attention_heads", n, null);
        if (heads == null) {
            heads = ConfigValues.intsPerBlock(file, o, "attention_head_dim", n, 8);
        }
        int groups = JsonFiles.getInt(file, o, "norm_num_groups", 32);
        if (groups < 1) {
            throw WeightFileException.of(file, "'norm_num_groups' must be at least 1, got " + groups);
        }
        for (int i = 0; i < n; i++) {
            if (channels.get(i) < 1 || heads.get(i) < 1) {
                throw WeightFileException.of(file, "block " + i + ": channels (" + channels.get(i) + ") and attention heads ("
                        + heads.get(i) + ") must be at least 1");
            }
            if (channels.get(i) % heads.get(i) != 0) {
                throw WeightFileException.of(file, "block " + i + ": " + channels.get(i) + " channels are not divisible by "
                        + heads.get(i) + " attention heads");
            }
            if (channels.get(i) % groups != 0) {
                throw WeightFileException.of(file, "block " + i + ": " + channels.get(i) + " channels are not divisible into "
                        + groups + " groups ('norm_num_groups')");
            }
        }
        int convIn = JsonFiles.getInt(file, o, "conv_in_kernel", 3);
        int convOut = JsonFiles.getInt(file, o, "conv_out_kernel", 3);
        if (convIn % 2 == 0 || convOut % 2 == 0) {
            throw WeightFileException.of(file, "'conv_in_kernel'/'conv_out_kernel' must be odd, got " + convIn + "/" + convOut);
        }
        int padding = JsonFiles.getInt(file, o, "downsample_padding", 1);
        if (padding != 0 && padding != 1) {
            throw ConfigValues.unsupported(file, "downsample_padding", padding, "0 or 1 expected");
        }
        Integer sampleSize = o.has("sample_size") && !o.get("sample_size").isJsonNull()
                ? JsonFiles.getInt(file, o, "sample_size", 0) : null;
        return new UNetConfig(sampleSize,
                JsonFiles.getInt(file, o, "in_channels", 4),
                JsonFiles.getInt(file, o, "out_channels", 4),
                JsonFiles.getBoolean(file, o, "center_input_sample", false),
                JsonFiles.getBoolean(file, o, "flip_sin_to_cos", true),
                (float) JsonFiles.getDouble(file, o, "freq_shift", 0),
                down,
                JsonFiles.getString(file, o, "mid_block_type", "UNetMidBlock2DCrossAttn"),
                up,
                ConfigValues.boolsPerBlock(file, o, "only_cross_attention", n, false),
                channels,
                ConfigValues.intsPerBlock(file, o, "layers_per_block", n, 2),
                padding,
                (float) JsonFiles.getDouble(file, o, "mid_block_scale_factor", 1),
                JsonFiles.getString(file, o, "act_fn", "silu"),
                groups,
                (float) JsonFiles.getDouble(file, o, "norm_eps", 1e-5),
                JsonFiles.getInt(file, o, "cross_attention_dim", 1280),
                ConfigValues.intsPerBlock(file, o, "transformer_layers_per_block", n, 1),
                heads,
                JsonFiles.getBoolean(file, o, "use_linear_projection", false),
                JsonFiles.getBoolean(file, o, "upcast_attention", false),
                JsonFiles.getString(file, o, "resnet_time_scale_shift", "default"),
                JsonFiles.getString(file, o, "time_embedding_type", "positional"),
                convIn, convOut);
    }
}
