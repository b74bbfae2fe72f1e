package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/** 2-D convolution over NCHW input; parameters {@code weight} [out, in, k, k] and optional {@code bias}. */
public final class Conv2d extends Module {

    private final Parameter weight;
    private final Parameter bias;
    private final Shape stride;
    private final Shape padding;

    public Conv2d(long in, long out, int kernel, int stride, int padding, boolean bias) {
        this.weight = param("weight", out, in, kernel, kernel);
        this.bias = bias ? param("bias", out) : null;
        this.stride = new Shape(stride, stride);
        this.padding = new Shape(padding, padding);
    }

    public NDArray forward(NDArray x) {
        return ai.djl.nn.convolutional.Conv2d.conv2d(x, weight.get(), bias == null ? null : bias.get(),
                stride, padding, new Shape(1, 1), 1).singletonOrThrow();
    }
}
