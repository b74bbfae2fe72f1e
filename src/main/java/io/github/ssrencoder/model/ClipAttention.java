package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.nn.Linear;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.Scalars;

/**
 * CLIP's multi-head self-attention ({@code CLIPAttention}): {@code q_proj}, {@code k_proj}, {@code v_proj},
 * {@code out_proj}, all with bias; queries are scaled by {@code head_dim^-0.5} before the product. The
 * text tower passes a causal mask, the vision tower none.
 */
public final class ClipAttention extends Module {

    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear outProj;
    private final int heads;
    private final int headDim;
    private final float scale;

    public ClipAttention(int hidden, int heads) {
        this.heads = heads;
        this.headDim = hidden / heads;
        this.scale = (float) Math.pow(headDim, -0.5);
        this.kProj = child("k_proj", new Linear(hidden, hidden, true));
        this.vProj = child("v_proj", new Linear(hidden, hidden, true));
        this.qProj = child("q_proj", new Linear(hidden, hidden, true));
        this.outProj = child("out_proj", new Linear(hidden, hidden, true));
    }

    /** {@code x} [B, S, D] → [B, S, D]; with {@code causal}, position i attends to positions ≤ i only. */
    public NDArray forward(NDArray x, boolean causal) {
        long b = x.getShape().get(0);
        long s = x.getShape().get(1);
        NDArray q = split(Scalars.mul(qProj.forward(x), scale), b, s);
        NDArray k = split(kProj.forward(x), b, s);
        NDArray v = split(vProj.forward(x), b, s);
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2));
        if (causal) {
            scores = scores.add(causalMask(x, s));
        }
        NDArray probs = scores.softmax(-1);
        NDArray out = probs.matMul(v).transpose(0, 2, 1, 3).reshape(b, s, (long) heads * headDim);
        return outProj.forward(out);
    }

    private NDArray split(NDArray t, long b, long s) {
        return t.reshape(b, s, heads, headDim).transpose(0, 2, 1, 3);
    }

    /** 0 on and below the diagonal, the most negative float above it (what transformers adds). */
    private static NDArray causalMask(NDArray like, long s) {
        float[] m = new float[(int) (s * s)];
        for (int i = 0; i < s; i++) {
            for (int j = i + 1; j < s; j++) {
                m[(int) (i * s + j)] = -Float.MAX_VALUE;
            }
        }
        return like.getManager().create(m, new Shape(1, 1, s, s));
    }
}
