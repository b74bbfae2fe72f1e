package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

/**
 * Owner of the arrays a multistep scheduler keeps between steps. They live in a sub-manager of the
 * sample's manager and are taken out of any {@link NDScope}, so a caller's scope around {@code step} does
 * not free them; the scheduler frees each one when it drops out of the history.
 */
final class History implements AutoCloseable {

    private NDManager manager;

    /** Moves {@code array} (created by the scheduler) into the history. */
    NDArray keep(NDArray array) {
        if (manager == null || !manager.isOpen()) {
            manager = array.getManager().newSubManager();
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
