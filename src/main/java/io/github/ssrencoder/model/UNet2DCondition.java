package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFiles;
import io.github.ssrencoder.nn.Activations;
import io.github.ssrencoder.nn.Attention;
import io.github.ssrencoder.nn.Autograd;
import io.github.ssrencoder.nn.AttentionListener;
import io.github.ssrencoder.nn.Conv2d;
import io.github.ssrencoder.nn.GroupNorm;
import io.github.ssrencoder.nn.KeyValueCache;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleList;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.nn.Scalars;
import io.github.ssrencoder.nn.Scoped;
import io.github.ssrencoder.nn.TimestepEmbedding;
import io.github.ssrencoder.nn.TransformerTemporalModel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Stable Diffusion's noise-prediction network, diffusers' {@code UNet2DConditionModel} (0.23.1 semantics) for
 * the SD1.x/2.x topology, built from {@code unet/config.json}. Parameter paths equal the checkpoint keys of
 * {@code diffusion_pytorch_model.safetensors}. Every cross-attention can carry SSR-Encoder's extra subject
 * key/value pair ({@link SsrLayers}).
 */
public final class UNet2DCondition extends Module {

    private final UNetConfig config;
    private final Conv2d convIn;
    private final TimestepEmbedding timeEmbedding;
    private final ModuleList<UNetBlocks.Down> downBlocks;
    private final ModuleList<UNetBlocks.Up> upBlocks;
    private final UNetBlocks.Mid midBlock;
    private final GroupNorm convNormOut;
    private final Conv2d convOut;
    private final Map<String, Attention> attentionModules;

    /** Builds the module tree (no weights) for {@code config}. */
    public UNet2DCondition(UNetConfig config) {
        this.config = config;
        List<Integer> ch = config.blockOutChannels();
        int n = ch.size();
        long c0 = ch.get(0);
        long temb = 4 * c0;
        this.convIn = child("conv_in", new Conv2d(config.inChannels(), c0, config.convInKernel(), 1, (config.convInKernel() - 1) / 2, true));
        this.timeEmbedding = child("time_embedding", new TimestepEmbedding(c0, temb));
        // Registration order down_blocks, up_blocks, mid_block is diffusers' and fixes the order of attn_processors.
        this.downBlocks = child("down_blocks", new ModuleList<>());
        this.upBlocks = child("up_blocks", new ModuleList<>());
        long out = c0;
        for (int i = 0; i < n; i++) {
            long in = out;
            out = ch.get(i);
            downBlocks.add(new UNetBlocks.Down(config, i, in, out, temb,
                    config.downBlockTypes().get(i).equals("CrossAttnDownBlock2D"), i < n - 1));
        }
        this.midBlock = child("mid_block", new UNetBlocks.Mid(config, ch.get(n - 1), temb));
        long prevOut;
        out = ch.get(n - 1);
        for (int i = 0; i < n; i++) {
            prevOut = out;
            out = ch.get(n - 1 - i);
            long in = ch.get(Math.max(n - 2 - i, 0));
            upBlocks.add(new UNetBlocks.Up(config, i, in, out, prevOut, temb,
                    config.upBlockTypes().get(i).equals("CrossAttnUpBlock2D"), i < n - 1));
        }
        this.convNormOut = child("conv_norm_out", new GroupNorm(config.normNumGroups(), c0, config.normEps()));
        this.convOut = child("conv_out", new Conv2d(c0, config.outChannels(), config.convOutKernel(), 1, (config.convOutKernel() - 1) / 2, true));
        Map<String, Attention> attn = new LinkedHashMap<>();
        collectAttention("", this, attn);
        this.attentionModules = java.util.Collections.unmodifiableMap(attn);
    }

    static void collectAttention(String prefix, Module m, Map<String, Attention> out) {
        for (Map.Entry<String, Module> e : m.children().entrySet()) {
            String path = prefix + e.getKey();
            if (e.getValue() instanceof Attention a) {
                out.put(path, a);
            }
            collectAttention(path + ".", e.getValue(), out);
        }
    }

    /**
     * Reads {@code unet/config.json}, builds the network and loads {@code diffusion_pytorch_model.*} into
     * {@code weights} (float32 whatever the file's float type).
     */
    public static UNet2DCondition load(Path unetFolder, NDManager weights) {
        UNet2DCondition unet = new UNet2DCondition(UNetConfig.read(unetFolder.resolve("config.json")));
        try (TensorSource source = WeightFiles.openIn(unetFolder, "diffusion_pytorch_model")) {
            ModuleWeights.load(unet, source, KeyMapping.identity(), weights, "UNet", EngineRuntime.computeType(weights.getDevice()));
        }
        return unet;
    }

