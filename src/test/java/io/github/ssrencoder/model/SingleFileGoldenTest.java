package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The golden case {@code single_file}: networks loaded from the original-layout single files give the outputs of
 * diffusers 0.23.1's {@code from_single_file} (README tolerances: forward passes abs 2e-05, VAE abs 2e-04).
 */
class SingleFileGoldenTest {

    private static final double ATOL = 2e-5;
    private static final double VAE_ATOL = 2e-4;

    private static NDManager weights;
    private static SafetensorsFile golden;

    @BeforeAll
    static void open() {
        EngineRuntime.configureOffline(0);
        weights = EngineRuntime.newManager(Device.cpu());
        golden = Golden.caseTensors("single_file");
    }

    @AfterAll
    static void close() {
        golden.close();
        weights.close();
    }

    private static Path file(String name) {
        return Golden.tinyA().resolve("single-file").resolve(name);
    }

    private static SingleFileModels load(String name, boolean ema) {
        return SingleFileModels.load(file(name), Golden.tinyA().resolve("sd/text_encoder/config.json"), ema, weights);
    }

    private static void checkUNet(SingleFileModels models, String expected) {
        try (NDManager m = weights.newSubManager()) {
            float t = golden.load("timestep", m).toLongArray()[0];
            NDArray out = models.unet().forward(golden.load("sample", m), t, golden.load("encoder_hidden_states", m));
            Golden.assertClose(expected, golden.load(expected, m), out, ATOL);
        }
    }

    private static void checkTextAndVae(SingleFileModels models, String prefix) {
        try (NDManager m = weights.newSubManager()) {
            Golden.assertClose(prefix + "text_last_hidden_state", golden.load(prefix + "text_last_hidden_state", m),
                    models.textEncoder().forward(golden.load("input_ids", m)), ATOL);
            NDArray z = golden.load("vae_latents", m).div(models.vae().scalingFactor());
            Golden.assertClose(prefix + "vae_decoded", golden.load(prefix + "vae_decoded", m), models.vae().decode(z), VAE_ATOL);
        }
    }

    @Test
    void halfPrecisionSafetensorsGivesTheFp16Outputs() {
        SingleFileModels models = load("model.fp16.safetensors", false);
        checkUNet(models, "fp16.unet_out");
        checkTextAndVae(models, "fp16.");
    }

    @Test
    void float32CkptGivesTheFolderOutputs() {
        SingleFileModels models = load("model.ckpt", false);
        checkUNet(models, "folder.unet_out");
        checkTextAndVae(models, "folder.");
    }

    @Test
    void emaCheckpointUsesTheRegularWeightsByDefault() {
        SingleFileModels models = load("model-ema.ckpt", false);
        checkUNet(models, "ema_default.unet_out");
        checkTextAndVae(models, "fp16.");
    }

    @Test
    void emaCheckpointWithTheEmaOptionUsesTheEmaCopy() {
        SingleFileModels models = load("model-ema.ckpt", true);
        checkUNet(models, "ema_extract.unet_out");
        assertEquals(8, models.unet().config().normNumGroups(), "norm_num_groups from the yaml");
    }
}
