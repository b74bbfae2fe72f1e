package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.UnaryOperator;

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

    /** diffusers' {@code tile_overlap_factor}: neighbouring VAE tiles overlap by a quarter of a tile. */
    public static final double TILE_OVERLAP = 0.25;

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

    /**
     * diffusers' {@code tile_sample_min_size}: the image-side tile of tiled decoding and encoding, the config's
     * {@code sample_size} (512 for Stable Diffusion 1.5; diffusers' default 32 when the config has none).
     */
    public int defaultTileSize() {
        return config.sampleSize() != null ? config.sampleSize() : 32;
    }

    /**
     * As {@link #decode(NDArray)} with diffusers' VAE tiling ({@code enable_tiling}) for image tiles of
     * {@code tileSize} pixels: latents no larger than one tile ({@code tileSize / f} per side) are decoded in one
     * piece, bit for bit as {@link #decode(NDArray)}; larger ones are cut into tiles of that size starting every three
     * quarters of a tile, each decoded on its own, and neighbours blended linearly over a quarter of a tile
     * ({@code tiled_decode}, {@code blend_v}, {@code blend_h}). Not equal to the one-piece decode: each tile's
     * group norms and attention see only that tile.
     *
     * @param tileSize image pixels per tile side, a multiple of 4·f ({@link #defaultTileSize()} is diffusers' choice)
     */
    public NDArray decodeTiled(NDArray z, int tileSize) {
        requireChannels(z, config.latentChannels(), "latents");
        int latentTile = latentTile(tileSize);
        long[] s = z.getShape().getShape();
        if (s[2] <= latentTile && s[3] <= latentTile) {
            return decode(z);
        }
        int blend = (int) (tileSize * TILE_OVERLAP);
        return tiled(z, latentTile, (int) (latentTile * (1 - TILE_OVERLAP)), blend, tileSize - blend, this::decode);
    }

    /**
     * As {@link #encodeMoments} with diffusers' VAE tiling ({@code tiled_encode}) for image tiles of {@code tileSize}
     * pixels: an image no larger than one tile is encoded in one piece, bit for bit as {@link #encodeMoments};
     * a larger one in overlapping tiles whose moments are blended over a quarter of a latent tile.
     */
    public NDArray encodeMomentsTiled(NDArray image, int tileSize) {
        requireChannels(image, config.inChannels(), "image");
        int latentTile = latentTile(tileSize);
        long[] s = image.getShape().getShape();
        if (s[2] <= tileSize && s[3] <= tileSize) {
            return encodeMoments(image, null);
        }
        int blend = (int) (latentTile * TILE_OVERLAP);
        return tiled(image, tileSize, (int) (tileSize * (1 - TILE_OVERLAP)), blend, latentTile - blend,
                tile -> encodeMoments(tile, null));
    }

    /** diffusers' {@code tile_latent_min_size} for image tiles of {@code tileSize} pixels. */
    private int latentTile(int tileSize) {
        int f = spatialScaleFactor();
        // With a latent tile divisible by 4 the tiles' stride, after coding, equals the part of each tile that is
        // kept, so the pieces add up to exactly the untiled output size (as with diffusers' own tile sizes).
        if (tileSize < 4 * f || tileSize % (4 * f) != 0) {
            throw new IllegalArgumentException("VAE tile size must be a positive multiple of " + 4 * f + " pixels, got " + tileSize);
        }
        return tileSize / f;
    }

    /**
     * diffusers' tiling loop: tiles of {@code tile} input rows and columns start every {@code stride} (the last ones
     * cut short at the border), each is coded on its own; then, row by row, each coded tile is blended with the
     * (already blended) tile above and the one to its left over {@code blend} output rows/columns, and its first
     * {@code keep} rows and columns are kept.
     */
    private static NDArray tiled(NDArray x, int tile, int stride, int blend, int keep, UnaryOperator<NDArray> code) {
        long height = x.getShape().get(2);
        long width = x.getShape().get(3);
        return Scoped.compute(() -> {
            List<List<NDArray>> rows = new ArrayList<>();
            for (long i = 0; i < height; i += stride) {
                List<NDArray> row = new ArrayList<>();
                for (long j = 0; j < width; j += stride) {
                    row.add(code.apply(x.get(new NDIndex(":, :, {}:{}, {}:{}", i, Math.min(i + tile, height), j, Math.min(j + tile, width)))));
                }
                rows.add(row);
            }
            NDList keptRows = new NDList();
            for (int i = 0; i < rows.size(); i++) {
                List<NDArray> row = rows.get(i);
                NDList kept = new NDList();
                for (int j = 0; j < row.size(); j++) {
                    NDArray t = row.get(j);
                    if (i > 0) {
                        t = blend(rows.get(i - 1).get(j), t, blend, 2);
                    }
                    if (j > 0) {
                        t = blend(row.get(j - 1), t, blend, 3);
                    }
                    // later tiles blend with this one as it is now, as diffusers' in-place blending leaves it
                    row.set(j, t);
                    kept.add(t.get(new NDIndex(":, :, :{}, :{}", keep, keep)));
                }
                keptRows.add(NDArrays.concat(kept, 3));
            }
            return NDArrays.concat(keptRows, 2);
        });
    }

    /**
     * diffusers' {@code blend_v} ({@code axis} 2) and {@code blend_h} ({@code axis} 3): the first e rows (columns) of
     * {@code b} become {@code a[−e + y]·(1 − y/e) + b[y]·(y/e)}, e = min(extent, both sizes). The weights are
     * rounded to float32 as PyTorch rounds a Python scalar multiplying a float32 tensor. When {@code b} is shorter
     * than the extent, {@code a}'s last rows are blended with {@code b}'s first ones even though they do not
     * cover the same pixels: diffusers does the same.
     */
    static NDArray blend(NDArray a, NDArray b, int extent, int axis) {
        long sizeA = a.getShape().get(axis);
        long sizeB = b.getShape().get(axis);
        int e = (int) Math.min(extent, Math.min(sizeA, sizeB));
        if (e == 0) {
            return b;
        }
        float[] weightA = new float[e];
        float[] weightB = new float[e];
        for (int y = 0; y < e; y++) {
            weightA[y] = (float) (1 - (double) y / e);
            weightB[y] = (float) ((double) y / e);
        }
        Shape weightShape = axis == 2 ? new Shape(1, 1, e, 1) : new Shape(1, 1, 1, e);
        String head = axis == 2 ? ":, :, {}:{}" : ":, :, :, {}:{}";
        NDManager m = b.getManager();
        NDArray fromA = a.get(new NDIndex(head, sizeA - e, sizeA)).mul(m.create(weightA, weightShape));
        NDArray fromB = b.get(new NDIndex(head, 0, e)).mul(m.create(weightB, weightShape));
        NDArray rest = b.get(new NDIndex(head, e, sizeB));
        return NDArrays.concat(new NDList(fromA.add(fromB), rest), axis);
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
