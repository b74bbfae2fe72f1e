package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The run manifest: whole lines from concurrent writers, torn lines ignored, done only when outputs are unchanged. */
class RunManifestTest {

    private static final int LINES = 150;
    /** Lines much longer than a pipe buffer or a page, so unlocked appends would interleave. */
    private static final int PAD = 20_000;

    @TempDir
    Path tmp;

    /** Appends {@code args[2]} lines tagged {@code args[1]} to the manifest {@code args[0]}: one writer process. */
    public static void main(String[] args) {
        RunManifest m = new RunManifest(Path.of(args[0]));
        for (int i = 0; i < Integer.parseInt(args[2]); i++) {
            m.append(line(args[1], i));
        }
    }

    private static JsonObject line(String writer, int i) {
        JsonObject o = new JsonObject();
        o.addProperty("writer", writer);
        o.addProperty("job", i);
        o.addProperty("status", "done");
        o.addProperty("pad", String.valueOf((char) ('a' + i % 26)).repeat(PAD));
        return o;
    }

    @Test
    void concurrentProcessesAppendWholeLines() throws Exception {
        Path file = tmp.resolve("m.jsonl");
        String java = ProcessHandle.current().info().command().orElse("java");
        List<Process> writers = new ArrayList<>();
        for (String w : List.of("a", "b", "c")) {
            writers.add(new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), RunManifestTest.class.getName(),
                    file.toString(), w, Integer.toString(LINES)).redirectErrorStream(true)
                    .redirectOutput(tmp.resolve(w + ".log").toFile()).start());
        }
        for (Process p : writers) {
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("writer process did not end within 120 s");
            }
            assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("m.jsonl").resolveSibling("a.log")));
        }
        assertWholeLines(file, List.of("a", "b", "c"));
    }

    @Test
    void concurrentThreadsAppendWholeLines() throws Exception {
        Path file = tmp.resolve("m.jsonl");
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (String w : List.of("x", "y", "z")) {
                runs.add(pool.submit(() -> main(new String[] {file.toString(), w, Integer.toString(LINES / 3)})));
            }
            for (Future<?> f : runs) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        String text = Files.readString(file, StandardCharsets.UTF_8);
        assertEquals(LINES, text.lines().count());
        assertEquals(LINES, new RunManifest(file).entries().size());
    }

    private static void assertWholeLines(Path file, List<String> writers) throws Exception {
        List<String> lines = Files.readString(file, StandardCharsets.UTF_8).lines().toList();
        assertEquals(writers.size() * LINES, lines.size());
        List<JsonObject> entries = new RunManifest(file).entries();
        assertEquals(lines.size(), entries.size(), "every line is one whole JSON object");
        Map<String, List<Integer>> seen = new HashMap<>();
        for (JsonObject e : entries) {
            int job = e.get("job").getAsInt();
            assertEquals(String.valueOf((char) ('a' + job % 26)).repeat(PAD), e.get("pad").getAsString());
            seen.computeIfAbsent(e.get("writer").getAsString(), k -> new ArrayList<>()).add(job);
        }
        for (String w : writers) {
            assertEquals(java.util.stream.IntStream.range(0, LINES).boxed().toList(), seen.get(w), "writer " + w);
        }
    }

    @Test
    void withoutFileLocksLinesAreStillAppendedWithOneWarning() {
        List<String> warnings = new ArrayList<>();
        RunManifest m = new RunManifest(tmp.resolve("m.jsonl"), warnings::add, (ch, shared) -> {
            throw new java.io.IOException("Function not implemented");
        });
        m.append(line("a", 0));
        m.append(line("a", 1));
        assertEquals(List.of(0, 1), m.entries().stream().map(e -> e.get("job").getAsInt()).toList());
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("refuses file locks (Function not implemented)"), warnings.get(0));
        assertTrue(warnings.get(0).startsWith(tmp.resolve("m.jsonl").toString()), warnings.get(0));
    }

    @Test
    void aTornLastLineIsSkippedAndTheNextLineStaysWhole() throws Exception {
        Path file = tmp.resolve("m.jsonl");
        RunManifest m = new RunManifest(file);
        m.append(line("a", 0));
        Files.writeString(file, "{\"writer\": \"dead\", \"job\": 1, \"sta", java.nio.file.StandardOpenOption.APPEND);
        m.append(line("a", 2));
        List<JsonObject> entries = m.entries();
        assertEquals(2, entries.size());
        assertEquals(List.of(0, 2), entries.stream().map(e -> e.get("job").getAsInt()).toList());
    }

    @Test
    void aJobIsCompletedOnlyWhileItsOutputsAreUnchanged() throws Exception {
        Path out = Files.writeString(tmp.resolve("o.png"), "image bytes");
        RunManifest m = new RunManifest(tmp.resolve("m.jsonl"));
        JsonObject e = new JsonObject();
        e.addProperty("status", RunManifest.DONE);
        e.addProperty("key", "k1");
        com.google.gson.JsonArray outputs = new com.google.gson.JsonArray();
        outputs.add(RunManifest.output(out));
        e.add("outputs", outputs);
        m.append(e);
        assertTrue(RunManifest.completed(m.entries(), "k1"));
        assertTrue(!RunManifest.completed(m.entries(), "k2"), "another job");
        Files.writeString(out, "image bytez");
        assertTrue(!RunManifest.completed(m.entries(), "k1"), "same size, other content");
        Files.delete(out);
        assertTrue(!RunManifest.completed(m.entries(), "k1"), "output gone");
    }
}
