package io.github.ssrencoder.schedule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Behaviour beyond the golden traces: config parsing and rejection, the reference's timestep formulas for
 * the other spacings, exactness of every update rule for a perfect denoiser (epsilon and v prediction,
 * scaled-linear and linear betas), and that multistep history is freed.
 */
class SchedulerBehaviourTest {

    private static final Path SD15 = Golden.tinyA().resolve("sd/scheduler/scheduler_config.json");
    private static final Shape SHAPE = new Shape(2, 4, 6, 5);

    @TempDir
    Path tmp;

    @Test
    void unknownSchedulerNameIsRejectedWithTheSupportedNames() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create("heun", SchedulerConfig.read(SD15)));
        for (String name : Schedulers.names()) {
            assertTrue(e.getMessage().contains(name), e.getMessage());
        }
        assertEquals("unipc", Schedulers.names().get(0));
    }

    @Test
    void sd15ConfigIsReadWithTheReferenceDefaults() {
        SchedulerConfig c = SchedulerConfig.read(SD15);
        assertEquals(1000, c.numTrainTimesteps());
        assertEquals(0.00085, c.betaStart());
        assertEquals(0.012, c.betaEnd());
        assertEquals("scaled_linear", c.betaSchedule());
        assertEquals(1, c.stepsOffset());
        assertEquals(Boolean.FALSE, c.setAlphaToOne());
        assertEquals(Boolean.TRUE, c.skipPrkSteps());
        assertEquals("epsilon", c.predictionType());
        assertNull(c.timestepSpacing(), "absent spacing is resolved per scheduler");
        assertEquals(c, SchedulerConfig.stableDiffusion15().withTimestepSpacing(null));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "\"trained_betas\": [0.1, 0.2]",
        "\"clip_sample\": true",
        "\"beta_schedule\": \"squaredcos_cap_v2\"",
        "\"prediction_type\": \"sample\"",
        "\"timestep_spacing\": \"karras\"",
        "\"solver_order\": 3",
        "\"algorithm_type\": \"sde-dpmsolver++\"",
        "\"thresholding\": true",
    })
    void unsupportedConfigValuesAreRejectedNamingTheKey(String entry) throws IOException {
        Path file = tmp.resolve("scheduler_config.json");
        Files.writeString(file, "{\"beta_start\": 0.00085, \"beta_end\": 0.012, " + entry + "}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.read(file));
        String key = entry.substring(1, entry.indexOf('"', 1));
        assertTrue(e.getMessage().contains(key) && e.getMessage().contains(file.toString()), e.getMessage());
    }

    @Test
    void unsupportedValuesListWhatIsSupported() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SchedulerConfig.stableDiffusion15().withPredictionType("sample"));
        assertTrue(e.getMessage().contains("epsilon, v_prediction"), e.getMessage());
    }

    @Test
    void pndmWithoutSkipPrkStepsIsRejected() {
        SchedulerConfig c = new SchedulerConfig(1000, 0.00085, 0.012, "scaled_linear", 1, false, "epsilon", null, null, false, null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Schedulers.create("pndm", c));
        assertTrue(e.getMessage().contains("skip_prk_steps"), e.getMessage());
    }

    @Test
    void trailingSpacingEndsEveryGridAtTheLastTrainingStep() {
        SchedulerConfig c = SchedulerConfig.stableDiffusion15().withTimestepSpacing("trailing");
        // np.arange(1000, 0, -100).round() - 1
        float[] expected = {999, 899, 799, 699, 599, 499, 399, 299, 199, 99};
        for (String name : List.of("ddim", "euler", "euler-a", "dpmpp-2m", "unipc")) {
            try (Scheduler s = Schedulers.create(name, c)) {
                s.setTimesteps(10);
                assertArrayEquals(expected, s.timesteps(), name);
            }
        }
        try (Scheduler s = Schedulers.create("pndm", c)) {
            s.setTimesteps(10);
            assertArrayEquals(new float[] {999, 899, 899, 799, 699, 599, 499, 399, 299, 199, 99}, s.timesteps());
        }
    }

    @Test
    void leadingSpacingOfMultistepSolversUsesOneMoreGridPoint() {
        // (np.arange(0, 11) * (1000 // 11)).round()[::-1][:-1] + steps_offset
        float[] expected = {901, 811, 721, 631, 541, 451, 361, 271, 181, 91};
        SchedulerConfig c = SchedulerConfig.stableDiffusion15().withTimestepSpacing("leading");
        for (String name : List.of("dpmpp-2m", "unipc")) {
            try (Scheduler s = Schedulers.create(name, c)) {
                s.setTimesteps(10);
                assertArrayEquals(expected, s.timesteps(), name);
            }
        }
        try (Scheduler s = Schedulers.create("euler", c)) {
            s.setTimesteps(10);
            assertArrayEquals(new float[] {901, 801, 701, 601, 501, 401, 301, 201, 101, 1}, s.timesteps());
            float sigmaMax = ((EulerScheduler) s).sigmas()[0];
            assertEquals((float) Math.sqrt(sigmaMax * sigmaMax + 1), s.initNoiseSigma(), "leading: sqrt(sigma_max^2 + 1)");
        }
    }

    @Test
    void karrasSigmasOfDpmSolverSpanTheTrainingRange() {
        SchedulerConfig c = SchedulerConfig.stableDiffusion15().withKarrasSigmas(true);
        try (DpmSolverMultistepScheduler s = (DpmSolverMultistepScheduler) Schedulers.create("dpmpp-2m", c)) {
            s.setTimesteps(12);
            float[] sigmas = s.sigmas();
            float[] train = TrainingSchedule.trainingSigmas(TrainingSchedule.alphasCumprod(c));
            assertEquals(13, sigmas.length);
            assertEquals(train[999], sigmas[0], 1e-5f);
            assertEquals(train[0], sigmas[11], 1e-6f);
            assertEquals(sigmas[11], sigmas[12], "the final level repeats the smallest one");
            float[] t = s.timesteps();
            assertEquals(999f, t[0]);
            assertEquals(0f, t[11]);
            for (int i = 1; i < 12; i++) {
                assertTrue(sigmas[i] < sigmas[i - 1] && t[i] <= t[i - 1], "decreasing at " + i);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> Schedulers.create("unipc", c));
        assertThrows(IllegalArgumentException.class, () -> Schedulers.create("euler", c));
    }

    static Stream<Arguments> perfectDenoiserCases() {
        List<Arguments> out = new ArrayList<>();
        for (String name : List.of("unipc", "ddim", "pndm", "euler", "dpmpp-2m")) {
            for (String prediction : List.of("epsilon", "v_prediction")) {
                if (name.equals("pndm") && prediction.equals("v_prediction")) {
                    continue; // PLMS mixes v from different timesteps, so it is not exact for v
                }
                for (String betas : List.of("scaled_linear", "linear")) {
                    for (String spacing : List.of("trailing", "leading")) {
                        out.add(Arguments.of(name, prediction, betas, spacing));
                    }
                }
            }
        }
        return out.stream();
    }

    /**
     * With a denoiser that always returns the true noise (or velocity) of a fixed (x0, noise) pair, each
     * deterministic update lands exactly on the forward-process sample of the next noise level, with the
     * levels computed here in float64 from the diffusers formulas. (With a step count that does not divide
     * the training steps, the reference's DDIM and PNDM leave the trailing grid, so no exactness then.)
     */
    @ParameterizedTest(name = "{0} {1} {2} {3}")
    @MethodSource("perfectDenoiserCases")
    void perfectDenoiserStaysOnTheForwardTrajectory(String name, String prediction, String betas, String spacing) {
        double start = betas.equals("linear") ? 0.0001 : 0.00085;
        double end = betas.equals("linear") ? 0.02 : 0.012;
        SchedulerConfig c = SchedulerConfig.stableDiffusion15().withBetas(betas, start, end)
                .withPredictionType(prediction).withTimestepSpacing(spacing);
        double[] ac = referenceAlphasCumprod(betas, start, end, 1000);
        boolean sigmaSpace = name.equals("euler");
        try (NDManager m = EngineRuntime.newManager(Device.cpu());
             Scheduler s = Schedulers.create(name, c)) {
            // 8 divides 1000: DDIM and PNDM move by T // n training steps, which then is the grid stride
            s.setTimesteps(8);
            NDArray x0 = m.randomNormal(SHAPE);
            NDArray eps = m.randomNormal(SHAPE);
            float[] t = s.timesteps();
            NDArray sample = forward(x0, eps, ac[(int) t[0]], sigmaSpace);
            for (int i = 0; i < s.numSteps(); i++) {
                double a = ac[(int) t[i]];
                NDArray out = prediction.equals("epsilon") ? eps.duplicate()
                        : eps.mul((float) Math.sqrt(a)).sub(x0.mul((float) Math.sqrt(1 - a)));
                NDArray next = s.step(out, i, sample, null);
                double aNext = nextAlpha(name, t, i, ac);
                NDArray expected = forward(x0, eps, aNext, sigmaSpace);
                Golden.assertClose(name + " step " + i, expected, next, 2e-4 * (1 + maxAbs(expected)));
                sample = next;
            }
        }
    }

    @Test
    void ancestralEulerWithoutNoiseMovesToTheDownLevel() {
        SchedulerConfig c = SchedulerConfig.stableDiffusion15();
        double[] ac = referenceAlphasCumprod("scaled_linear", 0.00085, 0.012, 1000);
        try (NDManager m = EngineRuntime.newManager(Device.cpu());
             EulerScheduler s = (EulerScheduler) Schedulers.create("euler-a", c)) {
            s.setTimesteps(5);
            float[] sigmas = s.sigmas();
            NDArray x0 = m.randomNormal(SHAPE);
            NDArray eps = m.randomNormal(SHAPE);
            List<Shape> asked = new ArrayList<>();
            NoiseSource zeros = (shape, manager) -> {
                asked.add(shape);
                return manager.zeros(shape);
            };
            NDArray sample = x0.add(eps.mul(sigmas[0]));
            for (int i = 0; i < 5; i++) {
                NDArray noise = i == 0 ? eps : sample.sub(x0).div(sigmas[i]);
                NDArray next = s.step(noise, i, sample, zeros);
                // sigma_down = sqrt(s1^2 - s1^2 (s0^2 - s1^2) / s0^2) = s1^2 / s0
                double down = (double) sigmas[i + 1] * sigmas[i + 1] / sigmas[i];
                Golden.assertClose("euler-a step " + i, x0.add(noise.mul((float) down)), next, 1e-4);
                sample = next;
            }
            assertEquals(5, asked.size(), "noise is drawn at every step, as the reference's generator is");
            assertEquals(SHAPE, asked.get(0));
            assertTrue(Math.abs(ac[999] - 1 / (1 + sigmas[0] * (double) sigmas[0])) < 1e-6);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"unipc", "dpmpp-2m", "pndm"})
    void multistepHistoryIsFreedStepByStepAndOnClose(String name) {
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            Scheduler s = Schedulers.create(name, SchedulerConfig.stableDiffusion15());
            s.setTimesteps(12);
            NDArray out = m.randomNormal(SHAPE);
            NDArray sample = m.randomNormal(SHAPE);
            int callerArrays = m.getManagedArrays().size();
            // unipc: two data predictions and the corrected sample; dpm: one prediction; pndm: four noise predictions
            int bound = Map.of("unipc", 3, "dpmpp-2m", 1, "pndm", 4).get(name);
            for (int i = 0; i < s.numSteps(); i++) {
                try (NDManager stepManager = m.newSubManager()) {
                    NDArray input = sample.duplicate();
                    input.attach(stepManager);
                    NDArray next = s.step(out, i, input, null);
                    assertTrue(next.getManager() == stepManager, "the result belongs to the sample's manager");
                    next.attach(m);
                    sample.close();
                    sample = next;
                }
                assertEquals(callerArrays, m.getManagedArrays().size(), "no arrays left in the caller's manager");
                assertTrue(historySize(s) <= bound, name + " holds " + historySize(s) + " arrays after step " + i);
            }
            assertTrue(historySize(s) > 0);
            s.close();
            assertEquals(0, historySize(s), "close frees the history");
            assertTrue(!sample.isReleased());
        }
    }

    private static int historySize(Scheduler s) {
        if (s instanceof UniPcMultistepScheduler u) {
            return u.historySize();
        }
        if (s instanceof DpmSolverMultistepScheduler d) {
            return d.historySize();
        }
        return ((PndmScheduler) s).historySize();
    }

    @Test
    void steppingBeforeSetTimestepsOrOutOfOrderIsRejected() {
        try (NDManager m = EngineRuntime.newManager(Device.cpu());
             Scheduler s = Schedulers.create("unipc", SchedulerConfig.stableDiffusion15())) {
            NDArray x = m.zeros(SHAPE);
            assertThrows(IllegalStateException.class, () -> s.step(x, 0, x, null));
            s.setTimesteps(4);
            assertThrows(IllegalArgumentException.class, () -> s.step(x, 1, x, null));
            assertThrows(IllegalArgumentException.class, () -> s.step(x, 4, x, null));
        }
    }

    private static NDArray forward(NDArray x0, NDArray eps, double alphaCumprod, boolean sigmaSpace) {
        if (sigmaSpace) {
            return x0.add(eps.mul((float) Math.sqrt((1 - alphaCumprod) / alphaCumprod)));
        }
        return x0.mul((float) Math.sqrt(alphaCumprod)).add(eps.mul((float) Math.sqrt(1 - alphaCumprod)));
    }

    /**
     * Where step {@code i} lands: DDIM goes down by {@code T // n} training steps (which is not always the
     * next grid point); the others go to the next grid point. Past the end: DDIM/PNDM's final alpha
     * ({@code set_alpha_to_one} false), DPM/UniPC's level of training step 0, Euler's sigma 0.
     */
    private static double nextAlpha(String name, float[] t, int i, double[] ac) {
        if (name.equals("ddim")) {
            int prev = (int) t[i] - ac.length / t.length;
            return prev >= 0 ? ac[prev] : ac[0];
        }
        if (i + 1 < t.length) {
            return ac[(int) t[i + 1]];
        }
        return name.equals("euler") ? 1.0 : ac[0];
    }

    /** {@code cumprod(1 - betas)} in float64 with betas linear in sqrt (scaled_linear) or linear. */
    private static double[] referenceAlphasCumprod(String schedule, double start, double end, int n) {
        double[] ac = new double[n];
        double acc = 1;
        for (int i = 0; i < n; i++) {
            double beta;
            if (schedule.equals("scaled_linear")) {
                double r = Math.sqrt(start) + (Math.sqrt(end) - Math.sqrt(start)) * i / (n - 1);
                beta = r * r;
            } else {
                beta = start + (end - start) * i / (n - 1);
            }
            acc *= 1 - beta;
            ac[i] = acc;
        }
        return ac;
    }

    private static double maxAbs(NDArray a) {
        return a.abs().max().getFloat();
    }
}
