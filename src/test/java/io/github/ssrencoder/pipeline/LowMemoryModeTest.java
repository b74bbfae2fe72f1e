package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.view.Views;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Low-memory mode releases the image encoder between runs (after each run's subject encoding, before denoising)
 * and the VAE (after decoding), and loads them again for the next run, without changing any result.
 */
class LowMemoryModeTest {

    private static SsrPipeline resident;
    private static SsrPipeline lowMemory;

    @BeforeAll
    static void open() {
        resident = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0);
        lowMemory = SsrPipeline.open(Golden.tinyA(), null, false, true, EngineRuntime.DeviceChoice.CPU, 0, ProgressListener.NONE);
    }

    @AfterAll
    static void close() {
        resident.close();
        lowMemory.close();
    }

    private static GenerationRequest request(long seed) {
        SubjectQuery text = SubjectQuery.text(ImageFiles.readRgb(Golden.tinyA().resolve("reference.png")), "red circle");
        SubjectQuery mask = SubjectQuery.mask(ImageFiles.readRgb(Golden.tinyA().resolve("reference2.png")), "square",
                ImageFiles.readMask(Golden.tinyA().resolve("mask.png")), 2.0);
        return new GenerationRequest(List.of(text, mask), "a red circle", "", 0.5, 7.5, 2, "unipc", 64, 64, seed, null, 1)
                .withVaeTiling(VaeTiling.ON);
    }

    @Test
    void lowMemoryRunsEqualResidentRunsBitForBit() {
        for (long seed : new long[] {3, 4}) { // the second run reloads the encoder
            GenerationResult expected = resident.generate(request(seed), ProgressListener.NONE);
            GenerationResult actual = lowMemory.generate(request(seed), ProgressListener.NONE);
            assertArrayEquals(expected.latents().get(0).data(), actual.latents().get(0).data());
            assertArrayEquals(pixels(expected.images().get(0)), pixels(actual.images().get(0)));
            assertArrayEquals(expected.attention().get(1).probabilities(), actual.attention().get(1).probabilities());
        }
        assertArrayEquals(resident.attention(request(1).subjects().get(0), ProgressListener.NONE).probabilities(),
                lowMemory.attention(request(1).subjects().get(0), ProgressListener.NONE).probabilities());
    }

    @Test
    void encoderIsLoadedOnlyForTheSubjectEncodingAndTheVaeOnlyForDecoding() {
        assertFalse(lowMemory.isImageEncoderLoaded(), "released at open");
        assertFalse(lowMemory.isVaeLoaded(), "released at open");
        List<String> seen = new ArrayList<>();
        lowMemory.generate(request(5), new ProgressListener() {
            @Override
            public void stage(String message) {
                seen.add(message + (lowMemory.isImageEncoderLoaded() ? " [encoder loaded]" : "")
                        + (lowMemory.isVaeLoaded() ? " [VAE loaded]" : ""));
            }
        });
        assertTrue(seen.indexOf("Loading image encoder") >= 0
                && seen.indexOf("Loading image encoder") < seen.indexOf("Encoding subject 1 of 2 [encoder loaded]"), seen.toString());
        assertTrue(seen.contains("Encoding subject 2 of 2 [encoder loaded]"), seen.toString());
        assertTrue(seen.contains("Denoising image 1 of 1"), "both released while denoising: " + seen);
        assertTrue(seen.indexOf("Loading VAE") > seen.indexOf("Denoising image 1 of 1")
                && seen.contains("Decoding image 1 of 1 [VAE loaded]"), seen.toString());
        assertFalse(lowMemory.isImageEncoderLoaded(), "released after the run");
        assertFalse(lowMemory.isVaeLoaded(), "released after the run");
        lowMemory.attention(request(1).subjects().get(0), ProgressListener.NONE);
        assertFalse(lowMemory.isImageEncoderLoaded(), "released after attention maps");
        assertTrue(resident.isImageEncoderLoaded() && resident.isVaeLoaded());
        assertTrue(lowMemory.liveModelArrays() < resident.liveModelArrays(), "the encoder's weights are freed");
    }

    @Test
    void switchingLowMemoryOnReleasesTheEncoderAndOffKeepsIt() {
        try (SsrPipeline p = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0)) {
            long loaded = p.liveModelArrays();
            p.setLowMemory(true);
            assertTrue(p.isLowMemory());
            assertFalse(p.isImageEncoderLoaded() || p.isVaeLoaded());
            assertTrue(p.liveModelArrays() < loaded);
            p.setLowMemory(false);
            p.generate(request(6), ProgressListener.NONE);
            assertTrue(p.isImageEncoderLoaded() && p.isVaeLoaded(), "kept after the run once low-memory mode is off");
        }
    }

    @Test
    void singleFileCheckpointKeepsItsVaeAndGivesTheSameResults() {
        Path checkpoint = Golden.tinyA().resolve("single-file/model.ckpt");
        try (SsrPipeline plain = SsrPipeline.open(Golden.tinyA(), checkpoint, false, EngineRuntime.DeviceChoice.CPU, 0,
                ProgressListener.NONE);
             SsrPipeline low = SsrPipeline.open(Golden.tinyA(), checkpoint, false, true, EngineRuntime.DeviceChoice.CPU, 0,
                     ProgressListener.NONE)) {
            assertArrayEquals(plain.generate(request(9), ProgressListener.NONE).latents().get(0).data(),
                    low.generate(request(9), ProgressListener.NONE).latents().get(0).data());
            assertFalse(low.isImageEncoderLoaded());
            assertTrue(low.isVaeLoaded(), "the checkpoint's VAE cannot be read on its own, so it stays");
        }
    }

    @Test
    void cancelWhileEncodingReleasesTheEncoderAndTheRun() {
        long before = lowMemory.liveModelArrays();
        boolean[] loaded = {false};
        assertThrows(CancelledException.class, () -> lowMemory.generate(request(7), new ProgressListener() {
            @Override
            public void stage(String message) {
                loaded[0] |= message.equals("Loading image encoder");
            }

            @Override
            public boolean isCancelled() {
                return loaded[0]; // the second subject finds the run cancelled, with the encoder loaded
            }
        }));
        assertFalse(lowMemory.isImageEncoderLoaded());
        assertTrue(lowMemory.liveModelArrays() <= before + 1, "at most the cached unconditional image features remain");
    }

    @Test
    void encoderFilesDeletedBetweenRunsGiveAWeightFileError(@TempDir Path dir) throws IOException {
        assertReloadFailsClearly(dir, "image_encoder/model.safetensors");
    }

    @Test
    void vaeFilesDeletedBetweenRunsGiveAWeightFileError(@TempDir Path dir) throws IOException {
        assertReloadFailsClearly(dir, "sd/vae/diffusion_pytorch_model.safetensors");
    }

    private static void assertReloadFailsClearly(Path dir, String file) throws IOException {
        copyTree(Golden.tinyA(), dir);
        try (SsrPipeline p = SsrPipeline.open(dir, null, false, true, EngineRuntime.DeviceChoice.CPU, 0, ProgressListener.NONE)) {
            GenerationResult expected = p.generate(request(8), ProgressListener.NONE); // caches what a pipeline keeps
            Path weights = dir.resolve(file);
            Path aside = dir.resolve("model.safetensors.aside");
            Files.move(weights, aside);
            long before = p.liveModelArrays();
            WeightFileException e = assertThrows(WeightFileException.class, () -> p.generate(request(8), ProgressListener.NONE));
            assertTrue(e.getMessage().contains(Path.of(file).getParent().toString()), e.getMessage());
            assertFalse(p.isImageEncoderLoaded() || p.isVaeLoaded());
            assertEquals(before, p.liveModelArrays(), "nothing of the failed run or the failed load remains");
            Files.move(aside, weights, StandardCopyOption.REPLACE_EXISTING);
            GenerationResult again = p.generate(request(8), ProgressListener.NONE);
            assertArrayEquals(expected.latents().get(0).data(), again.latents().get(0).data());
        }
    }

    private static int[] pixels(RandomAccessibleInterval<ARGBType> image) {
        List<Integer> out = new ArrayList<>();
        Views.flatIterable(image).forEach(p -> out.add(p.get()));
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Path rel = from.relativize(p);
                if (rel.getNameCount() > 0 && !List.of("sd", "image_encoder", "ssr").contains(rel.getName(0).toString())) {
                    continue; // only the models folder's networks
                }
                Path target = to.resolve(rel.toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }
}