    public UNetConfig config() {
        return config;
    }

    /**
     * Every attention module by dotted path, in the order of diffusers' {@code unet.attn_processors}
     * (down blocks, up blocks, then the mid block; attn1 before attn2).
     */
    public Map<String, Attention> attentionModules() {
        return attentionModules;
    }

    /** Sends the attention probabilities of every attention module to {@code listener} ({@code null} to stop). */
    public void setAttentionListener(AttentionListener listener) {
        attentionModules.forEach((name, a) -> a.setListener(name, listener));
    }

    /** Bounds the attention score memory of every attention module (see {@link Attention#setMaxScoreElements}). */
    public void setMaxAttentionScoreElements(long maxElements) {
        attentionModules.values().forEach(a -> a.setMaxScoreElements(maxElements));
    }

    /**
     * Reuses the cross-attention keys and values of unchanged encoder states across calls (a denoising loop);
     * {@code null} stops. The caller closes the cache. Encoder states are recognised by identity: pass the same
     * array at every step, already in {@link #computeType()}.
     */
    public void setKeyValueCache(KeyValueCache cache) {
        attentionModules.values().forEach(a -> a.setKeyValueCache(cache));
    }

    /** Attaches SSR subject conditioning to every cross-attention (see {@link SsrLayers#attach}). */
    public void setSsr(SsrLayers layers, float scale, int textContextLength) {
        layers.attach(this, scale, textContextLength);
    }

    /** Removes SSR subject conditioning: a plain Stable Diffusion UNet again. */
    public void clearSsr() {
        SsrLayers.detach(this);
    }

    /** The type the weights are held and computed in (float16 on CUDA, see {@link EngineRuntime#computeType}). */
    public DataType computeType() {
        return convIn.namedParameters().get("weight").get().getDataType();
    }

    /** {@code x} in {@code type}: itself when it already is, so that callers' arrays keep their identity. */
    public static NDArray typed(NDArray x, DataType type) {
        return x.getDataType() == type ? x : x.toType(type, false);
    }

    /**
     * Predicts the noise.
     *
     * @param sample               latents [B, in_channels, h, w] (any h, w)
     * @param timestep             diffusion timestep (fractional values allowed)
     * @param encoderHiddenStates  [B, S, cross_attention_dim]
     * @return [B, out_channels, h, w]
     */
    public NDArray forward(NDArray sample, float timestep, NDArray encoderHiddenStates) {
        return forward(sample, timestep, encoderHiddenStates, null);
    }

    /**
     * As {@link #forward(NDArray, float, NDArray)}, handing intermediate states to {@code probe} under diffusers'
     * names ({@code time_proj}, {@code down_blocks.0.hidden_states}, {@code down_blocks.0.res_samples.1},
     * {@code mid_block}, {@code up_blocks.2}, {@code conv_norm_out}, …); the arrays are only valid during the call.
     */
    public NDArray forward(NDArray sampleIn, float timestep, NDArray encoderHiddenStatesIn, BiConsumer<String, NDArray> probe) {
        return forward(sampleIn, timestep, encoderHiddenStatesIn, null, probe);
    }

    /**
     * As {@link #forward(NDArray, float, NDArray, BiConsumer)} with ControlNet residuals (or {@code null}): after all
     * down blocks each skip connection gets its residual (the mid block's input stays the plain last down output),
     * and the mid block's output gets the mid residual.
     */
    public NDArray forward(NDArray sampleIn, float timestep, NDArray encoderHiddenStatesIn, ControlResiduals control,
                           BiConsumer<String, NDArray> probe) {
        return forward(sampleIn, timestep, encoderHiddenStatesIn, control, null, probe);
    }

