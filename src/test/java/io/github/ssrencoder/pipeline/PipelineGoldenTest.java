package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.view.Views;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The whole pipeline against the official SSR-Encoder / diffusers runs on the tiny-a models. */
public class PipelineGoldenTest {

    private static SsrPipeline pipeline;

    @BeforeAll
    static void open() {
        pipeline = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0);
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    static ArrayImg<ARGBType, IntArray> image(String name) {
        return ImageFiles.readRgb(Golden.tinyA().resolve(name));
    }

    static Latents latentsInit(String caseName) {
        try (SafetensorsFile f = Golden.caseTensors(caseName); NDManager m = NDManager.newBaseManager()) {
            NDArray a = f.load("latents_init", m);
            return new Latents(a.getShape().getShape(), a.toFloatArray());
        }
    }

    static GenerationRequest request(String caseName, List<SubjectQuery> subjects, String prompt, double scale,
                                     String scheduler) {
        return new GenerationRequest(subjects, prompt, "", scale, 7.5, 4, scheduler, 64, 64, null, latentsInit(caseName), 1);
    }

    /** Compares final latents (abs 5e-4) and the 8-bit image (±1 per channel) with the golden case. */
    static void assertMatches(String caseName, GenerationResult result) {
        try (SafetensorsFile f = Golden.caseTensors(caseName); NDManager m = NDManager.newBaseManager()) {
            NDArray expected = f.load("latents_final", m);
            Latents got = result.latents().get(0);
            NDArray actual = m.create(got.data(), new ai.djl.ndarray.types.Shape(got.shape()));
            Golden.assertClose(caseName + " latents_final", expected, actual, 5e-4);
        }
        assertImageWithinOne(caseName, Golden.tinyA().resolve("cases").resolve(caseName + ".png"), result.images().get(0));
    }

    public static void assertImageWithinOne(String what, Path png, RandomAccessibleInterval<ARGBType> actual) {
        int[] expected = ImageFiles.readRgb(png).update(null).getCurrentStorageArray();
        int[] got = new int[expected.length];
        var c = net.imglib2.view.Views.flatIterable(actual).cursor();
        int i = 0;
        while (c.hasNext()) {
            got[i++] = c.next().get();
        }
        int worst = 0;
        int off = 0;
        for (int k = 0; k < expected.length; k++) {
            for (int shift = 0; shift <= 16; shift += 8) {
                int d = Math.abs(((expected[k] >> shift) & 0xFF) - ((got[k] >> shift) & 0xFF));
                worst = Math.max(worst, d);
                if (d > 0) {
                    off++;
                }
            }
        }
        assertTrue(worst <= 1, what + ": a pixel channel differs by " + worst + " from the golden PNG");
        assertTrue(off <= expected.length / 20, what + ": " + off + " channel values differ by 1 from the golden PNG");
    }

    @Test
    void textQueryWithDdimMatchesOfficialGenerate() {
        SubjectQuery q = SubjectQuery.text(image("reference.png"), "red circle");
        assertMatches("pipeline_t2i_ddim", pipeline.generate(
                request("pipeline_t2i_ddim", List.of(q), "a red circle on a table", 0.5, "ddim"), ProgressListener.NONE));
    }

    @Test
    void textQueryWithUniPcMatchesOfficialGenerate() {
        SubjectQuery q = SubjectQuery.text(image("reference.png"), "red circle");
        assertMatches("pipeline_t2i_unipc", pipeline.generate(
                request("pipeline_t2i_unipc", List.of(q), "a red circle on a table", 0.5, "unipc"), ProgressListener.NONE));
    }

    @Test
    void maskQueryMatchesOfficialGenerateMask() {
        SubjectQuery q = SubjectQuery.mask(image("reference.png"), "a red circle and a blue square",
                ImageFiles.readMask(Golden.tinyA().resolve("mask.png")), 1.0);
        assertMatches("pipeline_mask_ddim", pipeline.generate(
                request("pipeline_mask_ddim", List.of(q), "a red circle on a table", 0.5, "ddim"), ProgressListener.NONE));
    }

    @Test
    void multiSubjectMatchesOfficialGenerateMultiWithItsFirstWeightForAll() {
        // The official generate_multi applies only its first weight (0.8) to every subject and leaves the
        // SSR attention scale at 1.0; giving each subject 0.8 reproduces it.
        List<SubjectQuery> qs = List.of(
                SubjectQuery.text(image("reference.png"), "red circle").withWeight(0.8),
                SubjectQuery.text(image("reference2.png"), "yellow ellipse").withWeight(0.8));
        assertMatches("pipeline_multi_ddim", pipeline.generate(
                request("pipeline_multi_ddim", qs, "a red circle next to a yellow ellipse", 1.0, "ddim"), ProgressListener.NONE));
    }

