package io.github.ssrencoder.train;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * A training set in the format of the official {@code example_data.jsonl}: one JSON object per line with the
 * image file name and its texts, e.g. {@code {"file_name": "./cell1.png", "text": ["a cell with two nuclei",
 * "nucleus"]}}. By default (as the official {@code train.sh}) the caption and the query both come from
 * {@code text}; other keys can be named. Image paths are relative to the JSONL file's folder (the official
 * script resolves them against its working directory).
 */
public final class TrainingData {

    /** The JSONL file names looked for in a data folder, in this order, before any other single {@code .jsonl}. */
    public static final List<String> DEFAULT_NAMES = List.of("train.jsonl", "metadata.jsonl", "example_data.jsonl");

    private final Path file;
    private final List<TrainingExample> examples;

    private TrainingData(Path file, List<TrainingExample> examples) {
        this.file = file;
        this.examples = List.copyOf(examples);
    }

    /** Reads a data set with the official keys: {@code file_name}, caption and query from {@code text}. */
    public static TrainingData read(Path folderOrFile) {
        return read(folderOrFile, "file_name", "text", "text");
    }

    /**
     * Reads a data set from a JSONL file, or from a folder holding one ({@link #DEFAULT_NAMES} first).
     *
     * @throws IllegalArgumentException naming the file, the line and what is wrong
     */
    public static TrainingData read(Path folderOrFile, String imageKey, String captionKey, String queryKey) {
        Path file = locate(folderOrFile);
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the training data " + file + ": " + e.getMessage(), e);
        }
        Path base = file.toAbsolutePath().getParent();
        List<TrainingExample> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            String where = file + " line " + (i + 1);
            JsonObject o;
            try {
                JsonElement e = JsonParser.parseString(line);
                if (!e.isJsonObject()) {
                    throw new IllegalArgumentException(where + ": expected a JSON object like "
                            + "{\"file_name\": \"img.png\", \"text\": [\"caption\", \"query\"]}");
                }
                o = e.getAsJsonObject();
            } catch (JsonParseException e) {
                throw new IllegalArgumentException(where + ": not valid JSON (" + e.getMessage() + ")", e);
            }
            if (!o.has(imageKey) || !o.get(imageKey).isJsonPrimitive()) {
                throw new IllegalArgumentException(where + ": missing the image file name '" + imageKey + "'");
            }
            Path image = base.resolve(o.get(imageKey).getAsString()).normalize();
            if (!Files.isRegularFile(image)) {
                throw new IllegalArgumentException(where + ": image not found: " + image);
            }
            List<String> captions = texts(o, captionKey, where);
            List<String> queries = texts(o, queryKey, where);
            out.add(new TrainingExample(image, captions, o.get(captionKey).isJsonArray(), queries, o.get(queryKey).isJsonArray()));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("the training data " + file + " holds no examples");
        }
        return new TrainingData(file, out);
    }

    private static List<String> texts(JsonObject o, String key, String where) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            throw new IllegalArgumentException(where + ": missing the texts '" + key + "' (a string or a list of strings)");
        }
        List<String> out = new ArrayList<>();
        if (e.isJsonArray()) {
            JsonArray a = e.getAsJsonArray();
            for (JsonElement t : a) {
                if (!t.isJsonPrimitive() || !t.getAsJsonPrimitive().isString()) {
                    throw new IllegalArgumentException(where + ": '" + key + "' must hold strings, found " + t);
                }
                out.add(t.getAsString());
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException(where + ": '" + key + "' is an empty list");
            }
        } else if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) {
            out.add(e.getAsString());
        } else {
            throw new IllegalArgumentException(where + ": '" + key + "' must be a string or a list of strings, found " + e);
        }
        return out;
    }

    private static Path locate(Path folderOrFile) {
        if (Files.isRegularFile(folderOrFile)) {
            return folderOrFile;
        }
        if (!Files.isDirectory(folderOrFile)) {
            throw new IllegalArgumentException("training data not found: " + folderOrFile
                    + " (a folder with a .jsonl file, or the .jsonl file itself)");
        }
        for (String name : DEFAULT_NAMES) {
            if (Files.isRegularFile(folderOrFile.resolve(name))) {
                return folderOrFile.resolve(name);
            }
        }
        List<Path> found;
        try (Stream<Path> s = Files.list(folderOrFile)) {
            found = s.filter(p -> p.getFileName().toString().endsWith(".jsonl")).sorted().toList();
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot list the training data folder " + folderOrFile + ": " + e.getMessage(), e);
        }
        if (found.size() != 1) {
            throw new IllegalArgumentException("the training data folder " + folderOrFile + " must hold one .jsonl file (or "
                    + String.join(", ", DEFAULT_NAMES) + "), found " + found.size());
        }
        return found.get(0);
    }

    /** The JSONL file read. */
    public Path file() {
        return file;
    }

    /** The examples in file order. */
    public List<TrainingExample> examples() {
        return examples;
    }

    /** The number of examples. */
    public int size() {
        return examples.size();
    }
}
