package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;

/**
 * Receives the attention probabilities of an {@link Attention} module while they are computed, e.g. to
 * build attention maps. Probabilities arrive in pieces — slices of the {@code batch·heads} axis (row index
 * {@code b·heads + h}) and, for very long sequences, chunks of query positions — so that large
 * self-attentions never exist in one piece. The array is only valid during the call (it is closed
 * afterwards): copy what you need.
 */
@FunctionalInterface
public interface AttentionListener {

    /**
     * @param moduleName the module's dotted path (e.g. {@code down_blocks.0.attentions.0.transformer_blocks.0.attn2})
     * @param part       which softmax: {@code "text"} for the ordinary one, {@code "subject"} for the extra key/value pair
     * @param firstRow   index of the piece's first row in the {@code batch·heads} axis
     * @param firstQuery index of the piece's first query position
     * @param probs      [rows, queries, key length]
     */
    void onProbabilities(String moduleName, String part, int firstRow, int firstQuery, NDArray probs);
}
