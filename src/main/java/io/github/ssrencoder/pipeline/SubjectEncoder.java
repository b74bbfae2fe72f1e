package io.github.ssrencoder.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.model.ClipImageProcessor;
import io.github.ssrencoder.model.ClipTokenizer;
import io.github.ssrencoder.model.ClipVisionConfig;
import io.github.ssrencoder.model.ClipVisionEncoder;
import io.github.ssrencoder.model.MaskQuery;
import io.github.ssrencoder.model.TokenToPatchAligner;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns subject queries into SSR subject embeddings (conditional and unconditional) and their token-to-patch
 * attention maps: multi-scale CLIP image features, the query text through the SD text encoder, and the
 * aligner, with the mask as an attention bias for mask queries. Each distinct reference image of a request
 * is encoded once. The image encoder is taken from its slot when first needed (it may have been released between
 * runs, see {@link NetworkSlot}).
 */
final class SubjectEncoder {

    /** The embeddings of one subject and its attention maps. */
    record Encoded(NDArray conditional, NDArray unconditional, AttentionMaps attention) {
    }

    private final NetworkSlot<ClipVisionEncoder> vision;
    private final ClipVisionConfig visionConfig;
    private final ClipImageProcessor processor;
    private final TokenToPatchAligner aligner;
    private final PromptEncoder text;
    private NDArray uncondImageEmbeds;

    SubjectEncoder(NetworkSlot<ClipVisionEncoder> vision, ClipVisionConfig visionConfig, ClipImageProcessor processor,
                   TokenToPatchAligner aligner, PromptEncoder text) {
        this.vision = vision;
        this.visionConfig = visionConfig;
        this.processor = processor;
        this.aligner = aligner;
        this.text = text;
    }

    /** Side of the square patch grid of the image encoder. */
    int grid() {
        return visionConfig.gridSize();
    }

    /**
     * Encodes every subject. Image features are cached per image (and framing) within the call; the
     * unconditional image features (all-zero pixels) are cached for the pipeline's lifetime in
     * {@code cacheManager}.
     */
    List<Encoded> encode(List<SubjectQuery> subjects, NDManager run, NDManager cacheManager, ProgressListener progress) {
        Map<Object, Map<String, NDArray>> imageCache = new IdentityHashMap<>();
        List<Encoded> out = new ArrayList<>();
        if (!subjects.isEmpty()) {
            checkCancel(progress);
            vision.get(progress); // a released encoder is loaded before the subjects' stages begin
        }
        for (int i = 0; i < subjects.size(); i++) {
            SubjectQuery q = subjects.get(i);
            progress.stage("Encoding subject " + (i + 1) + " of " + subjects.size());
            checkCancel(progress);
            validate(q, i);
            String key = q.framing() + "/" + q.cropBox();
            NDArray imageEmbeds = imageCache.computeIfAbsent(q.image(), k -> new java.util.HashMap<>())
                    .computeIfAbsent(key, k -> imageEmbeds(q, run, progress));
            out.add(encodeOne(q, i, imageEmbeds, run, cacheManager, progress));
        }
        return out;
    }

    private static void checkCancel(ProgressListener progress) {
        if (progress.isCancelled()) {
            throw new CancelledException();
        }
    }

    private void validate(SubjectQuery q, int index) {
        long w = q.image().dimension(0);
        long h = q.image().dimension(1);
        int g = grid();
        if (w < g || h < g) {
            throw new IllegalArgumentException("subject " + (index + 1) + ": the reference image is " + w + "×" + h
                    + " pixels, smaller than the " + g + "×" + g + " patch grid of the image encoder");
        }
    }

    private NDArray imageEmbeds(SubjectQuery q, NDManager run, ProgressListener progress) {
        ClipVisionEncoder encoder = vision.get(progress);
        try (NDArray pixels = processor.preprocess(q.image(), q.framing(), q.cropBox(), run)) {
            NDList hidden = encoder.forward(pixels);
            try {
                return ClipVisionEncoder.ssrImageEmbeds(hidden);
            } finally {
                hidden.close();
            }
        }
    }

