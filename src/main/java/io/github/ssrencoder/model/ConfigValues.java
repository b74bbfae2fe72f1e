package io.github.ssrencoder.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.WeightFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Function;

/** Reading list-or-scalar values of diffusers configs, and refusing settings the models here do not implement. */
final class ConfigValues {

    private ConfigValues() {
    }

    /** A list of integers, a scalar repeated {@code n} times, or {@code fallback} repeated when absent. */
    static List<Integer> intsPerBlock(Path file, JsonObject o, String key, int n, Integer fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback == null ? null : Collections.nCopies(n, fallback);
        }
        try {
            if (e.isJsonArray()) {
                JsonArray a = e.getAsJsonArray();
                if (a.size() != n) {
                    throw WeightFileException.of(file, "'" + key + "' has " + a.size() + " entries, expected " + n + " (one per block)");
                }
                List<Integer> out = new ArrayList<>();
                for (JsonElement x : a) {
                    out.add(x.getAsInt());
                }
                return List.copyOf(out);
            }
            return Collections.nCopies(n, e.getAsInt());
        } catch (WeightFileException ex) {
            throw ex;
        } catch (RuntimeException ex) {
            throw WeightFileException.of(file, "'" + key + "' must be an integer or a list of integers, got " + e);
        }
    }

    /** A non-empty list of integers (required length not checked), or {@code fallback}. */
    static List<Integer> ints(Path file, JsonObject o, String key, List<Integer> fallback) {
        List<Integer> out = list(file, o, key, fallback, JsonElement::getAsInt, "integers");
        if (out != null && out.isEmpty()) {
            throw WeightFileException.of(file, "'" + key + "' must not be empty");
        }
        return out;
    }

    static List<String> strings(Path file, JsonObject o, String key, List<String> fallback) {
        return list(file, o, key, fallback, JsonElement::getAsString, "strings");
    }

    private static <T> List<T> list(Path file, JsonObject o, String key, List<T> fallback, Function<JsonElement, T> read,
                                     String what) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        try {
            List<T> out = new ArrayList<>();
            for (JsonElement x : e.getAsJsonArray()) {
                out.add(read.apply(x));
            }
            return List.copyOf(out);
        } catch (RuntimeException ex) {
            throw WeightFileException.of(file, "'" + key + "' must be a list of " + what + ", got " + e);
        }
    }

    /** A boolean or a list of booleans per block. */
    static List<Boolean> boolsPerBlock(Path file, JsonObject o, String key, int n, boolean fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return Collections.nCopies(n, fallback);
        }
        try {
            if (e.isJsonArray()) {
                List<Boolean> out = new ArrayList<>();
                for (JsonElement x : e.getAsJsonArray()) {
                    out.add(x.getAsBoolean());
                }
                if (out.size() != n) {
                    throw WeightFileException.of(file, "'" + key + "' has " + out.size() + " entries, expected " + n + " (one per block)");
                }
                return List.copyOf(out);
            }
            return Collections.nCopies(n, e.getAsBoolean());
        } catch (WeightFileException ex) {
            throw ex;
        } catch (RuntimeException ex) {
            throw WeightFileException.of(file, "'" + key + "' must be true/false or a list of them, got " + e);
        }
    }

    /** Fails unless {@code key} is absent or null. */
    static void requireAbsent(Path file, JsonObject o, String key, String why) {
        JsonElement e = o.get(key);
        if (e != null && !e.isJsonNull()) {
            throw unsupported(file, key, e, why);
        }
    }

    /** Fails when {@code key} is present with a value other than the given JSON literal(s). */
    static void requireOneOf(Path file, JsonObject o, String key, String why, String... allowed) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return;
        }
        for (String a : allowed) {
            if (e.isJsonPrimitive() && e.getAsJsonPrimitive().getAsString().equals(a)) {
                return;
            }
        }
        throw unsupported(file, key, e, why);
    }

    static WeightFileException unsupported(Path file, String key, Object value, String why) {
        return WeightFileException.of(file, "unsupported '" + key + "' = " + value + " (" + why + ")");
    }
}
