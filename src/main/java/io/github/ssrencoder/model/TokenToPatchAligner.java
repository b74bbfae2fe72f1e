package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.io.WeightFiles;
import io.github.ssrencoder.nn.LayerNorm;
import io.github.ssrencoder.nn.Linear;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleList;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.nn.Scalars;
import io.github.ssrencoder.nn.Scoped;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * SSR-Encoder's token-to-patch aligner ({@code Aligner} with {@code AlignerAttnProcessor}): text tokens of
 * the subject query attend to the image patches of the last vision scale, and the same attention pools
 * the values of every scale, giving {@code numScales × 77} subject tokens for the UNet.
 *
 * <p>Loaded from {@code ssr/pytorch_model.bin}; the module tree mirrors its keys ({@code aligner.to_q},
 * {@code aligner.to_k}, {@code aligner.processor.to_v.i}, {@code aligner.processor.to_out.i}, {@code norm}).
 * Widths and the number of scales come from the weights. The head split is not recorded in the official
 * weights, so it is read from {@code heads} / {@code dim_head} in an optional {@code config.json} beside
 * them; without one the head width is 64, that of the released model (8 heads × 64).
 */
public final class TokenToPatchAligner extends Module {

    /** Head width of the released SSR-Encoder aligner, used when the folder has no config. */
    public static final int DEFAULT_DIM_HEAD = 64;

    private static final float LAYER_NORM_EPS = 1e-5f;

    private final Attention aligner;
    private final LayerNorm norm;
    private final int heads;
    private final int dimHead;
    private final float scale;

    /**
     * The aligner's results.
     *
     * @param subjectEmbeds [B, S·77, D] subject tokens (after the final LayerNorm)
     * @param probabilities [B·H, 77, T] token-to-patch attention, row {@code b·H + h}, CLS column first
     */
    public record AlignerOutput(NDArray subjectEmbeds, NDArray probabilities) implements AutoCloseable {
        @Override
        public void close() {
            subjectEmbeds.close();
            probabilities.close();
        }
    }

    /** {@code aligner}: a diffusers {@code Attention} without biases whose values and outputs live in its processor. */
    static final class Attention extends Module {
        final Linear toQ;
        final Linear toK;
        final Processor processor;

        Attention(long queryDim, long imageDim, long inner, int scales) {
            toQ = child("to_q", new Linear(queryDim, inner, false));
            toK = child("to_k", new Linear(imageDim, inner, false));
            processor = child("processor", new Processor(queryDim, imageDim, inner, scales));
        }
    }

    /** {@code aligner.processor}: one value and one output projection per vision scale. */
    static final class Processor extends Module {
        final ModuleList<Linear> toV = new ModuleList<>();
        final ModuleList<Linear> toOut = new ModuleList<>();

        Processor(long queryDim, long imageDim, long inner, int scales) {
            child("to_out", toOut);
            child("to_v", toV);
            for (int i = 0; i < scales; i++) {
                toV.add(new Linear(imageDim, inner, false));
                toOut.add(new Linear(inner, queryDim, false));
            }
        }
    }

    private TokenToPatchAligner(long queryDim, long imageDim, int heads, int dimHead, int scales) {
        this.heads = heads;
        this.dimHead = dimHead;
        this.scale = (float) (1.0 / Math.sqrt(dimHead));
        this.aligner = child("aligner", new Attention(queryDim, imageDim, (long) heads * dimHead, scales));
        this.norm = child("norm", new LayerNorm(queryDim, LAYER_NORM_EPS));
    }

    /**
     * Loads the aligner from an SSR folder ({@code pytorch_model.bin}, or a safetensors conversion of it, and
     * the optional {@code config.json}); the weights are created in {@code weights}.
     */
    public static TokenToPatchAligner load(Path ssrFolder, NDManager weights) {
        return load(ssrFolder, ssrFolder.resolve("config.json"), weights);
    }

    /**
     * As {@link #load(Path, NDManager)} with the head split read from {@code config} (absent: the default), for
     * weights saved in a folder without their config (an official training checkpoint).
     */
    public static TokenToPatchAligner load(Path ssrFolder, Path config, NDManager weights) {
        try (TensorSource source = WeightFiles.openIn(ssrFolder, "pytorch_model")) {
            long[] q = requireMatrix(source, "aligner.to_q.weight");
            long[] k = requireMatrix(source, "aligner.to_k.weight");
            long inner = q[0];
            long queryDim = q[1];
            long imageDim = k[1];
            int scales = 0;
            while (source.contains("aligner.processor.to_v." + scales + ".weight")) {
                scales++;
            }
            if (scales == 0) {
                throw WeightFileException.of(source.file(), "no 'aligner.processor.to_v.0.weight': not an SSR aligner checkpoint");
            }
            int[] split = headSplit(config, inner, source.file());
            TokenToPatchAligner module = new TokenToPatchAligner(queryDim, imageDim, split[0], split[1], scales);
            ModuleWeights.load(module, source, KeyMapping.identity(), weights, "SSR aligner");
            return module;
        }
    }

    private static long[] requireMatrix(TensorSource source, String key) {
        if (!source.contains(key)) {
            throw WeightFileException.of(source.file(), "missing '" + key + "': not an SSR aligner checkpoint");
        }
        long[] shape = source.info(key).shape();
        if (shape.length != 2) {
            throw WeightFileException.of(source.file(), "'" + key + "' must be a matrix, has shape " + source.info(key).shapeString());
        }
        return shape;
    }