    @Test
    void plainStableDiffusionWithoutSubjectMatchesDiffusers() {
        assertMatches("pipeline_sd_ddim", pipeline.generate(
                request("pipeline_sd_ddim", List.of(), "a red circle on a table", 1.0, "ddim"), ProgressListener.NONE));
    }

    @Test
    void attentionMapsCoverTheQueryTokensOnThePatchGrid() {
        SubjectQuery q = SubjectQuery.text(image("reference.png"), "red circle");
        AttentionMaps maps = pipeline.attention(q, ProgressListener.NONE);
        assertEquals(List.of("red", "circle"), maps.tokens());
        assertEquals(16, maps.gridWidth());
        try (SafetensorsFile f = Golden.caseTensors("aligner"); NDManager m = NDManager.newBaseManager()) {
            NDArray expected = f.load("A_t2p", m).get("0:" + maps.heads());
            NDArray actual = m.create(maps.probabilities(), expected.getShape());
            Golden.assertClose("A_t2p via pipeline", expected, actual, 1e-6);
        }
    }

    @Test
    void cancelStopsTheRunAndTheModelsStayUsable() {
        SubjectQuery q = SubjectQuery.text(image("reference.png"), "red circle");
        GenerationRequest r = request("pipeline_t2i_ddim", List.of(q), "a red circle on a table", 0.5, "ddim");
        int[] steps = {0};
        ProgressListener cancelAfterTwo = new ProgressListener() {
            @Override
            public void step(int step, int total) {
                steps[0] = step;
            }

            @Override
            public boolean isCancelled() {
                return steps[0] >= 2;
            }
        };
        org.junit.jupiter.api.Assertions.assertThrows(CancelledException.class, () -> pipeline.generate(r, cancelAfterTwo));
        assertEquals(2, steps[0]);
        assertMatches("pipeline_t2i_ddim", pipeline.generate(r, ProgressListener.NONE));
    }

    @Test
    void runsAndCancelledRunsLeaveNoNativeArraysBehind() {
        SubjectQuery q = SubjectQuery.mask(image("reference.png"), "red circle",
                ImageFiles.readMask(Golden.tinyA().resolve("mask.png")), 1.0);
        GenerationRequest r = new GenerationRequest(List.of(q), "a red circle", "", 0.5, 7.5, 2, "unipc", 64, 64, 5L, null, 2);
        pipeline.generate(r, ProgressListener.NONE);
        long before = pipeline.liveModelArrays();
        for (int i = 0; i < 3; i++) {
            pipeline.generate(r, ProgressListener.NONE);
        }
        ProgressListener cancelAtOnce = new ProgressListener() {
            @Override
            public boolean isCancelled() {
                return true;
            }
        };
        org.junit.jupiter.api.Assertions.assertThrows(CancelledException.class, () -> pipeline.generate(r, cancelAtOnce));
        assertEquals(before, pipeline.liveModelArrays(), "arrays left in the models' memory after runs and a cancel");
    }

    @Test
    void sameSeedGivesSameImageAndSeedIsReported() {
        SubjectQuery q = SubjectQuery.text(image("reference.png"), "red circle");
        GenerationRequest r = new GenerationRequest(List.of(q), "a red circle", "", 0.5, 7.5, 2, "ddim", 64, 64, 42L, null, 1);
        GenerationResult a = pipeline.generate(r, ProgressListener.NONE);
        GenerationResult b = pipeline.generate(r, ProgressListener.NONE);
        assertEquals(42L, a.seed());
        org.junit.jupiter.api.Assertions.assertArrayEquals(a.latents().get(0).data(), b.latents().get(0).data());
        assertEquals("42", a.parameters().get("seed"));
    }

