package io.github.ssrencoder.io;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads the JSON config files of model folders, with errors that name the file and the key. */
public final class JsonFiles {

    private JsonFiles() {
    }

    /** Parses {@code file} as a JSON object. */
    public static JsonObject readObject(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw WeightFileException.of(file, "file not found");
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot read: " + e.getMessage(), e);
        }
        try {
            JsonElement el = JsonParser.parseString(text);
            if (!el.isJsonObject()) {
                throw WeightFileException.of(file, "expected a JSON object");
            }
            return el.getAsJsonObject();
        } catch (JsonParseException e) {
            throw WeightFileException.of(file, "not valid JSON: " + e.getMessage(), e);
        }
    }

    /** An integer value, or {@code fallback} when absent or null. */
    public static int getInt(Path file, JsonObject o, String key, int fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        try {
            return e.getAsInt();
        } catch (RuntimeException ex) {
            throw WeightFileException.of(file, "'" + key + "' must be an integer, got " + e);
        }
    }

    /** A whole number in the range of a {@code long}, or {@code fallback} when absent or null. */
    public static Long getLong(Path file, JsonObject o, String key, Long fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        try {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
                throw new NumberFormatException();
            }
            return e.getAsBigDecimal().longValueExact();
        } catch (RuntimeException ex) {
            throw WeightFileException.of(file, "'" + key + "' must be a whole number, got " + e);
        }
    }

    /** A required integer value. */
    public static int requireInt(Path file, JsonObject o, String key) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            throw WeightFileException.of(file, "missing required key '" + key + "'");
        }
        return getInt(file, o, key, 0);
    }

    /** A number, or {@code fallback} when absent or null. */
    public static double getDouble(Path file, JsonObject o, String key, double fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        try {
            return e.getAsDouble();
        } catch (RuntimeException ex) {
            throw WeightFileException.of(file, "'" + key + "' must be a number, got " + e);
        }
    }

    /** A string, or {@code fallback} when absent or null. */
    public static String getString(Path file, JsonObject o, String key, String fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (!e.isJsonPrimitive()) {
            throw WeightFileException.of(file, "'" + key + "' must be a string, got " + e);
        }
        return e.getAsString();
    }

    /** A boolean, or {@code fallback} when absent or null. */
    public static boolean getBoolean(Path file, JsonObject o, String key, boolean fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        try {
            return e.getAsBoolean();
        } catch (RuntimeException ex) {
            throw WeightFileException.of(file, "'" + key + "' must be true or false, got " + e);
        }
    }
}
