package io.github.ssrencoder.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

class Upsample2DTest {

    /** torch's nearest rule: source index floor(dst · in / out) with the scale in float32. */
    private static float[] reference(float[] x, int c, int h, int w, int oh, int ow) {
        float[] out = new float[c * oh * ow];
        float sh = (float) h / oh;
        float sw = (float) w / ow;
        for (int k = 0; k < c; k++) {
            for (int i = 0; i < oh; i++) {
                int si = Math.min((int) Math.floor(i * sh), h - 1);
                for (int j = 0; j < ow; j++) {
                    int sj = Math.min((int) Math.floor(j * sw), w - 1);
                    out[(k * oh + i) * ow + j] = x[(k * h + si) * w + sj];
                }
            }
        }
        return out;
    }

    @Test
    void nearestResizeUsesFloorOfScaledDestinationIndex() {
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            int[][] cases = {{3, 5, 6, 10}, {5, 7, 9, 13}, {4, 4, 8, 8}, {3, 3, 7, 5}};
            for (int[] c : cases) {
                NDArray x = m.arange(0f, 2f * c[0] * c[1]).reshape(1, 2, c[0], c[1]);
                NDArray y = Upsample2D.nearest(x, c[2], c[3]);
                assertArrayEquals(new long[] {1, 2, c[2], c[3]}, y.getShape().getShape());
                assertArrayEquals(reference(x.toFloatArray(), 2, c[0], c[1], c[2], c[3]), y.toFloatArray(), 0f,
                        c[0] + "x" + c[1] + " -> " + c[2] + "x" + c[3]);
            }
            assertArrayEquals(new long[] {1, 1, 4, 6}, Upsample2D.nearest(m.zeros(new Shape(1, 1, 2, 3)), 4, 6).getShape().getShape());
        }
    }
}
