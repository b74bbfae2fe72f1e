package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;

/**
 * diffusers' {@code Upsample2D} with a convolution: nearest-neighbour up-sampling (2×, or to an explicit size
 * with source index floor(dst·in/out), as {@code F.interpolate(mode="nearest")}) followed by a 3×3 conv.
 */
public final class Upsample2D extends Module {

    private final Conv2d conv;

    public Upsample2D(long channels, long out) {
        this.conv = child("conv", new Conv2d(channels, out, 3, 1, 1, true));
    }

    /** @param size target [H, W], or {@code null} for twice the input size */
    public NDArray forward(NDArray x, long[] size) {
        return Scoped.compute(() -> {
            long[] s = x.getShape().getShape();
            long[] target = size != null ? size : new long[] {2 * s[2], 2 * s[3]};
            return conv.forward(nearest(x, target[0], target[1]));
        });
    }

    /** Nearest-neighbour resize of NCHW input (torch's interpolate: source index floor(dst·in/out)). */
    static NDArray nearest(NDArray x, long outH, long outW) {
        return x.getNDArrayInternal().interpolation(new long[] {outH, outW}, 0, false);
    }
}
