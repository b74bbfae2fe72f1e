package io.github.ssrencoder.io;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

/**
 * How checkpoint keys become parameter paths: an optional prefix that selects a sub-tree (e.g.
 * {@code vision_model.}), renames for older key spellings, and keys that are known and deliberately
 * ignored (buffers such as {@code position_ids}, unused towers).
 */
public final class KeyMapping {

    private final String prefix;
    private final List<UnaryOperator<String>> renames;
    private final List<Predicate<String>> ignored;

    private KeyMapping(String prefix, List<UnaryOperator<String>> renames, List<Predicate<String>> ignored) {
        this.prefix = prefix;
        this.renames = List.copyOf(renames);
        this.ignored = List.copyOf(ignored);
    }

    /** Keys map to parameters unchanged. */
    public static KeyMapping identity() {
        return new KeyMapping("", List.of(), List.of());
    }

    /** Only keys starting with {@code prefix} are parameters (the prefix is removed); other keys are unused. */
    public KeyMapping withPrefix(String p) {
        return new KeyMapping(p, renames, ignored);
    }

    /** Applies {@code rename} to every key (after the prefix is removed). */
    public KeyMapping withRename(UnaryOperator<String> rename) {
        List<UnaryOperator<String>> r = new ArrayList<>(renames);
        r.add(rename);
        return new KeyMapping(prefix, r, ignored);
    }

    /** Replaces whole dotted name segments (e.g. {@code query} → {@code to_q}), anywhere in the key. */
    public KeyMapping withSegmentRenames(Map<String, String> segments) {
        return withRename(key -> {
            String[] parts = key.split("\\.");
            for (int i = 0; i < parts.length; i++) {
                String r = segments.get(parts[i]);
                if (r != null) {
                    parts[i] = r;
                }
            }
            return String.join(".", parts);
        });
    }

    /** Keys (full checkpoint keys) matching {@code p} are accepted and not used. */
    public KeyMapping withIgnored(Predicate<String> p) {
        List<Predicate<String>> i = new ArrayList<>(ignored);
        i.add(p);
        return new KeyMapping(prefix, renames, i);
    }

    /** Whether the full checkpoint key is deliberately ignored. */
    public boolean isIgnored(String key) {
        for (Predicate<String> p : ignored) {
            if (p.test(key)) {
                return true;
            }
        }
        return false;
    }

    /** The parameter path for a checkpoint key, or {@code null} when the key lies outside the prefix. */
    public String toParameter(String key) {
        if (!key.startsWith(prefix)) {
            return null;
        }
        String name = key.substring(prefix.length());
        for (UnaryOperator<String> r : renames) {
            name = r.apply(name);
        }
        return name;
    }
}
