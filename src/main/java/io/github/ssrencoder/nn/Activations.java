package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;

/** Activation functions used by the diffusion models, with the activation as first operand (memory ownership). */
public final class Activations {

    private Activations() {
    }

    /** {@code x·sigmoid(x)} (SiLU / swish). */
    public static NDArray silu(NDArray x) {
        if (Autograd.recording()) {
            return ai.djl.nn.Activation.sigmoid(x).mul(x); // backward needs the sigmoid unchanged
        }
        return PassTimings.time("silu", () -> Scoped.compute(() -> ai.djl.nn.Activation.sigmoid(x).muli(x)));
    }

    /** GELU, exact erf form (torch's default). */
    public static NDArray gelu(NDArray x) {
        return ai.djl.nn.Activation.gelu(x);
    }
}
