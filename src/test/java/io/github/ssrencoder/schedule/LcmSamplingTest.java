package io.github.ssrencoder.schedule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.pipeline.TorchGenerator;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.TraceTolerance;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * LCM few-step sampling against diffusers 0.23.1's {@code LCMScheduler} (golden cases {@code schedulers_lcm}
 * and the scheduler half of {@code pipeline_lcm}): timesteps taken from the distillation schedule, the
 * boundary-condition scalings in float32, the consistency estimate, the re-noising from the run's generator
 * at every step but the last, and the refusal of more steps than the distillation schedule has.
 */
class LcmSamplingTest {

    /** Tolerance of the golden README §8 for scheduler traces: absolute 1e-4 or relative 2e-6. */
    private static final double ATOL = 1e-4;
    private static final double RTOL = 2e-6;

    private static final Path SD15 = Golden.tinyA().resolve("sd/scheduler/scheduler_config.json");
    private static final String CLS = "LCMScheduler.";

    private static SafetensorsFile golden;
    private static JsonObject goldenJson;
    private static final Map<String, double[]> WORST = new TreeMap<>();

    @TempDir
    Path tmp;

    @BeforeAll
    static void open() {
        golden = Golden.caseTensors("schedulers_lcm");
        goldenJson = Golden.caseJson("schedulers_lcm").getAsJsonObject();
    }

    @AfterAll
    static void close() {
        golden.close();
        WORST.forEach((k, v) -> System.out.printf("lcm golden %-28s max abs %.3g, max rel %.3g%n", k, v[0], v[1]));
    }

    @ParameterizedTest(name = "N={0}")
    @ValueSource(ints = {4, 8})
    void replaysReferenceTraceThroughTheLastStep(int n) {
        SchedulerConfig config = SchedulerConfig.read(SD15);
        String prefix = CLS + "N" + n + ".";
        try (NDManager m = EngineRuntime.newManager(Device.cpu());
             LcmScheduler s = (LcmScheduler) Schedulers.create("lcm", config)) {
            assertEquals("lcm", s.name());
            assertArrayEquals(golden.load(CLS + "alphas_cumprod", m).toFloatArray(), TrainingSchedule.alphasCumprod(config),
                    "alphas_cumprod");

            s.setTimesteps(n);
            float[] expectedT = golden.load(prefix + "timesteps", m).toType(DataType.FLOAT32, false).toFloatArray();
            assertArrayEquals(expectedT, s.timesteps(), prefix + "timesteps");
            assertEquals(n, s.numSteps());
            float init = goldenJson.getAsJsonObject("runs").getAsJsonObject("N" + n).get("init_noise_sigma").getAsFloat();
            assertEquals(init, s.initNoiseSigma(), 0f, prefix + "init_noise_sigma");

            NDArray outputs = golden.load("trace.model_outputs", m);
            NDArray sample = golden.load("trace.noise", m).mul(s.initNoiseSigma());
            check("N" + n, prefix + "sample_0", golden.load(prefix + "sample_0", m), sample);
            for (int i = 0; i < n; i++) {
                String step = prefix + "step" + i + ".";
                int t = (int) expectedT[i];
                check("N" + n, step + "scaled_model_input", golden.load(step + "scaled_model_input", m), s.scaleModelInput(sample, i));
                assertEquals(golden.load(step + "c_skip", m).getFloat(), s.cSkip(t), 0f, step + "c_skip (float32, exact)");
                assertEquals(golden.load(step + "c_out", m).getFloat(), s.cOut(t), 0f, step + "c_out (float32, exact)");
                NDArray modelOutput = outputs.get(i);
                NDArray denoised = s.denoised(modelOutput, i, sample);
                check("N" + n, step + "denoised", golden.load(step + "denoised", m), denoised);

                boolean last = i == n - 1;
                NoiseSource noise = last
                        ? (shape, manager) -> fail(step + ": the last step must not draw noise")
                        : recorded(step + "noise");
                NDArray next = s.step(modelOutput, i, sample, noise);
                assertTrue(next.getManager() == sample.getManager(), "step result belongs to the sample's manager");
                check("N" + n, step + "prev_sample", golden.load(step + "prev_sample", m), next);
                if (last) {
                    assertArrayEquals(denoised.toFloatArray(), next.toFloatArray(), step + ": the last step returns the estimate");
                }
                sample = next;
            }
        }
    }

