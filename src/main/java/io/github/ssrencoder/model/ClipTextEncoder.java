package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFiles;
import io.github.ssrencoder.nn.Embedding;
import io.github.ssrencoder.nn.LayerNorm;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.nn.Scoped;
import java.nio.file.Path;

/**
 * CLIP's text tower ({@code CLIPTextModel}) as Stable Diffusion uses it: token + position embeddings,
 * pre-LN transformer layers with causal self-attention, final LayerNorm. The output
 * {@code last_hidden_state} is the prompt embedding the UNet cross-attends to. Parameters are named as in
 * the checkpoint ({@code text_model.encoder.layers.0.self_attn.q_proj.weight}).
 */
public final class ClipTextEncoder extends Module {

    /** Checkpoint keys that are buffers, not parameters, in older files. */
    static final KeyMapping MAPPING = KeyMapping.identity().withIgnored(k -> k.endsWith("position_ids"));

    private final ClipTextConfig config;
    private final TextModel textModel;

    /** Builds the module tree (no weights bound). */
    public ClipTextEncoder(ClipTextConfig config) {
        this.config = config;
        this.textModel = child("text_model", new TextModel(config));
    }

    /** {@code CLIPTextTransformer}: embeddings, encoder, final LayerNorm. */
    private static final class TextModel extends Module {
        final Embeddings embeddings;
        final ClipEncoder encoder;
        final LayerNorm finalLayerNorm;

        TextModel(ClipTextConfig c) {
            float eps = (float) c.layerNormEps();
            this.embeddings = child("embeddings", new Embeddings(c));
            this.encoder = child("encoder", new ClipEncoder(c.numHiddenLayers(), c.hiddenSize(), c.numAttentionHeads(),
                    c.intermediateSize(), ClipMlp.Activation.parse(c.hiddenAct()), eps));
            this.finalLayerNorm = child("final_layer_norm", new LayerNorm(c.hiddenSize(), eps));
        }
    }

    /** {@code CLIPTextEmbeddings}: token rows plus the rows of the first S positions. */
    private static final class Embeddings extends Module {
        final Embedding tokenEmbedding;
        final Embedding positionEmbedding;

        Embeddings(ClipTextConfig c) {
            this.tokenEmbedding = child("token_embedding", new Embedding(c.vocabSize(), c.hiddenSize()));
            this.positionEmbedding = child("position_embedding", new Embedding(c.maxPositionEmbeddings(), c.hiddenSize()));
        }

        NDArray forward(NDArray inputIds) {
            long s = inputIds.getShape().get(1);
            return tokenEmbedding.forward(inputIds).add(positionEmbedding.weight().get("0:" + s));
        }
    }

    /**
     * Reads {@code config.json} and the weight file (safetensors or .bin) of a text encoder folder and
     * loads the weights into {@code weights}; a checkpoint that does not fit is a {@code WeightFileException}.
     */
    public static ClipTextEncoder load(Path folder, NDManager weights) {
        ClipTextEncoder model = new ClipTextEncoder(ClipTextConfig.read(folder.resolve("config.json")));
        try (TensorSource source = WeightFiles.openIn(folder, "model")) {
            ModuleWeights.load(model, source, MAPPING, weights, "CLIP text encoder");
        }
        return model;
    }

    public ClipTextConfig config() {
        return config;
    }

    public int hiddenSize() {
        return config.hiddenSize();
    }

    /** Number of token positions (77 for Stable Diffusion). */
    public int maxLength() {
        return config.maxPositionEmbeddings();
    }

    /** {@code inputIds} int64 [B, S] (S ≤ positions) → {@code last_hidden_state} [B, S, D], in the ids' manager. */
    public NDArray forward(NDArray inputIds) {
        check(inputIds);
        return Scoped.compute(() -> {
            NDList states = textModel.encoder.forward(textModel.embeddings.forward(inputIds), true, false);
            return textModel.finalLayerNorm.forward(states.get(0));
        });
    }

    /**
     * Every hidden state and the final output: elements 0…L are {@code hidden_states} (0 = embeddings,
     * i = output of layer i), element L + 1 is {@code last_hidden_state}.
     */
    public NDList forwardAll(NDArray inputIds) {
        check(inputIds);
        return Scoped.computeList(() -> {
            NDList states = textModel.encoder.forward(textModel.embeddings.forward(inputIds), true, true);
            states.add(textModel.finalLayerNorm.forward(states.get(states.size() - 1)));
            return states;
        });
    }

    private void check(NDArray ids) {
        if (ids.getShape().dimension() != 2 || ids.getDataType() != DataType.INT64) {
            throw new IllegalArgumentException("input ids must be int64 [batch, length], got " + ids.getDataType() + " " + ids.getShape());
        }
        long s = ids.getShape().get(1);
        if (s < 1 || s > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("input ids length " + s + " must be 1.." + config.maxPositionEmbeddings());
        }
        for (long id : ids.toLongArray()) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (config.vocabSize() - 1) + ")");
            }
        }
    }
}
