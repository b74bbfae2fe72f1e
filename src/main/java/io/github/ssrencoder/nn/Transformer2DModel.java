package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * diffusers' {@code Transformer2DModel} on continuous NCHW input: GroupNorm, {@code proj_in} (1×1 conv, or a
 * linear layer with {@code use_linear_projection}), a stack of {@link BasicTransformerBlock}s over the
 * H·W tokens, {@code proj_out}, and the residual.
 */
public final class Transformer2DModel extends Module {

    private final GroupNorm norm;
    private final Module projIn;
    private final ModuleList<BasicTransformerBlock> blocks;
    private final Module projOut;
    private final boolean linearProjection;

    public Transformer2DModel(int heads, long dimHead, long inChannels, int layers, long crossAttentionDim, int groups,
                              boolean linearProjection, boolean onlyCrossAttention) {
        long inner = heads * dimHead;
        this.linearProjection = linearProjection;
        this.norm = child("norm", new GroupNorm(groups, inChannels, 1e-6f));
        this.projIn = child("proj_in", linearProjection ? new Linear(inChannels, inner, true) : new Conv2d(inChannels, inner, 1, 1, 0, true));
        this.blocks = child("transformer_blocks", new ModuleList<>());
        for (int i = 0; i < layers; i++) {
            blocks.add(new BasicTransformerBlock(inner, heads, dimHead, crossAttentionDim, onlyCrossAttention));
        }
        this.projOut = child("proj_out", linearProjection ? new Linear(inner, inChannels, true) : new Conv2d(inner, inChannels, 1, 1, 0, true));
    }

    public List<BasicTransformerBlock> transformerBlocks() {
        return blocks.items();
    }

    public NDArray forward(NDArray x, NDArray context) {
        return PassTimings.time("transformer other (group norm, proj_in/out, layer norms, residuals)", () -> Scoped.compute(() -> {
            long[] s = x.getShape().getShape();
            long b = s[0];
            long hw = s[2] * s[3];
            NDArray h = norm.forward(x);
            if (linearProjection) {
                h = ((Linear) projIn).forward(h.reshape(b, s[1], hw).transpose(0, 2, 1));
            } else {
                h = ((Conv2d) projIn).forward(h);
                h = h.reshape(b, h.getShape().get(1), hw).transpose(0, 2, 1);
            }
            for (BasicTransformerBlock block : blocks) {
                h = block.forward(h, context);
            }
            long inner = h.getShape().get(2);
            NDArray out;
            if (linearProjection) {
                out = ((Linear) projOut).forward(h).transpose(0, 2, 1).reshape(s);
            } else {
                out = ((Conv2d) projOut).forward(h.transpose(0, 2, 1).reshape(b, inner, s[2], s[3]));
            }
            return out.addi(x);
        }));
    }
}
