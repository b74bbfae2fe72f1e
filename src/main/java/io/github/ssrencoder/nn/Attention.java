package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import java.util.function.Supplier;

/**
 * Multi-head attention as diffusers' {@code Attention} with its plain processor: {@code to_q}, {@code to_k},
 * {@code to_v}, {@code to_out.0}, scores {@code softmax(QKᵀ/√dim_head)} per head. Self-attention when no
 * encoder states are given, cross-attention otherwise. Optionally a {@code group_norm} on the input and a
 * residual connection (the VAE's spatial self-attention on NCHW input).
 *
 * <p>An extra key/value projection pair can be set (SSR-Encoder's subject conditioning): encoder states are
 * then {@code [text (textContextLength tokens) ; subject tokens]} and the output is
 * {@code to_out(softmax(sQKₜᵀ)Vₜ + scale·softmax(sQKₛᵀ)Vₛ)}, keys/values of the subject tokens coming from
 * the extra pair.
 */
public final class Attention extends Module {

    /**
     * Default bound on the score elements computed at once (1 Mi floats = 4 MiB). Pieces this small stay
     * below the C allocator's mmap threshold and are reused instead of being page-faulted in afresh, which
     * measured 2–3× faster on CPU than 64 MiB pieces for SD1.5's 4096-token self-attention.
     */
    public static final long DEFAULT_MAX_SCORE_ELEMENTS = 1L << 20;

    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    private final GroupNorm groupNorm;
    private final boolean residual;
    private final int configuredHeads;
    private int heads;
    private long dimHead;
    private float scale;

    private Linear extraK;
    private Linear extraV;
    private float extraScale;
    private int textContextLength;

    private long maxScoreElements = DEFAULT_MAX_SCORE_ELEMENTS;
    private AttentionListener listener;
    private KeyValueCache cache;
    private String name = "";

    /**
     * @param queryDim          channels of the input
     * @param crossAttentionDim channels of the encoder states ({@code queryDim} for self-attention)
     * @param heads             number of heads
     * @param dimHead           channels per head
     * @param qkvBias           whether to_q/to_k/to_v have a bias
     * @param groupNorm         a {@code group_norm} applied to the input, or {@code null}
     * @param residual          whether the input is added to the output
     */
    public Attention(long queryDim, long crossAttentionDim, int heads, long dimHead, boolean qkvBias, GroupNorm groupNorm,
                     boolean residual) {
        long inner = heads * dimHead;
        this.configuredHeads = heads;
        this.heads = heads;
        this.dimHead = dimHead;
        this.scale = (float) (1.0 / Math.sqrt(dimHead));
        this.groupNorm = groupNorm == null ? null : child("group_norm", groupNorm);
        this.toQ = child("to_q", new Linear(queryDim, inner, qkvBias));
        this.toK = child("to_k", new Linear(crossAttentionDim, inner, qkvBias));
        this.toV = child("to_v", new Linear(crossAttentionDim, inner, qkvBias));
        ModuleList<Linear> out = child("to_out", new ModuleList<>());
        this.toOut = out.add(new Linear(inner, queryDim, true));
        this.residual = residual;
    }

    public int heads() {
        return heads;
    }

    public long innerDim() {
        return heads * dimHead;
    }

    /**
     * Splits the same projections into {@code n} heads of {@code innerDim / n} channels (scores scaled by
     * {@code (innerDim / n)^-0.5}) until {@link #resetHeads()}: the weights are those of any head count, and a
     * network built from another config (AnimateDiff's motion UNet) may split them differently.
     */
    public void setHeads(int n) {
        long inner = innerDim();
        if (n < 1 || inner % n != 0) {
            throw new IllegalArgumentException(inner + " attention channels are not divisible into " + n + " heads");
        }
        this.heads = n;
        this.dimHead = inner / n;
        this.scale = (float) (1.0 / Math.sqrt(dimHead));
    }

    /** Back to the head count this module was built with. */
    public void resetHeads() {
        setHeads(configuredHeads);
    }

    /**
     * Adds the extra key/value pair for the tokens after the first {@code textContextLength} encoder tokens.
     * The projections' weights are owned by the caller.
     */
    public void setExtraKeyValue(Linear toKExtra, Linear toVExtra, float scale, int textContextLength) {
        if (toKExtra.outFeatures() != innerDim() || toVExtra.outFeatures() != innerDim()
                || toKExtra.inFeatures() != toVExtra.inFeatures()) {
            throw new IllegalArgumentException("extra key/value projections must map to " + innerDim() + " channels");
        }
        if (textContextLength < 1) {
            throw new IllegalArgumentException("text context length must be positive, got " + textContextLength);
        }
        this.extraK = toKExtra;
        this.extraV = toVExtra;
        this.extraScale = scale;
        this.textContextLength = textContextLength;
    }

