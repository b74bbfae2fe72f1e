package io.github.ssrencoder.model;

import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.WeightFileException;
import java.nio.file.Path;

/**
 * The dimensions of a CLIP vision transformer ({@code CLIPVisionConfig}); absent keys take transformers'
 * defaults.
 *
 * @param hiddenSize        width Dv
 * @param intermediateSize  MLP width
 * @param numHiddenLayers   encoder layers L
 * @param numAttentionHeads heads
 * @param numChannels       input channels
 * @param imageSize         input side in pixels
 * @param patchSize         patch side in pixels
 * @param hiddenAct         MLP activation name
 * @param layerNormEps      LayerNorm epsilon
 */
public record ClipVisionConfig(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads, int numChannels,
                               int imageSize, int patchSize, String hiddenAct, double layerNormEps) {

    public ClipVisionConfig {
        checkHeads(hiddenSize, numAttentionHeads);
        ClipMlp.Activation.parse(hiddenAct);
        if (patchSize < 1 || imageSize < patchSize || numChannels < 1 || intermediateSize < 1 || numHiddenLayers < 0) {
            throw new IllegalArgumentException("invalid CLIP vision config: image " + imageSize + ", patch " + patchSize
                    + ", " + numChannels + " channels, MLP " + intermediateSize + ", " + numHiddenLayers + " layers");
        }
    }

    static void checkHeads(int hidden, int heads) {
        if (hidden < 1 || heads < 1 || hidden % heads != 0) {
            throw new IllegalArgumentException("hidden_size " + hidden + " must be a positive multiple of num_attention_heads " + heads);
        }
    }

    /** Patches per side. */
    public int gridSize() {
        return imageSize / patchSize;
    }

    /** Tokens per image: one per patch plus the class token. */
    public int numTokens() {
        return gridSize() * gridSize() + 1;
    }

    /**
     * Reads the vision config from a full {@code CLIPModel} config.json ({@code model_type} "clip": its
     * {@code vision_config}, as {@code CLIPVisionModel.from_pretrained} does) or from a bare
     * {@code CLIPVisionModel} config ({@code model_type} "clip_vision_model").
     */
    public static ClipVisionConfig read(Path file) {
        JsonObject o = JsonFiles.readObject(file);
        String type = JsonFiles.getString(file, o, "model_type", "");
        if (type.equals("clip")) {
            if (!o.has("vision_config") || !o.get("vision_config").isJsonObject()) {
                throw WeightFileException.of(file, "a 'clip' config must contain a 'vision_config' object");
            }
            o = o.getAsJsonObject("vision_config");
        } else if (!type.equals("clip_vision_model")) {
            throw WeightFileException.of(file, "expected model_type 'clip' or 'clip_vision_model', got '" + type + "'");
        }
        try {
            return new ClipVisionConfig(
                    JsonFiles.getInt(file, o, "hidden_size", 768),
                    JsonFiles.getInt(file, o, "intermediate_size", 3072),
                    JsonFiles.getInt(file, o, "num_hidden_layers", 12),
                    JsonFiles.getInt(file, o, "num_attention_heads", 12),
                    JsonFiles.getInt(file, o, "num_channels", 3),
                    JsonFiles.getInt(file, o, "image_size", 224),
                    JsonFiles.getInt(file, o, "patch_size", 32),
                    JsonFiles.getString(file, o, "hidden_act", "quick_gelu"),
                    JsonFiles.getDouble(file, o, "layer_norm_eps", 1e-5));
        } catch (IllegalArgumentException e) {
            throw WeightFileException.of(file, e.getMessage());
        }
    }
}
