package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Feature caching across steps ({@code cacheInterval}) on the golden pipeline cases of tiny-a. */
class FeatureCachePipelineTest {

    private static SsrPipeline pipeline;

    @BeforeAll
    static void open() {
        pipeline = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0);
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    private static SubjectQuery circle() {
        return SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
    }

    /** The golden pipeline cases, as their golden tests build them (4 steps, 64²). */
    private static Map<String, GenerationRequest> goldenCases() {
        Map<String, GenerationRequest> cases = new LinkedHashMap<>();
        cases.put("pipeline_t2i_ddim", PipelineGoldenTest.request("pipeline_t2i_ddim", List.of(circle()),
                "a red circle on a table", 0.5, "ddim"));
        cases.put("pipeline_t2i_unipc", PipelineGoldenTest.request("pipeline_t2i_unipc", List.of(circle()),
                "a red circle on a table", 0.5, "unipc"));
        cases.put("pipeline_mask_ddim", PipelineGoldenTest.request("pipeline_mask_ddim", List.of(SubjectQuery.mask(
                PipelineGoldenTest.image("reference.png"), "a red circle and a blue square",
                ImageFiles.readMask(Golden.tinyA().resolve("mask.png")), 1.0)), "a red circle on a table", 0.5, "ddim"));
        cases.put("pipeline_sd_ddim", PipelineGoldenTest.request("pipeline_sd_ddim", List.of(), "a red circle on a table", 1.0,
                "ddim"));
        cases.put("pipeline_control_ddim", PipelineGoldenTest.request("pipeline_control_ddim", List.of(circle()),
                "a red circle on a table", 0.5, "ddim").withControls(List.of(new Control(PipelineGoldenTest.image("control.png"),
                Golden.tinyA().resolve("controlnet"), 1.0, 0.0, 1.0, "control.png"))));
        return cases;
    }

    private static float[] finalLatents(GenerationRequest r) {
        return pipeline.generate(r, ProgressListener.NONE).latents().get(0).data();
    }

    private static float maxAbs(float[] a) {
        float m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @Test
    void intervalOneEqualsTheUncachedRunBitForBit() {
        Map<String, GenerationRequest> cases = goldenCases();
        // a multistep scheduler and a ControlNet: the paths where a stale state could leak into a full step
        for (String name : List.of("pipeline_t2i_unipc", "pipeline_control_ddim")) {
            GenerationRequest plain = cases.get(name);
            assertEquals(1, plain.cacheInterval(), "off by default");
            assertArrayEquals(finalLatents(plain), finalLatents(plain.withCacheInterval(1)), name);
        }
    }

    /** Prints the change of the final latents for intervals 2 and 3 (the README's figures) and bounds it. */
    @Test
    void intervalsTwoAndThreeChangeTheFinalLatentsLittle() {
        for (Map.Entry<String, GenerationRequest> c : goldenCases().entrySet()) {
            float[] uncached = finalLatents(c.getValue());
            for (int n : List.of(2, 3)) {
                float[] cached = finalLatents(c.getValue().withCacheInterval(n));
                double diff = Golden.maxAbsDiff(uncached, cached);
                double relative = diff / maxAbs(uncached);
                System.out.printf("cache interval %d, %s: final latents max abs change %.3g (%.2f%% of max |latent| %.3g)%n",
                        n, c.getKey(), diff, 100 * relative, maxAbs(uncached));
                assertTrue(diff > 0, c.getKey() + ": interval " + n + " reuses features, so the latents change");
                assertTrue(relative < 0.25, c.getKey() + ": interval " + n + " changes the latents by " + relative);
            }
        }
    }

    @Test
    void theIntervalIsRecordedAndOutOfRangeValuesAreRefused() {
        GenerationRequest r = goldenCases().get("pipeline_t2i_ddim");
        assertFalse(pipeline.generate(r, ProgressListener.NONE).parameters().containsKey("cache_interval"));
        assertEquals("3", pipeline.generate(r.withCacheInterval(3), ProgressListener.NONE).parameters().get("cache_interval"));
        assertThrows(IllegalArgumentException.class, () -> r.withCacheInterval(0));
    }
}
