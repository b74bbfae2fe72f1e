package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The projected keys and values of every cross-attention over one set of encoder states. Text and subject
 * tokens do not change while a generation denoises, so their {@code to_k}/{@code to_v} projections (and the SSR
 * pair) are computed at the first step and reused by all later ones. An entry is recomputed when an attention
 * module sees other encoder states (compared by identity). Closing the cache frees what it holds.
 */
public final class KeyValueCache implements AutoCloseable {

    private record Entry(NDArray context, NDList values) {
    }

    private final Map<Attention, Entry> entries = new IdentityHashMap<>();

    /** Number of modules with cached projections. */
    public synchronized int size() {
        return entries.size();
    }

    /**
     * The cached projections of {@code module} for {@code context}, computing them with {@code compute} the
     * first time. Arrays computed here outlive the enclosing {@link Scoped} block; they stay in the manager
     * {@code compute} put them in (the encoder states' one) until this cache is closed.
     */
    synchronized NDList get(Attention module, NDArray context, Supplier<NDList> compute) {
        Entry e = entries.get(module);
        if (e != null && e.context() == context) {
            return e.values();
        }
        if (e != null) {
            e.values().close();
        }
        NDList values = compute.get();
        for (NDArray a : values) {
            NDScope.unregister(a);
        }
        entries.put(module, new Entry(context, values));
        return values;
    }

    @Override
    public synchronized void close() {
        entries.values().forEach(e -> e.values().close());
        entries.clear();
    }
}
