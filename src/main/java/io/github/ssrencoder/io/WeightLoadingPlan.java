package io.github.ssrencoder.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.stream.Collectors;

/**
 * Maps every checkpoint key to exactly one parameter, checking shapes, before any data is read. Reports
 * unused keys, missing parameters, shape mismatches and keys that collide on one parameter by name, so a
 * wrong or incomplete checkpoint is a clear error and never a silent zero.
 */
public final class WeightLoadingPlan {

    /** A key whose shape differs from its parameter's. */
    public record ShapeMismatch(String key, String parameter, long[] expected, long[] found) {
        @Override
        public String toString() {
            return key + " (expected " + Arrays.toString(expected) + ", found " + Arrays.toString(found) + ")";
        }
    }

    private final Path file;
    private final Map<String, String> parameterToKey;
    private final List<String> missing;
    private final List<String> unused;
    private final List<String> ignored;
    private final List<ShapeMismatch> mismatches;
    private final List<String> collisions;

    private WeightLoadingPlan(Path file, Map<String, String> parameterToKey, List<String> missing, List<String> unused,
                              List<String> ignored, List<ShapeMismatch> mismatches, List<String> collisions) {
        this.file = file;
        this.parameterToKey = Collections.unmodifiableMap(parameterToKey);
        this.missing = List.copyOf(missing);
        this.unused = List.copyOf(unused);
        this.ignored = List.copyOf(ignored);
        this.mismatches = List.copyOf(mismatches);
        this.collisions = List.copyOf(collisions);
    }

    /**
     * Builds the plan.
     *
     * @param file       the checkpoint (for messages)
     * @param available  every tensor of the checkpoint
     * @param parameters expected parameter paths and shapes
     * @param mapping    key → parameter mapping
     */
    public static WeightLoadingPlan create(Path file, Collection<TensorInfo> available, Map<String, long[]> parameters,
                                           KeyMapping mapping) {
        Map<String, String> paramToKey = new LinkedHashMap<>();
        List<String> unused = new ArrayList<>();
        List<String> ignored = new ArrayList<>();
        List<ShapeMismatch> mismatches = new ArrayList<>();
        List<String> collisions = new ArrayList<>();
        for (TensorInfo t : available) {
            String key = t.name();
            if (mapping.isIgnored(key)) {
                ignored.add(key);
                continue;
            }
            String param = mapping.toParameter(key);
            if (param == null || !parameters.containsKey(param)) {
                unused.add(key);
                continue;
            }
            String previous = paramToKey.putIfAbsent(param, key);
            if (previous != null) {
                collisions.add(previous + " and " + key + " both map to " + param);
                continue;
            }
            long[] expected = parameters.get(param);
            if (!Arrays.equals(expected, t.shape())) {
                mismatches.add(new ShapeMismatch(key, param, expected, t.shape()));
            }
        }
        List<String> missing = parameters.keySet().stream().filter(p -> !paramToKey.containsKey(p)).collect(Collectors.toList());
        return new WeightLoadingPlan(file, paramToKey, missing, unused, ignored, mismatches, collisions);
    }

    public List<String> missingParameters() {
        return missing;
    }

    public List<String> unusedKeys() {
        return unused;
    }

    public List<String> ignoredKeys() {
        return ignored;
    }

    public List<ShapeMismatch> shapeMismatches() {
        return mismatches;
    }

    public List<String> collisions() {
        return collisions;
    }

    /** Parameter path → checkpoint key, for every matched parameter. */
    public Map<String, String> parameterToKey() {
        return parameterToKey;
    }

    /** Whether every parameter has a key of the right shape and every key is used or ignored. */
    public boolean isComplete() {
        return missing.isEmpty() && unused.isEmpty() && mismatches.isEmpty() && collisions.isEmpty();
    }

    /** Throws a {@link WeightFileException} naming the file and the first offending keys unless complete. */
    public void requireComplete(String what) {
        if (isComplete()) {
            return;
        }
        List<String> problems = new ArrayList<>();
        if (!mismatches.isEmpty()) {
            problems.add("wrong shape for " + sample(mismatches.stream().map(Object::toString).toList()));
        }
        if (!missing.isEmpty()) {
            problems.add(missing.size() + " missing parameter(s) " + sample(missing));
        }
        if (!unused.isEmpty()) {
            problems.add(unused.size() + " unexpected key(s) " + sample(unused));
        }
        if (!collisions.isEmpty()) {
            problems.add("duplicate keys: " + sample(collisions));
        }
        throw WeightFileException.of(file, "does not fit the " + what + " (" + String.join("; ", problems) + ")");
    }

    private static String sample(List<String> items) {
        int n = Math.min(items.size(), 5);
        String head = String.join(", ", items.subList(0, n));
        return items.size() > n ? head + ", … (" + (items.size() - n) + " more)" : head;
    }

    /** Reads every matched tensor into {@code manager} and hands it to {@code sink} (parameter path, value). */
    public void load(TensorSource source, NDManager manager, BiConsumer<String, NDArray> sink) {
        for (Map.Entry<String, String> e : parameterToKey.entrySet()) {
            sink.accept(e.getKey(), source.load(e.getValue(), manager));
        }
    }
}
