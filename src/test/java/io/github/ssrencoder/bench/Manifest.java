package io.github.ssrencoder.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One full-size key manifest ({@code golden/full-size-keys/*.json}): the real model's config (when the manifest
 * records one) and every checkpoint tensor with its shape, in checkpoint order.
 */
final class Manifest {

    private final String name;
    private final JsonObject json;
    private final Map<String, long[]> tensors;

    private Manifest(String name, JsonObject json, Map<String, long[]> tensors) {
        this.name = name;
        this.json = json;
        this.tensors = tensors;
    }

    /** Reads {@code golden/full-size-keys/<name>} from the test class path. */
    static Manifest read(String name) {
        Path file = Golden.fullSizeKeys(name);
        try {
            JsonObject o = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
            Map<String, long[]> shapes = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> e : o.getAsJsonObject("tensors").entrySet()) {
                String dtype = e.getValue().getAsJsonObject().get("dtype").getAsString();
                if (!dtype.equals("float32")) {
                    throw new IllegalStateException(file + ": tensor '" + e.getKey() + "' has dtype " + dtype + ", expected float32");
                }
                JsonArray a = e.getValue().getAsJsonObject().getAsJsonArray("shape");
                long[] shape = new long[a.size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = a.get(i).getAsLong();
                }
                shapes.put(e.getKey(), shape);
            }
            return new Manifest(name, o, Collections.unmodifiableMap(shapes));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    String name() {
        return name;
    }

    /** Checkpoint key → shape, in checkpoint order. */
    Map<String, long[]> tensors() {
        return tensors;
    }

    /** Number of values over all tensors. */
    long numElements() {
        long n = 0;
        for (long[] s : tensors.values()) {
            n += elements(s);
        }
        return n;
    }

    /** The model's {@code config.json} as the manifest records it. */
    JsonObject config() {
        if (!json.has("config")) {
            throw new IllegalStateException(name + " records no config");
        }
        return json.getAsJsonObject("config");
    }

    /** Writes {@link #config()} to {@code file}. */
    void writeConfig(Path file) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.writeString(file, config().toString(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@link #config()} in a temporary file, for the config readers that take a path. */
    Path configFile() {
        try {
            Path tmp = Files.createTempFile(name.replace(".json", "-"), "-config.json");
            tmp.toFile().deleteOnExit();
            writeConfig(tmp);
            return tmp;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }
}
