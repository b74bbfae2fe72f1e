package io.github.ssrencoder.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

/** Convolutions give the float64 reference result whatever the channel count and the state of freed memory. */
class Conv2dTest {

    @Test
    void channelCountsThatAreNotMultiplesOfSixteenGiveTheReferenceResult() {
        try (NDManager weights = EngineRuntime.newManager(ai.djl.Device.cpu())) {
            for (int channels : new int[] {24, 40, 48}) {
                Conv2d conv = new Conv2d(channels, channels, 3, 1, 1, true);
                NDArray w = weights.randomNormal(new Shape(channels, channels, 3, 3)).mul(0.05f);
                NDArray b = weights.randomNormal(new Shape(channels)).mul(0.05f);
                conv.namedParameters().get("weight").set(w.duplicate());
                conv.namedParameters().get("bias").set(b);
                for (int pass = 0; pass < 40; pass++) {
                    try (NDManager m = weights.newSubManager()) {
                        NDArray x = m.randomNormal(new Shape(2, channels, 7, 5));
                        // Freed NaN-filled memory is what an uninitialised read in the engine would pick up.
                        m.full(new Shape(2, 64, 9, 9), Float.NaN).close();
                        NDArray got = conv.forward(x);
                        NDArray expected = ai.djl.nn.convolutional.Conv2d.conv2d(x.toType(DataType.FLOAT64, false),
                                w.toType(DataType.FLOAT64, false), b.toType(DataType.FLOAT64, false), new Shape(1, 1),
                                new Shape(1, 1), new Shape(1, 1), 1).singletonOrThrow().toType(DataType.FLOAT32, false);
                        float worst = got.sub(expected).abs().max().getFloat();
                        assertTrue(worst < 1e-5f, channels + " channels, pass " + pass + ": max |error| " + worst);
                    }
                }
            }
        }
    }

    @Test
    void prepackedOneByOneWeightIsUnpackedBitForBit() {
        try (NDManager weights = EngineRuntime.newManager(ai.djl.Device.cpu())) {
            for (int[] io : new int[][] {{32, 48}, {320, 320}}) {
                Conv2d conv = new Conv2d(io[0], io[1], 1, 1, 0, true);
                NDArray w = weights.randomNormal(new Shape(io[1], io[0], 1, 1));
                conv.namedParameters().get("weight").set(w.duplicate());
                conv.namedParameters().get("bias").set(weights.zeros(new Shape(io[1])));
                try (NDManager m = weights.newSubManager()) {
                    conv.forward(m.randomNormal(new Shape(1, io[0], 8, 8)));
                }
                assumeTrue(conv.weightIsPacked(), "the prepacked convolution is not available in this build");
                try (NDManager m = weights.newSubManager()) {
                    NDArray dense = conv.unpackedWeight(m);
                    assertArrayEquals(w.toFloatArray(), dense.toFloatArray(), io[0] + "→" + io[1] + " channels");
                }
            }
        }
    }
}