    private static int[] headSplit(Path config, long inner, Path weightsFile) {
        int heads = 0;
        int dimHead = 0;
        if (Files.isRegularFile(config)) {
            JsonObject o = JsonFiles.readObject(config);
            heads = JsonFiles.getInt(config, o, "heads", 0);
            dimHead = JsonFiles.getInt(config, o, "dim_head", 0);
        }
        if (heads <= 0 && dimHead <= 0) {
            dimHead = DEFAULT_DIM_HEAD;
        }
        if (heads <= 0) {
            heads = (int) (inner / dimHead);
        } else if (dimHead <= 0) {
            dimHead = (int) (inner / heads);
        }
        if ((long) heads * dimHead != inner) {
            throw WeightFileException.of(weightsFile, "aligner width " + inner + " (rows of aligner.to_q.weight) is not "
                    + heads + " heads × " + dimHead + " (set 'heads' and 'dim_head' in " + config + ")");
        }
        return new int[] {heads, dimHead};
    }

    /** Number of attention heads. */
    public int heads() {
        return heads;
    }

    /** Width of the text embeddings (D), which is also the width of the subject tokens. */
    public int queryDim() {
        return (int) aligner.toQ.inFeatures();
    }

    /** Width of the vision hidden states (Dv). */
    public int imageDim() {
        return (int) aligner.toK.inFeatures();
    }

    /** Number of vision scales (S). */
    public int numScales() {
        return aligner.processor.toV.size();
    }

    /**
     * Aligns text queries with image patches.
     *
     * @param textEmbeds  [B, L, D] text-encoder output of the subject query (L = 77)
     * @param imageEmbeds [B, S·T, Dv] the S selected vision hidden states, concatenated along tokens
     * @param scoreBias   {@code null}, or [B or 1, 1, T] added to the scaled scores of every head and text
     *                    position before the softmax (the mask query; see {@link MaskQuery#scoreBias})
     * @return subject tokens and attention probabilities, in the manager of {@code textEmbeds}
     */
    public AlignerOutput forward(NDArray textEmbeds, NDArray imageEmbeds, NDArray scoreBias) {
        checkShapes(textEmbeds, imageEmbeds, scoreBias);
        NDList out = run(textEmbeds, imageEmbeds, scoreBias, false);
        return new AlignerOutput(out.get(0), out.get(1));
    }

    /**
     * {@link #forward} plus its intermediates, for checks against the reference: subject tokens,
     * probabilities, query heads [B·H, L, d], key heads [B·H, T, d] and the attention output before the
     * final LayerNorm [B, S·L, D].
     */
    NDList trace(NDArray textEmbeds, NDArray imageEmbeds, NDArray scoreBias) {
        checkShapes(textEmbeds, imageEmbeds, scoreBias);
        return run(textEmbeds, imageEmbeds, scoreBias, true);
    }

    private NDList run(NDArray textEmbeds, NDArray imageEmbeds, NDArray scoreBias, boolean keepIntermediates) {
        int scales = numScales();
        long batch = textEmbeds.getShape().get(0);
        long length = textEmbeds.getShape().get(1);
        long tokens = imageEmbeds.getShape().get(1) / scales;
        return Scoped.computeList(() -> {
            NDList chunks = imageEmbeds.split(scales, 1);
            NDArray q = splitHeads(aligner.toQ.forward(textEmbeds), batch, length);
            NDArray k = splitHeads(aligner.toK.forward(chunks.get(scales - 1)), batch, tokens);
            NDArray scores = Scalars.mul(q.matMul(k.transpose(0, 1, 3, 2)), scale);
            if (scoreBias != null) {
                scores = scores.add(scoreBias.expandDims(1));
            }
            NDArray probs = scores.softmax(-1);
            NDArray[] perScale = new NDArray[scales];
            for (int i = 0; i < scales; i++) {
                NDArray v = splitHeads(aligner.processor.toV.get(i).forward(chunks.get(i)), batch, tokens);
                NDArray pooled = probs.matMul(v).transpose(0, 2, 1, 3).reshape(batch, length, (long) heads * dimHead);
                perScale[i] = aligner.processor.toOut.get(i).forward(pooled);
            }
            NDArray attended = NDArrays.concat(new NDList(perScale), 1);
            NDList out = new NDList(norm.forward(attended), probs.reshape(batch * heads, length, tokens));
            if (keepIntermediates) {
                out.add(q.reshape(batch * heads, length, dimHead));
                out.add(k.reshape(batch * heads, tokens, dimHead));
                out.add(attended);
            }
            return out;
        });
    }

    private void checkShapes(NDArray textEmbeds, NDArray imageEmbeds, NDArray scoreBias) {
        long[] ts = textEmbeds.getShape().getShape();
        long[] is = imageEmbeds.getShape().getShape();
        int scales = numScales();
        if (ts.length != 3 || ts[2] != queryDim()) {
            throw new IllegalArgumentException("text embeddings must be [B, L, " + queryDim() + "], got " + textEmbeds.getShape());
        }
        if (is.length != 3 || is[0] != ts[0] || is[2] != imageDim() || is[1] % scales != 0) {
            throw new IllegalArgumentException("image embeddings must be [" + ts[0] + ", " + scales + "·T, " + imageDim()
                    + "], got " + imageEmbeds.getShape());
        }
        long batch = ts[0];
        long tokens = is[1] / scales;
        if (scoreBias != null) {
            long[] bs = scoreBias.getShape().getShape();
            if (bs.length != 3 || (bs[0] != 1 && bs[0] != batch) || bs[1] != 1 || bs[2] != tokens) {
                throw new IllegalArgumentException("score bias must be [1 or " + batch + ", 1, " + tokens + "], got "
                        + scoreBias.getShape());
            }
        }
    }

    private NDArray splitHeads(NDArray x, long batch, long length) {
        return x.reshape(batch, length, heads, dimHead).transpose(0, 2, 1, 3);
    }
}
