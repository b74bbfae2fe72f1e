package io.github.ssrencoder.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import io.github.ssrencoder.model.MaskQuery;
import io.github.ssrencoder.model.TokenToPatchAligner;
import java.util.List;

/** Builds {@link AttentionMaps} from the aligner's token-to-patch attention of one batch element. */
public final class AlignerAttentionMaps {

    private AlignerAttentionMaps() {
    }

    /**
     * The maps of batch element {@code batchIndex}: rows {@code batchIndex·H … batchIndex·H + H − 1} of
     * {@link TokenToPatchAligner.AlignerOutput#probabilities()}, on the square patch grid of its T − 1
     * patches.
     *
     * @param heads          the aligner's head count ({@link TokenToPatchAligner#heads()})
     * @param tokens         display labels of the query's word tokens
     * @param tokenPositions text position of each labelled token
     */
    public static AttentionMaps of(TokenToPatchAligner.AlignerOutput output, int heads, int batchIndex,
                                   List<String> tokens, int[] tokenPositions) {
        NDArray probs = output.probabilities();
        long[] shape = probs.getShape().getShape();
        if (shape.length != 3 || heads <= 0 || shape[0] % heads != 0) {
            throw new IllegalArgumentException("attention probabilities must be [B·" + heads + ", L, T], got " + probs.getShape());
        }
        long batch = shape[0] / heads;
        if (batchIndex < 0 || batchIndex >= batch) {
            throw new IllegalArgumentException("batch index " + batchIndex + " outside 0.." + (batch - 1));
        }
        int length = (int) shape[1];
        int grid = MaskQuery.gridSide(shape[2]);
        for (int p : tokenPositions) {
            if (p < 0 || p >= length) {
                throw new IllegalArgumentException("token position " + p + " outside the text sequence 0.." + (length - 1));
            }
        }
        float[] values;
        try (NDArray rows = probs.get(new NDIndex("{}:{}", (long) batchIndex * heads, (long) (batchIndex + 1) * heads))) {
            values = rows.toFloatArray();
        }
        return new AttentionMaps(tokens, tokenPositions, heads, length, grid, grid, values);
    }
}
