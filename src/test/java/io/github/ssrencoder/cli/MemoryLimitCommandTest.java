package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.pipeline.AvailableMemory;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A generation larger than the memory available is refused with exit 2, one line with both sizes, and no output. */
class MemoryLimitCommandTest {

    @TempDir
    Path tmp;

    @Test
    void requestLargerThanTheAvailableMemoryExitsWithTwo() {
        Path out = tmp.resolve("big.png");
        System.setProperty(AvailableMemory.PROPERTY, "2m");
        GenerateCommandTest.Run r;
        try {
            r = GenerateCommandTest.run("generate", "--models", Golden.tinyA().toString(), "--prompt", "p", "--steps", "1",
                    "--width", "512", "--height", "512", "--vae-tiling", "off", "--output", out.toString());
        } finally {
            System.clearProperty(AvailableMemory.PROPERTY);
        }
        assertEquals(2, r.code(), r.err());
        String last = r.err().strip().lines().reduce((x, y) -> y).orElse("");
        assertTrue(last.matches("ssr: a 512×512 generation needs about [0-9.]+ (MiB|GiB) of working memory besides the loaded "
                + "models, but only 2 MiB is available; .*"), last);
        assertFalse(Files.exists(out));
    }
}
