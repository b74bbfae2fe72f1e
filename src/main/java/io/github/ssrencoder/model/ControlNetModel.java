package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.io.WeightFiles;
import io.github.ssrencoder.nn.Activations;
import io.github.ssrencoder.nn.Attention;
import io.github.ssrencoder.nn.Conv2d;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.KeyValueCache;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleList;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.nn.Scoped;
import io.github.ssrencoder.nn.TimestepEmbedding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * diffusers' {@code ControlNetModel} (0.23.1 semantics): a copy of the UNet's time embedding, input convolution,
 * down blocks and mid block with their own weights, fed the latents plus an embedding of the control image,
 * whose every skip state and mid output pass through a 1×1 "zero" convolution and become residuals added to
 * the UNet's. Parameter paths equal the keys of {@code diffusion_pytorch_model.safetensors}. Its cross-attentions
 * are plain ones: with SSR subjects they attend over the whole conditioning sequence (text and subject tokens).
 */
public final class ControlNetModel extends Module implements AutoCloseable {

    private final ControlNetConfig config;
    private final Conv2d convIn;
    private final TimestepEmbedding timeEmbedding;
    private final ConditioningEmbedding condEmbedding;
    private final ModuleList<UNetBlocks.Down> downBlocks;
    private final ModuleList<Conv2d> controlDown;
    private final UNetBlocks.Mid midBlock;
    private final Conv2d controlMid;
    private final List<Attention> attentionModules;
    private NDManager ownWeights;

    /** {@code ControlNetConditioningEmbedding}: conv_in, then (conv, stride-2 conv) pairs, then conv_out; SiLU between. */
    static final class ConditioningEmbedding extends Module {
        private final Conv2d convIn;
        private final ModuleList<Conv2d> blocks;
        private final Conv2d convOut;

        ConditioningEmbedding(int imageChannels, List<Integer> channels, long out) {
            this.convIn = child("conv_in", new Conv2d(imageChannels, channels.get(0), 3, 1, 1, true));
            this.blocks = child("blocks", new ModuleList<>());
            for (int i = 0; i < channels.size() - 1; i++) {
                blocks.add(new Conv2d(channels.get(i), channels.get(i), 3, 1, 1, true));
                blocks.add(new Conv2d(channels.get(i), channels.get(i + 1), 3, 2, 1, true));
            }
            this.convOut = child("conv_out", new Conv2d(channels.get(channels.size() - 1), out, 3, 1, 1, true));
        }

        NDArray forward(NDArray image, BiConsumer<String, NDArray> probe) {
            return Scoped.compute(() -> {
                NDArray h = convIn.forward(image);
                probe.accept("conv_in", h);
                h = Activations.silu(h);
                for (int i = 0; i < blocks.size(); i++) {
                    h = blocks.get(i).forward(h);
                    probe.accept("blocks." + i, h);
                    h = Activations.silu(h);
                }
                h = convOut.forward(h);
                probe.accept("conv_out", h);
                return h;
            });
        }
    }

    /** Builds the module tree (no weights) for {@code config}. */
    public ControlNetModel(ControlNetConfig config) {
        this.config = config;
        UNetConfig u = config.unet();
        List<Integer> ch = u.blockOutChannels();
        int n = ch.size();
        long c0 = ch.get(0);
        long temb = 4 * c0;
        this.convIn = child("conv_in", new Conv2d(u.inChannels(), c0, u.convInKernel(), 1, (u.convInKernel() - 1) / 2, true));
        this.timeEmbedding = child("time_embedding", new TimestepEmbedding(c0, temb));
        this.condEmbedding = child("controlnet_cond_embedding",
                new ConditioningEmbedding(config.conditioningChannels(), config.embeddingChannels(), c0));
        this.downBlocks = child("down_blocks", new ModuleList<>());
        this.controlDown = child("controlnet_down_blocks", new ModuleList<>());
        controlDown.add(new Conv2d(c0, c0, 1, 1, 0, true));
        long out = c0;
        for (int i = 0; i < n; i++) {
            long in = out;
            out = ch.get(i);
            boolean last = i == n - 1;
            downBlocks.add(new UNetBlocks.Down(u, i, in, out, temb, u.downBlockTypes().get(i).equals("CrossAttnDownBlock2D"), !last));
            int skips = u.layersPerBlock().get(i) + (last ? 0 : 1);
            for (int j = 0; j < skips; j++) {
                controlDown.add(new Conv2d(out, out, 1, 1, 0, true));
            }
        }
        this.midBlock = child("mid_block", new UNetBlocks.Mid(u, ch.get(n - 1), temb));
        this.controlMid = child("controlnet_mid_block", new Conv2d(ch.get(n - 1), ch.get(n - 1), 1, 1, 0, true));
        Map<String, Attention> attention = new LinkedHashMap<>();
        UNet2DCondition.collectAttention("", this, attention);
        this.attentionModules = List.copyOf(attention.values());
    }

