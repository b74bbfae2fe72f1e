package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import java.util.function.Supplier;

/**
 * Runs a piece of a forward pass so that every temporary array it creates is freed as soon as it returns;
 * only the result survives, handed to the enclosing scope (if any). Keeps the peak memory of a UNet pass
 * at a few activations instead of all of them.
 */
public final class Scoped {

    private Scoped() {
    }

    /** Computes one array; all other arrays created by {@code body} are closed. */
    public static NDArray compute(Supplier<NDArray> body) {
        NDArray out;
        try (NDScope scope = new NDScope()) {
            out = body.get();
            NDScope.unregister(out);
        }
        NDScope.register(out);
        return out;
    }

    /** Computes several arrays; all other arrays created by {@code body} are closed. */
    public static NDList computeList(Supplier<NDList> body) {
        NDList out;
        try (NDScope scope = new NDScope()) {
            out = body.get();
            NDScope.unregister(out);
        }
        for (NDArray a : out) {
            NDScope.register(a);
        }
        return out;
    }
}
