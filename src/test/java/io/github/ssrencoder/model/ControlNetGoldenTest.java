package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The {@code controlnet_unet} case: ControlNet residuals (both models) and the SSR UNet that adds them. */
class ControlNetGoldenTest {

    private static final double ATOL = 2e-5;

    private static NDManager weights;
    private static UNet2DCondition unet;
    private static ControlNetModel controlnet;
    private static ControlNetModel controlnet2;
    private static SafetensorsFile golden;

    @BeforeAll
    static void load() {
        weights = EngineRuntime.newManager(Device.cpu());
        unet = UNet2DCondition.load(Golden.tinyA().resolve("sd/unet"), weights);
        controlnet = ControlNetModel.load(Golden.tinyA().resolve("controlnet"), weights);
        controlnet2 = ControlNetModel.load(Golden.tinyA().resolve("controlnet2"), weights);
        golden = Golden.caseTensors("controlnet_unet");
    }

    @AfterAll
    static void close() {
        golden.close();
        controlnet.close();
        controlnet2.close();
        weights.close();
    }

    @Test
    void configsResolveAsDiffusers() {
        assertEquals(List.of(4, 8, 12, 16), controlnet.config().embeddingChannels());
        assertEquals(8, controlnet.config().embeddingDownscale());
        assertTrue(!controlnet.config().bgr() && controlnet2.config().bgr());
        assertEquals(12, controlnet.numDownResiduals());
        assertEquals(338, controlnet.namedParameters().size());
    }

    @Test
    void controlImagesArePreparedAsTheOfficialPipelineDoes() {
        try (NDManager m = weights.newSubManager()) {
            Golden.assertClose("controlnet_cond", golden.load("controlnet_cond", m),
                    ControlImageProcessor.prepare(ImageFiles.readRgb(Golden.tinyA().resolve("control.png")), 64, 64, 2, m), 0);
            Golden.assertClose("cn2.controlnet_cond", golden.load("cn2.controlnet_cond", m),
                    ControlImageProcessor.prepare(ImageFiles.readRgb(Golden.tinyA().resolve("control2.png")), 64, 64, 2, m), 0);
        }
    }

    @Test
    void residualsAndEveryIntermediateMatchDiffusers() {
        try (NDManager m = weights.newSubManager()) {
            Set<String> compared = new HashSet<>();
            ControlResiduals r = controlnet.forward(golden.load("sample", m), 601f, golden.load("encoder_hidden_states", m),
                    golden.load("controlnet_cond", m), 0.8f, (name, value) -> {
                        String key = "controlnet." + name;
                        if (golden.contains(key)) {
                            Golden.assertClose(key, golden.load(key, m), value, ATOL);
                            compared.add(key);
                        }
                    });
            assertTrue(compared.containsAll(List.of("controlnet.time_embedding", "controlnet.conv_in",
                    "controlnet.cond_embedding.conv_in", "controlnet.cond_embedding.blocks.5", "controlnet.cond_embedding.conv_out",
                    "controlnet.down_blocks.3", "controlnet.mid_block", "controlnet.raw_down.11", "controlnet.raw_mid")), compared.toString());
            assertResiduals("", r, m);
        }
    }

    @Test
    void bgrModelFlipsTheControlImageItself() {
        try (NDManager m = weights.newSubManager()) {
            ControlResiduals r = controlnet2.forward(golden.load("sample", m), 601f, golden.load("encoder_hidden_states", m),
                    golden.load("cn2.controlnet_cond", m), 1.0f);
            assertResiduals("cn2.", r, m);
        }
    }

    private static void assertResiduals(String prefix, ControlResiduals r, NDManager m) {
        assertEquals(12, r.down().size());
        for (int j = 0; j < r.down().size(); j++) {
            String key = prefix + "down_block_res_samples." + j;
            Golden.assertClose(key, golden.load(key, m), r.down().get(j), ATOL);
        }
        Golden.assertClose(prefix + "mid_block_res_sample", golden.load(prefix + "mid_block_res_sample", m), r.mid(), ATOL);
    }

    @Test
    void ssrUNetWithResidualsMatchesOfficialLoop() {
        try (NDManager m = weights.newSubManager()) {
            SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, m);
            unet.setSsr(layers, 0.5f, 77);
            try {
                NDArray sample = golden.load("sample", m);
                NDArray states = golden.load("encoder_hidden_states", m);
                ControlResiduals r = controlnet.forward(sample, 601f, states, golden.load("controlnet_cond", m), 0.8f);
                NDArray out = unet.forward(sample, 601f, states, r, null);
                Golden.assertClose("unet_out", golden.load("unet_out", m), out, ATOL);
                System.out.printf("controlnet_unet unet_out max abs error %.3g%n",
                        Golden.maxAbsDiff(golden.load("unet_out", m).toFloatArray(), out.toFloatArray()));
                Golden.assertClose("unet_out_no_control", golden.load("unet_out_no_control", m),
                        unet.forward(sample, 601f, states), ATOL);
            } finally {
                unet.clearSsr();
            }
        }
    }

    @Test
    void residualsOfTwoNetsAddUp() {
        try (NDManager m = weights.newSubManager()) {
            NDArray sample = golden.load("sample", m);
            NDArray states = golden.load("encoder_hidden_states", m);
            ControlResiduals a = controlnet.forward(sample, 601f, states, golden.load("controlnet_cond", m), 0.8f);
            ControlResiduals b = controlnet2.forward(sample, 601f, states, golden.load("cn2.controlnet_cond", m), 1.0f);
            ControlResiduals sum = a.plus(b);
            assertArrayEquals(a.mid().add(b.mid()).toFloatArray(), sum.mid().toFloatArray());
        }
    }
}
