package io.github.ssrencoder.pipeline;

/**
 * Receives progress of a long run and can cancel it. The Fiji layer adapts it to the status bar, the CLI
 * to a console line, tests to a list they can assert on.
 */
public interface ProgressListener {

    /** A listener that ignores everything and never cancels. */
    ProgressListener NONE = new ProgressListener() {
    };

    /** A new stage began ("Loading UNet", "Encoding subject 1 of 2", "Decoding"). */
    default void stage(String message) {
    }

    /** Denoising step {@code step} (1-based) of {@code total} finished. */
    default void step(int step, int total) {
    }

    /** A warning the user should see (e.g. a mask resized to the image size, a truncated query). */
    default void warning(String message) {
    }

    /** Polled between steps; returning {@code true} stops the run with {@link CancelledException}. */
    default boolean isCancelled() {
        return false;
    }
}
