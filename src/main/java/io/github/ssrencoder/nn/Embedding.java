package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

/** A lookup table: row {@code i} of {@code weight} [count, dim] for every integer index {@code i}. */
public final class Embedding extends Module {

    private final Parameter weight;
    private final long count;
    private final long dim;

    public Embedding(long count, long dim) {
        this.count = count;
        this.dim = dim;
        this.weight = param("weight", count, dim);
    }

    public long count() {
        return count;
    }

    public long dim() {
        return dim;
    }

    /** Rows for {@code indices} (int64, any shape) → shape + [dim], created in the indices' manager. */
    public NDArray forward(NDArray indices) {
        long[] shape = indices.getShape().getShape();
        long[] outShape = java.util.Arrays.copyOf(shape, shape.length + 1);
        outShape[shape.length] = dim;
        try (NDArray flat = indices.flatten()) {
            try (NDArray rows = weight.get().get(indices.getManager(), new NDIndex("{}", flat))) {
                return rows.reshape(outShape);
            }
        }
    }

    /** The table itself. */
    public NDArray weight() {
        return weight.get();
    }
}
