package io.github.ssrencoder.nn;

import java.util.function.Supplier;

/**
 * Counts the floating-point operations of the matrix products a forward pass performs — linear layers,
 * convolutions and the two products of every attention core — from the shapes that reach them (a
 * multiply-add counts as two). Normalisations, activations and other element-wise work are not counted: they
 * are a small fraction and not what peak GFLOP/s figures measure. For benchmarks: off by default (one field
 * read per layer), one thread at a time.
 */
public final class FlopCounter {

    private static long[] total;

    private FlopCounter() {
    }

    /** Runs {@code body} and returns its result together with the operations it counted. */
    public static <T> Counted<T> count(Supplier<T> body) {
        long[] outer = total;
        long[] mine = new long[1];
        total = mine;
        try {
            T value = body.get();
            return new Counted<>(value, mine[0]);
        } finally {
            total = outer;
            if (outer != null) {
                outer[0] += mine[0];
            }
        }
    }

    /** Adds {@code multiplyAdds} multiply-add operations while counting is on. */
    static void add(long multiplyAdds) {
        long[] t = total;
        if (t != null) {
            t[0] += 2 * multiplyAdds;
        }
    }

    /** A result and the floating-point operations spent computing it. */
    public record Counted<T>(T value, long flops) {
    }
}
