package io.github.ssrencoder.nn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TorchKernelsTest {

    @AfterEach
    void kernelsBackOn() {
        System.clearProperty(TorchKernels.PROPERTY);
    }

    private static NDArray composed(Supplier<NDArray> body) {
        System.setProperty(TorchKernels.PROPERTY, "false");
        try {
            return body.get();
        } finally {
            System.clearProperty(TorchKernels.PROPERTY);
        }
    }

    private static float maxDiff(NDArray a, NDArray b) {
        assertTrue(a.getShape().equals(b.getShape()), a.getShape() + " vs " + b.getShape());
        return a.sub(b).abs().max().getFloat();
    }

    private static void randomize(Module module, NDManager m) {
        module.namedParameters().forEach((k, p) -> p.set(m.randomNormal(new Shape(p.shape())).mul(0.2f)));
    }

    @Test
    void bundledEngineCompilesTheKernels() {
        assertTrue(TorchKernels.on(Device.cpu()), "fused attention");
        assertTrue(TorchKernels.linearOn(Device.cpu()), "oneDNN linear");
        assertTrue(TorchKernels.convolutionOn(Device.cpu()), "prepacked convolution");
        System.setProperty(TorchKernels.PROPERTY, "false");
        assertTrue(!TorchKernels.on(Device.cpu()), "switched off by the system property");
    }

    @Test
    void fusedAttentionMatchesComposedSoftmaxForSelfCrossAndSubjectAttention() {
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            Attention attention = new Attention(48, 24, 3, 16, false, null, false);
            randomize(attention, m);
            Linear extraK = new Linear(24, 48, false);
            Linear extraV = new Linear(24, 48, false);
            randomize(extraK, m);
            randomize(extraV, m);
            NDArray x = m.randomNormal(new Shape(2, 37, 48));
            NDArray context = m.randomNormal(new Shape(2, 9, 24));
            Attention selfAttention = new Attention(48, 48, 4, 12, true, null, false);
            randomize(selfAttention, m);
            assertTrue(maxDiff(selfAttention.forward(x, null), composed(() -> selfAttention.forward(x, null))) < 1e-5f, "self");
            assertTrue(maxDiff(attention.forward(x, context), composed(() -> attention.forward(x, context))) < 1e-5f, "cross");
            attention.setExtraKeyValue(extraK, extraV, 0.7f, 4);
            assertTrue(maxDiff(attention.forward(x, context), composed(() -> attention.forward(x, context))) < 1e-5f, "subject");
        }
    }

    @Test
    void oneDnnLinearGroupNormAndPrepackedConvolutionMatchThePlainOperators() {
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            Linear linear = new Linear(40, 24, true);
            randomize(linear, m);
            Linear noBias = new Linear(40, 24, false);
            randomize(noBias, m);
            NDArray x = m.randomNormal(new Shape(3, 5, 40));
            assertTrue(maxDiff(linear.forward(x), composed(() -> linear.forward(x))) < 1e-5f, "linear");
            assertTrue(maxDiff(noBias.forward(x), composed(() -> noBias.forward(x))) < 1e-5f, "linear without bias");

            GroupNorm norm = new GroupNorm(4, 24, 1e-5f);
            randomize(norm, m);
            NDArray image = m.randomNormal(new Shape(2, 24, 5, 7)).mul(3).add(1);
            assertTrue(maxDiff(norm.forward(image), composed(() -> norm.forward(image))) < 1e-5f, "group norm");
            assertTrue(maxDiff(norm.forwardSilu(image), composed(() -> norm.forwardSilu(image))) < 1e-5f, "group norm + SiLU");

            int[][] cases = {{32, 16, 3, 1, 1}, {16, 32, 3, 2, 1}, {16, 16, 3, 2, 0}, {32, 8, 1, 1, 0}, {4, 16, 3, 1, 1}};
            for (int[] c : cases) {
                NDArray w = m.randomNormal(new Shape(c[1], c[0], c[2], c[2])).mul(0.1f);
                NDArray b = m.randomNormal(new Shape(c[1]));
                Conv2d plain = new Conv2d(c[0], c[1], c[2], c[3], c[4], true);
                plain.namedParameters().get("weight").set(w.duplicate());
                plain.namedParameters().get("bias").set(b);
                Conv2d packed = new Conv2d(c[0], c[1], c[2], c[3], c[4], true);
                packed.namedParameters().get("weight").set(w.duplicate());
                packed.namedParameters().get("bias").set(b);
                for (long size : new long[] {11, 8}) {
                    NDArray input = m.randomNormal(new Shape(2, c[0], size, size + 3));
                    float d = maxDiff(packed.forward(input), composed(() -> plain.forward(input)));
                    assertTrue(d < 1e-4f, java.util.Arrays.toString(c) + " at " + size + ": " + d);
                }
            }
        }
    }
}