    /**
     * As {@link #forward(NDArray, float, NDArray, ControlResiduals, BiConsumer)} with feature caching across steps
     * ({@code cache} may be {@code null}): on a step the cache marks as reusing, only the shallow branch runs on the
     * cached deep features ({@code control} and the probe's deep names are then unused); on a full step the deep
     * features and the shallow ControlNet residuals are kept for the next steps.
     */
    public NDArray forward(NDArray sampleIn, float timestep, NDArray encoderHiddenStatesIn, ControlResiduals control,
                           DeepFeatureCache cache, BiConsumer<String, NDArray> probe) {
        long[] s = sampleIn.getShape().getShape();
        if (s.length != 4 || s[1] != config.inChannels()) {
            throw new IllegalArgumentException("UNet sample must be [B, " + config.inChannels() + ", h, w], got " + sampleIn.getShape());
        }
        long[] e = encoderHiddenStatesIn.getShape().getShape();
        if (e.length != 3 || e[0] != s[0] || e[2] != config.crossAttentionDim()) {
            throw new IllegalArgumentException("encoder hidden states must be [" + s[0] + ", S, " + config.crossAttentionDim()
                    + "], got " + encoderHiddenStatesIn.getShape());
        }
        DataType type = computeType();
        return Scoped.compute(() -> typed(run(typed(sampleIn, type), timestep, typed(encoderHiddenStatesIn, type), control, cache,
                probe, 1, null), DataType.FLOAT32));
    }

    /**
     * Predicts the noise of videos as diffusers' {@code UNetMotionModel} (AnimateDiff) built from this UNet and
     * {@code motion}: every 2-D layer runs on each frame, sharing the video's time embedding and encoder states,
     * and a motion module follows each layer of each block. As in {@code UNetMotionModel} the time projection is
     * {@code flip_sin_to_cos = true, freq_shift = 0} and the input is not centred, whatever this UNet's config says.
     *
     * @param sampleIn  latents [B, in_channels, F, h, w] (channels before frames)
     * @param encoderHiddenStatesIn [B, S, cross_attention_dim], one row per video
     * @param motion    motion modules loaded for this UNet's config
     * @param probe     receives the states of {@link #forward(NDArray, float, NDArray, BiConsumer)} (with B·F rows,
     *                  frame fastest) and {@code motion.<module>.input}, {@code .output}, {@code .proj_in.output},
     *                  {@code .transformer_blocks.0.pos_embed_attn1.output} of every motion module; or {@code null}
     * @return [B, out_channels, F, h, w]
     */
    public NDArray forwardVideo(NDArray sampleIn, float timestep, NDArray encoderHiddenStatesIn, MotionAdapter motion,
                                BiConsumer<String, NDArray> probe) {
        long[] s = sampleIn.getShape().getShape();
        if (s.length != 5 || s[1] != config.inChannels()) {
            throw new IllegalArgumentException("video latents must be [B, " + config.inChannels() + ", frames, h, w], got "
                    + sampleIn.getShape());
        }
        long[] e = encoderHiddenStatesIn.getShape().getShape();
        if (e.length != 3 || e[0] != s[0] || e[2] != config.crossAttentionDim()) {
            throw new IllegalArgumentException("encoder hidden states must be [" + s[0] + ", S, " + config.crossAttentionDim()
                    + "] (one row per video), got " + encoderHiddenStatesIn.getShape());
        }
        if (!motion.unetConfig().equals(config)) {
            throw new IllegalArgumentException("the motion adapter was loaded for another UNet");
        }
        int frames = (int) s[2];
        if (frames > motion.maxFrames()) {
            throw new IllegalArgumentException(frames + " frames exceed the motion adapter's " + motion.maxFrames()
                    + " (motion_max_seq_length)");
        }
        DataType type = computeType();
        attentionModules.forEach((name, a) -> a.setHeads(motion.spatialHeads().get(blockOf(name))));
        try {
            return video(sampleIn, timestep, encoderHiddenStatesIn, motion, probe, s, frames, type);
        } finally {
            attentionModules.values().forEach(Attention::resetHeads);
        }
    }

    /** The down-block index whose config governs the attention module {@code name}. */
    private int blockOf(String name) {
        int n = config.numBlocks();
        if (name.startsWith("mid_block.")) {
            return n - 1;
        }
        int index = Integer.parseInt(name.split("\\.")[1]);
        return name.startsWith("up_blocks.") ? n - 1 - index : index;
    }

    private NDArray video(NDArray sampleIn, float timestep, NDArray encoderHiddenStatesIn, MotionAdapter motion,
                          BiConsumer<String, NDArray> probe, long[] s, int frames, DataType type) {
        return Scoped.compute(() -> {
            NDArray perFrame = typed(sampleIn, type).transpose(0, 2, 1, 3, 4).reshape(s[0] * frames, s[1], s[3], s[4]);
            NDArray out = run(perFrame, timestep, typed(encoderHiddenStatesIn, type), null, null, probe, frames, motion);
            long[] o = out.getShape().getShape();
            return typed(out.reshape(s[0], frames, o[1], o[2], o[3]).transpose(0, 2, 1, 3, 4), DataType.FLOAT32).duplicate();
        });
    }

