package io.github.ssrencoder.model;

import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFiles;
import io.github.ssrencoder.nn.Attention;
import io.github.ssrencoder.nn.Linear;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.ModuleWeights;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * SSR-Encoder's subject key/value projections for the UNet's cross-attentions ({@code pytorch_model_1.bin}):
 * a {@code ModuleList} with one entry per UNet attention processor, in the order of diffusers'
 * {@code unet.attn_processors}; entries of cross-attentions ({@code attn2}) hold {@code to_k_SSR} and
 * {@code to_v_SSR} [inner, cross_attention_dim], self-attention entries are empty. The index table is derived
 * from the UNet's own module tree.
 */
public final class SsrLayers extends Module {

    /** One processor entry: its index, the UNet attention it belongs to, and its projections (null for self-attention). */
    public record Entry(int index, String processor, Attention attention, Linear toK, Linear toV) {
    }

    private final List<Entry> entries;

    /** Builds the (weightless) table for {@code unet}. */
    public SsrLayers(UNet2DCondition unet) {
        List<Entry> out = new ArrayList<>();
        int index = 0;
        for (Map.Entry<String, Attention> e : unet.attentionModules().entrySet()) {
            boolean cross = e.getKey().endsWith(".attn2");
            Processor proc = child(Integer.toString(index), new Processor(cross ? e.getValue() : null, unet.config().crossAttentionDim()));
            out.add(new Entry(index++, e.getKey() + ".processor", e.getValue(), proc.toK, proc.toV));
        }
        this.entries = Collections.unmodifiableList(out);
    }

    /**
     * Loads {@code pytorch_model_1.bin} (or a safetensors file with the same keys) for {@code unet} into
     * {@code weights}; missing, unexpected or wrongly shaped keys are a {@link io.github.ssrencoder.io.WeightFileException}.
     */
    public static SsrLayers load(Path file, UNet2DCondition unet, NDManager weights) {
        SsrLayers layers = new SsrLayers(unet);
        try (TensorSource source = WeightFiles.open(file)) {
            ModuleWeights.load(layers, source, KeyMapping.identity(), weights, "SSR layers of this UNet", EngineRuntime.computeType(weights.getDevice()));
        }
        return layers;
    }

    /** Every processor entry by index. */
    public List<Entry> entries() {
        return entries;
    }

    /** Index → processor name ({@code down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor}). */
    public Map<Integer, String> processorNames() {
        Map<Integer, String> out = new LinkedHashMap<>();
        entries.forEach(e -> out.put(e.index(), e.processor()));
        return out;
    }

    /**
     * Gives every cross-attention of {@code unet} the subject key/value pair: encoder states are then
     * {@code [text (textContextLength) ; subject tokens]} and subject attention is added with weight {@code scale}.
     */
    public void attach(UNet2DCondition unet, float scale, int textContextLength) {
        Map<String, Attention> modules = unet.attentionModules();
        for (Entry e : entries) {
            if (e.toK() == null) {
                continue;
            }
            Attention target = modules.get(e.processor().substring(0, e.processor().length() - ".processor".length()));
            if (target != e.attention()) {
                throw new IllegalArgumentException("these SSR layers were loaded for another UNet");
            }
            target.setExtraKeyValue(e.toK(), e.toV(), scale, textContextLength);
        }
    }

    /** Removes every subject key/value pair from {@code unet}. */
    public static void detach(UNet2DCondition unet) {
        unet.attentionModules().values().forEach(Attention::clearExtraKeyValue);
    }

    /** One {@code SSRAttnProcessor} (cross-attention) or a parameterless {@code AttnProcessor}. */
    private static final class Processor extends Module {
        private final Linear toK;
        private final Linear toV;

        Processor(Attention cross, long crossAttentionDim) {
            if (cross == null) {
                toK = null;
                toV = null;
            } else {
                toK = child("to_k_SSR", new Linear(crossAttentionDim, cross.innerDim(), false));
                toV = child("to_v_SSR", new Linear(crossAttentionDim, cross.innerDim(), false));
            }
        }
    }
}
