package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.function.BiConsumer;

/**
 * diffusers' {@code BasicTransformerBlock} as AnimateDiff's motion modules build it: sinusoidal positional
 * embeddings ({@code pos_embed}) added to the normed input before each attention, and two self-attentions
 * over the sequence ({@code double_self_attention}: {@code attn2} never sees encoder states), then the GEGLU
 * feed-forward. Input [N, L, dim] with L the frames.
 */
public final class TemporalTransformerBlock extends Module {

    private final LayerNorm norm1;
    private final Attention attn1;
    private final LayerNorm norm2;
    private final Attention attn2;
    private final LayerNorm norm3;
    private final FeedForward ff;
    private final SinusoidalPositions positions;

    /**
     * @param maxLength    rows of the positional table ({@code num_positional_embeddings})
     * @param storedTable  whether the table is a weight of the checkpoint ({@code pos_embed.pe}, a persistent buffer
     *                     in diffusers 0.23.1) rather than computed here
     */
    public TemporalTransformerBlock(long dim, int heads, int maxLength, boolean storedTable) {
        this.positions = child("pos_embed", new SinusoidalPositions(dim, maxLength, storedTable));
        this.norm1 = child("norm1", new LayerNorm(dim, 1e-5f));
        this.attn1 = child("attn1", new Attention(dim, dim, heads, dim / heads, false, null, false));
        this.norm2 = child("norm2", new LayerNorm(dim, 1e-5f));
        this.attn2 = child("attn2", new Attention(dim, dim, heads, dim / heads, false, null, false));
        this.norm3 = child("norm3", new LayerNorm(dim, 1e-5f));
        this.ff = child("ff", new FeedForward(dim, 4 * dim));
    }

    public Attention attn1() {
        return attn1;
    }

    public Attention attn2() {
        return attn2;
    }

    public int maxLength() {
        return positions.maxLength;
    }

    /** When the table is not a checkpoint weight: computes it into {@code manager} (the weights' manager). */
    public void computePositions(NDManager manager) {
        positions.computeTable(manager);
    }

    /**
     * @param x     [N, L, dim], L ≤ {@link #maxLength()}
     * @param probe receives {@code pos_embed_attn1.output} (the input of attn1), or {@code null}
     */
    public NDArray forward(NDArray x, BiConsumer<String, NDArray> probe) {
        return Scoped.compute(() -> {
            NDArray n = positions.add(norm1.forward(x));
            if (probe != null) {
                probe.accept("pos_embed_attn1.output", n);
            }
            NDArray h = attn1.forward(n, null).addi(x);
            h = attn2.forward(positions.add(norm2.forward(h)), null).addi(h);
            return ff.forward(norm3.forward(h)).addi(h);
        });
    }

    /**
     * diffusers' {@code SinusoidalPositionalEmbedding}: {@code pe[0, p, 2i] = sin(p·exp(2i·(−ln 10000/dim)))},
     * {@code pe[0, p, 2i+1] = cos(…)}, added to the first L rows of a sequence.
     */
    static final class SinusoidalPositions extends Module {
        private final Parameter stored;
        private final long dim;
        private final int maxLength;
        private NDArray computed;

        SinusoidalPositions(long dim, int maxLength, boolean storedTable) {
            this.dim = dim;
            this.maxLength = maxLength;
            this.stored = storedTable ? param("pe", 1, maxLength, dim) : null;
        }

        NDArray add(NDArray x) {
            long length = x.getShape().get(1);
            if (length > maxLength) {
                throw new IllegalArgumentException(length + " frames exceed the motion modules' positional table of "
                        + maxLength + " (motion_max_seq_length)");
            }
            NDArray table = stored != null ? stored.get() : computed;
            if (table == null) {
                throw new IllegalStateException("positional table not computed: weights not loaded");
            }
            NDArray rows = table.get(new NDIndex(":, :{}, :", length));
            return x.add(rows.getDataType() == x.getDataType() ? rows : rows.toType(x.getDataType(), false));
        }

        /** Computes the table into {@code manager} when the checkpoint does not store it. */
        void computeTable(NDManager manager) {
            if (stored != null) {
                return;
            }
            float[] pe = new float[(int) (maxLength * dim)];
            float step = (float) (-Math.log(10000.0) / dim);
            for (int p = 0; p < maxLength; p++) {
                for (int i = 0; 2 * i < dim; i++) {
                    float arg = p * (float) Math.exp(2 * i * step);
                    pe[(int) (p * dim) + 2 * i] = (float) Math.sin(arg);
                    if (2 * i + 1 < dim) {
                        pe[(int) (p * dim) + 2 * i + 1] = (float) Math.cos(arg);
                    }
                }
            }
            computed = manager.create(pe, new Shape(1, maxLength, dim));
        }
    }
}
