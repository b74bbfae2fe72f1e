package io.github.ssrencoder.imagej;

import ij.IJ;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.pipeline.CancelledException;
import java.awt.GraphicsEnvironment;
import java.util.function.Consumer;

/**
 * Reports a failed run as one clear message: an error dialog when ImageJ has a window, else one log line.
 * Input problems never show a stack trace; only unexpected failures log one, for a bug report.
 */
public final class UserMessages {

    private UserMessages() {
    }

    /** The message a user sees for {@code e}. */
    public static String messageOf(Throwable e) {
        if (e instanceof CancelledException) {
            return "SSR-Encoder: cancelled";
        }
        String m = e.getMessage();
        if (e instanceof IllegalArgumentException || e instanceof WeightFileException || e instanceof IllegalStateException) {
            return "SSR-Encoder: " + (m == null ? e.getClass().getSimpleName() : m);
        }
        return "SSR-Encoder failed: " + e + " (see the log for details)";
    }

    /** Whether {@code e} is a problem of the input or the setup rather than a bug. */
    public static boolean expected(Throwable e) {
        return e instanceof IllegalArgumentException || e instanceof WeightFileException
                || e instanceof IllegalStateException || e instanceof CancelledException;
    }

    /** Shows {@code message} as a dialog when ImageJ's window is up, else sends it to {@code log}. */
    public static void show(String message, Consumer<String> log) {
        if (!GraphicsEnvironment.isHeadless() && IJ.getInstance() != null) {
            IJ.error("SSR-Encoder", message);
        } else {
            log.accept(message);
        }
    }
}