    /**
     * The layers on [rows, C, h, w]; {@code frames} consecutive rows form a video when {@code motion} is set;
     * {@code cache} (or null) as in {@link #forward(NDArray, float, NDArray, ControlResiduals, DeepFeatureCache, BiConsumer)}.
     */
    private NDArray run(NDArray sample, float timestep, NDArray encoderHiddenStates, ControlResiduals control,
                        DeepFeatureCache cache, BiConsumer<String, NDArray> probe, int frames, MotionAdapter motion) {
        long[] s = sample.getShape().getShape();
        BiConsumer<String, NDArray> p = probe == null ? (k, v) -> { } : probe;
        DataType type = computeType();
        int upFactor = 1 << (config.numBlocks() - 1);
        boolean explicitUpsampleSize = s[2] % upFactor != 0 || s[3] % upFactor != 0;
        boolean video = motion != null;
        NDArray x = !video && config.centerInputSample() ? Scalars.mul(sample, 2).subi(1) : sample;
        NDArray tProj = TimestepEmbedding.sinusoidal(sample.getManager(), timestep, (int) s[0],
                config.blockOutChannels().get(0), video || config.flipSinToCos(), video ? 0f : config.freqShift()).toType(type, false);
        p.accept("time_proj", tProj);
        NDArray temb = timeEmbedding.forward(tProj);
        p.accept("time_embedding", temb);
        NDArray h = convIn.forward(x);
        p.accept("conv_in", h);
        List<NDArray> skips = new ArrayList<>();
        skips.add(h);
        if (cache != null && cache.reusing()) {
            return shallowBranch(h, temb, encoderHiddenStates, skips, cache, p);
        }
        for (int i = 0; i < downBlocks.size(); i++) {
            int before = skips.size();
            h = downBlocks.get(i).forward(h, temb, encoderHiddenStates, skips,
                    video ? temporal(motion.down(i), "down_blocks." + i, frames, probe) : null);
            p.accept("down_blocks." + i + ".hidden_states", h);
            for (int j = before; j < skips.size(); j++) {
                p.accept("down_blocks." + i + ".res_samples." + (j - before), skips.get(j));
            }
        }
        h = midBlock.forward(h, temb, encoderHiddenStates,
                video && !motion.mid().isEmpty() ? temporal(motion.mid(), "mid_block", frames, probe) : null);
        if (control != null) {
            if (control.down().size() != skips.size()) {
                throw new IllegalArgumentException("ControlNet gives " + control.down().size() + " residuals for the UNet's "
                        + skips.size() + " skip connections");
            }
            for (int j = 0; j < skips.size(); j++) {
                skips.set(j, skips.get(j).add(typed(control.down().get(j), type)));
            }
            h = h.add(typed(control.mid(), type));
        }
        if (cache != null) {
            cache.keepControlResiduals(control == null ? null
                    : control.down().subList(0, SHALLOW_SKIPS).stream().map(r -> typed(r, type)).toList());
        }
        p.accept("mid_block", h);
        Deque<NDArray> remaining = new ArrayDeque<>(skips);
        for (int i = 0; i < upBlocks.size(); i++) {
            UNetBlocks.Up block = upBlocks.get(i);
            long[] upsampleSize = upsampleSize(i, remaining, explicitUpsampleSize);
            BiConsumer<Integer, NDArray> onEnter = cache != null && i == upBlocks.size() - 1
                    ? (layer, state) -> {
                        if (layer == cachedLayer()) {
                            cache.keepFeature(state);
                        }
                    }
                    : (layer, state) -> { };
            h = block.forwardFrom(0, h, temb, encoderHiddenStates, remaining, upsampleSize, onEnter,
                    video ? temporal(motion.up(i), "up_blocks." + i, frames, probe) : null);
            p.accept("up_blocks." + i, h);
        }
        return output(h, p);
    }

    /** The motion modules of one block as the block's per-layer hook, reporting to {@code probe} when set. */
    private static UNetBlocks.Temporal temporal(List<TransformerTemporalModel> modules, String block, int frames,
                                                BiConsumer<String, NDArray> probe) {
        return (layer, h) -> {
            String name = "motion." + block + ".motion_modules." + layer;
            if (probe == null) {
                return modules.get(layer).forward(h, frames, null);
            }
            probe.accept(name + ".input", h);
            NDArray out = modules.get(layer).forward(h, frames, (k, v) -> probe.accept(name + "." + k, v));
            probe.accept(name + ".output", out);
            return out;
        };
    }

