package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/** 2-D convolution over NCHW input; parameters {@code weight} [out, in, k, k] and optional {@code bias}. */
public final class Conv2d extends Module {

    /**
     * The bundled libtorch's oneDNN convolution (AVX-512 kernels) reads uninitialised memory when the input
     * has more than a few channels but not a multiple of 16 (e.g. 24 or 40; seen as sporadic NaN). Such inputs
     * and their weights are zero-padded to the next multiple, which leaves the result unchanged. Every
     * convolution of the real SD1.5 and CLIP models has 3, 4 or a multiple of 16 input channels.
     */
    static final int CHANNEL_BLOCK = 16;
    private static final int SMALL_INPUT_CHANNELS = 4;

    private final Parameter weight;
    private final Parameter bias;
    private final Shape stride;
    private final Shape padding;
    private final int strideSize;
    private final int paddingSize;
    private final long channelPadding;
    private NDArray packed;

    public Conv2d(long in, long out, int kernel, int stride, int padding, boolean bias) {
        this.weight = param("weight", out, in, kernel, kernel);
        this.bias = bias ? param("bias", out) : null;
        this.stride = new Shape(stride, stride);
        this.padding = new Shape(padding, padding);
        this.strideSize = stride;
        this.paddingSize = padding;
        this.channelPadding = in > SMALL_INPUT_CHANNELS && in % CHANNEL_BLOCK != 0 ? CHANNEL_BLOCK - in % CHANNEL_BLOCK : 0;
    }

    public NDArray forward(NDArray x) {
        boolean packedAlready = packed != null && weight.get() == packed;
        boolean recording = Autograd.recording();
        if (packedAlready && recording) {
            throw new IllegalStateException("this convolution's weight was prepacked for inference and cannot be "
                    + "differentiated; load the model afresh for training");
        }
        if (packedAlready || !recording && channelPadding == 0 && x.getDataType() == DataType.FLOAT32 && TorchKernels.convolutionOn(x.getDevice())) {
            NDArray y = TorchKernels.convolution(x, packedWeight(x), bias == null ? null : bias.get(), strideSize, paddingSize);
            long[] ws = weight.shape();
            FlopCounter.add(y.size() * ws[1] * ws[2] * ws[3]);
            return y;
        }
        if (channelPadding == 0) {
            return convolve(x, weight.get());
        }
        return Scoped.compute(() -> {
            long[] s = x.getShape().getShape();
            NDArray input = NDArrays.concat(new NDList(x, x.getManager().zeros(new Shape(s[0], channelPadding, s[2], s[3]), x.getDataType())), 1);
            long[] w = weight.shape();
            NDArray zeros = x.getManager().zeros(new Shape(w[0], channelPadding, w[2], w[3]), x.getDataType());
            NDArray paddedWeight = NDArrays.concat(new NDList(weight.get(), zeros), 1);
            return convolve(input, paddedWeight);
        });
    }

    /**
     * The weight in oneDNN's blocked layout, reordered once at the first call after a weight was bound. The
     * packed array then takes the dense one's place (which is released), so the weights are held once.
     */
    private synchronized NDArray packedWeight(NDArray like) {
        NDArray w = weight.get();
        if (w != packed) {
            packed = TorchKernels.packConvolutionWeight(w, strideSize, paddingSize, like);
            NDScope.unregister(packed);
            weight.set(packed);
            w.close();
        }
        return packed;
    }

    /** Whether the bound weight is the prepacked (opaque) one that {@link #forward} made from the dense weight. */
    public synchronized boolean weightIsPacked() {
        return packed != null && weight.isSet() && weight.get() == packed;
    }

    /**
     * A dense [out, in, 1, 1] copy of a prepacked 1×1 weight, made in {@code manager}. The blocked layout cannot
     * be read back directly, so the identity is convolved instead: an input [1, in, 1, in] with channel c set only at
     * position c gives W[o, c] at output (o, c), each a single product with 1, i.e. the weight bit for bit.
     */
    public synchronized NDArray unpackedWeight(NDManager manager) {
        long[] ws = weight.shape();
        if (!weightIsPacked() || ws[2] != 1 || ws[3] != 1 || strideSize != 1 || paddingSize != 0) {
            throw new IllegalStateException("only a prepacked 1×1 convolution weight is unpacked");
        }
        try (NDManager scratch = manager.newSubManager()) {
            NDArray identity = scratch.eye((int) ws[1]).reshape(1, ws[1], 1, ws[1]);
            NDArray columns = TorchKernels.convolution(identity, packed, null, 1, 0);
            columns.attach(scratch);
            NDArray dense = columns.reshape(ws[0], ws[1], 1, 1).duplicate();
            dense.attach(manager);
            return dense;
        }
    }

    private NDArray convolve(NDArray x, NDArray w) {
        NDArray y = ai.djl.nn.convolutional.Conv2d.conv2d(x, w, bias == null ? null : bias.get(),
                stride, padding, new Shape(1, 1), 1).singletonOrThrow();
        long[] ws = weight.shape();
        FlopCounter.add(y.size() * ws[1] * ws[2] * ws[3]);
        return y;
    }
}