    private NDArray uncondImageEmbeds(NDManager run, NDManager cacheManager, ProgressListener progress) {
        if (uncondImageEmbeds == null) {
            ClipVisionEncoder encoder = vision.get(progress);
            int s = visionConfig.imageSize();
            try (NDManager tmp = run.newSubManager(); NDArray zeros = tmp.zeros(new ai.djl.ndarray.types.Shape(1, 3, s, s))) {
                NDList hidden = encoder.forward(zeros);
                NDArray embeds = ClipVisionEncoder.ssrImageEmbeds(hidden);
                embeds.attach(cacheManager);
                hidden.close();
                uncondImageEmbeds = embeds;
            }
        }
        return uncondImageEmbeds;
    }

    private Encoded encodeOne(SubjectQuery q, int index, NDArray imageEmbeds, NDManager run, NDManager cacheManager,
                              ProgressListener progress) {
        NDArray bias = q.hasMask() ? maskBias(q, index, run, progress) : null;
        String what = "query of subject " + (index + 1);
        try (NDArray queryText = text.encode(q.text(), what, run, progress);
             NDArray emptyText = text.encode("", what, run, ProgressListener.NONE)) {
            TokenToPatchAligner.AlignerOutput cond = aligner.forward(queryText, imageEmbeds, bias);
            TokenToPatchAligner.AlignerOutput uncond = aligner.forward(emptyText, uncondImageEmbeds(run, cacheManager, progress), bias);
            AttentionMaps maps = attentionMaps(q.text(), cond);
            NDArray conditional = cond.subjectEmbeds();
            if (q.weight() != 1.0) {
                conditional = conditional.mul((float) q.weight());
            }
            NDArray unconditional = uncond.subjectEmbeds();
            cond.probabilities().close();
            uncond.probabilities().close();
            return new Encoded(conditional, unconditional, maps);
        } finally {
            if (bias != null) {
                bias.close();
            }
        }
    }

    private NDArray maskBias(SubjectQuery q, int index, NDManager run, ProgressListener progress) {
        long w = q.image().dimension(0);
        long h = q.image().dimension(1);
        if (q.mask().dimension(0) != w || q.mask().dimension(1) != h) {
            progress.warning("subject " + (index + 1) + ": the mask is " + q.mask().dimension(0) + "×" + q.mask().dimension(1)
                    + " but the image is " + w + "×" + h + "; the mask was resized to the image");
        }
        float[] frame = ImageConversion.maskToFrame(q.mask(), w, h);
        ClipImageProcessor.SourceRegion r = processor.region(w, h, q.framing(), q.cropBox());
        long side = Math.round(r.side());
        float[] square = ImageConversion.cropSquare(frame, w, h, Math.round(r.x0()), Math.round(r.y0()), side);
        float[] grid;
        try {
            grid = MaskQuery.toPatchGrid(square, (int) side, (int) side, grid());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("subject " + (index + 1) + ": " + e.getMessage(), e);
        }
        return MaskQuery.scoreBias(grid, (float) q.maskWeight(), run);
    }

    private AttentionMaps attentionMaps(String query, TokenToPatchAligner.AlignerOutput cond) {
        ClipTokenizer tok = text.tokenizer();
        List<String> tokens = tok.tokenize(query).tokens();
        int n = Math.min(tokens.size(), tok.maxLength() - 2);
        int[] positions = new int[n];
        List<String> labels = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            positions[i] = i + 1;
            labels.add(tokens.get(i).replace("</w>", ""));
        }
        return AlignerAttentionMaps.of(cond, aligner.heads(), 0, labels, positions);
    }

    /** Releases the cached unconditional image features. */
    void clearCache() {
        if (uncondImageEmbeds != null) {
            uncondImageEmbeds.close();
            uncondImageEmbeds = null;
        }
    }
}
