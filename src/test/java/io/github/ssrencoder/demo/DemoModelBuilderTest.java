package io.github.ssrencoder.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.io.TorchCheckpoint;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.GenerationResult;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.SsrPipeline;
import io.github.ssrencoder.pipeline.SubjectQuery;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import net.imglib2.img.array.ArrayImgs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A few steps of every stage of the demo recipe write a models folder whose SSR checkpoints have the committed
 * model's keys, and the pipeline opens it and generates from it.
 */
class DemoModelBuilderTest {

    @TempDir
    Path tmp;

    @Test
    void aShortBuildWritesAModelsFolderThatThePipelineRuns() throws Exception {
        Path out = tmp.resolve("shapes");
        DemoModelBuilder.build(out, DemoModelSelectionTest.PROJECT.resolve("src/test/resources/golden/tiny-a/sd/tokenizer"),
                new DemoModelBuilder.Recipe(3, 2, 2, 2));
        Path committed = DemoModelSelectionTest.PROJECT.resolve("demo/shapes");
        for (String file : List.of("ssr/pytorch_model.bin", "ssr/pytorch_model_1.bin")) {
            assertEquals(keys(committed.resolve(file)), keys(out.resolve(file)), file + " keys");
        }
        try (SsrPipeline pipeline = SsrPipeline.open(out, EngineRuntime.DeviceChoice.CPU, 0)) {
            GenerationRequest request = new GenerationRequest(List.of(SubjectQuery.text(
                    ArrayImgs.argbs(ShapeScenes.reference().argb(), ShapeScenes.SIZE, ShapeScenes.SIZE), "red circle")),
                    DemoModelBuilder.PROMPT, "", 1, 7.5, 2, GenerationRequest.DEFAULT_SCHEDULER, ShapeScenes.SIZE, ShapeScenes.SIZE,
                    1L, null, 1);
            GenerationResult result = pipeline.generate(request, ProgressListener.NONE);
            assertEquals(ShapeScenes.SIZE, result.images().get(0).dimension(0), "picture width");
        }
    }

    private static Set<String> keys(Path file) {
        try (TorchCheckpoint c = TorchCheckpoint.open(file)) {
            Set<String> keys = new TreeSet<>(c.keys());
            assertTrue(!keys.isEmpty(), file + " has tensors");
            return keys;
        }
    }
}
