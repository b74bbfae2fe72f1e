package io.github.ssrencoder.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.io.WeightFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.function.Executable;

/** Assertions for the one-line, file-naming errors that bad weight files must produce. */
public final class FileErrors {

    private FileErrors() {
    }

    /** Runs {@code action}, expects a {@link WeightFileException} of one line starting with {@code file}. */
    public static WeightFileException assertFileError(Path file, Executable action) {
        WeightFileException e = assertThrows(WeightFileException.class, action);
        assertTrue(e.getMessage().startsWith(file.toString() + ": "), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), "one-line message: " + e.getMessage());
        return e;
    }

    /** Asserts the message mentions every part. */
    public static void assertMentions(WeightFileException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "'" + e.getMessage() + "' should mention '" + p + "'");
        }
    }
}
