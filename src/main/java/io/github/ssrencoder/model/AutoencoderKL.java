package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFiles;
import io.github.ssrencoder.nn.Attention;
import io.github.ssrencoder.nn.Conv2d;
import io.github.ssrencoder.nn.Downsample2D;
import io.github.ssrencoder.nn.GroupNorm;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleList;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.nn.ResnetBlock2D;
import io.github.ssrencoder.nn.Scoped;
import io.github.ssrencoder.nn.Upsample2D;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Stable Diffusion's image autoencoder, diffusers' {@code AutoencoderKL} (0.23.1 semantics): the encoder maps
 * an image in [−1, 1] to the mean (and log-variance) of the latent distribution, the decoder maps latents back
 * to an image. Loads both the current attention key names ({@code to_q}, …, {@code to_out.0}) and the older
 * ones ({@code query}, {@code key}, {@code value}, {@code proj_attn}).
 */
public final class AutoencoderKL extends Module {

    /** Renames of the older VAE attention key spelling, applied to whole dotted segments. */
    public static final Map<String, String> DEPRECATED_ATTENTION_NAMES =
            Map.of("query", "to_q", "key", "to_k", "value", "to_v", "proj_attn", "to_out.0");

    private static final float EPS = 1e-6f;

    private final VaeConfig config;
    private final Encoder encoder;
    private final Decoder decoder;
    private final Conv2d quantConv;
    private final Conv2d postQuantConv;

    /** Builds the module tree (no weights) for {@code config}. */
    public AutoencoderKL(VaeConfig config) {
        this.config = config;
        this.encoder = child("encoder", new Encoder(config));
        this.decoder = child("decoder", new Decoder(config));
        long l = config.latentChannels();
        this.quantConv = child("quant_conv", new Conv2d(2 * l, 2 * l, 1, 1, 0, true));
        this.postQuantConv = child("post_quant_conv", new Conv2d(l, l, 1, 1, 0, true));
    }

    /** The key mapping that accepts both attention namings. */
    public static KeyMapping keyMapping() {
        return KeyMapping.identity().withSegmentRenames(DEPRECATED_ATTENTION_NAMES);
    }