    /**
     * Reads {@code folder/config.json}, builds the network and loads {@code diffusion_pytorch_model.*} (float32
     * or float16 files) into {@code weights}; on any failure nothing stays loaded.
     */
    public static ControlNetModel load(Path folder, NDManager weights) {
        ControlNetModel net = new ControlNetModel(readConfig(folder));
        NDManager own = weights.newSubManager();
        try (TensorSource source = WeightFiles.openIn(folder, "diffusion_pytorch_model")) {
            ModuleWeights.load(net, source, KeyMapping.identity(), own, "ControlNet", EngineRuntime.computeType(weights.getDevice()));
        } catch (RuntimeException | Error e) {
            own.close();
            net.clearParameters();
            throw e;
        }
        net.ownWeights = own;
        return net;
    }

    /** Frees the weights {@link #load} read (a no-op for a network whose weights were bound otherwise). */
    @Override
    public void close() {
        if (ownWeights != null) {
            ownWeights.close();
            ownWeights = null;
            clearParameters();
        }
    }

    private static ControlNetConfig readConfig(Path folder) {
        if (!Files.isDirectory(folder)) {
            throw WeightFileException.of(folder, "ControlNet folder not found (expected a diffusers ControlNet folder with "
                    + "config.json and diffusion_pytorch_model.safetensors)");
        }
        Path configFile = folder.resolve("config.json");
        if (!Files.isRegularFile(configFile)) {
            throw WeightFileException.of(configFile, "missing: a diffusers ControlNet folder has config.json beside "
                    + "diffusion_pytorch_model.safetensors");
        }
        return ControlNetConfig.read(configFile);
    }

    /**
     * Checks a ControlNet folder without loading it: the config, and the weight file's keys and shapes against the
     * network the config describes (from the file's header). Returns the config.
     *
     * @throws WeightFileException naming the file and what does not fit
     */
    public static ControlNetConfig check(Path folder) {
        ControlNetConfig config = readConfig(folder);
        try (TensorSource source = WeightFiles.openIn(folder, "diffusion_pytorch_model")) {
            ModuleWeights.plan(new ControlNetModel(config), source, KeyMapping.identity()).requireComplete("ControlNet");
        }
        return config;
    }

    public ControlNetConfig config() {
        return config;
    }

    /** Number of down residuals (= the UNet's skip connections). */
    public int numDownResiduals() {
        return controlDown.size();
    }

    /** See {@link UNet2DCondition#setKeyValueCache}. */
    public void setKeyValueCache(KeyValueCache cache) {
        attentionModules.forEach(a -> a.setKeyValueCache(cache));
    }

    /** The type the weights are held and computed in. */
    public DataType computeType() {
        return convIn.namedParameters().get("weight").get().getDataType();
    }

    /** As {@link #forward(NDArray, float, NDArray, NDArray, float, BiConsumer)} without probe. */
    public ControlResiduals forward(NDArray sample, float timestep, NDArray encoderHiddenStates, NDArray controlImage, float scale) {
        return forward(sample, timestep, encoderHiddenStates, controlImage, scale, null);
    }

