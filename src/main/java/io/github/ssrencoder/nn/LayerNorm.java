package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/** Layer normalisation over the last axis with gain {@code weight} and {@code bias}. */
public final class LayerNorm extends Module {

    private final Parameter weight;
    private final Parameter bias;
    private final long dim;
    private final float eps;

    public LayerNorm(long dim, float eps) {
        this.dim = dim;
        this.eps = eps;
        this.weight = param("weight", dim);
        this.bias = param("bias", dim);
    }

    public NDArray forward(NDArray x) {
        return ai.djl.nn.norm.LayerNorm.layerNorm(x, new Shape(dim), weight.get(), bias.get(), eps).singletonOrThrow();
    }
}
