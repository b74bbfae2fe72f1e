package io.github.ssrencoder.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/**
 * The scheduler-trace tolerance of the golden README: each element within an absolute or a relative bound;
 * the worst errors per group are recorded so a test can report how much margin the bounds leave.
 */
public final class TraceTolerance {

    private TraceTolerance() {
    }

    /** Fails at the first element outside both bounds; adds this tensor's worst errors to {@code worst[group]}. */
    public static void check(Map<String, double[]> worst, String group, String what, NDArray expected, NDArray actual,
                             double atol, double rtol) {
        assertArrayEquals(expected.getShape().getShape(), actual.getShape().getShape(), what + ": shape");
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        double worstAbs = 0;
        double worstRel = 0;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs((double) e[i] - a[i]);
            double rel = d / Math.max(Math.abs(e[i]), 1e-30);
            if (!(d <= atol || rel <= rtol)) {
                fail(String.format("%s: |expected - actual| = %.3g (relative %.3g) at flat index %d (expected %.7g, got %.7g)",
                        what, d, rel, i, e[i], a[i]));
            }
            worstAbs = Math.max(worstAbs, d);
            worstRel = Math.max(worstRel, rel);
        }
        double[] w = worst.computeIfAbsent(group, k -> new double[2]);
        w[0] = Math.max(w[0], worstAbs);
        w[1] = Math.max(w[1], worstRel);
    }
}