    /**
     * The scheduler half of {@code pipeline_lcm}: the official pipeline's guided noise predictions, stepped with
     * noise from a generator seeded with the {@code generate(seed=...)} argument, give the recorded latents;
     * the three draws are the recorded step noise bit for bit, although the pipeline got explicit latents.
     */
    @Test
    void replaysOfficialPipelineStepsWithNoiseFromTheSeededGenerator() {
        JsonObject json = Golden.caseJson("pipeline_lcm").getAsJsonObject();
        long seed = json.getAsJsonObject("arguments").get("seed").getAsLong();
        TorchGenerator generator = new TorchGenerator(seed);
        try (SafetensorsFile f = Golden.caseTensors("pipeline_lcm");
             NDManager m = EngineRuntime.newManager(Device.cpu());
             LcmScheduler s = (LcmScheduler) Schedulers.create("lcm", SchedulerConfig.read(SD15))) {
            s.setTimesteps(4);
            assertArrayEquals(f.load("timesteps", m).toType(DataType.FLOAT32, false).toFloatArray(), s.timesteps(), "timesteps");
            NDArray latents = f.load("latents_init", m).mul(s.initNoiseSigma());
            for (int i = 0; i < 4; i++) {
                String step = "step" + i + ".";
                check("pipeline_lcm", step + "latents_in", f.load(step + "latents_in", m), latents);
                NDArray eps = f.load(step + "noise_pred_guided", m);
                int t = (int) s.timesteps()[i];
                assertEquals(f.load(step + "c_skip", m).getFloat(), s.cSkip(t), 0f, step + "c_skip");
                assertEquals(f.load(step + "c_out", m).getFloat(), s.cOut(t), 0f, step + "c_out");
                check("pipeline_lcm", step + "denoised", f.load(step + "denoised", m), s.denoised(eps, i, latents));
                List<float[]> drawn = new ArrayList<>();
                NDArray next = s.step(eps, i, latents, (shape, manager) -> {
                    float[] z = generator.randn(shape.getShape());
                    drawn.add(z);
                    return manager.create(z, shape);
                });
                if (i < 3) {
                    assertEquals(1, drawn.size(), step + ": one noise draw");
                    assertArrayEquals(f.load(step + "noise", m).toFloatArray(), drawn.get(0), step + "noise (bit for bit)");
                } else {
                    assertEquals(0, drawn.size(), "the last step draws no noise");
                }
                check("pipeline_lcm", step + "latents_out", f.load(step + "latents_out", m), next);
                latents = next;
            }
            check("pipeline_lcm", "latents_final", f.load("latents_final", m), latents);
        }
    }

