package io.github.ssrencoder.schedule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.TraceTolerance;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Replays the diffusers 0.23.1 traces of the {@code schedulers} golden case: every scheduler built from the
 * tiny-a SD1.5 scheduler config, for 10 and 25 inference steps, must reproduce the reference's timesteps,
 * noise levels, initial noise scale, scaled model inputs and the first five denoising steps.
 */
class SchedulerGoldenTest {

    /** Tolerance of the golden README §8 for scheduler outputs: absolute 1e-4 or relative 2e-6. */
    private static final double ATOL = 1e-4;
    private static final double RTOL = 2e-6;
    private static final int TRACED_STEPS = 5;

    private static SafetensorsFile golden;
    private static JsonObject goldenJson;
    private static final Map<String, double[]> WORST = new TreeMap<>();

    @BeforeAll
    static void open() {
        golden = Golden.caseTensors("schedulers");
        goldenJson = Golden.caseJson("schedulers").getAsJsonObject();
    }

    @AfterAll
    static void close() {
        golden.close();
        WORST.forEach((k, v) -> System.out.printf("scheduler golden %-40s max abs %.3g, max rel %.3g%n", k, v[0], v[1]));
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        String[][] classes = {
            {"unipc", "UniPCMultistepScheduler"},
            {"ddim", "DDIMScheduler"},
            {"pndm", "PNDMScheduler"},
            {"euler", "EulerDiscreteScheduler"},
            {"euler-a", "EulerAncestralDiscreteScheduler"},
            {"dpmpp-2m", "DPMSolverMultistepScheduler"},
        };
        for (String[] c : classes) {
            for (int n : new int[] {10, 25}) {
                out.add(Arguments.of(c[0], c[1], n));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{1} N={2}")
    @MethodSource("cases")
    void replaysReferenceTrace(String name, String cls, int n) {
        SchedulerConfig config = SchedulerConfig.read(Golden.tinyA().resolve("sd/scheduler/scheduler_config.json"));
        String prefix = cls + ".N" + n + ".";
        try (NDManager m = EngineRuntime.newManager(Device.cpu());
             Scheduler s = Schedulers.create(name, config)) {
            assertEquals(name, s.name());
            float[] ac = TrainingSchedule.alphasCumprod(config);
            checkTable(cls + ".alphas_cumprod", golden.load(cls + ".alphas_cumprod", m).toFloatArray(), ac);

            s.setTimesteps(n);
            float[] expectedT = golden.load(prefix + "timesteps", m).toType(DataType.FLOAT32, false).toFloatArray();
            assertArrayEquals(expectedT, s.timesteps(), prefix + "timesteps");
            assertEquals(expectedT.length, s.numSteps());
            if (golden.keys().contains(prefix + "sigmas")) {
                checkTable(prefix + "sigmas", golden.load(prefix + "sigmas", m).toFloatArray(), sigmasOf(s));
            }
            float init = goldenJson.getAsJsonObject("schedulers").getAsJsonObject(cls).getAsJsonObject("N" + n)
                    .get("init_noise_sigma").getAsFloat();
            assertEquals(init, s.initNoiseSigma(), 0f, prefix + "init_noise_sigma");

            NDArray outputs = golden.load("trace.model_outputs", m);
            NDArray sample = golden.load("trace.noise", m).mul(s.initNoiseSigma());
            check(cls, prefix + "sample_0", golden.load(prefix + "sample_0", m), sample);
            for (int i = 0; i < TRACED_STEPS; i++) {
                String step = prefix + "step" + i + ".";
                check(cls, step + "scaled_model_input", golden.load(step + "scaled_model_input", m), s.scaleModelInput(sample, i));
                String noiseKey = step + "noise";
                NoiseSource noise = (shape, manager) -> {
                    NDArray z = golden.load(noiseKey, manager);
                    assertEquals(shape, z.getShape(), noiseKey + ": shape asked for");
                    return z;
                };
                NDArray next = s.step(outputs.get(i), i, sample, noise);
                assertTrue(next.getManager() == sample.getManager(), "step result belongs to the sample's manager");
                check(cls, step + "prev_sample", golden.load(step + "prev_sample", m), next);
                sample = next;
            }
        }
    }

    static float[] sigmasOf(Scheduler s) {
        if (s instanceof EulerScheduler e) {
            return e.sigmas();
        }
        if (s instanceof DpmSolverMultistepScheduler d) {
            return d.sigmas();
        }
        if (s instanceof UniPcMultistepScheduler u) {
            return u.sigmas();
        }
        throw new IllegalArgumentException(s.name() + " has no noise levels");
    }

    /** Tables (alphas, noise levels) must be bit-identical to the reference's float32 ones. */
    private static void checkTable(String what, float[] expected, float[] actual) {
        assertArrayEquals(expected, actual, what);
    }

    /** Every element must be within the absolute or the relative tolerance; records the worst errors. */
    private static void check(String cls, String what, NDArray expected, NDArray actual) {
        TraceTolerance.check(WORST, cls, what, expected, actual, ATOL, RTOL);
    }
}
