package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Arithmetic with a number for code that gradients may be recorded through. DJL turns a Java number operand into an
 * array over a direct buffer that Java frees once that array is closed and collected, while PyTorch's autograd keeps
 * the operand of a product, quotient or maximum for the backward pass: after a garbage collection that pass would
 * read freed memory and give garbage or NaN gradients. The operands made here live in memory libtorch allocates and
 * reference-counts, and are float32 as DJL's own number operands are, so results are the same.
 */
public final class Scalars {

    private Scalars() {
    }

    /** {@code x · v}. */
    public static NDArray mul(NDArray x, double v) {
        try (NDArray s = of(x, v)) {
            return x.mul(s);
        }
    }

    /** {@code x / v}. */
    public static NDArray div(NDArray x, double v) {
        try (NDArray s = of(x, v)) {
            return x.div(s);
        }
    }

    /** {@code x / v} in place. */
    public static NDArray divi(NDArray x, double v) {
        try (NDArray s = of(x, v)) {
            return x.divi(s);
        }
    }

    /** Element-wise {@code max(x, v)}. */
    public static NDArray maximum(NDArray x, double v) {
        try (NDArray s = of(x, v)) {
            return x.maximum(s);
        }
    }

    private static NDArray of(NDArray like, double v) {
        return like.getManager().full(new Shape(), (float) v, DataType.FLOAT32);
    }
}