    static Stream<Arguments> timestepTable() {
        JsonObject table = Golden.caseJson("schedulers_lcm").getAsJsonObject().getAsJsonObject("timestep_table")
                .getAsJsonObject("timesteps");
        List<Arguments> out = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : table.entrySet()) {
            String[] parts = e.getKey().split("\\.");
            int orig = Integer.parseInt(parts[0].substring("orig".length()));
            int n = Integer.parseInt(parts[1].substring(1));
            JsonArray values = e.getValue().getAsJsonArray();
            float[] expected = new float[values.size()];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = values.get(i).getAsInt();
            }
            out.add(Arguments.of(orig, n, expected));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "original_inference_steps={0} N={1}")
    @MethodSource("timestepTable")
    void timestepsWalkDownTheDistillationSchedule(int orig, int n, float[] expected) {
        // the SD1.5 file has no original_inference_steps: 50 is the class default
        SchedulerConfig config = SchedulerConfig.read(SD15);
        if (orig != LcmScheduler.DEFAULT_ORIGINAL_INFERENCE_STEPS) {
            config = config.withOriginalInferenceSteps(orig);
        }
        try (Scheduler s = Schedulers.create("lcm", config)) {
            s.setTimesteps(n);
            assertArrayEquals(expected, s.timesteps(), "orig " + orig + " N " + n);
        }
    }

    @Test
    void moreStepsThanTheDistillationScheduleAreRefusedWithTheLimit() {
        try (Scheduler s = Schedulers.create("lcm", SchedulerConfig.read(SD15))) {
            s.setTimesteps(50);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(51));
            assertTrue(e.getMessage().contains("original_inference_steps = 50") && e.getMessage().contains("got 51"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(0));
        }
        try (Scheduler s = Schedulers.create("lcm", SchedulerConfig.read(SD15).withOriginalInferenceSteps(100))) {
            s.setTimesteps(100);
            assertEquals(100, s.numSteps());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(101));
            assertTrue(e.getMessage().contains("original_inference_steps = 100"), e.getMessage());
        }
    }

    @Test
    void lcmOptionsAreReadFromTheSchedulerConfig() throws IOException {
        assertNull(SchedulerConfig.read(SD15).originalInferenceSteps(), "absent: the class default");
        assertNull(SchedulerConfig.read(SD15).timestepScaling(), "absent: the class default");
        Path file = tmp.resolve("scheduler_config.json");
        Files.writeString(file, """
                {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                 "original_inference_steps": 100, "timestep_scaling": 5.0}""");
        SchedulerConfig c = SchedulerConfig.read(file);
        assertEquals(100, c.originalInferenceSteps());
        assertEquals(5.0, c.timestepScaling());
        try (LcmScheduler s = (LcmScheduler) Schedulers.create("lcm", c)) {
            s.setTimesteps(4);
            assertArrayEquals(new float[] {999, 749, 499, 249}, s.timesteps());
            float scaled = 249 * 5.0f;
            assertEquals(scaled / (float) Math.sqrt(scaled * scaled + 0.25f), s.cOut(249), 0f);
        }
        Files.writeString(file, "{\"beta_start\": 0.00085, \"beta_end\": 0.012, \"original_inference_steps\": 2000}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.read(file));
        assertTrue(e.getMessage().contains("original_inference_steps") && e.getMessage().contains(file.toString()), e.getMessage());
    }

    /**
     * With a denoiser returning the true noise (or velocity) of the current sample with respect to a fixed x0,
     * every step re-noises {@code c_out·x0 + c_skip·x_t} to the next timestep with the drawn noise, and the last
     * step returns it: the same for epsilon and v prediction.
     */
    @ParameterizedTest
    @ValueSource(strings = {"epsilon", "v_prediction"})
    void perfectDenoiserGivesTheBoundaryConditionedCleanLatents(String prediction) {
        SchedulerConfig c = SchedulerConfig.read(SD15).withPredictionType(prediction);
        float[] ac = TrainingSchedule.alphasCumprod(c);
        ai.djl.ndarray.types.Shape shape = new ai.djl.ndarray.types.Shape(1, 4, 6, 5);
        try (NDManager m = EngineRuntime.newManager(Device.cpu());
             LcmScheduler s = (LcmScheduler) Schedulers.create("lcm", c)) {
            s.setTimesteps(4);
            NDArray x0 = m.randomNormal(shape);
            NDArray eps = m.randomNormal(shape);
            NDArray z = m.randomNormal(shape);
            float[] t = s.timesteps();
            NDArray sample = x0.mul((float) Math.sqrt(ac[(int) t[0]])).add(eps.mul((float) Math.sqrt(1 - ac[(int) t[0]])));
            for (int i = 0; i < 4; i++) {
                int ti = (int) t[i];
                double a = ac[ti];
                // the true noise of the current sample with respect to x0
                NDArray noise = sample.sub(x0.mul((float) Math.sqrt(a))).div((float) Math.sqrt(1 - a));
                NDArray out = prediction.equals("epsilon") ? noise
                        : noise.mul((float) Math.sqrt(a)).sub(x0.mul((float) Math.sqrt(1 - a)));
                NDArray estimate = x0.mul(s.cOut(ti)).add(sample.mul(s.cSkip(ti)));
                NDArray expected = i == 3 ? estimate
                        : estimate.mul((float) Math.sqrt(ac[(int) t[i + 1]])).add(z.mul((float) Math.sqrt(1 - ac[(int) t[i + 1]])));
                NDArray next = s.step(out, i, sample, (sh, manager) -> z.duplicate());
                Golden.assertClose(prediction + " step " + i, expected, next, 1e-4);
                sample = next;
            }
        }
    }

    @Test
    void intermediateStepsNeedANoiseSource() {
        try (NDManager m = EngineRuntime.newManager(Device.cpu());
             Scheduler s = Schedulers.create("lcm", SchedulerConfig.read(SD15))) {
            s.setTimesteps(2);
            NDArray x = m.ones(new ai.djl.ndarray.types.Shape(1, 4, 2, 2));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.step(x, 0, x, null));
            assertTrue(e.getMessage().contains("noise"), e.getMessage());
            assertEquals(x.getShape(), s.step(x, 1, x, null).getShape(), "the last step needs none");
        }
    }

    private static NoiseSource recorded(String key) {
        return (shape, manager) -> {
            NDArray z = golden.load(key, manager);
            assertEquals(shape, z.getShape(), key + ": shape asked for");
            return z;
        };
    }

    /** Every element must be within the absolute or the relative tolerance; records the worst errors. */
    private static void check(String group, String what, NDArray expected, NDArray actual) {
        TraceTolerance.check(WORST, group, what, expected, actual, ATOL, RTOL);
    }
}
