package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** ControlNet configs: diffusers' defaults, the shared UNet part, and what is refused. */
class ControlNetConfigTest {

    private static final Path FILE = Golden.tinyA().resolve("controlnet/config.json");

    private static JsonObject tinyConfig() {
        return Golden.json(FILE).getAsJsonObject();
    }

    @Test
    void sharedPartReadsAsTheUNetConfig() {
        ControlNetConfig c = ControlNetConfig.read(FILE);
        UNetConfig unet = UNetConfig.read(Golden.tinyA().resolve("sd/unet/config.json"));
        assertEquals(unet.blockOutChannels(), c.unet().blockOutChannels());
        assertEquals(unet.headsPerBlock(), c.unet().headsPerBlock());
        assertEquals(unet.upBlockTypes(), c.unet().upBlockTypes());
        assertEquals(3, c.conditioningChannels());
    }

    @Test
    void absentEmbeddingChannelsTakeTheDiffusersDefault() {
        JsonObject o = tinyConfig();
        o.remove("conditioning_embedding_out_channels");
        assertEquals(List.of(16, 32, 96, 256), ControlNetConfig.fromJson(FILE, o).embeddingChannels());
    }

    @Test
    void unsupportedSettingsAreRefusedNamingTheKey() {
        Map<String, Object> bad = Map.of("global_pool_conditions", true, "controlnet_conditioning_channel_order", "gbr",
                "conditioning_channels", 1, "_class_name", "UNet2DConditionModel", "class_embed_type", "projection");
        bad.forEach((key, value) -> {
            JsonObject o = tinyConfig();
            if (value instanceof Boolean b) {
                o.addProperty(key, b);
            } else if (value instanceof Number n) {
                o.addProperty(key, n);
            } else {
                o.addProperty(key, (String) value);
            }
            WeightFileException e = assertThrows(WeightFileException.class, () -> ControlNetConfig.fromJson(FILE, o), key);
            assertTrue(e.getMessage().contains(key) && e.getMessage().contains(FILE.toString()), e.getMessage());
        });
    }
}
