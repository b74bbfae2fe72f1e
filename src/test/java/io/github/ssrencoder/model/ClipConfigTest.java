package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipConfigTest {

    @Test
    void tinyConfigsResolveWithTransformersDefaults() {
        assertEquals(new ClipTextConfig(49408, 32, 64, 3, 4, 77, "quick_gelu", 1e-5),
                ClipTextConfig.read(Golden.tinyA().resolve("sd/text_encoder/config.json")));
        // The nested vision_config of a full CLIP config, absent keys (image_size, hidden_act, …) defaulted.
        assertEquals(new ClipVisionConfig(40, 64, 24, 4, 3, 224, 14, "quick_gelu", 1e-5),
                ClipVisionConfig.read(Golden.tinyA().resolve("image_encoder/config.json")));
    }

    @Test
    void inconsistentOrUnknownConfigsAreClearErrors(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("config.json");
        Files.writeString(f, "{\"model_type\": \"clip_text_model\", \"hidden_size\": 30, \"num_attention_heads\": 4}");
        WeightFileException e = assertThrows(WeightFileException.class, () -> ClipTextConfig.read(f));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("num_attention_heads 4"), e.getMessage());

        Files.writeString(f, "{\"model_type\": \"clip_vision_model\", \"hidden_act\": \"swish\"}");
        e = assertThrows(WeightFileException.class, () -> ClipVisionConfig.read(f));
        assertTrue(e.getMessage().contains("hidden_act 'swish'"), e.getMessage());

        Files.writeString(f, "{\"model_type\": \"vit\"}");
        e = assertThrows(WeightFileException.class, () -> ClipVisionConfig.read(f));
        assertTrue(e.getMessage().contains("model_type"), e.getMessage());

        Files.writeString(f, "{\"model_type\": \"clip\"}");
        e = assertThrows(WeightFileException.class, () -> ClipVisionConfig.read(f));
        assertTrue(e.getMessage().contains("vision_config"), e.getMessage());
    }

    @Test
    void activationNamesMapToTheirFunctions() {
        assertEquals(ClipMlp.Activation.QUICK_GELU, ClipMlp.Activation.parse("quick_gelu"));
        assertEquals(ClipMlp.Activation.GELU, ClipMlp.Activation.parse("gelu"));
        assertEquals(ClipMlp.Activation.GELU_TANH, ClipMlp.Activation.parse("gelu_pytorch_tanh"));
        try (ai.djl.ndarray.NDManager m = io.github.ssrencoder.nn.EngineRuntime.newManager(ai.djl.Device.cpu())) {
            float[] x = {-2f, -1f, 0f, 1f, 2f};
            float[] quick = ClipMlp.Activation.QUICK_GELU.apply(m.create(x)).toFloatArray();
            float[] exact = ClipMlp.Activation.GELU.apply(m.create(x)).toFloatArray();
            float[] tanh = ClipMlp.Activation.GELU_TANH.apply(m.create(x)).toFloatArray();
            double[] erfGelu = {-0.04550026389635842, -0.15865525393145707, 0, 0.8413447460685429, 1.9544997361036416};
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i] / (1 + Math.exp(-1.702 * x[i])), quick[i], 1e-6, "quick_gelu");
                assertEquals(erfGelu[i], exact[i], 1e-6, "gelu");
                double t = 0.5 * x[i] * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x[i] + 0.044715 * Math.pow(x[i], 3))));
                assertEquals(t, tanh[i], 1e-6, "gelu tanh");
            }
        }
    }
}
