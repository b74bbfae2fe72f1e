package io.github.ssrencoder.imagej;

import io.github.ssrencoder.pipeline.CancelledException;
import org.scijava.app.StatusService;
import org.scijava.command.ContextCommand;
import org.scijava.log.LogService;
import org.scijava.plugin.Parameter;

/**
 * Common ground of the SSR-Encoder commands: the service, progress in the status bar with Esc/cancel, and
 * one clear message instead of a stack trace when the input or setup is wrong (the command is then cancelled
 * with that message as the reason, and produces no window).
 *
 * <p>The commands have no menu path on purpose. The menu entries come from {@code plugins.config} alone
 * ({@link io.github.ssrencoder.imagej.ij1.SsrIj1Plugin}), which plain ImageJ 1.x and Fiji both read, so a user
 * sees each entry once, with one dialog, one set of macro keys and one recorded macro text in both; inside
 * Fiji those entries run on Fiji's own {@link SsrService}. The commands themselves stay for scripts and
 * headless runs through the {@code CommandService}, with the same parameter names as the macro keys.
 */
public abstract class SsrCommand extends ContextCommand {

    @Parameter
    protected SsrService ssr;

    @Parameter(required = false)
    protected StatusService status;

    @Parameter(required = false)
    protected LogService log;

    /** The body of the command; may throw {@link IllegalArgumentException} etc. with a user message. */
    protected abstract void execute(StatusProgress progress);

    @Override
    public final void run() {
        StatusProgress progress = new StatusProgress(status, this::logWarning, this::isCanceled);
        try {
            execute(progress);
        } catch (CancelledException e) {
            cancel(UserMessages.messageOf(e));
            logInfo(UserMessages.messageOf(e));
        } catch (RuntimeException e) {
            String message = UserMessages.messageOf(e);
            if (!UserMessages.expected(e) && log != null) {
                log.error(message, e);
            }
            cancel(message);
            UserMessages.show(message, this::logError);
        } finally {
            progress.done();
        }
    }

    /** One informational log line (the seed used, where results went). */
    protected void logInfo(String message) {
        if (log != null) {
            log.info(message);
        }
    }

    /** One warning log line. */
    protected void logWarning(String message) {
        if (log != null) {
            log.warn(message);
        }
    }

    private void logError(String message) {
        if (log != null) {
            log.error(message);
        } else {
            System.err.println(message);
        }
    }
}
