package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;

/**
 * Receives the attention probabilities of an {@link Attention} module while they are computed, e.g. to
 * build attention maps. Probabilities arrive in slices of the {@code batch·heads} axis (row index
 * {@code b·heads + h}) so that large self-attentions never exist in one piece; the array is only valid
 * during the call (it is closed afterwards) — copy what you need.
 */
@FunctionalInterface
public interface AttentionListener {

    /**
     * @param moduleName the module's dotted path (e.g. {@code down_blocks.0.attentions.0.transformer_blocks.0.attn2})
     * @param part       which softmax: {@code "text"} for the ordinary one, {@code "subject"} for the extra key/value pair
     * @param firstRow   index of the slice's first row in the {@code batch·heads} axis
     * @param probs      [rows, query length, key length]
     */
    void onProbabilities(String moduleName, String part, int firstRow, NDArray probs);
}
