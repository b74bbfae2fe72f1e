package io.github.ssrencoder.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.github.ssrencoder.io.WeightFileException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;

/**
 * The record of a batch's runs: a JSON Lines file to which every run appends one line per job (job index, status,
 * outputs with their size and SHA-256, seed, parameters, seconds, host). Several processes (the tasks of a job
 * array) append to one manifest at once: each line is written with a single {@code write} on a file opened for
 * appending, while holding an exclusive lock on the file; readers take a shared lock, so they never see half a line.
 */
final class RunManifest {

    /** Status of a job whose outputs were all written. */
    static final String DONE = "done";
    /** Status of a job that ended with an error (the line's {@code error} says which). */
    static final String FAILED = "failed";

    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();
    /** File locks belong to the whole process: threads of one JVM take turns here first. */
    private static final Object IN_PROCESS = new Object();

    /** Takes a lock on a whole file: {@link FileChannel#lock(long, long, boolean)}, or a stand-in in tests. */
    @FunctionalInterface
    interface Locking {
        FileLock lock(FileChannel channel, boolean shared) throws IOException;
    }

    private final Path file;
    private final Consumer<String> warnings;
    private final Locking locking;
    private boolean warned;

    RunManifest(Path file) {
        this(file, w -> { });
    }

    /** A manifest whose warnings (a file system without locks) go to {@code warnings}. */
    RunManifest(Path file, Consumer<String> warnings) {
        this(file, warnings, (ch, shared) -> ch.lock(0, Long.MAX_VALUE, shared));
    }

    RunManifest(Path file, Consumer<String> warnings, Locking locking) {
        this.file = file.toAbsolutePath().normalize();
        this.warnings = warnings;
        this.locking = locking;
    }

    /** The manifest of a job file: {@code NAME.manifest.jsonl} beside {@code jobs/NAME.json}. */
    static Path besideJobFile(Path jobFile) {
        String name = jobFile.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        return jobFile.toAbsolutePath().normalize().resolveSibling(stem + ".manifest.jsonl");
    }

    Path file() {
        return file;
    }

    /** Appends {@code entry} as one line, safely against other processes appending at the same time. */
    void append(JsonObject entry) {
        byte[] line = (GSON.toJson(entry) + "\n").getBytes(StandardCharsets.UTF_8);
        synchronized (IN_PROCESS) {
            try {
                Path dir = file.getParent();
                if (dir != null) {
                    Files.createDirectories(dir);
                }
                try (FileChannel locked = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE); FileLock lock = lock(locked, false)) {
                    ByteBuffer buf = ByteBuffer.wrap(endsMidLine(locked) ? prefixNewline(line) : line);
                    // The line goes out through a channel in append mode. Closing it may drop the lock (POSIX locks
                    // belong to the process and the file), but only once the line is written.
                    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
                        while (buf.hasRemaining()) {
                            ch.write(buf);
                        }
                        ch.force(false);
                    }
                }
            } catch (IOException e) {
                throw WeightFileException.of(file, "cannot append to the manifest: " + e.getMessage(), e);
            }
        }
    }

    /**
     * The entries in the file, in order; lines that are not JSON objects (a line cut short when a node crashed
     * mid-write) are left out. No file: no entries.
     */
    List<JsonObject> entries() {
        byte[] bytes;
        synchronized (IN_PROCESS) {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); FileLock lock = lock(ch, true)) {
                ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(ch.size()));
                while (buf.hasRemaining() && ch.read(buf) >= 0) {
                    // reads until the buffer is full
                }
                bytes = buf.array();
            } catch (NoSuchFileException e) {
                return List.of();
            } catch (IOException | ArithmeticException e) {
                throw WeightFileException.of(file, "cannot read the manifest: " + e.getMessage(), e);
            }
        }
        List<JsonObject> out = new ArrayList<>();
        for (String line : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            try {
                JsonElement el = JsonParser.parseString(line);
                if (el.isJsonObject()) {
                    out.add(el.getAsJsonObject());
                }
            } catch (JsonParseException e) {
                // a torn line: the job it described is simply not counted as done
            }
        }
        return out;
    }

    /**
     * Whether a {@code done} entry with this job {@code key} lists outputs that are all still there, unchanged (same
     * size and SHA-256): the job need not run again.
     */
    static boolean completed(List<JsonObject> entries, String key) {
        for (int i = entries.size() - 1; i >= 0; i--) {
            JsonObject e = entries.get(i);
            if (DONE.equals(string(e, "status")) && key.equals(string(e, "key")) && outputsIntact(e)) {
                return true;
            }
        }
        return false;
    }

    /** One output file for an entry: path, size and SHA-256 of its content now. */
    static JsonObject output(Path file) {
        JsonObject o = new JsonObject();
        o.addProperty("file", file.toAbsolutePath().normalize().toString());
        try {
            o.addProperty("bytes", Files.size(file));
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot read the output just written: " + e.getMessage(), e);
        }
        o.addProperty("sha256", sha256(file));
        return o;
    }

    /** Hex SHA-256 of a string (job keys). */
    static String sha256(String text) {
        return HexFormat.of().formatHex(digest().digest(text.getBytes(StandardCharsets.UTF_8)));
    }

    static String toJson(JsonElement e) {
        return GSON.toJson(e);
    }

    private static boolean outputsIntact(JsonObject entry) {
        JsonElement outputs = entry.get("outputs");
        if (outputs == null || !outputs.isJsonArray() || outputs.getAsJsonArray().isEmpty()) {
            return false;
        }
        for (JsonElement el : (JsonArray) outputs) {
            if (!el.isJsonObject()) {
                return false;
            }
            JsonObject o = el.getAsJsonObject();
            String name = string(o, "file");
            String hash = string(o, "sha256");
            if (name == null || hash == null || !o.has("bytes")) {
                return false;
            }
            Path f = Path.of(name);
            try {
                if (!Files.isRegularFile(f) || Files.size(f) != o.get("bytes").getAsLong() || !hash.equals(sha256(f))) {
                    return false;
                }
            } catch (IOException | RuntimeException e) {
                return false;
            }
        }
        return true;
    }

    private static String string(JsonObject o, String key) {
        JsonElement el = o.get(key);
        return el != null && el.isJsonPrimitive() ? el.getAsString() : null;
    }

    private static String sha256(Path f) {
        MessageDigest md = digest();
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(f)) {
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
        } catch (IOException e) {
            throw WeightFileException.of(f, "cannot read: " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
    }

    /**
     * A lock on the whole file, or {@code null} where the file system has none (Lustre mounted without {@code flock},
     * NFS without its lock service): the line is then still written in one append, with a warning once.
     */
    private FileLock lock(FileChannel ch, boolean shared) {
        try {
            return locking.lock(ch, shared);
        } catch (IOException e) {
            if (!warned) {
                warned = true;
                warnings.accept(file + ": the file system refuses file locks (" + e.getMessage() + "); manifest lines are "
                        + "appended without one, so tasks writing at the same moment could mix lines (on Lustre, mount "
                        + "with -o flock)");
            }
            return null;
        }
    }

    /** Whether the file's last byte is not a newline (a previous writer died mid-line). */
    private static boolean endsMidLine(FileChannel ch) throws IOException {
        long size = ch.size();
        if (size == 0) {
            return false;
        }
        ByteBuffer last = ByteBuffer.allocate(1);
        ch.read(last, size - 1);
        return last.get(0) != '\n';
    }

    private static byte[] prefixNewline(byte[] line) {
        byte[] out = new byte[line.length + 1];
        out[0] = '\n';
        System.arraycopy(line, 0, out, 1, line.length);
        return out;
    }
}
