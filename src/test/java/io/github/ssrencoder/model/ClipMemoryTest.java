package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import org.junit.jupiter.api.Test;

/** Repeated forward passes leave no arrays behind, neither with the weights nor with the caller. */
class ClipMemoryTest {

    private static long open(NDManager m) {
        return m.getManagedArrays().stream().filter(a -> !a.isReleased()).count();
    }

    @Test
    void repeatedEncoderPassesKeepTheLiveArrayCountFlat() {
        try (NDManager weights = EngineRuntime.newManager(Device.cpu())) {
            ClipTextEncoder text = ClipTextEncoder.load(Golden.tinyA().resolve("sd/text_encoder"), weights);
            // A small vision tower with random weights: the check is about bookkeeping, not values, and this
            // keeps twenty passes fast.
            ClipVisionEncoder vision = new ClipVisionEncoder(new ClipVisionConfig(16, 32, 5, 2, 3, 56, 14, "quick_gelu", 1e-5));
            vision.namedParameters().values().forEach(p -> p.set(weights.randomNormal(new Shape(p.shape())).mul(0.1f)));
            long weightArrays = open(weights);
            for (int i = 0; i < 20; i++) {
                try (NDManager m = weights.newSubManager()) {
                    NDArray ids = m.zeros(new Shape(2, 77), ai.djl.ndarray.types.DataType.INT64);
                    NDArray px = m.randomNormal(new Shape(1, 3, 56, 56));
                    long before = open(m);
                    NDArray out = text.forward(ids);
                    assertEquals(before + 1, open(m), "text pass " + i + " leaves only its output in the caller's manager");
                    NDList hs = vision.forward(px);
                    assertEquals(before + 1 + hs.size(), open(m), "vision pass " + i + " leaves only its hidden states");
                    NDArray ssr = ClipVisionEncoder.ssrImageEmbeds(hs);
                    assertEquals(before + 2 + hs.size(), open(m), "ssr embeddings " + i);
                    out.close();
                    hs.close();
                    ssr.close();
                    assertEquals(before, open(m));
                }
                assertEquals(weightArrays, open(weights), "pass " + i + " leaves nothing with the weights");
            }
        }
    }
}