    /** The tiny VAE's sample_size is 64, so the pipeline's tiles are 32 pixels: a 64² image is tiled when asked. */
    @Test
    void vaeTilingChangesOnlyTheDecodeAndIsReported() {
        GenerationRequest r = new GenerationRequest(List.of(), "a red circle", "", 1.0, 7.5, 2, "ddim", 64, 64, 42L, null, 1);
        GenerationResult auto = pipeline.generate(r, ProgressListener.NONE);
        GenerationResult off = pipeline.generate(r.withVaeTiling(VaeTiling.OFF), ProgressListener.NONE);
        GenerationResult on = pipeline.generate(r.withVaeTiling(VaeTiling.ON), ProgressListener.NONE);
        assertEquals(VaeTiling.AUTO, r.vaeTiling());
        assertEquals("auto", auto.parameters().get("vae_tiling"));
        assertEquals("off", off.parameters().get("vae_tiling"));
        assertEquals("on", on.parameters().get("vae_tiling"));
        assertEquals("32", on.parameters().get("vae_tile_size"));
        assertNull(auto.parameters().get("vae_tile_size"), "64² is below the automatic threshold");
        assertArrayEquals(off.latents().get(0).data(), on.latents().get(0).data());
        int[] untiled = argb(off.images().get(0));
        assertArrayEquals(untiled, argb(auto.images().get(0)), "auto at 64² decodes in one piece");
        assertFalse(Arrays.equals(untiled, argb(on.images().get(0))),
                "tiling on should change the decoded image");
    }

    private static int[] argb(RandomAccessibleInterval<ARGBType> image) {
        List<Integer> v = new ArrayList<>();
        Views.flatIterable(image).forEach(p -> v.add(p.get()));
        return v.stream().mapToInt(Integer::intValue).toArray();
    }

    @Test
    void seedMeansTheInitialNoiseOfTorchRandnWithThatSeed() {
        SubjectQuery q = SubjectQuery.text(image("reference.png"), "red circle");
        GenerationResult seeded = pipeline.generate(
                new GenerationRequest(List.of(q), "a red circle", "", 0.5, 7.5, 2, "ddim", 64, 64, 1234L, null, 1),
                ProgressListener.NONE);
        Latents noise = new Latents(new long[] {1, 4, 8, 8}, new TorchGenerator(1234).randn(1, 4, 8, 8));
        GenerationResult explicit = pipeline.generate(
                new GenerationRequest(List.of(q), "a red circle", "", 0.5, 7.5, 2, "ddim", 64, 64, null, noise, 1),
                ProgressListener.NONE);
        org.junit.jupiter.api.Assertions.assertArrayEquals(explicit.latents().get(0).data(), seeded.latents().get(0).data());
    }

    @Test
    void referenceSmallerThanPatchGridIsRejected() {
        var tiny = net.imglib2.img.array.ArrayImgs.argbs(8, 8);
        GenerationRequest r = new GenerationRequest(List.of(SubjectQuery.text(tiny, "x")), "p", "", 1, 7.5, 1, "ddim", 64, 64,
                1L, null, 1);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> pipeline.generate(r, ProgressListener.NONE));
        assertTrue(e.getMessage().contains("patch grid"), e.getMessage());
    }

    @Test
    void emptyMaskIsRejected() {
        var empty = net.imglib2.img.array.ArrayImgs.floats(64, 64);
        SubjectQuery q = SubjectQuery.mask(image("reference.png"), "red circle", empty, 1.0);
        GenerationRequest r = new GenerationRequest(List.of(q), "p", "", 1, 7.5, 1, "ddim", 64, 64, 1L, null, 1);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> pipeline.generate(r, ProgressListener.NONE));
        assertTrue(e.getMessage().toLowerCase().contains("mask"), e.getMessage());
    }

    @Test
    void maskOfAnotherSizeIsResizedWithAWarning() {
        var small = ImageFiles.readMask(Golden.tinyA().resolve("mask.png"));
        var half = net.imglib2.img.array.ArrayImgs.floats(32, 32);
        var c = half.randomAccess();
        var src = small.randomAccess();
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                src.setPosition(new long[] {2 * x, 2 * y});
                c.setPosition(new long[] {x, y});
                c.get().set(src.get().get());
            }
        }
        SubjectQuery q = SubjectQuery.mask(image("reference.png"), "red circle", half, 1.0);
        java.util.List<String> warnings = new java.util.ArrayList<>();
        ProgressListener l = new ProgressListener() {
            @Override
            public void warning(String message) {
                warnings.add(message);
            }
        };
        pipeline.attention(q, l);
        assertTrue(warnings.stream().anyMatch(w -> w.contains("resized")), warnings.toString());
    }

    @Test
    void queryLongerThanTheTextContextIsTruncatedWithAWarning() {
        String longQuery = "red circle ".repeat(60);
        java.util.List<String> warnings = new java.util.ArrayList<>();
        ProgressListener l = new ProgressListener() {
            @Override
            public void warning(String message) {
                warnings.add(message);
            }
        };
        AttentionMaps maps = pipeline.attention(SubjectQuery.text(image("reference.png"), longQuery), l);
        assertEquals(75, maps.tokens().size());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("truncated")), warnings.toString());
    }
}