    /**
     * The output size of up block {@code i}'s up-sampler: that of the skip state the next block takes first, when the
     * latent size is not a multiple of the UNet's total down-sampling ({@code explicit}); otherwise null (2×).
     */
    private long[] upsampleSize(int i, Deque<NDArray> remaining, boolean explicit) {
        if (i == upBlocks.size() - 1 || !explicit) {
            return null;
        }
        List<NDArray> left = new ArrayList<>(remaining);
        long[] skipShape = left.get(left.size() - 1 - upBlocks.get(i).numResnets()).getShape().getShape();
        return new long[] {skipShape[2], skipShape[3]};
    }

    /** Skip connections the shallow branch recomputes: {@code conv_in}'s output and the first down block's first layer. */
    private static final int SHALLOW_SKIPS = 2;

    /** The resnet of the last up block whose input is the cached deep feature: the one taking the first layer's skip. */
    private int cachedLayer() {
        return upBlocks.get(upBlocks.size() - 1).numResnets() - SHALLOW_SKIPS;
    }

    /** The shallow branch of a cached step, from {@code conv_in}'s output {@code h} (already the first skip). */
    private NDArray shallowBranch(NDArray h, NDArray temb, NDArray context, List<NDArray> skips, DeepFeatureCache cache,
                                  BiConsumer<String, NDArray> p) {
        long[] kept = cache.featureShape();
        long[] now = h.getShape().getShape();
        if (kept[0] != now[0] || kept[2] != now[2] || kept[3] != now[3]) {
            throw new IllegalStateException("the cached UNet features " + java.util.Arrays.toString(kept)
                    + " are of another batch or size than this step's " + h.getShape());
        }
        downBlocks.get(0).forwardLayers(h, temb, context, skips, SHALLOW_SKIPS - 1, null);
        List<NDArray> residuals = cache.controlResiduals();
        for (int j = 0; j < residuals.size(); j++) {
            skips.set(j, skips.get(j).add(residuals.get(j)));
        }
        UNetBlocks.Up last = upBlocks.get(upBlocks.size() - 1);
        NDArray out = last.forwardFrom(cachedLayer(), cache.feature(), temb, context, new ArrayDeque<>(skips), null,
                (layer, state) -> { }, null);
        p.accept("up_blocks." + (upBlocks.size() - 1), out);
        return output(out, p);
    }

    private NDArray output(NDArray h, BiConsumer<String, NDArray> p) {
        NDArray normed = convNormOut.forward(h);
        p.accept("conv_norm_out", normed);
        NDArray out = convOut.forward(Activations.silu(normed));
        p.accept("conv_out", out);
        return out;
    }

    /**
     * A UNet pass for training with gradient checkpointing: the forward keeps only each block's input (and the skip
     * states), and {@link #backward} recomputes one block at a time under gradient recording, so that the
     * activations of one block, not of the whole UNet, are held for back-propagation. Values and gradients are
     * those of the plain recorded pass.
     */
    public interface Checkpointed {
        /** The UNet output [B, out_channels, h, w] (float32, no graph). */
        NDArray output();

        /**
         * Back-propagates {@code gradOutput} (dL/d output): the trainable weights of the UNet (the SSR layers)
         * receive their gradients, and the gradient with respect to the encoder states is returned.
         */
        NDArray backward(NDArray gradOutput);
    }

