package io.github.ssrencoder.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

class FlopCounterTest {

    @Test
    void countsTwoOperationsPerMultiplyAddOfLinearConvolutionAndAttention() {
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            Linear linear = new Linear(6, 5, true);
            linear.namedParameters().get("weight").set(m.randomNormal(new Shape(5, 6)));
            linear.namedParameters().get("bias").set(m.zeros(new Shape(5)));
            long linearFlops = FlopCounter.count(() -> linear.forward(m.ones(new Shape(2, 3, 6)))).flops();
            assertEquals(2L * 2 * 3 * 6 * 5, linearFlops);

            Conv2d conv = new Conv2d(24, 7, 3, 2, 1, false);
            conv.namedParameters().get("weight").set(m.randomNormal(new Shape(7, 24, 3, 3)));
            long convFlops = FlopCounter.count(() -> conv.forward(m.ones(new Shape(1, 24, 9, 9)))).flops();
            assertEquals(2L * 7 * 5 * 5 * 24 * 9, convFlops, "stride 2: 5x5 outputs, real (unpadded) input channels");

            Attention attention = new Attention(8, 8, 2, 4, false, null, false);
            attention.namedParameters().forEach((k, p) -> p.set(m.randomNormal(new Shape(p.shape()))));
            long attentionFlops = FlopCounter.count(() -> attention.forward(m.ones(new Shape(1, 10, 8)), null)).flops();
            long projections = 4L * 2 * 10 * 8 * 8;
            long core = 2L * 2 * (2L * 10 * 10 * 4);
            assertEquals(projections + core, attentionFlops);
            assertEquals(0, FlopCounter.count(() -> m.ones(new Shape(3)).add(1)).flops(), "element-wise work is not counted");
        }
    }
}
