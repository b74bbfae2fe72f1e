package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import java.util.Arrays;

/**
 * One named weight of a {@link Module}: its expected shape is fixed when the module is built from its
 * config, its value is bound later by the weight loader.
 */
public final class Parameter {

    private final String name;
    private final long[] shape;
    private NDArray value;

    Parameter(String name, long[] shape) {
        this.name = name;
        this.shape = shape.clone();
    }

    /** The local name inside its module (e.g. {@code weight}). */
    public String name() {
        return name;
    }

    /** The expected shape. */
    public long[] shape() {
        return shape.clone();
    }

    /** Whether a value has been bound. */
    public boolean isSet() {
        return value != null;
    }

    /** The bound value; fails with a clear message if the loader did not set it. */
    public NDArray get() {
        if (value == null) {
            throw new IllegalStateException("parameter '" + name + "' " + Arrays.toString(shape) + " has no value: weights not loaded");
        }
        return value;
    }

    /**
     * Binds a value after checking its shape. The array stays in its manager; a module may later replace it by
     * a faster layout of the same weight and release it ({@link Conv2d} on CPU), so the caller must not use the
     * bound array afterwards.
     */
    public void set(NDArray v) {
        long[] actual = v.getShape().getShape();
        if (!Arrays.equals(actual, shape)) {
            throw new IllegalArgumentException("parameter '" + name + "' expects shape " + Arrays.toString(shape)
                    + " but got " + Arrays.toString(actual));
        }
        this.value = v;
    }

    /** Forgets the bound value (the memory is released by its manager). */
    void clear() {
        value = null;
    }
}
