package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import java.util.ArrayDeque;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Optional wall-clock accounting of a forward pass by kind of block (resnets, self-attention, cross-attention,
 * feed-forward, …), for benchmarks. Off by default, when it costs one field read per block. Times are
 * exclusive: a part nested in another (the attention core inside an attention) is subtracted from its parent.
 * On CPU PyTorch ops run synchronously, so wall-clock time around a block is the time of its ops. One thread
 * at a time.
 */
public final class PassTimings {

    private static Map<String, Long> totals;
    private static final Deque<long[]> NESTED = new ArrayDeque<>();

    private PassTimings() {
    }

    /** Starts (or restarts) accounting; previous totals are dropped. */
    public static void start() {
        totals = new LinkedHashMap<>();
        NESTED.clear();
    }

    /** Stops accounting and returns nanoseconds per part, in order of first appearance. */
    public static Map<String, Long> stop() {
        Map<String, Long> out = totals == null ? Map.of() : Collections.unmodifiableMap(totals);
        totals = null;
        NESTED.clear();
        return out;
    }

    /** Runs {@code body}, charging its time (less that of nested parts) to {@code part} while accounting is on. */
    public static NDArray time(String part, Supplier<NDArray> body) {
        if (totals == null) {
            return body.get();
        }
        long[] children = new long[1];
        NESTED.push(children);
        long start = System.nanoTime();
        try {
            return body.get();
        } finally {
            long elapsed = System.nanoTime() - start;
            NESTED.pop();
            if (totals != null) {
                totals.merge(part, elapsed - children[0], Long::sum);
                long[] parent = NESTED.peek();
                if (parent != null) {
                    parent[0] += elapsed;
                }
            }
        }
    }
}
