package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;

/**
 * diffusers' {@code BasicTransformerBlock} (layer-norm variant): self-attention {@code attn1}, cross-attention
 * {@code attn2} on the encoder states, GEGLU feed-forward {@code ff}, each pre-normed and residual.
 */
public final class BasicTransformerBlock extends Module {

    private final LayerNorm norm1;
    private final Attention attn1;
    private final LayerNorm norm2;
    private final Attention attn2;
    private final LayerNorm norm3;
    private final FeedForward ff;
    private final boolean onlyCrossAttention;

    /** @param onlyCrossAttention whether {@code attn1} also attends to the encoder states (diffusers' {@code only_cross_attention}) */
    public BasicTransformerBlock(long dim, int heads, long dimHead, long crossAttentionDim, boolean onlyCrossAttention) {
        this.onlyCrossAttention = onlyCrossAttention;
        this.norm1 = child("norm1", new LayerNorm(dim, 1e-5f));
        this.attn1 = child("attn1", new Attention(dim, onlyCrossAttention ? crossAttentionDim : dim, heads, dimHead, false, null, false));
        this.norm2 = child("norm2", new LayerNorm(dim, 1e-5f));
        this.attn2 = child("attn2", new Attention(dim, crossAttentionDim, heads, dimHead, false, null, false));
        this.norm3 = child("norm3", new LayerNorm(dim, 1e-5f));
        this.ff = child("ff", new FeedForward(dim, 4 * dim));
    }

    public Attention attn1() {
        return attn1;
    }

    public Attention attn2() {
        return attn2;
    }

    /** @param x [B, L, dim]; @param context [B, S, crossAttentionDim] */
    public NDArray forward(NDArray x, NDArray context) {
        return Scoped.compute(() -> {
            NDArray h = attn1.forward(norm1.forward(x), onlyCrossAttention ? context : null).addi(x);
            h = attn2.forward(norm2.forward(h), context).addi(h);
            return ff.forward(norm3.forward(h)).addi(h);
        });
    }
}
