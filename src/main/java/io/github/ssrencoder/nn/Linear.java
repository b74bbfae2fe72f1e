package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/** {@code y = x·Wᵀ + b} over the last axis; parameters {@code weight} [out, in] and optional {@code bias} [out]. */
public final class Linear extends Module {

    private final Parameter weight;
    private final Parameter bias;
    private final long inFeatures;
    private final long outFeatures;

    public Linear(long inFeatures, long outFeatures, boolean bias) {
        this.inFeatures = inFeatures;
        this.outFeatures = outFeatures;
        this.weight = param("weight", outFeatures, inFeatures);
        this.bias = bias ? param("bias", outFeatures) : null;
    }

    public long inFeatures() {
        return inFeatures;
    }

    public long outFeatures() {
        return outFeatures;
    }

    /** The oneDNN kernel has no derivative: while gradients are recorded, PyTorch's linear layer is used. */
    public NDArray forward(NDArray x) {
        FlopCounter.add(x.size() / inFeatures * inFeatures * outFeatures);
        if (x.getDataType() == DataType.FLOAT32 && TorchKernels.linearOn(x.getDevice()) && !Autograd.recording()) {
            return TorchKernels.linear(x, weight.get(), bias == null ? null : bias.get());
        }
        return bias == null
                ? ai.djl.nn.core.Linear.linear(x, weight.get()).singletonOrThrow()
                : ai.djl.nn.core.Linear.linear(x, weight.get(), bias.get()).singletonOrThrow();
    }
}
