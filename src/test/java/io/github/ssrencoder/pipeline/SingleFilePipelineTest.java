package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A models folder whose {@code sd/} is one single-file checkpoint reproduces the official pipeline case. Its
 * {@code sd/} holds only {@code model.ckpt}, {@code model.yaml} and the tiny text encoder's config (the bundled one
 * describes SD1.5's 768-wide encoder): the tokenizer and the scheduler config are the bundled SD1.5 ones, the
 * scheduler's betas from the yaml.
 */
class SingleFilePipelineTest {

    @TempDir
    Path dir;

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }

    @Test
    void checkpointInSdReproducesTheTextQueryCase() throws IOException {
        Path tiny = Golden.tinyA();
        copyTree(tiny.resolve("image_encoder"), dir.resolve("image_encoder"));
        copyTree(tiny.resolve("ssr"), dir.resolve("ssr"));
        Files.createDirectories(dir.resolve("sd/text_encoder"));
        Files.copy(tiny.resolve("single-file/model.ckpt"), dir.resolve("sd/model.ckpt"));
        Files.copy(tiny.resolve("single-file/model.yaml"), dir.resolve("sd/model.yaml"));
        Files.copy(tiny.resolve("sd/text_encoder/config.json"), dir.resolve("sd/text_encoder/config.json"));
        try (SsrPipeline pipeline = SsrPipeline.open(dir, EngineRuntime.DeviceChoice.CPU, 0)) {
            SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
            PipelineGoldenTest.assertMatches("pipeline_t2i_ddim", pipeline.generate(PipelineGoldenTest.request(
                    "pipeline_t2i_ddim", List.of(q), "a red circle on a table", 0.5, "ddim"), ProgressListener.NONE));
        }
    }

    @Test
    void emaOptionWithADiffusersFolderIsRefusedBeforeLoading() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SsrPipeline.open(Golden.tinyA(), null,
                true, EngineRuntime.DeviceChoice.CPU, 0, ProgressListener.NONE));
        assertTrue(e.getMessage().contains("the EMA option applies to single-file checkpoints"), e.getMessage());
    }
}
