package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.model.AutoencoderKL;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The half-precision path that CUDA takes by default, exercised on CPU through {@code -Dssr.precision=float16}:
 * weights held in float16, inputs converted on entry, float32 results, close to the float32 reference.
 */
class HalfPrecisionTest {

    @AfterEach
    void restore() {
        System.clearProperty(EngineRuntime.PRECISION_PROPERTY);
    }

    private static float relativeError(NDArray expected, NDArray actual) {
        return actual.sub(expected).abs().max().getFloat() / expected.abs().max().getFloat();
    }

    @Test
    void unetAndVaeHeldInFloat16StayCloseToTheReferenceAndAnswerInFloat32() {
        System.setProperty(EngineRuntime.PRECISION_PROPERTY, "float16");
        try (NDManager weights = EngineRuntime.newManager(Device.cpu()); SafetensorsFile unetCase = Golden.caseTensors("unet");
             SafetensorsFile vaeCase = Golden.caseTensors("vae")) {
            UNet2DCondition unet = UNet2DCondition.load(Golden.tinyA().resolve("sd/unet"), weights);
            assertEquals(DataType.FLOAT16, unet.computeType());
            NDArray out = unet.forward(unetCase.load("sample", weights), 601f, unetCase.load("encoder_hidden_states", weights));
            assertEquals(DataType.FLOAT32, out.getDataType());
            float unetError = relativeError(unetCase.load("out_plain", weights), out);
            assertTrue(unetError < 1e-2f, "UNet relative error " + unetError);

            AutoencoderKL vae = AutoencoderKL.load(Golden.tinyA().resolve("sd/vae"), weights);
            assertEquals(DataType.FLOAT16, vae.computeType());
            NDArray decoded = vae.decode(vaeCase.load("decode_input", weights));
            assertEquals(DataType.FLOAT32, decoded.getDataType());
            float vaeError = relativeError(vaeCase.load("decoded", weights), decoded);
            assertTrue(vaeError < 1e-2f, "VAE relative error " + vaeError);
            System.out.printf("float16 UNet relative error %.2e, VAE %.2e%n", unetError, vaeError);
        }
    }

    @Test
    void subjectGenerationRunsInFloat16() {
        System.setProperty(EngineRuntime.PRECISION_PROPERTY, "float16");
        try (SsrPipeline pipeline = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0);
             SafetensorsFile f = Golden.caseTensors("pipeline_t2i_ddim"); NDManager m = NDManager.newBaseManager()) {
            SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
            GenerationResult r = pipeline.generate(PipelineGoldenTest.request("pipeline_t2i_ddim", List.of(q),
                    "a red circle on a table", 0.5, "ddim"), ProgressListener.NONE);
            Latents got = r.latents().get(0);
            float error = relativeError(f.load("latents_final", m), m.create(got.data(), new ai.djl.ndarray.types.Shape(got.shape())));
            assertTrue(error < 2e-2f, "final latents relative error " + error);
        }
    }
}
