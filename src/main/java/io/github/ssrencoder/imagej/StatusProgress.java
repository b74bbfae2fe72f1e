package io.github.ssrencoder.imagej;

import ij.IJ;
import io.github.ssrencoder.pipeline.ProgressListener;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.scijava.app.StatusService;

/**
 * Shows a run's progress in the status bar ({@code SSR step k/n} and the progress bar) and cancels it when the
 * user presses Esc in ImageJ, when the command is cancelled, or when its thread is interrupted.
 */
public final class StatusProgress implements ProgressListener {

    private final StatusService status;
    private final Consumer<String> warnings;
    private final BooleanSupplier cancelled;

    /**
     * @param status    the status bar, or {@code null} for ImageJ 1.x's own
     * @param warnings  where warnings go (the log)
     * @param cancelled the command's own cancel flag
     */
    public StatusProgress(StatusService status, Consumer<String> warnings, BooleanSupplier cancelled) {
        this.status = status;
        this.warnings = warnings;
        this.cancelled = cancelled;
        IJ.resetEscape();
    }

    @Override
    public void stage(String message) {
        show("SSR: " + message);
    }

    @Override
    public void step(int step, int total) {
        show("SSR step " + step + "/" + total);
        if (status != null) {
            status.showProgress(step, total);
        } else {
            IJ.showProgress(step, total);
        }
    }

    @Override
    public void warning(String message) {
        warnings.accept("SSR-Encoder: " + message);
    }

    @Override
    public boolean isCancelled() {
        return IJ.escapePressed() || cancelled.getAsBoolean() || Thread.currentThread().isInterrupted();
    }

    /** Clears the status bar and progress bar at the end of a run. */
    public void done() {
        if (status != null) {
            status.clearStatus();
            status.showProgress(0, 0);
        } else {
            IJ.showStatus("");
            IJ.showProgress(1.0);
        }
    }

    private void show(String message) {
        if (status != null) {
            status.showStatus(message);
        } else {
            IJ.showStatus(message);
        }
    }
}
