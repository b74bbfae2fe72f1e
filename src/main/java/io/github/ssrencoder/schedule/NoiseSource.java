package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/** Standard normal noise for ancestral samplers; tests inject recorded noise through it. */
@FunctionalInterface
public interface NoiseSource {

    /** A float32 array of the given shape with independent N(0, 1) entries, created in {@code manager}. */
    NDArray randn(Shape shape, NDManager manager);
}