    /**
     * The residuals for the UNet.
     *
     * @param sampleIn       the UNet's input [B, C, h, w]
     * @param encoderHiddenStatesIn the UNet's conditioning [B, S, cross_attention_dim]
     * @param controlImageIn prepared control image [B, 3, H, W] in [0, 1], channels R, G, B ({@link ControlImageProcessor})
     * @param scale          conditioning scale, multiplies every residual (a float32 product)
     * @param probe          receives intermediates under diffusers' names ({@code time_embedding}, {@code conv_in},
     *                       {@code cond_embedding.blocks.1}, {@code down_blocks.0}, {@code mid_block}, {@code raw_down.3},
     *                       {@code raw_mid}); may be null
     * @return float32 residuals owned by the caller's scope
     */
    public ControlResiduals forward(NDArray sampleIn, float timestep, NDArray encoderHiddenStatesIn, NDArray controlImageIn,
                                   float scale, BiConsumer<String, NDArray> probe) {
        UNetConfig u = config.unet();
        long[] s = sampleIn.getShape().getShape();
        long[] c = controlImageIn.getShape().getShape();
        int f = config.embeddingDownscale();
        if (s.length != 4 || s[1] != u.inChannels()) {
            throw new IllegalArgumentException("ControlNet sample must be [B, " + u.inChannels() + ", h, w], got " + sampleIn.getShape());
        }
        if (c.length != 4 || c[0] != s[0] || c[1] != config.conditioningChannels()
                || (c[2] + f - 1) / f != s[2] || (c[3] + f - 1) / f != s[3]) {
            throw new IllegalArgumentException("control image must be [" + s[0] + ", " + config.conditioningChannels() + ", "
                    + s[2] * f + ", " + s[3] * f + "] for latents " + sampleIn.getShape() + ", got " + controlImageIn.getShape());
        }
        BiConsumer<String, NDArray> p = probe == null ? (k, v) -> { } : probe;
        DataType type = computeType();
        NDList out = Scoped.computeList(() -> {
            NDArray sample = UNet2DCondition.typed(sampleIn, type);
            NDArray context = UNet2DCondition.typed(encoderHiddenStatesIn, type);
            NDArray image = UNet2DCondition.typed(controlImageIn, type);
            if (config.bgr()) {
                image = image.flip(1);
            }
            NDArray tProj = TimestepEmbedding.sinusoidal(sample.getManager(), timestep, (int) s[0],
                    u.blockOutChannels().get(0), u.flipSinToCos(), u.freqShift()).toType(type, false);
            NDArray temb = timeEmbedding.forward(tProj);
            p.accept("time_embedding", temb);
            NDArray h = convIn.forward(u.centerInputSample() ? sample.mul(2).subi(1) : sample);
            p.accept("conv_in", h);
            h = h.add(condEmbedding.forward(image, (k, v) -> p.accept("cond_embedding." + k, v)));
            List<NDArray> skips = new ArrayList<>();
            skips.add(h);
            for (int i = 0; i < downBlocks.size(); i++) {
                h = downBlocks.get(i).forward(h, temb, context, skips);
                p.accept("down_blocks." + i, h);
            }
            h = midBlock.forward(h, temb, context);
            p.accept("mid_block", h);
            NDList residuals = new NDList();
            for (int j = 0; j < skips.size(); j++) {
                NDArray raw = controlDown.get(j).forward(skips.get(j));
                p.accept("raw_down." + j, raw);
                residuals.add(UNet2DCondition.typed(raw.mul(scale), DataType.FLOAT32));
            }
            NDArray rawMid = controlMid.forward(h);
            p.accept("raw_mid", rawMid);
            residuals.add(UNet2DCondition.typed(rawMid.mul(scale), DataType.FLOAT32));
            return residuals;
        });
        return new ControlResiduals(out.subNDList(0, out.size() - 1), out.get(out.size() - 1));
    }
}