    /** {@link #forward(NDArray, float, NDArray)} with gradient checkpointing per block; must run inside a recording. */
    public Checkpointed forwardCheckpointed(NDArray sampleIn, float timestep, NDArray encoderHiddenStatesIn) {
        long[] s = sampleIn.getShape().getShape();
        DataType type = computeType();
        NDArray context = typed(encoderHiddenStatesIn.stopGradient(), type);
        NDArray sample = typed(sampleIn, type);
        int upFactor = 1 << (config.numBlocks() - 1);
        boolean explicitUpsampleSize = s[2] % upFactor != 0 || s[3] % upFactor != 0;
        List<NDArray> downInputs = new ArrayList<>();
        List<Integer> downEnds = new ArrayList<>();
        List<NDArray> upInputs = new ArrayList<>();
        List<long[]> upsampleSizes = new ArrayList<>();
        List<NDArray> skips = new ArrayList<>();
        NDArray[] held = new NDArray[3];
        Autograd.withoutGraph(() -> {
            NDArray x = config.centerInputSample() ? Scalars.mul(sample, 2).subi(1) : sample;
            NDArray tProj = TimestepEmbedding.sinusoidal(sample.getManager(), timestep, (int) s[0],
                    config.blockOutChannels().get(0), config.flipSinToCos(), config.freqShift()).toType(type, false);
            held[0] = timeEmbedding.forward(tProj);
            NDArray h = convIn.forward(x);
            skips.add(h);
            for (int i = 0; i < downBlocks.size(); i++) {
                downInputs.add(h);
                h = downBlocks.get(i).forward(h, held[0], context, skips);
                downEnds.add(skips.size());
            }
            held[1] = h;
            h = midBlock.forward(h, held[0], context);
            Deque<NDArray> remaining = new ArrayDeque<>(skips);
            for (int i = 0; i < upBlocks.size(); i++) {
                UNetBlocks.Up block = upBlocks.get(i);
                long[] upsampleSize = upsampleSize(i, remaining, explicitUpsampleSize);
                upInputs.add(h);
                upsampleSizes.add(upsampleSize);
                h = block.forward(h, held[0], context, remaining, upsampleSize);
            }
            held[2] = h;
            return null;
        });
        NDArray output = Autograd.withoutGraph(() -> typed(convOut.forward(Activations.silu(convNormOut.forward(held[2]))),
                DataType.FLOAT32));
        return new Checkpointed() {
            @Override
            public NDArray output() {
                return output;
            }

            @Override
            public NDArray backward(NDArray gradOutput) {
                NDArray ctx = Autograd.leaf(context);
                NDArray[] skipGrads = new NDArray[skips.size()];
                NDArray a = Autograd.leaf(held[2]);
                Autograd.backward(typed(convOut.forward(Activations.silu(convNormOut.forward(a))), DataType.FLOAT32), gradOutput);
                NDArray g = a.getGradient();
                int used = skips.size();
                for (int i = upBlocks.size() - 1; i >= 0; i--) {
                    UNetBlocks.Up block = upBlocks.get(i);
                    int first = skipsBefore(i);
                    List<NDArray> leaves = new ArrayList<>();
                    for (int j = first; j < first + block.numResnets(); j++) {
                        leaves.add(Autograd.leaf(skips.get(j)));
                    }
                    NDArray in = Autograd.leaf(upInputs.get(i));
                    Autograd.backward(block.forward(in, held[0], ctx, new ArrayDeque<>(leaves), upsampleSizes.get(i)), g);
                    for (int j = 0; j < leaves.size(); j++) {
                        skipGrads[first + j] = leaves.get(j).getGradient();
                    }
                    g = in.getGradient();
                }
                NDArray midIn = Autograd.leaf(held[1]);
                Autograd.backward(midBlock.forward(midIn, held[0], ctx), g);
                g = midIn.getGradient();
                for (int i = downBlocks.size() - 1; i >= 0; i--) {
                    int start = i == 0 ? 1 : downEnds.get(i - 1);
                    int end = downEnds.get(i);
                    NDArray in = Autograd.leaf(downInputs.get(i));
                    List<NDArray> outs = new ArrayList<>();
                    downBlocks.get(i).forward(in, held[0], ctx, outs);
                    NDArray total = null;
                    for (int j = start; j < end; j++) {
                        NDArray gj = skipGrads[j];
                        if (j == end - 1) {
                            gj = gj == null ? g : gj.add(g);
                        }
                        if (gj != null) {
                            NDArray term = outs.get(j - start).mul(gj).sum();
                            total = total == null ? term : total.add(term);
                        }
                    }
                    if (total != null) {
                        Autograd.backward(total, total.getManager().ones(total.getShape(), total.getDataType()));
                    }
                    g = in.hasGradient() ? in.getGradient() : null;
                    if (g == null) {
                        break;
                    }
                }
                return typed(ctx.getGradient(), DataType.FLOAT32);
            }

            /** Index of the first skip state up block {@code i} consumes (they are taken from the end). */
            private int skipsBefore(int i) {
                int n = skips.size();
                for (int k = 0; k <= i; k++) {
                    n -= upBlocks.get(k).numResnets();
                }
                return n;
            }
        };
    }
}
