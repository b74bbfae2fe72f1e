package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonPrimitive;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.train.SsrTrainer;
import io.github.ssrencoder.train.StepResult;
import io.github.ssrencoder.train.TrainingBatch;
import io.github.ssrencoder.train.TrainingData;
import io.github.ssrencoder.train.TrainingOptions;
import io.github.ssrencoder.train.TrainingRandom;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training on a model set of other shapes than tiny-a (three-block UNet with 40 channels, three-block VAE with 3
 * latent channels, three CLIP scales, odd latent sizes at 40² pixels): a step runs, its gradients are finite and
 * non-zero, and gradient checkpointing gives the same gradients and update as the plain recorded pass (relative
 * 1e-5 per tensor: the same operators, recomputed).
 */
class TrainingOtherShapesTest {

    @TempDir
    Path tmp;

    private Map<String, float[]> step(Path models, boolean checkpointing, float[] loss) {
        TrainingOptions options = TrainingOptions.TRAIN_PY.withResolution(40).withGradientCheckpointing(checkpointing);
        Map<String, float[]> out = new HashMap<>();
        try (SsrTrainer trainer = SsrTrainer.load(models, null, Device.cpu(), options);
             NDManager m = EngineRuntime.newManager(Device.cpu())) {
            TrainingRandom random = TrainingRandom.seeded(11);
            try (TrainingBatch b = trainer.prepare(TrainingData.read(Golden.tinyA().resolve("train")).examples(), random, m)) {
                StepResult r = trainer.step(b, random);
                loss[0] = (float) r.loss();
            }
            for (Map.Entry<String, NDArray> e : trainer.trainableParameters().entrySet()) {
                out.put("param." + e.getKey(), e.getValue().toFloatArray());
                out.put("exp_avg." + e.getKey(), trainer.optimizer().expAvg(e.getKey()).toFloatArray());
            }
        }
        return out;
    }

    @Test
    void checkpointedStepEqualsThePlainOneOnOtherShapes() throws IOException {
        Path models = tmp.resolve("models");
        OtherModelShapesTest.writeModels(models, new OtherModelShapesTest.Shapes(40, 1, 5, 80, "quick_gelu",
                24, 13, 2, 48, 32,
                new int[] {16, 32, 40}, new JsonPrimitive(4), 1, 8, 2, true,
                new int[] {8, 16, 16}, 1, 8, 3,
                2, 12));
        float[] plainLoss = new float[1];
        float[] checkpointedLoss = new float[1];
        Map<String, float[]> plain = step(models, false, plainLoss);
        Map<String, float[]> checkpointed = step(models, true, checkpointedLoss);
        assertTrue(Float.isFinite(plainLoss[0]));
        assertEquals(plainLoss[0], checkpointedLoss[0], 1e-6);
        assertEquals(plain.keySet(), checkpointed.keySet());
        for (String key : plain.keySet()) {
            float[] a = plain.get(key);
            float[] c = checkpointed.get(key);
            double max = 0;
            for (float v : a) {
                assertTrue(Float.isFinite(v), key + " is not finite");
                max = Math.max(max, Math.abs(v));
            }
            if (key.startsWith("exp_avg.")) {
                assertTrue(max > 0, key + ": no gradient reached this tensor");
            }
            double tol = key.startsWith("exp_avg.") ? 1e-5 * max : 1e-7 + 1e-6 * max;
            assertTrue(Golden.maxAbsDiff(a, c) <= tol, key + ": checkpointed differs by " + Golden.maxAbsDiff(a, c));
        }
    }
}
