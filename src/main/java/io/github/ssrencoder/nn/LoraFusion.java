package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.ssrencoder.io.LoraFile;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Fuses LoRA updates into the {@link Linear} and {@link Conv2d} weights of one network, as diffusers'
 * {@code fuse_lora} does: {@code W' = W + s·(((up·alpha)/rank)·down)} in float32 (1×1 convolutions flattened),
 * biases unchanged; several LoRAs are added one after the other. The original weight of every module a LoRA
 * touches is kept while it is fused (the module holds the fused copy meanwhile), so {@link #fuse} with another
 * list, or {@link #unfuse}, restores it exactly without reading the checkpoint again. Untouched modules cost
 * nothing.
 */
public final class LoraFusion {

    /** One LoRA layer with the weight it is fused at. */
    public record Scaled(LoraFile.Layer layer, double scale) {
    }

    private final Module network;
    private final NDManager manager;
    private final Map<String, Module> modules;
    /** Module path → its original weight, for every module currently holding a fused weight. */
    private final Map<String, NDArray> originals = new LinkedHashMap<>();

    /**
     * @param network the network whose weights are changed
     * @param manager where fused weights are kept (the network's weight manager)
     */
    public LoraFusion(Module network, NDManager manager) {
        this.network = network;
        this.manager = manager;
        this.modules = mergeable(network);
    }

    /** Every module a LoRA may change (linear layers, 1×1 convolutions), path → weight shape, for {@link LoraFile#read}. */
    public static Map<String, long[]> targets(Module network) {
        Map<String, long[]> out = new LinkedHashMap<>();
        mergeable(network).forEach((path, m) -> {
            long[] shape = m.namedParameters().get("weight").shape();
            if (shape.length == 2 || shape[2] == 1 && shape[3] == 1) {
                out.put(path, shape);
            }
        });
        return out;
    }

    private static Map<String, Module> mergeable(Module network) {
        Map<String, Module> out = new LinkedHashMap<>();
        collect("", network, out);
        return out;
    }

    private static void collect(String prefix, Module m, Map<String, Module> out) {
        for (Map.Entry<String, Module> e : m.children().entrySet()) {
            String path = prefix + e.getKey();
            if (e.getValue() instanceof Linear || e.getValue() instanceof Conv2d) {
                out.put(path, e.getValue());
            }
            collect(path + ".", e.getValue(), out);
        }
    }

    /** The modules that currently hold a fused weight. */
    public Set<String> fusedModules() {
        return Collections.unmodifiableSet(originals.keySet());
    }

    /**
     * Replaces whatever was fused before by {@code layers} (in order; an empty list restores the original
     * network). All fused weights are computed before any is bound, so a failure leaves the network as it was.
     */
    public void fuse(List<Scaled> layers) {
        Map<String, List<Scaled>> byModule = new LinkedHashMap<>();
        for (Scaled s : layers) {
            if (!modules.containsKey(s.layer().module())) {
                throw new IllegalArgumentException("no linear or convolution module '" + s.layer().module() + "' in "
                        + network.getClass().getSimpleName());
            }
            byModule.computeIfAbsent(s.layer().module(), k -> new ArrayList<>()).add(s);
        }
        Map<String, NDArray> unpacked = new HashMap<>();
        Map<String, NDArray> fused = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, List<Scaled>> e : byModule.entrySet()) {
                NDArray original = original(e.getKey(), unpacked);
                fused.put(e.getKey(), fusedWeight(original, e.getValue()));
            }
        } catch (RuntimeException | Error e) {
            fused.values().forEach(NDArray::close);
            unpacked.values().forEach(NDArray::close);
            throw e;
        }
        for (String path : new ArrayList<>(originals.keySet())) {
            if (!fused.containsKey(path)) {
                bind(path, originals.remove(path));
            }
        }
        for (Map.Entry<String, NDArray> e : fused.entrySet()) {
            String path = e.getKey();
            if (!originals.containsKey(path)) {
                NDArray bound = weight(path).get();
                originals.put(path, unpacked.getOrDefault(path, bound));
            }
            bind(path, e.getValue());
        }
    }

    /** Restores every original weight. */
    public void unfuse() {
        fuse(List.of());
    }

    private Parameter weight(String path) {
        return modules.get(path).namedParameters().get("weight");
    }

    /**
     * The original weight of a module: the one kept while it is fused, else the bound one, or a dense copy of
     * it when the convolution holds its prepacked form.
     */
    private NDArray original(String path, Map<String, NDArray> unpacked) {
        NDArray kept = originals.get(path);
        if (kept != null) {
            return kept;
        }
        if (modules.get(path) instanceof Conv2d c && c.weightIsPacked()) {
            NDArray dense = c.unpackedWeight(manager);
            unpacked.put(path, dense);
            return dense;
        }
        return weight(path).get();
    }

    /** Binds {@code value} to a module's weight, releasing the replaced array unless it is a kept original. */
    private void bind(String path, NDArray value) {
        Parameter p = weight(path);
        NDArray old = p.get();
        p.set(value);
        if (old != value && originals.values().stream().noneMatch(kept -> kept == old)) {
            old.close();
        }
    }

    private NDArray fusedWeight(NDArray original, List<Scaled> layers) {
        try (NDManager scratch = manager.newSubManager()) {
            NDArray w = original.toType(DataType.FLOAT32, true);
            w.attach(scratch);
            long[] shape = original.getShape().getShape();
            for (Scaled s : layers) {
                LoraFile.Layer l = s.layer();
                NDArray up = l.up().reshape(shape[0], l.rank());
                NDArray down = l.down().reshape(l.rank(), shape[1]);
                up.attach(scratch);
                down.attach(scratch);
                if (l.alpha() != null) {
                    up = up.mul(l.alpha()).div((float) l.rank());
                }
                NDArray delta = up.matMul(down).mul((float) s.scale());
                w = w.add(delta.reshape(shape));
            }
            NDArray out = w.toType(original.getDataType(), true);
            out.attach(manager);
            return out;
        }
    }
}
