package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.LayerNorm;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.Scoped;

/** One pre-LN transformer layer of CLIP ({@code CLIPEncoderLayer}): {@code x + attn(ln1(x))}, then {@code x + mlp(ln2(x))}. */
public final class ClipEncoderLayer extends Module {

    private final ClipAttention selfAttn;
    private final LayerNorm layerNorm1;
    private final ClipMlp mlp;
    private final LayerNorm layerNorm2;

    public ClipEncoderLayer(int hidden, int heads, int intermediate, ClipMlp.Activation act, float eps) {
        this.selfAttn = child("self_attn", new ClipAttention(hidden, heads));
        this.layerNorm1 = child("layer_norm1", new LayerNorm(hidden, eps));
        this.mlp = child("mlp", new ClipMlp(hidden, intermediate, act));
        this.layerNorm2 = child("layer_norm2", new LayerNorm(hidden, eps));
    }

    public NDArray forward(NDArray x, boolean causal) {
        return Scoped.compute(() -> {
            NDArray h = x.add(selfAttn.forward(layerNorm1.forward(x), causal));
            return h.add(mlp.forward(layerNorm2.forward(h)));
        });
    }
}