    /** Removes the extra key/value pair. */
    public void clearExtraKeyValue() {
        extraK = null;
        extraV = null;
    }

    public boolean hasExtraKeyValue() {
        return extraK != null;
    }

    /**
     * Bounds the size of the score matrices computed at once (batch·heads slices, then query-row chunks).
     * Changes peak memory and speed only.
     */
    public void setMaxScoreElements(long maxElements) {
        if (maxElements < 1) {
            throw new IllegalArgumentException("maximum score elements must be positive, got " + maxElements);
        }
        this.maxScoreElements = maxElements;
    }

    /**
     * Reuses cross-attention keys and values from {@code c} (or computes them at every call when {@code null}).
     * For a generation's denoising loop, whose encoder states stay the same.
     */
    public void setKeyValueCache(KeyValueCache c) {
        this.cache = c;
    }

    /** Hands probabilities to {@code l} (or stops when {@code null}) under the module name {@code moduleName}. */
    public void setListener(String moduleName, AttentionListener l) {
        this.name = moduleName;
        this.listener = l;
    }

    /**
     * @param x       [B, L, queryDim], or [B, C, H, W] when this module has a group norm
     * @param context [B, S, crossAttentionDim] or {@code null} for self-attention; also [B/n, S, crossAttentionDim]
     *                when each group of n consecutive rows (the frames of a video) shares its encoder states
     */
    public NDArray forward(NDArray x, NDArray context) {
        String part = context == null ? "self-attention" : "cross-attention";
        return PassTimings.time(part + " projections", () -> Scoped.compute(() -> {
            boolean spatial = x.getShape().dimension() == 4;
            long[] inShape = x.getShape().getShape();
            NDArray h = x;
            if (spatial) {
                h = h.reshape(inShape[0], inShape[1], inShape[2] * inShape[3]);
                if (groupNorm != null) {
                    h = groupNorm.forward(h);
                }
                h = h.transpose(0, 2, 1);
            } else if (groupNorm != null) {
                h = groupNorm.forward(h.transpose(0, 2, 1)).transpose(0, 2, 1);
            }
            // While gradients are recorded the composed attention is used: the backward of libtorch 2.7.1's fused CPU
            // flash attention was seen to give sporadic NaN gradients.
            boolean fused = listener == null && !Autograd.recording() && TorchKernels.on(x.getDevice());
            NDArray q = toQ.forward(h);
            long[] qShape = q.getShape().getShape();
            if (context != null && context.getShape().get(0) != qShape[0]) {
                // Encoder states shared by consecutive rows (the frames of a video): the softmax runs per query, so
                // those rows' queries attend to their one set of keys as a single longer sequence.
                long shared = context.getShape().get(0);
                if (shared < 1 || qShape[0] % shared != 0) {
                    throw new IllegalArgumentException("encoder states for " + shared + " rows cannot serve " + qShape[0] + " queries rows");
                }
                q = q.reshape(shared, qShape[0] / shared * qShape[1], qShape[2]);
            }
            NDArray ctx = context == null ? h : context;
            NDArray out;
            if (extraK != null && context != null) {
                long s = ctx.getShape().get(1);
                if (s <= textContextLength) {
                    throw new IllegalArgumentException("encoder states have " + s + " tokens; subject conditioning needs more than "
                            + textContextLength + " (text tokens first)");
                }
                NDList kv = keysAndValues(ctx, () -> {
                    NDArray text = ctx.get(new NDIndex(":, :{}, :", textContextLength));
                    NDArray subject = ctx.get(new NDIndex(":, {}:, :", textContextLength));
                    return new NDList(toK.forward(text), toV.forward(text), extraK.forward(subject), extraV.forward(subject));
                });
                NDArray a = core(q, kv.get(0), kv.get(1), part, "text", fused);
                NDArray b = core(q, kv.get(2), kv.get(3), part, "subject", fused);
                // the fused kernel's outputs are kept for its backward: no in-place sum while gradients are recorded
                out = Autograd.recording() ? a.add(Scalars.mul(b, extraScale)) : a.addi(b.muli(extraScale));
            } else {
                NDList kv = keysAndValues(context, () -> new NDList(toK.forward(ctx), toV.forward(ctx)));
                out = core(q, kv.get(0), kv.get(1), part, "text", fused);
            }
            if (out.getShape().get(0) != qShape[0]) {
                out = out.reshape(qShape);
            }
            NDArray y = toOut.forward(out);
            if (spatial) {
                y = y.transpose(0, 2, 1).reshape(inShape);
            }
            if (residual) {
                y = y.addi(x);
            }
            return y;
        }));
    }

