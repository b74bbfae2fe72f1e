package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * diffusers' {@code TransformerTemporalModel}, one AnimateDiff motion module: attention along the frame axis,
 * independently at every pixel. The GroupNorm runs on the 5-D video [B, C, F, h, w], so its statistics span
 * all frames of a video (unlike the spatial layers, which see each frame alone); then {@code proj_in}, the
 * {@link TemporalTransformerBlock}s over sequences of frames, {@code proj_out} and the residual.
 */
public final class TransformerTemporalModel extends Module {

    private final GroupNorm norm;
    private final Linear projIn;
    private final ModuleList<TemporalTransformerBlock> blocks;
    private final Linear projOut;

    /**
     * @param channels    input channels (also the inner width: head width = channels / heads)
     * @param heads       attention heads
     * @param groups      GroupNorm groups
     * @param maxLength   longest frame sequence (the positional table's rows)
     * @param storedTable whether the positional table is read from the checkpoint
     */
    public TransformerTemporalModel(long channels, int heads, int groups, int maxLength, int layers, boolean storedTable) {
        if (channels % heads != 0) {
            throw new IllegalArgumentException(channels + " channels are not divisible by " + heads + " motion attention heads");
        }
        this.norm = child("norm", new GroupNorm(groups, channels, 1e-6f));
        this.projIn = child("proj_in", new Linear(channels, channels, true));
        this.blocks = child("transformer_blocks", new ModuleList<>());
        for (int i = 0; i < layers; i++) {
            blocks.add(new TemporalTransformerBlock(channels, heads, maxLength, storedTable));
        }
        this.projOut = child("proj_out", new Linear(channels, channels, true));
    }

    public List<TemporalTransformerBlock> transformerBlocks() {
        return blocks.items();
    }

    /** Computes positional tables the checkpoint does not store, into the weights' {@code manager}. */
    public void computePositions(NDManager manager) {
        blocks.forEach(b -> b.computePositions(manager));
    }

    /**
     * @param x      [B·F, C, h, w], frame index fastest (row b·F + f)
     * @param frames F
     * @param probe  receives {@code proj_in.output} [B·h·w, F, C] and
     *               {@code transformer_blocks.K.pos_embed_attn1.output}, or {@code null}
     * @return [B·F, C, h, w]
     */
    public NDArray forward(NDArray x, int frames, BiConsumer<String, NDArray> probe) {
        return Scoped.compute(() -> {
            long[] s = x.getShape().getShape();
            if (s[0] % frames != 0) {
                throw new IllegalArgumentException("a batch of " + s[0] + " is not a whole number of " + frames + "-frame videos");
            }
            long b = s[0] / frames;
            long c = s[1];
            long h = s[2];
            long w = s[3];
            NDArray video = x.reshape(b, frames, c, h, w).transpose(0, 2, 1, 3, 4);
            NDArray normed = norm.forward(video);
            NDArray seq = projIn.forward(normed.transpose(0, 3, 4, 2, 1).reshape(b * h * w, frames, c));
            if (probe != null) {
                probe.accept("proj_in.output", seq);
            }
            for (int i = 0; i < blocks.size(); i++) {
                String prefix = "transformer_blocks." + i + ".";
                seq = blocks.get(i).forward(seq, probe == null ? null : (k, v) -> probe.accept(prefix + k, v));
            }
            NDArray out = projOut.forward(seq).reshape(b, h, w, frames, c).transpose(0, 3, 4, 1, 2).reshape(s);
            return out.addi(x);
        });
    }
}
