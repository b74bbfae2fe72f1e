package io.github.ssrencoder.model;

import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.WeightFileException;
import java.nio.file.Path;

/**
 * The dimensions of a CLIP text transformer ({@code CLIPTextConfig}); absent keys take transformers' defaults.
 *
 * @param vocabSize             token embedding rows
 * @param hiddenSize            width D
 * @param intermediateSize      MLP width
 * @param numHiddenLayers       encoder layers
 * @param numAttentionHeads     heads (D must be divisible by it)
 * @param maxPositionEmbeddings positions (77 for SD)
 * @param hiddenAct             MLP activation name
 * @param layerNormEps          LayerNorm epsilon
 */
public record ClipTextConfig(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                             int maxPositionEmbeddings, String hiddenAct, double layerNormEps) {

    public ClipTextConfig {
        ClipVisionConfig.checkHeads(hiddenSize, numAttentionHeads);
        ClipMlp.Activation.parse(hiddenAct);
        if (vocabSize < 1 || intermediateSize < 1 || numHiddenLayers < 0 || maxPositionEmbeddings < 1) {
            throw new IllegalArgumentException("invalid CLIP text config: " + vocabSize + " tokens, " + intermediateSize
                    + " MLP, " + numHiddenLayers + " layers, " + maxPositionEmbeddings + " positions");
        }
    }

    /** Reads a {@code CLIPTextModel} config.json (or the {@code text_config} of a full CLIP config). */
    public static ClipTextConfig read(Path file) {
        JsonObject o = JsonFiles.readObject(file);
        if ("clip".equals(JsonFiles.getString(file, o, "model_type", ""))) {
            if (!o.has("text_config") || !o.get("text_config").isJsonObject()) {
                throw WeightFileException.of(file, "a 'clip' config must contain a 'text_config' object");
            }
            o = o.getAsJsonObject("text_config");
        }
        return fromJson(file, o);
    }

    static ClipTextConfig fromJson(Path file, JsonObject o) {
        try {
            return new ClipTextConfig(
                    JsonFiles.getInt(file, o, "vocab_size", 49408),
                    JsonFiles.getInt(file, o, "hidden_size", 512),
                    JsonFiles.getInt(file, o, "intermediate_size", 2048),
                    JsonFiles.getInt(file, o, "num_hidden_layers", 12),
                    JsonFiles.getInt(file, o, "num_attention_heads", 8),
                    JsonFiles.getInt(file, o, "max_position_embeddings", 77),
                    JsonFiles.getString(file, o, "hidden_act", "quick_gelu"),
                    JsonFiles.getDouble(file, o, "layer_norm_eps", 1e-5));
        } catch (IllegalArgumentException e) {
            throw WeightFileException.of(file, e.getMessage());
        }
    }
}
