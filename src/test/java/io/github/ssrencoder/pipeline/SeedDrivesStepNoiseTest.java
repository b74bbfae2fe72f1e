package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One generator per run, as in diffusers: the seed draws the initial noise unless explicit latents are given,
 * and in any case the noise the stochastic schedulers (lcm, euler-a) add at each step — so a run with explicit
 * latents is reproduced by its seed, and a run without a seed reports the random one its step noise came from.
 */
class SeedDrivesStepNoiseTest {

    private static SsrPipeline pipeline;
    private static Latents init;

    @BeforeAll
    static void open() {
        pipeline = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0);
        init = PipelineGoldenTest.latentsInit("pipeline_lcm");
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    private static GenerationResult generate(String scheduler, int steps, Long seed) {
        SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
        return pipeline.generate(new GenerationRequest(List.of(q), "a red circle on a table", "", 0.5, 1.5, steps, scheduler,
                64, 64, seed, init, 1), ProgressListener.NONE);
    }

    @Test
    void withExplicitLatentsTheSeedStillDecidesTheLcmStepNoise() {
        GenerationResult a = generate("lcm", 4, 1304L);
        GenerationResult b = generate("lcm", 4, 1304L);
        GenerationResult other = generate("lcm", 4, 1305L);
        assertArrayEquals(a.latents().get(0).data(), b.latents().get(0).data(), "same seed, same latents");
        assertFalse(Arrays.equals(a.latents().get(0).data(), other.latents().get(0).data()), "another seed, other step noise");
        assertEquals(1304L, a.seed());
        assertEquals("1304", a.parameters().get("seed"));
    }

    @Test
    void withoutASeedTheRandomSeedOfTheStepNoiseIsReported() {
        GenerationResult random = generate("lcm", 2, null);
        assertNotNull(random.seed(), "lcm drew step noise: its seed is part of the result");
        assertEquals(random.seed().toString(), random.parameters().get("seed"));
        GenerationResult replay = generate("lcm", 2, random.seed());
        assertArrayEquals(random.latents().get(0).data(), replay.latents().get(0).data(), "the reported seed reproduces the run");

        GenerationResult ddim = generate("ddim", 2, null);
        assertNull(ddim.seed(), "ddim with explicit latents draws nothing");
        assertEquals("explicit initial latents", ddim.parameters().get("seed"));
    }

    @Test
    void lcmStepCountAboveItsScheduleIsRefusedBeforeAnyModelRuns() {
        List<String> stages = new ArrayList<>();
        ProgressListener record = new ProgressListener() {
            @Override
            public void stage(String message) {
                stages.add(message);
            }
        };
        SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
        GenerationRequest r = new GenerationRequest(List.of(q), "a red circle", "", 0.5, 1.5, 51, "lcm", 64, 64, 1L, null, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pipeline.generate(r, record));
        assertTrue(e.getMessage().contains("original_inference_steps = 50"), e.getMessage());
        assertTrue(stages.isEmpty(), "stages reported before the refusal: " + stages);
    }
}
