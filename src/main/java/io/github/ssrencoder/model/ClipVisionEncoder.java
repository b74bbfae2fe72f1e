package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFiles;
import io.github.ssrencoder.nn.Conv2d;
import io.github.ssrencoder.nn.Embedding;
import io.github.ssrencoder.nn.LayerNorm;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.nn.Parameter;
import io.github.ssrencoder.nn.Scoped;
import java.nio.file.Path;

/**
 * CLIP's vision tower ({@code CLIPVisionModel}) as SSR-Encoder uses it: patch + class + position
 * embeddings, {@code pre_layrnorm}, pre-LN transformer layers, and every hidden state returned (the
 * aligner reads layers 4, 8, …, 24). The pooled output's {@code post_layernorm} is never used, so it is
 * not loaded. Loads the vision part of a full {@code CLIPModel} checkpoint (the other tower, the
 * projections and {@code logit_scale} are ignored) as well as a bare {@code CLIPVisionModel}.
 */
public final class ClipVisionEncoder extends Module {

    /** The checkpoint keys that exist but are not needed to compute the hidden states. */
    static final KeyMapping MAPPING = KeyMapping.identity()
            .withIgnored(k -> k.endsWith("position_ids"))
            .withIgnored(k -> k.startsWith("text_model.") || k.startsWith("visual_projection.")
                    || k.startsWith("text_projection.") || k.equals("logit_scale")
                    || k.startsWith("vision_model.post_layernorm."));

    private final ClipVisionConfig config;
    private final VisionModel visionModel;

    /** Builds the module tree (no weights bound). */
    public ClipVisionEncoder(ClipVisionConfig config) {
        this.config = config;
        this.visionModel = child("vision_model", new VisionModel(config));
    }

    /** {@code CLIPVisionTransformer} without its post-LN. */
    private static final class VisionModel extends Module {
        final Embeddings embeddings;
        final LayerNorm preLayrnorm;
        final ClipEncoder encoder;

        VisionModel(ClipVisionConfig c) {
            float eps = (float) c.layerNormEps();
            this.embeddings = child("embeddings", new Embeddings(c));
            this.preLayrnorm = child("pre_layrnorm", new LayerNorm(c.hiddenSize(), eps));
            this.encoder = child("encoder", new ClipEncoder(c.numHiddenLayers(), c.hiddenSize(), c.numAttentionHeads(),
                    c.intermediateSize(), ClipMlp.Activation.parse(c.hiddenAct()), eps));
        }
    }

    /** {@code CLIPVisionEmbeddings}: [class; patches] + positions. */
    private static final class Embeddings extends Module {
        final Parameter classEmbedding;
        final Conv2d patchEmbedding;
        final Embedding positionEmbedding;

        Embeddings(ClipVisionConfig c) {
            this.classEmbedding = param("class_embedding", c.hiddenSize());
            this.patchEmbedding = child("patch_embedding",
                    new Conv2d(c.numChannels(), c.hiddenSize(), c.patchSize(), c.patchSize(), 0, false));
            this.positionEmbedding = child("position_embedding", new Embedding(c.numTokens(), c.hiddenSize()));
        }

        NDArray forward(NDArray pixels) {
            NDArray patches = patchEmbedding.forward(pixels);
            long b = patches.getShape().get(0);
            long d = patches.getShape().get(1);
            patches = patches.reshape(b, d, -1).transpose(0, 2, 1);
            NDArray cls = patches.get(":, 0:1, :").zerosLike().add(classEmbedding.get());
            return cls.concat(patches, 1).add(positionEmbedding.weight());
        }
    }

    /**
     * Reads the config and weights of an image encoder folder ({@code config.json} of a full CLIP model or a
     * vision model; {@code model.safetensors} or {@code pytorch_model.bin}) into {@code weights}.
     */
    public static ClipVisionEncoder load(Path folder, NDManager weights) {
        ClipVisionEncoder model = new ClipVisionEncoder(ClipVisionConfig.read(folder.resolve("config.json")));
        try (TensorSource source = WeightFiles.openIn(folder, "model")) {
            ModuleWeights.load(model, source, MAPPING, weights, "CLIP vision encoder");
        }
        return model;
    }

    public ClipVisionConfig config() {
        return config;
    }

    public int hiddenSize() {
        return config.hiddenSize();
    }

    public int imageSize() {
        return config.imageSize();
    }

    public int patchSize() {
        return config.patchSize();
    }

    /** Tokens per image: patch grid squared plus the class token. */
    public int numTokens() {
        return config.numTokens();
    }

    public int numLayers() {
        return config.numHiddenLayers();
    }

    /** The embeddings before {@code pre_layrnorm} ({@code [B, T, Dv]}), for inspection. */
    public NDArray embeddings(NDArray pixelValues) {
        check(pixelValues);
        return Scoped.compute(() -> visionModel.embeddings.forward(pixelValues));
    }

    /**
     * {@code pixelValues} float32 [B, C, S, S] → the L + 1 hidden states [B, T, Dv]: index 0 after
     * {@code pre_layrnorm}, index i the output of layer i. The caller owns them (they live in the pixels'
     * manager).
     */
    public NDList forward(NDArray pixelValues) {
        check(pixelValues);
        return Scoped.computeList(() -> visionModel.encoder.forward(
                visionModel.preLayrnorm.forward(visionModel.embeddings.forward(pixelValues)), false, true));
    }

    /** How many hidden states {@link #ssrImageEmbeds} joins: layers 4, 8, … up to the depth. */
    public int ssrScales() {
        return config.numHiddenLayers() / 4;
    }

    /**
     * Python's {@code torch.cat(hidden_states[4::4], dim=1)}: hidden states 4, 8, 12, … (as many as exist)
     * joined on the token axis — the aligner's multi-scale input. With 24 layers that is 6 × T tokens.
     */
    public static NDArray ssrImageEmbeds(NDList hiddenStates) {
        NDList picked = new NDList();
        for (int i = 4; i < hiddenStates.size(); i += 4) {
            picked.add(hiddenStates.get(i));
        }
        if (picked.isEmpty()) {
            throw new IllegalArgumentException("need at least 5 hidden states (4 layers) for the SSR image embeddings, got "
                    + hiddenStates.size());
        }
        return picked.size() == 1 ? picked.get(0).duplicate() : NDArrays.concat(picked, 1);
    }

    private void check(NDArray px) {
        long[] s = px.getShape().getShape();
        if (s.length != 4 || s[1] != config.numChannels() || s[2] != config.imageSize() || s[3] != config.imageSize()) {
            throw new IllegalArgumentException("pixel values must be [batch, " + config.numChannels() + ", " + config.imageSize()
                    + ", " + config.imageSize() + "], got " + px.getShape());
        }
    }
}