    /** Reads {@code vae/config.json}, builds the network and loads its weights into {@code weights} (float32). */
    public static AutoencoderKL load(Path vaeFolder, NDManager weights) {
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.read(vaeFolder.resolve("config.json")));
        try (TensorSource source = WeightFiles.openIn(vaeFolder, "diffusion_pytorch_model")) {
            ModuleWeights.load(vae, source, keyMapping(), weights, "VAE", EngineRuntime.computeType(weights.getDevice()));
        }
        return vae;
    }

    public VaeConfig config() {
        return config;
    }

    /** The factor between unit-variance latents and the VAE's latent space (config {@code scaling_factor}). */
    public float scalingFactor() {
        return config.scalingFactor();
    }

    /**
     * How many image pixels one latent spans per side: 2 to the number of up-sampling blocks, i.e.
     * {@code 2 ** (len(block_out_channels) - 1)} (diffusers' {@code vae_scale_factor}; 8 for Stable Diffusion).
     */
    public int spatialScaleFactor() {
        return 1 << (config.blockOutChannels().size() - 1);
    }

    /**
     * Decodes latents already divided by {@link #scalingFactor()}: [B, latent, h, w] → image [B, out, f·h, f·w]
     * in ≈[−1, 1], f = {@link #spatialScaleFactor()}.
     */
    public NDArray decode(NDArray z) {
        return decode(z, null);
    }

    /** As {@link #decode(NDArray)}, handing intermediates ({@code post_quant_conv}, {@code decoder.up_blocks.0}, …) to {@code probe}. */
    public NDArray decode(NDArray z, BiConsumer<String, NDArray> probe) {
        requireChannels(z, config.latentChannels(), "latents");
        BiConsumer<String, NDArray> p = probe == null ? (k, v) -> { } : probe;
        return Scoped.compute(() -> {
            NDArray h = postQuantConv.forward(UNet2DCondition.typed(z, computeType()));
            p.accept("post_quant_conv", h);
            return UNet2DCondition.typed(decoder.forward(h, p), DataType.FLOAT32);
        });
    }

    /** The mean of the latent distribution of an image [B, in, H, W] in [−1, 1] (not multiplied by the scaling factor). */
    public NDArray encodeMean(NDArray image) {
        return Scoped.compute(() -> {
            NDArray moments = encodeMoments(image, null);
            return moments.get(new NDIndex(":, :{}", config.latentChannels()));
        });
    }

    /**
     * The encoder's moments [B, 2·latent, h, w] after {@code quant_conv}: mean, then log-variance (unclamped;
     * diffusers clamps the log-variance to [−30, 20]).
     */
    public NDArray encodeMoments(NDArray image, BiConsumer<String, NDArray> probe) {
        requireChannels(image, config.inChannels(), "image");
        BiConsumer<String, NDArray> p = probe == null ? (k, v) -> { } : probe;
        return Scoped.compute(() -> {
            NDArray h = encoder.forward(UNet2DCondition.typed(image, computeType()), p);
            NDArray moments = quantConv.forward(h);
            p.accept("quant_conv", moments);
            return UNet2DCondition.typed(moments, DataType.FLOAT32);
        });
    }

    /** The type the weights are held and computed in (float16 on CUDA, see {@link EngineRuntime#computeType}). */
    public DataType computeType() {
        return postQuantConv.namedParameters().get("weight").get().getDataType();
    }

    /**
     * Closes {@code previous} (unless it is the caller's {@code input}) once {@code next} was computed from it:
     * the decoder's full-resolution activations are the peak memory of a generation.
     */
    private static NDArray replace(NDArray previous, NDArray next, NDArray input) {
        if (previous != input && previous != next) {
            previous.close();
        }
        return next;
    }

    private static void requireChannels(NDArray x, int channels, String what) {
        long[] s = x.getShape().getShape();
        if (s.length != 4 || s[1] != channels) {
            throw new IllegalArgumentException("VAE " + what + " must be [B, " + channels + ", H, W], got " + x.getShape());
        }
    }

    /** diffusers' {@code UNetMidBlock2D} without time embedding: resnet, single-head spatial self-attention, resnet. */
    static final class MidBlock extends Module {
        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<Attention> attentions;

        MidBlock(long channels, int groups, boolean addAttention) {
            this.attentions = addAttention ? child("attentions", new ModuleList<>()) : null;
            this.resnets = child("resnets", new ModuleList<>());
            resnets.add(new ResnetBlock2D(channels, channels, 0, groups, EPS, 1f));
            if (addAttention) {
                attentions.add(new Attention(channels, channels, 1, channels, true, new GroupNorm(groups, channels, EPS), true));
            }
            resnets.add(new ResnetBlock2D(channels, channels, 0, groups, EPS, 1f));
        }

        NDArray forward(NDArray x) {
            return Scoped.compute(() -> {
                NDArray h = resnets.get(0).forward(x, null);
                if (attentions != null) {
                    h = attentions.get(0).forward(h, null);
                }
                return resnets.get(1).forward(h, null);
            });
        }
    }

    /** {@code DownEncoderBlock2D}: resnets without time embedding, then an optional down-sampler (padding 0). */
    static final class DownBlock extends Module {
        private final ModuleList<ResnetBlock2D> resnets;
        private final Downsample2D downsampler;

        DownBlock(long in, long out, int layers, int groups, boolean addDownsample) {
            this.resnets = child("resnets", new ModuleList<>());
            for (int i = 0; i < layers; i++) {
                resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, 0, groups, EPS, 1f));
            }
            this.downsampler = addDownsample ? child("downsamplers", new ModuleList<Downsample2D>()).add(new Downsample2D(out, out, 0)) : null;
        }

        NDArray forward(NDArray x) {
            return Scoped.compute(() -> {
                NDArray h = x;
                for (ResnetBlock2D r : resnets) {
                    h = r.forward(h, null);
                }
                return downsampler == null ? h : downsampler.forward(h);
            });
        }
    }

    /** {@code UpDecoderBlock2D}: resnets without time embedding, then an optional 2× up-sampler. */
    static final class UpBlock extends Module {
        private final ModuleList<ResnetBlock2D> resnets;
        private final Upsample2D upsampler;

        UpBlock(long in, long out, int layers, int groups, boolean addUpsample) {
            this.resnets = child("resnets", new ModuleList<>());
            for (int i = 0; i < layers; i++) {
                resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, 0, groups, EPS, 1f));
            }
            this.upsampler = addUpsample ? child("upsamplers", new ModuleList<Upsample2D>()).add(new Upsample2D(out, out)) : null;
        }

        NDArray forward(NDArray x) {
            return Scoped.compute(() -> {
                NDArray h = x;
                for (ResnetBlock2D r : resnets) {
                    h = replace(h, r.forward(h, null), x);
                }
                return upsampler == null ? h : replace(h, upsampler.forward(h, null), x);
            });
        }
    }

    /** diffusers' VAE {@code Encoder} (double_z): image → 2·latent channels of moments. */
    static final class Encoder extends Module {
        private final Conv2d convIn;
        private final ModuleList<DownBlock> downBlocks;
        private final MidBlock midBlock;
        private final GroupNorm convNormOut;
        private final Conv2d convOut;

        Encoder(VaeConfig c) {
            List<Integer> ch = c.blockOutChannels();
            int n = ch.size();
            this.convIn = child("conv_in", new Conv2d(c.inChannels(), ch.get(0), 3, 1, 1, true));
            this.downBlocks = child("down_blocks", new ModuleList<>());
            long out = ch.get(0);
            for (int i = 0; i < n; i++) {
                long in = out;
                out = ch.get(i);
                downBlocks.add(new DownBlock(in, out, c.layersPerBlock(), c.normNumGroups(), i < n - 1));
            }
            this.midBlock = child("mid_block", new MidBlock(out, c.normNumGroups(), c.midBlockAddAttention()));
            this.convNormOut = child("conv_norm_out", new GroupNorm(c.normNumGroups(), out, EPS));
            this.convOut = child("conv_out", new Conv2d(out, 2L * c.latentChannels(), 3, 1, 1, true));
        }

        NDArray forward(NDArray x, BiConsumer<String, NDArray> p) {
            return Scoped.compute(() -> {
                NDArray h = convIn.forward(x);
                for (int i = 0; i < downBlocks.size(); i++) {
                    h = downBlocks.get(i).forward(h);
                    p.accept("encoder.down_blocks." + i, h);
                }
                h = midBlock.forward(h);
                p.accept("encoder.mid_block", h);
                h = convOut.forward(convNormOut.forwardSilu(h));
                p.accept("encoder.conv_out", h);
                return h;
            });
        }
    }

    /** diffusers' VAE {@code Decoder}: latents → image. */
    static final class Decoder extends Module {
        private final Conv2d convIn;
        private final MidBlock midBlock;
        private final ModuleList<UpBlock> upBlocks;
        private final GroupNorm convNormOut;
        private final Conv2d convOut;

        Decoder(VaeConfig c) {
            List<Integer> ch = c.blockOutChannels();
            int n = ch.size();
            long top = ch.get(n - 1);
            this.convIn = child("conv_in", new Conv2d(c.latentChannels(), top, 3, 1, 1, true));
            this.midBlock = child("mid_block", new MidBlock(top, c.normNumGroups(), c.midBlockAddAttention()));
            this.upBlocks = child("up_blocks", new ModuleList<>());
            long out = top;
            for (int i = 0; i < n; i++) {
                long prev = out;
                out = ch.get(n - 1 - i);
                upBlocks.add(new UpBlock(prev, out, c.layersPerBlock() + 1, c.normNumGroups(), i < n - 1));
            }
            this.convNormOut = child("conv_norm_out", new GroupNorm(c.normNumGroups(), ch.get(0), EPS));
            this.convOut = child("conv_out", new Conv2d(ch.get(0), c.outChannels(), 3, 1, 1, true));
        }

        NDArray forward(NDArray z, BiConsumer<String, NDArray> p) {
            return Scoped.compute(() -> {
                NDArray h = convIn.forward(z);
                p.accept("decoder.conv_in", h);
                h = midBlock.forward(h);
                p.accept("decoder.mid_block", h);
                for (int i = 0; i < upBlocks.size(); i++) {
                    h = replace(h, upBlocks.get(i).forward(h), z);
                    p.accept("decoder.up_blocks." + i, h);
                }
                NDArray normed = replace(h, convNormOut.forwardSilu(h), z);
                return convOut.forward(normed);
            });
        }
    }
}
