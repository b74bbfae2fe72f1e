package io.github.ssrencoder.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A block of a network that knows its own parameters and children, named exactly as in the reference
 * implementation, so that the dotted path of every parameter is its checkpoint key
 * ({@code down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight}). Loading weights is then a
 * walk over {@link #namedParameters()}.
 */
public abstract class Module {

    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();

    /** Declares a parameter of this module with its expected shape. */
    protected final Parameter param(String name, long... shape) {
        if (params.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("duplicate member '" + name + "' in " + getClass().getSimpleName());
        }
        Parameter p = new Parameter(name, shape);
        params.put(name, p);
        return p;
    }

    /** Declares a child module under {@code name} and returns it. */
    protected final <M extends Module> M child(String name, M module) {
        if (params.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("duplicate member '" + name + "' in " + getClass().getSimpleName());
        }
        children.put(name, module);
        return module;
    }

    /** Direct children, in declaration order. */
    public final Map<String, Module> children() {
        return Collections.unmodifiableMap(children);
    }

    /** Every parameter of this module and its descendants, keyed by dotted path, in declaration order. */
    public final Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collect("", out);
        return out;
    }

    private void collect(String prefix, Map<String, Parameter> out) {
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            out.put(prefix + e.getKey(), e.getValue());
        }
        for (Map.Entry<String, Module> e : children.entrySet()) {
            e.getValue().collect(prefix + e.getKey() + ".", out);
        }
    }

    /** Unbinds every parameter value (after the arrays' manager was closed). */
    public final void clearParameters() {
        List<Parameter> all = new ArrayList<>(namedParameters().values());
        all.forEach(Parameter::clear);
    }
}
