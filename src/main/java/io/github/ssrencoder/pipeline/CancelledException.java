package io.github.ssrencoder.pipeline;

/** Thrown when a {@link ProgressListener} cancelled a run; all native memory of the run was released. */
public final class CancelledException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public CancelledException() {
        super("cancelled");
    }
}
