package io.github.ssrencoder.io;

import java.nio.file.Path;

/**
 * A weight, config or model folder that cannot be used, with a one-line message naming the file and the
 * problem. Thrown at the boundary so that numerical code can assume well-formed input.
 */
public class WeightFileException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public WeightFileException(String message) {
        super(message);
    }

    public WeightFileException(String message, Throwable cause) {
        super(message, cause);
    }

    /** An exception whose message starts with the file it concerns. */
    public static WeightFileException of(Path file, String problem) {
        return new WeightFileException(file + ": " + problem);
    }

    /** As {@link #of(Path, String)}, keeping the underlying cause. */
    public static WeightFileException of(Path file, String problem, Throwable cause) {
        return new WeightFileException(file + ": " + problem, cause);
    }
}