    /** Projections of the encoder states, from the key/value cache for cross-attention when one is set. */
    private NDList keysAndValues(NDArray context, Supplier<NDList> compute) {
        KeyValueCache c = cache;
        return c == null || context == null ? compute.get() : c.get(this, context, compute);
    }

    /**
     * The attention of projected queries, keys and values, each [B, L, heads·d], as [B, Lq, heads·d]: through
     * the fused kernel when no listener wants the probabilities, otherwise in bounded pieces.
     */
    private NDArray core(NDArray q, NDArray k, NDArray v, String part, String keys, boolean fused) {
        return PassTimings.time(part + " core", () -> {
            if (!fused) {
                return fromHeads(attend(toHeads(q), toHeads(k), toHeads(v), keys));
            }
            long[] s = q.getShape().getShape();
            FlopCounter.add(2 * s[0] * heads * s[1] * k.getShape().get(1) * dimHead);
            NDArray o = TorchKernels.attention(splitHeads(q), splitHeads(k), splitHeads(v), scale);
            return o.transpose(0, 2, 1, 3).reshape(s[0], s[1], heads * dimHead);
        });
    }

    /** [B, L, heads·d] → a [B, heads, L, d] view. */
    private NDArray splitHeads(NDArray t) {
        long[] s = t.getShape().getShape();
        return t.reshape(s[0], s[1], heads, dimHead).transpose(0, 2, 1, 3);
    }

    /** [B, L, heads·d] → [B·heads, L, d], row b·heads + h. */
    private NDArray toHeads(NDArray t) {
        long[] s = t.getShape().getShape();
        return t.reshape(s[0], s[1], heads, dimHead).transpose(0, 2, 1, 3).reshape(s[0] * heads, s[1], dimHead);
    }

    /** [B·heads, L, d] → [B, L, heads·d]. */
    private NDArray fromHeads(NDArray t) {
        long[] s = t.getShape().getShape();
        return t.reshape(s[0] / heads, heads, s[1], dimHead).transpose(0, 2, 1, 3).reshape(s[0] / heads, s[1], heads * dimHead);
    }

    /**
     * softmax(scale·QKᵀ)·V in pieces so that no score matrix exceeds {@code maxScoreElements}: slices of the
     * batch·heads axis, and when one head alone is too large, chunks of its query rows (the softmax runs over
     * keys, so every query row is independent).
     */
    private NDArray attend(NDArray q, NDArray k, NDArray v, String part) {
        long rows = q.getShape().get(0);
        long lq = q.getShape().get(1);
        long lk = k.getShape().get(1);
        FlopCounter.add(2 * rows * lq * lk * dimHead);
        long perHead = lq * lk;
        if (rows * perHead <= maxScoreElements) {
            return attendSlice(q, k, v, part, 0, 0);
        }
        long rowsPer = Math.max(1, Math.min(rows, maxScoreElements / perHead));
        long queriesPer = rowsPer > 1 ? lq : Math.max(1, Math.min(lq, maxScoreElements / lk));
        NDList slices = new NDList();
        for (long r = 0; r < rows; r += rowsPer) {
            NDIndex rowIdx = new NDIndex("{}:{}", r, Math.min(rows, r + rowsPer));
            long firstRow = r;
            slices.add(Scoped.compute(() -> {
                NDArray qs = q.get(rowIdx);
                NDArray ks = k.get(rowIdx);
                NDArray vs = v.get(rowIdx);
                if (queriesPer >= lq) {
                    return attendSlice(qs, ks, vs, part, (int) firstRow, 0);
                }
                NDList chunks = new NDList();
                for (long start = 0; start < lq; start += queriesPer) {
                    NDIndex queryIdx = new NDIndex(":, {}:{}", start, Math.min(lq, start + queriesPer));
                    long firstQuery = start;
                    chunks.add(Scoped.compute(() -> attendSlice(qs.get(queryIdx), ks, vs, part, (int) firstRow, (int) firstQuery)));
                }
                return NDArrays.concat(chunks, 1);
            }));
        }
        return slices.size() == 1 ? slices.get(0) : NDArrays.concat(slices, 0);
    }

    private NDArray attendSlice(NDArray q, NDArray k, NDArray v, String part, int firstRow, int firstQuery) {
        // Scaling the queries rather than the scores saves a pass over the (large) score matrix.
        NDArray probs = Scalars.mul(q, scale).matMul(k.transpose(0, 2, 1)).softmax(-1);
        if (listener != null) {
            listener.onProbabilities(name, part, firstRow, firstQuery,
                    probs.getDataType() == DataType.FLOAT32 ? probs : probs.toType(DataType.FLOAT32, false));
        }
        return probs.matMul(v);
    }
}
