package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightLoadingPlan;
import java.util.LinkedHashMap;
import java.util.Map;

/** Binds a checkpoint to a {@link Module} through a {@link WeightLoadingPlan}. */
public final class ModuleWeights {

    private ModuleWeights() {
    }

    /** The expected parameter shapes of {@code module}, by dotted path. */
    public static Map<String, long[]> shapes(Module module) {
        Map<String, long[]> out = new LinkedHashMap<>();
        module.namedParameters().forEach((k, v) -> out.put(k, v.shape()));
        return out;
    }

    /** Plans loading {@code source} into {@code module} without reading data. */
    public static WeightLoadingPlan plan(Module module, TensorSource source, KeyMapping mapping) {
        return WeightLoadingPlan.create(source.file(), source.keys().stream().map(source::info).toList(), shapes(module), mapping);
    }

    /**
     * Loads every parameter of {@code module} from {@code source} into {@code manager}; fails with a
     * message naming the file and the offending keys unless the checkpoint fits exactly.
     */
    public static void load(Module module, TensorSource source, KeyMapping mapping, NDManager manager, String what) {
        load(module, source, mapping, manager, what, DataType.FLOAT32);
    }

    /**
     * As {@link #load(Module, TensorSource, KeyMapping, NDManager, String)}, holding floating-point weights in
     * {@code type} (each converted as it is read, so only one float32 tensor exists at a time).
     */
    public static void load(Module module, TensorSource source, KeyMapping mapping, NDManager manager, String what, DataType type) {
        WeightLoadingPlan plan = plan(module, source, mapping);
        plan.requireComplete(what);
        Map<String, Parameter> params = module.namedParameters();
        plan.load(source, manager, (name, value) -> {
            if (value.getDataType() != type && value.getDataType().isFloating()) {
                NDArray converted = value.toType(type, false);
                value.close();
                params.get(name).set(converted);
            } else {
                params.get(name).set(value);
            }
        });
    }
}
