package io.github.ssrencoder.demo;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The README's first command (its first line starting with {@code scripts/ssr generate}), split into words. */
final class QuickStartCommand {

    private QuickStartCommand() {
    }

    /** The words of the command, quotes removed ({@code scripts/ssr} first). */
    static List<String> words(Path project) throws IOException {
        for (String line : Files.readAllLines(project.resolve("README.md"), StandardCharsets.UTF_8)) {
            if (line.startsWith("scripts/ssr ")) {
                if (!line.startsWith("scripts/ssr generate ")) {
                    throw new AssertionError("the README's first command is not a generation: " + line);
                }
                return split(line);
            }
        }
        throw new AssertionError("no scripts/ssr command in README.md");
    }

    /** Splits a shell line on blanks, keeping double-quoted words together. */
    static List<String> split(String line) {
        List<String> out = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        boolean quoted = false;
        boolean any = false;
        for (char c : line.toCharArray()) {
            if (c == '"') {
                quoted = !quoted;
                any = true;
            } else if (c == ' ' && !quoted) {
                if (any) {
                    out.add(word.toString());
                }
                word.setLength(0);
                any = false;
            } else {
                word.append(c);
                any = true;
            }
        }
        if (any) {
            out.add(word.toString());
        }
        return out;
    }

    /** The value after {@code option}. */
    static String option(List<String> words, String option) {
        int i = words.indexOf(option);
        if (i < 0 || i + 1 >= words.size()) {
            throw new AssertionError("the README's first command has no " + option);
        }
        return words.get(i + 1);
    }
}
