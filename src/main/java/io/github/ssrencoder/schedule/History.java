package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

/**
 * Owner of the arrays a multistep scheduler keeps between steps. They live in a manager of their own (on
 * the sample's engine and device), so neither a caller's per-step manager nor an {@link NDScope} around
 * {@code step} frees them; the scheduler frees each one when it drops out of the history, and all of them
 * on {@code close}.
 */
final class History implements AutoCloseable {

    private NDManager manager;

    /** Moves {@code array} (created by the scheduler) into the history. */
    NDArray keep(NDArray array) {
        if (manager == null || !manager.isOpen()) {
            manager = array.getManager().getEngine().newBaseManager(array.getDevice());
        }
        NDScope.unregister(array);
        array.attach(manager);
        return array;
    }

    /** A history copy of an array the caller owns. */
    NDArray copy(NDArray array) {
        NDArray c = array.duplicate();
        return keep(c);
    }

    /** Number of arrays currently held. */
    int size() {
        return manager == null || !manager.isOpen() ? 0 : manager.getManagedArrays().size();
    }

    static void free(NDArray array) {
        if (array != null) {
            array.close();
        }
    }

    @Override
    public void close() {
        if (manager != null) {
            manager.close();
            manager = null;
        }
    }
}
