package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class AutoencoderKLGoldenTest {

    private static final double ATOL = 2e-4;

    private static NDManager weights;
    private static AutoencoderKL vae;
    private static SafetensorsFile golden;

    @BeforeAll
    static void load() {
        weights = EngineRuntime.newManager(Device.cpu());
        vae = AutoencoderKL.load(Golden.tinyA().resolve("sd/vae"), weights);
        golden = Golden.caseTensors("vae");
    }

    @AfterAll
    static void close() {
        golden.close();
        weights.close();
    }

    private static void check(NDManager m, String key, NDArray actual) {
        NDArray expected = golden.load(key, m);
        Golden.assertClose(key, expected, actual, ATOL);
        System.out.printf("vae %s max abs error %.3g%n", key, Golden.maxAbsDiff(expected.toFloatArray(), actual.toFloatArray()));
    }

    @Test
    void scalingFactorDefaultsToSd15Value() {
        assertEquals(0.18215f, vae.scalingFactor());
    }

    @Test
    void decodeMatchesDiffusersWithIntermediates() {
        try (NDManager m = weights.newSubManager()) {
            NDArray latents = golden.load("latents", m);
            NDArray input = latents.div(vae.scalingFactor());
            check(m, "decode_input", input);
            NDArray decoded = vae.decode(golden.load("decode_input", m), (name, value) -> {
                if (golden.contains("decode." + name)) {
                    check(m, "decode." + name, value);
                }
            });
            check(m, "decoded", decoded);
            check(m, "decoded_image_0_1", decoded.div(2).add(0.5).clip(0, 1));
        }
    }

    @Test
    void encodeMatchesDiffusersWithIntermediates() {
        try (NDManager m = weights.newSubManager()) {
            NDArray image = golden.load("encode_input", m);
            NDArray moments = vae.encodeMoments(image, (name, value) -> {
                if (golden.contains("encode." + name)) {
                    check(m, "encode." + name, value);
                }
            });
            int l = vae.config().latentChannels();
            check(m, "encode_logvar", moments.get(new NDIndex(":, {}:", l)).clip(-30, 20));
            NDArray mean = vae.encodeMean(image);
            check(m, "encode_mean", mean);
            check(m, "encode_mean_scaled", mean.mul(vae.scalingFactor()));
        }
    }
}
