package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Group normalisation of NCHW (or NC…) input as {@code torch.nn.GroupNorm}: biased variance per (sample,
 * group), then a per-channel affine. PyTorch's operator is reached through {@link TorchKernels}; without them
 * it is composed from DJL's layer normalisation.
 */
public final class GroupNorm extends Module {

    private final Parameter weight;
    private final Parameter bias;
    private final int groups;
    private final long channels;
    private final float eps;

    public GroupNorm(int groups, long channels, float eps) {
        if (channels % groups != 0) {
            throw new IllegalArgumentException("GroupNorm: " + channels + " channels are not divisible into " + groups + " groups");
        }
        this.groups = groups;
        this.channels = channels;
        this.eps = eps;
        this.weight = param("weight", channels);
        this.bias = param("bias", channels);
    }

    public NDArray forward(NDArray x) {
        return normalize(x, false);
    }

    /** {@code silu(forward(x))}, fused into one operator when the engine's kernels are available. */
    public NDArray forwardSilu(NDArray x) {
        return normalize(x, true);
    }

    private NDArray normalize(NDArray x, boolean silu) {
        if (TorchKernels.on(x.getDevice())) {
            return PassTimings.time("group norms", () -> TorchKernels.groupNorm(x, groups, weight.get(), bias.get(), eps, silu));
        }
        NDArray normed = composed(x);
        return silu ? Activations.silu(normed) : normed;
    }

    private NDArray composed(NDArray x) {
        return PassTimings.time("group norms", () -> Scoped.compute(() -> {
            long[] shape = x.getShape().getShape();
            long n = shape[0];
            NDArray grouped = x.reshape(n, groups, -1);
            // torch's fused layer_norm over each (sample, group) row computes the same biased statistics in two
            // passes over the data, where composing mean, centring, variance and division took seven.
            Shape row = new Shape(grouped.getShape().get(2));
            NDManager m = x.getManager();
            NDArray normed = ai.djl.nn.norm.LayerNorm.layerNorm(grouped, row, m.ones(row, x.getDataType()), m.zeros(row, x.getDataType()), eps)
                    .singletonOrThrow().reshape(shape);
            long[] affineShape = new long[shape.length];
            java.util.Arrays.fill(affineShape, 1);
            affineShape[1] = channels;
            return normed.muli(weight.get().reshape(affineShape)).addi(bias.get().reshape(affineShape));
        }));
    }
}
