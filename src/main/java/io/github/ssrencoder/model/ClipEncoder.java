package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleList;

/** The stack of CLIP encoder layers ({@code CLIPEncoder}, parameters under {@code layers.{i}}). */
public final class ClipEncoder extends Module {

    private final ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(int numLayers, int hidden, int heads, int intermediate, ClipMlp.Activation act, float eps) {
        this.layers = child("layers", new ModuleList<>());
        for (int i = 0; i < numLayers; i++) {
            layers.add(new ClipEncoderLayer(hidden, heads, intermediate, act, eps));
        }
    }

    public int numLayers() {
        return layers.size();
    }

    /**
     * Runs every layer. With {@code keepAll} the result holds the input followed by each layer's output
     * (L + 1 arrays, the caller owns them all); otherwise only the last output.
     */
    public NDList forward(NDArray x, boolean causal, boolean keepAll) {
        NDList out = new NDList();
        if (keepAll) {
            out.add(x);
        }
        NDArray h = x;
        for (ClipEncoderLayer layer : layers) {
            NDArray next = layer.forward(h, causal);
            if (!keepAll && h != x) {
                h.close();
            }
            h = next;
            if (keepAll) {
                out.add(h);
            }
        }
        if (!keepAll) {
            out.add(h);
        }
        return out;
    }
}
