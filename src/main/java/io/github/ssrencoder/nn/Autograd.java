package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;

/**
 * Gradient recording for training. Inference never records: the engine starts with PyTorch's grad mode
 * off. While a {@link Recording} is open on a thread, operations on arrays that require gradients are
 * recorded by PyTorch's autograd, and the network blocks avoid the operators that autograd cannot
 * differentiate (the prepacked oneDNN linear and convolution kernels) and in-place updates of values that
 * backward needs. Networks run outside a recording (frozen encoders) keep the fast inference paths.
 */
public final class Autograd {

    private static final ThreadLocal<Boolean> RECORDING = ThreadLocal.withInitial(() -> Boolean.FALSE);

    private Autograd() {
    }

    /** Whether this thread records gradients. */
    public static boolean recording() {
        return RECORDING.get();
    }

    /** Starts recording on this thread until the returned recording is closed. */
    public static Recording record() {
        EngineRuntime.engine();
        boolean gradMode = JniUtils.isGradMode();
        return new Recording(EngineRuntime.engine().newGradientCollector(), gradMode);
    }

    /**
     * Runs {@code body} with PyTorch's grad mode off (it is per thread, and on by default in threads other than
     * the one that started the engine), e.g. an optimizer's in-place update of parameters that require gradients.
     */
    public static void withoutGradients(Runnable body) {
        EngineRuntime.engine();
        boolean gradMode = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            body.run();
        } finally {
            JniUtils.setGradMode(gradMode);
        }
    }

    /**
     * Runs {@code body} as part of a recording but without building a graph: the network blocks choose the same
     * (differentiable) operators as while recording, so a later recomputation under recording gives the same values
     * (gradient checkpointing's first pass).
     */
    public static <T> T withoutGraph(java.util.function.Supplier<T> body) {
        boolean gradMode = JniUtils.isGradMode();
        boolean previous = RECORDING.get();
        JniUtils.setGradMode(false);
        RECORDING.set(Boolean.TRUE);
        try {
            return body.get();
        } finally {
            RECORDING.set(previous);
            JniUtils.setGradMode(gradMode);
        }
    }

    /** A detached copy of {@code x} that requires a gradient: the input of a recomputed segment. */
    public static NDArray leaf(NDArray x) {
        NDArray a = x.stopGradient().duplicate();
        a.setRequiresGradient(true);
        return a;
    }

    /** Back-propagates {@code grad} (shaped like {@code output}) from {@code output}; gradients add up. */
    public static void backward(NDArray output, NDArray grad) {
        JniUtils.backward((ai.djl.pytorch.engine.PtNDArray) output, (ai.djl.pytorch.engine.PtNDArray) grad, false, false);
    }

    /** An open gradient recording; {@link #backward} accumulates gradients into the arrays that require them. */
    public static final class Recording implements AutoCloseable {
        private final GradientCollector collector;
        private final boolean previous;
        private final boolean previousGradMode;

        private Recording(GradientCollector collector, boolean previousGradMode) {
            this.collector = collector;
            this.previous = RECORDING.get();
            this.previousGradMode = previousGradMode;
            RECORDING.set(Boolean.TRUE);
        }

        /** Back-propagates the scalar {@code loss}; gradients are added to those already held. */
        public void backward(NDArray loss) {
            collector.backward(loss);
        }

        @Override
        public void close() {
            RECORDING.set(previous);
            collector.close();
            JniUtils.setGradMode(previousGradMode);
        }
    }
}
