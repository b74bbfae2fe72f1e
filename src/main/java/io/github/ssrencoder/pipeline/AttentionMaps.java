package io.github.ssrencoder.pipeline;

import java.util.List;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.img.basictypeaccess.array.FloatArray;
import net.imglib2.type.numeric.real.FloatType;

/**
 * The token-to-patch attention A_t2p of one subject query: for each head and each of the query's text
 * positions, a softmax over the CLS token and the {@code gridHeight × gridWidth} image patches. This is
 * what shows which patches a word selected.
 *
 * @param tokens         display labels of the query's word tokens (no start/end/padding tokens)
 * @param tokenPositions position of each labelled token in the text sequence (1-based after BOS)
 * @param heads          number of attention heads
 * @param contextLength  length of the text sequence (77)
 * @param gridHeight     patch rows
 * @param gridWidth      patch columns
 * @param probabilities  row-major [heads, contextLength, 1 + gridHeight·gridWidth], CLS first
 */
public record AttentionMaps(List<String> tokens, int[] tokenPositions, int heads, int contextLength, int gridHeight,
                            int gridWidth, float[] probabilities) {

    public AttentionMaps {
        tokens = List.copyOf(tokens);
        tokenPositions = tokenPositions.clone();
        if (tokens.size() != tokenPositions.length) {
            throw new IllegalArgumentException("one position per token label expected");
        }
        long expected = (long) heads * contextLength * (1L + (long) gridHeight * gridWidth);
        if (probabilities.length != expected) {
            throw new IllegalArgumentException("attention probabilities need " + expected + " values, got " + probabilities.length);
        }
    }

    private int patches() {
        return gridHeight * gridWidth;
    }

    /** Patch probabilities (CLS excluded) of head {@code head} at text position {@code position}, row-major h×w. */
    public float[] head(int head, int position) {
        int t = 1 + patches();
        int base = (head * contextLength + position) * t + 1;
        float[] out = new float[patches()];
        System.arraycopy(probabilities, base, out, 0, out.length);
        return out;
    }

    /** Head-averaged patch probabilities at text position {@code position}, row-major h×w. */
    public float[] headMean(int position) {
        float[] out = new float[patches()];
        for (int h = 0; h < heads; h++) {
            float[] one = head(h, position);
            for (int i = 0; i < out.length; i++) {
                out[i] += one[i];
            }
        }
        for (int i = 0; i < out.length; i++) {
            out[i] /= heads;
        }
        return out;
    }

    /** Head-averaged map of the labelled token {@code k}, averaged again over all labelled tokens when k = -1. */
    public float[] tokenMap(int k) {
        if (k >= 0) {
            return headMean(tokenPositions[k]);
        }
        float[] out = new float[patches()];
        for (int position : tokenPositions) {
            float[] one = headMean(position);
            for (int i = 0; i < out.length; i++) {
                out[i] += one[i];
            }
        }
        int n = Math.max(1, tokenPositions.length);
        for (int i = 0; i < out.length; i++) {
            out[i] /= n;
        }
        return out;
    }

    /** {@link #tokenMap(int)} as a gridWidth × gridHeight imglib2 image. */
    public ArrayImg<FloatType, FloatArray> tokenImage(int k) {
        return ArrayImgs.floats(tokenMap(k), gridWidth, gridHeight);
    }
}
