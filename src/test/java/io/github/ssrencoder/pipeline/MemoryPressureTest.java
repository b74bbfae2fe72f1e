package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.EngineException;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Requests that do not fit in the memory available are refused before they start (or decoded in tiles when only that
 * fits), and an allocation failure in the middle of a run ends it with a clear message, leaving the models usable.
 */
class MemoryPressureTest {

    private static SsrPipeline pipeline;

    @BeforeAll
    static void open() {
        pipeline = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0);
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    @AfterEach
    void measureAgain() {
        pipeline.setMemoryProbe(AvailableMemory::on);
    }

    private static GenerationRequest request(int size, VaeTiling tiling) {
        SubjectQuery q = SubjectQuery.text(ImageFiles.readRgb(Golden.tinyA().resolve("reference.png")), "red circle");
        return new GenerationRequest(List.of(q), "a red circle", "", 0.5, 7.5, 2, "ddim", size, size, 11L, null, 1)
                .withVaeTiling(tiling);
    }

    @Test
    void requestThatCannotFitIsRefusedWithBothNumbers() {
        GenerationRequest r = request(128, VaeTiling.AUTO);
        pipeline.setMemoryProbe(d -> OptionalLong.of(1L << 20));
        long before = pipeline.liveModelArrays();
        InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class,
                () -> pipeline.generate(r, ProgressListener.NONE));
        String needed = MemoryEstimate.format(pipeline.estimate(r.withVaeTiling(VaeTiling.ON)).tiledPeakBytes());
        assertTrue(e.getMessage().contains("needs about " + needed) && e.getMessage().contains("only 1 MiB is available"),
                e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertEquals(before, pipeline.liveModelArrays(), "nothing was allocated for the refused run");
    }

    @Test
    void decodeIsTiledWhenOnlyTheTiledDecodeFits() {
        GenerationRequest r = request(64, VaeTiling.AUTO);
        MemoryEstimate estimate = pipeline.estimate(r);
        assertTrue(estimate.tiledPeakBytes() < estimate.peakBytes(), "tiling lowers this request's peak: " + estimate);
        pipeline.setMemoryProbe(d -> OptionalLong.of((estimate.tiledPeakBytes() + estimate.peakBytes()) / 2));
        List<String> warnings = new ArrayList<>();
        GenerationResult result = pipeline.generate(r, new ProgressListener() {
            @Override
            public void warning(String message) {
                warnings.add(message);
            }
        });
        assertEquals("on", result.parameters().get("vae_tiling"));
        assertTrue(warnings.stream().anyMatch(w -> w.startsWith("decoding the image in tiles")), warnings.toString());

        // with tiling switched off explicitly the same memory is not enough
        assertThrows(InsufficientMemoryException.class,
                () -> pipeline.generate(r.withVaeTiling(VaeTiling.OFF), ProgressListener.NONE));
    }

    @Test
    void allocationFailureMidRunEndsItClearlyAndTheModelsStayUsable() {
        GenerationRequest r = request(64, VaeTiling.AUTO);
        float[] expected = pipeline.generate(r, ProgressListener.NONE).latents().get(0).data();
        long before = pipeline.liveModelArrays();
        ProgressListener failAtFirstStep = new ProgressListener() {
            @Override
            public void step(int step, int total) {
                if (step == 1) {
                    // what DJL raises when libtorch's CPU allocator fails
                    throw new EngineException("DefaultCPUAllocator: not enough memory: you tried to allocate 68719476736 bytes.\n"
                            + "Exception raised from alloc_cpu at ../c10/core/impl/alloc_cpu.cpp:124");
                }
            }
        };
        InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class, () -> pipeline.generate(r, failAtFirstStep));
        assertTrue(e.getMessage().startsWith("ran out of memory during the generation (DefaultCPUAllocator: not enough memory"),
                e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertEquals(before, pipeline.liveModelArrays(), "the failed run's arrays were released");
        assertArrayEquals(expected, pipeline.generate(r, ProgressListener.NONE).latents().get(0).data(),
                "the models give the same result after the failure");
    }

    @Test
    void cudaAndCpuAllocationMessagesAreRecognised() {
        assertTrue(SsrPipeline.isAllocationFailure(new EngineException(
                "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.79 GiB total capacity)")));
        assertTrue(SsrPipeline.isAllocationFailure(new RuntimeException("wrapped",
                new EngineException("[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: not enough memory"))));
        assertFalse(SsrPipeline.isAllocationFailure(new EngineException("shape mismatch: [1, 4] and [4, 1]")));
    }

    @Test
    void estimateGrowsWithPixelsAndGuidanceBatch() {
        MemoryEstimate small = pipeline.estimate(request(64, VaeTiling.OFF));
        MemoryEstimate large = pipeline.estimate(request(128, VaeTiling.OFF));
        assertEquals(4.0, (double) large.denoiseBytes() / small.denoiseBytes(), 1e-9);
        GenerationRequest unguided = new GenerationRequest(List.of(), "p", "", 1.0, 1.0, 3, "ddim", 64, 64, 1L, null, 1);
        assertEquals(2.0, (double) small.denoiseBytes() / pipeline.estimate(unguided).denoiseBytes(), 1e-9);
    }
}
