package io.github.ssrencoder.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's first command exactly as written, run through {@code scripts/ssr} as a process (after
 * {@code package}), from a folder whose {@code demo} and {@code scripts} link to the project's so that its
 * relative outputs land in a temporary folder: it writes the picture, and the attention map selects the queried shape.
 */
class QuickStartScriptIT {

    @TempDir
    Path tmp;

    @Test
    void readmeFirstCommandThroughTheScriptShowsTheSelection() throws Exception {
        Path project = DemoModelSelectionTest.PROJECT;
        List<String> words = QuickStartCommand.words(project);
        Files.createSymbolicLink(tmp.resolve("demo"), project.resolve("demo"));
        Files.createSymbolicLink(tmp.resolve("scripts"), project.resolve("scripts"));
        Path log = tmp.resolve("run.log");
        Process p = new ProcessBuilder(words).directory(tmp.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError("the README's first command did not finish within 300 s:\n"
                    + Files.readString(log, StandardCharsets.UTF_8));
        }
        assertEquals(0, p.exitValue(), "exit code; output:\n" + Files.readString(log, StandardCharsets.UTF_8));
        QuickStartCommandTest.checkOutputs(words, tmp);
    }
}
