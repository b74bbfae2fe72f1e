package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * diffusers' {@code Downsample2D} with a convolution: 3×3 stride 2. With padding 0 (the VAE encoder) the
 * input is first padded by one zero row/column at the bottom/right, as the reference does.
 */
public final class Downsample2D extends Module {

    private final Conv2d conv;
    private final int padding;

    public Downsample2D(long channels, long out, int padding) {
        this.padding = padding;
        this.conv = child("conv", new Conv2d(channels, out, 3, 2, padding, true));
    }

    public NDArray forward(NDArray x) {
        return Scoped.compute(() -> {
            NDArray h = x;
            if (padding == 0) {
                h = h.pad(new Shape(0, 1, 0, 1), 0);
            }
            return conv.forward(h);
        });
    }
}
