package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;

/**
 * diffusers' {@code ResnetBlock2D} ("default" time-embedding norm): GroupNorm → SiLU → conv1 (+ projected time
 * embedding) → GroupNorm → SiLU → conv2, plus a 1×1 {@code conv_shortcut} when the channel count changes.
 */
public final class ResnetBlock2D extends Module {

    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final Linear timeEmbProj;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d convShortcut;
    private final float outputScaleFactor;

    /**
     * @param temb              channels of the time embedding, or 0 when the block takes none (VAE)
     * @param outputScaleFactor the divisor of the sum (diffusers' {@code output_scale_factor})
     */
    public ResnetBlock2D(long in, long out, long temb, int groups, float eps, float outputScaleFactor) {
        this.norm1 = child("norm1", new GroupNorm(groups, in, eps));
        this.conv1 = child("conv1", new Conv2d(in, out, 3, 1, 1, true));
        this.timeEmbProj = temb > 0 ? child("time_emb_proj", new Linear(temb, out, true)) : null;
        this.norm2 = child("norm2", new GroupNorm(groups, out, eps));
        this.conv2 = child("conv2", new Conv2d(out, out, 3, 1, 1, true));
        this.convShortcut = in != out ? child("conv_shortcut", new Conv2d(in, out, 1, 1, 0, true)) : null;
        this.outputScaleFactor = outputScaleFactor;
    }

    /** @param temb [B, temb] or {@code null} when this block has no time embedding */
    public NDArray forward(NDArray x, NDArray temb) {
        return PassTimings.time("resnets", () -> Scoped.compute(() -> {
            // Intermediates are closed as soon as they are consumed: at the VAE's full resolution each is over a
            // hundred megabytes, and the block's peak memory is what bounds a 512² generation's.
            NDArray normed = norm1.forwardSilu(x);
            NDArray h = conv1.forward(normed);
            normed.close();
            if (timeEmbProj != null) {
                NDArray t = timeEmbProj.forward(Activations.silu(temb));
                h = h.addi(t.reshape(t.getShape().get(0), t.getShape().get(1), 1, 1));
            }
            normed = norm2.forwardSilu(h);
            h.close();
            h = conv2.forward(normed);
            normed.close();
            if (convShortcut == null) {
                h = h.addi(x);
            } else {
                NDArray shortcut = convShortcut.forward(x);
                h = h.addi(shortcut);
                shortcut.close();
            }
            return outputScaleFactor == 1f ? h : Scalars.divi(h, outputScaleFactor);
        }));
    }
}
