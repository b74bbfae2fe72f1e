package io.github.ssrencoder.pipeline;

/**
 * A generation that does not fit in the memory available, refused before it starts, or one that ran out of memory
 * in the middle (the run's memory is released; the loaded models stay usable). A request problem: the CLI exits
 * with 2, the Fiji commands show the message.
 */
public class InsufficientMemoryException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    public InsufficientMemoryException(String message) {
        super(message);
    }

    public InsufficientMemoryException(String message, Throwable cause) {
        super(message, cause);
    }
}
