package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.LoraFile;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.LoraFusion;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * LoRA a (kohya, F16, per-module alphas) and b (diffusers 0.23, no alphas) fused into the tiny-a UNet and text
 * encoder, against diffusers 0.23.1 ({@code lora_unet}, {@code lora_text_encoder}). Tolerances of the golden
 * README: single forward passes abs 2e-05 (observed float32-vs-float64 ≤ 3.2e-06); fused weights abs 1e-06
 * (diffusers' fused weight follows the same float32 formula). The unfused official outputs at scale s equal
 * the fused ones at s up to float32 rounding (≤ 2.3e-06), so they are checked against fusing at s too.
 */
class LoraGoldenTest {

    private static final double ATOL = 2e-5;
    private static final double WEIGHT_ATOL = 1e-6;

    private static NDManager weights;
    private static UNet2DCondition unet;
    private static ClipTextEncoder text;
    private static LoraFusion unetLoras;
    private static LoraFusion textLoras;
    private static Map<String, Map<String, long[]>> targets;

    @BeforeAll
    static void load() {
        weights = EngineRuntime.newManager(Device.cpu());
        unet = UNet2DCondition.load(Golden.tinyA().resolve("sd/unet"), weights);
        text = ClipTextEncoder.load(Golden.tinyA().resolve("sd/text_encoder"), weights);
        unetLoras = new LoraFusion(unet, weights);
        textLoras = new LoraFusion(text, weights);
        targets = Map.of(LoraFile.UNET, LoraFusion.targets(unet), LoraFile.TEXT_ENCODER, LoraFusion.targets(text));
    }

    @AfterAll
    static void close() {
        weights.close();
    }

    private static Path lora(String name) {
        return Golden.tinyA().resolve("lora").resolve(name);
    }

    private static final Path A = lora("lora_a_kohya.safetensors");
    private static final Path B = lora("lora_b_diffusers.safetensors");

    /** Fuses each (file, scale) pair in order into both networks. */
    private static void fuse(NDManager m, Object... fileScalePairs) {
        List<LoraFusion.Scaled> u = new ArrayList<>();
        List<LoraFusion.Scaled> t = new ArrayList<>();
        for (int i = 0; i < fileScalePairs.length; i += 2) {
            double scale = ((Number) fileScalePairs[i + 1]).doubleValue();
            for (LoraFile.Layer l : LoraFile.read((Path) fileScalePairs[i], targets, m)) {
                (l.component().equals(LoraFile.UNET) ? u : t).add(new LoraFusion.Scaled(l, scale));
            }
        }
        unetLoras.fuse(u);
        textLoras.fuse(t);
    }

    private static void unfuse() {
        unetLoras.unfuse();
        textLoras.unfuse();
    }

    private static NDArray plainUNet(SafetensorsFile g, NDManager m) {
        return unet.forward(g.load("sample", m), 601f, g.load("encoder_hidden_states", m));
    }

    private static NDArray ssrUNet(SafetensorsFile g, NDManager m) {
        SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, m);
        unet.setSsr(layers, 0.5f, 77);
        try {
            return unet.forward(g.load("sample", m), 601f, g.load("encoder_hidden_states_ssr", m));
        } finally {
            unet.clearSsr();
        }
    }

    private static void check(SafetensorsFile g, NDManager m, String name, NDArray actual) {
        NDArray expected = g.load(name, m);
        Golden.assertClose(name, expected, actual, ATOL);
        System.out.printf("lora %s max abs error %.3g%n", name, Golden.maxAbsDiff(expected.toFloatArray(), actual.toFloatArray()));
    }

    @Test
    void fusedUNetWeightsFollowTheFormula() {
        try (SafetensorsFile g = Golden.caseTensors("lora_unet"); NDManager m = weights.newSubManager()) {
            fuse(m, A, 0.7);
            try {
                for (String module : List.of("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
                        "down_blocks.0.attentions.0.proj_in", "up_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj")) {
                    NDArray actual = unet.namedParameters().get(module + ".weight").get();
                    Golden.assertClose("fused " + module, g.load("a.fused0.7.weight." + module, m), actual, WEIGHT_ATOL);
                }
            } finally {
                unfuse();
            }
        }
    }

    @Test
    void kohyaLoraInThePlainUNetMatchesDiffusers() {
        try (SafetensorsFile g = Golden.caseTensors("lora_unet"); NDManager m = weights.newSubManager()) {
            NDArray before = plainUNet(g, m);
            check(g, m, "out_plain_nolora", before);
            try {
                fuse(m, A, 0.7);
                NDArray fused = plainUNet(g, m);
                check(g, m, "a.out_plain_fused0.7", fused);
                check(g, m, "a.out_plain_scale0.7", fused);
                fuse(m, A, 1.0);
                check(g, m, "a.out_plain_scale1", plainUNet(g, m));
            } finally {
                unfuse();
            }
            assertArrayEquals(before.toFloatArray(), plainUNet(g, m).toFloatArray(), "unfusing restores the original weights exactly");
            assertTrue(unetLoras.fusedModules().isEmpty());
        }
    }

    @Test
    void diffusersLoraInThePlainUNetMatchesDiffusers() {
        try (SafetensorsFile g = Golden.caseTensors("lora_unet"); NDManager m = weights.newSubManager()) {
            try {
                fuse(m, B, 0.7);
                assertEquals(192, unetLoras.fusedModules().size());
                NDArray fused = plainUNet(g, m);
                check(g, m, "b.out_plain_fused0.7", fused);
                check(g, m, "b.out_plain_scale0.7", fused);
                fuse(m, B, 1.0);
                check(g, m, "b.out_plain_scale1", plainUNet(g, m));
            } finally {
                unfuse();
            }
        }
    }

    @Test
    void twoLorasFuseOneAfterTheOther() {
        try (SafetensorsFile g = Golden.caseTensors("lora_unet"); NDManager m = weights.newSubManager()) {
            try {
                fuse(m, A, 0.7, B, 0.5);
                check(g, m, "ab.out_plain_fused", plainUNet(g, m));
                check(g, m, "ab.out_ssr_fused", ssrUNet(g, m));
            } finally {
                unfuse();
            }
        }
    }

    @Test
    void lorasInTheSsrUNetMatchTheOfficialCode() {
        try (SafetensorsFile g = Golden.caseTensors("lora_unet"); NDManager m = weights.newSubManager()) {
            check(g, m, "out_ssr_nolora", ssrUNet(g, m));
            try {
                for (String l : List.of("a", "b")) {
                    Path file = l.equals("a") ? A : B;
                    fuse(m, file, 0.7);
                    check(g, m, l + ".out_ssr_fused0.7", ssrUNet(g, m));
                    fuse(m, file, 1.0);
                    check(g, m, l + ".out_ssr_scale1", ssrUNet(g, m));
                }
            } finally {
                unfuse();
            }
        }
    }

    @Test
    void lorasInTheTextEncoderMatchDiffusers() {
        try (SafetensorsFile g = Golden.caseTensors("lora_text_encoder"); NDManager m = weights.newSubManager()) {
            NDArray ids = g.load("input_ids", m);
            NDArray before = text.forward(ids);
            check(g, m, "nolora.last_hidden_state", before);
            try {
                fuse(m, A, 0.7);
                for (String module : List.of("text_model.encoder.layers.0.self_attn.q_proj", "text_model.encoder.layers.0.mlp.fc1")) {
                    Golden.assertClose("fused " + module, g.load("a.fused0.7.weight." + module, m),
                            text.namedParameters().get(module + ".weight").get(), WEIGHT_ATOL);
                }
                assertEquals(18, textLoras.fusedModules().size());
                check(g, m, "a.fused0.7.last_hidden_state", text.forward(ids));
                check(g, m, "a.scale0.7.last_hidden_state", text.forward(ids));
                fuse(m, A, 1.0);
                check(g, m, "a.scale1.last_hidden_state", text.forward(ids));
                fuse(m, B, 0.7);
                check(g, m, "b.fused0.7.last_hidden_state", text.forward(ids));
                check(g, m, "b.scale0.7.last_hidden_state", text.forward(ids));
                fuse(m, B, 1.0);
                check(g, m, "b.scale1.last_hidden_state", text.forward(ids));
                fuse(m, A, 0.7, B, 0.5);
                check(g, m, "ab.fused.last_hidden_state", text.forward(ids));
            } finally {
                unfuse();
            }
            assertArrayEquals(before.toFloatArray(), text.forward(ids).toFloatArray(), "unfusing restores the original weights exactly");
        }
    }
}
