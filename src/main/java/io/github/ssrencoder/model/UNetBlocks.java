package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Downsample2D;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleList;
import io.github.ssrencoder.nn.ResnetBlock2D;
import io.github.ssrencoder.nn.Scoped;
import io.github.ssrencoder.nn.Transformer2DModel;
import io.github.ssrencoder.nn.Upsample2D;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.BiConsumer;

/** The UNet's down, mid and up blocks, laid out as diffusers' so that parameter paths equal checkpoint keys. */
final class UNetBlocks {

    private UNetBlocks() {
    }

    /**
     * What follows each layer (resnet and transformer) of a block in a motion UNet: the layer's motion module,
     * applied to the [B·F, C, h, w] states. {@code null} everywhere in a plain UNet.
     */
    @FunctionalInterface
    interface Temporal {
        NDArray apply(int layer, NDArray h);
    }

    /**
     * {@code CrossAttnDownBlock2D} (with attentions) or {@code DownBlock2D} (without): resnets, each followed by
     * its transformer, then an optional stride-2 down-sampler. Every intermediate state is a skip connection.
     */
    static final class Down extends Module {
        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<Transformer2DModel> attentions;
        private final Downsample2D downsampler;

        Down(UNetConfig c, int block, long in, long out, long temb, boolean withAttention, boolean addDownsample) {
            this.resnets = child("resnets", new ModuleList<>());
            this.attentions = withAttention ? child("attentions", new ModuleList<>()) : null;
            int heads = c.headsPerBlock().get(block);
            for (int i = 0; i < c.layersPerBlock().get(block); i++) {
                resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, temb, c.normNumGroups(), c.normEps(), 1f));
                if (withAttention) {
                    attentions.add(new Transformer2DModel(heads, out / heads, out, c.transformerLayersPerBlock().get(block),
                            c.crossAttentionDim(), c.normNumGroups(), c.useLinearProjection(), c.onlyCrossAttention().get(block)));
                }
            }
            if (addDownsample) {
                ModuleList<Downsample2D> d = child("downsamplers", new ModuleList<>());
                this.downsampler = d.add(new Downsample2D(out, out, c.downsamplePadding()));
            } else {
                this.downsampler = null;
            }
        }

        List<Transformer2DModel> attentions() {
            return attentions == null ? List.of() : attentions.items();
        }

        /** Runs the block; appends every skip state to {@code skips}; returns the output. */
        NDArray forward(NDArray x, NDArray temb, NDArray context, List<NDArray> skips) {
            return forward(x, temb, context, skips, null);
        }

        /** As {@link #forward(NDArray, NDArray, NDArray, List)}, with {@code motion} after each layer (or null). */
        NDArray forward(NDArray x, NDArray temb, NDArray context, List<NDArray> skips, Temporal motion) {
            NDArray h = forwardLayers(x, temb, context, skips, resnets.size(), motion);
            if (downsampler != null) {
                h = downsampler.forward(h);
                skips.add(h);
            }
            return h;
        }

        /**
         * Runs only the first {@code layers} (resnet, transformer) pairs, appending their skip states; no down-sampling;
         * {@code motion} after each layer (or null).
         */
        NDArray forwardLayers(NDArray x, NDArray temb, NDArray context, List<NDArray> skips, int layers, Temporal motion) {
            NDArray h = x;
            for (int i = 0; i < layers; i++) {
                NDArray in = h;
                int layer = i;
                h = Scoped.compute(() -> {
                    NDArray r = resnets.get(layer).forward(in, temb);
                    r = attentions == null ? r : attentions.get(layer).forward(r, context);
                    return motion == null ? r : motion.apply(layer, r);
                });
                skips.add(h);
            }
            return h;
        }
    }

    /** {@code UNetMidBlock2DCrossAttn}: resnet, then (transformer, resnet) pairs. */
    static final class Mid extends Module {
        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<Transformer2DModel> attentions;

        Mid(UNetConfig c, long channels, long temb) {
            int last = c.numBlocks() - 1;
            int heads = c.headsPerBlock().get(last);
            this.attentions = child("attentions", new ModuleList<>());
            this.resnets = child("resnets", new ModuleList<>());
            resnets.add(new ResnetBlock2D(channels, channels, temb, c.normNumGroups(), c.normEps(), c.midBlockScaleFactor()));
            attentions.add(new Transformer2DModel(heads, channels / heads, channels, c.transformerLayersPerBlock().get(last),
                    c.crossAttentionDim(), c.normNumGroups(), c.useLinearProjection(), false));
            resnets.add(new ResnetBlock2D(channels, channels, temb, c.normNumGroups(), c.normEps(), c.midBlockScaleFactor()));
        }

        List<Transformer2DModel> attentions() {
            return attentions.items();
        }

        NDArray forward(NDArray x, NDArray temb, NDArray context) {
            return forward(x, temb, context, null);
        }

        /** As {@link #forward(NDArray, NDArray, NDArray)}, with {@code motion} after each transformer (or null). */
        NDArray forward(NDArray x, NDArray temb, NDArray context, Temporal motion) {
            return Scoped.compute(() -> {
                NDArray h = resnets.get(0).forward(x, temb);
                for (int i = 0; i < attentions.size(); i++) {
                    NDArray a = attentions.get(i).forward(h, context);
                    h = resnets.get(i + 1).forward(motion == null ? a : motion.apply(i, a), temb);
                }
                return h;
            });
        }
    }

    /**
     * {@code CrossAttnUpBlock2D} or {@code UpBlock2D}: each resnet takes the previous output concatenated with
     * the latest unused skip state; optional nearest up-sampler.
     */
    static final class Up extends Module {
        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<Transformer2DModel> attentions;
        private final Upsample2D upsampler;

        /**
         * @param upIndex        index among the up blocks (0 = deepest)
         * @param in             channels of the matching down block's input (the last skip's channels)
         * @param prevOut        channels of the previous up block's output
         */
        Up(UNetConfig c, int upIndex, long in, long out, long prevOut, long temb, boolean withAttention, boolean addUpsample) {
            int block = c.numBlocks() - 1 - upIndex;
            int layers = c.layersPerBlock().get(block) + 1;
            int heads = c.headsPerBlock().get(block);
            this.resnets = child("resnets", new ModuleList<>());
            this.attentions = withAttention ? child("attentions", new ModuleList<>()) : null;
            for (int i = 0; i < layers; i++) {
                long skip = i == layers - 1 ? in : out;
                long resIn = i == 0 ? prevOut : out;
                resnets.add(new ResnetBlock2D(resIn + skip, out, temb, c.normNumGroups(), c.normEps(), 1f));
                if (withAttention) {
                    attentions.add(new Transformer2DModel(heads, out / heads, out, c.transformerLayersPerBlock().get(block),
                            c.crossAttentionDim(), c.normNumGroups(), c.useLinearProjection(), c.onlyCrossAttention().get(block)));
                }
            }
            if (addUpsample) {
                ModuleList<Upsample2D> u = child("upsamplers", new ModuleList<>());
                this.upsampler = u.add(new Upsample2D(out, out));
            } else {
                this.upsampler = null;
            }
        }

        int numResnets() {
            return resnets.size();
        }

        List<Transformer2DModel> attentions() {
            return attentions == null ? List.of() : attentions.items();
        }

        /** Consumes skip states from the end of {@code skips}; {@code upsampleSize} is null for 2×. */
        NDArray forward(NDArray x, NDArray temb, NDArray context, Deque<NDArray> skips, long[] upsampleSize) {
            return forwardFrom(0, x, temb, context, skips, upsampleSize, (i, h) -> { }, null);
        }

        /** As {@link #forward(NDArray, NDArray, NDArray, Deque, long[])}, with {@code motion} after each layer (or null). */
        NDArray forward(NDArray x, NDArray temb, NDArray context, Deque<NDArray> skips, long[] upsampleSize, Temporal motion) {
            return forwardFrom(0, x, temb, context, skips, upsampleSize, (i, h) -> { }, motion);
        }

        /**
         * Runs the resnets from index {@code first} on ({@code x} being that resnet's input), consuming one skip state
         * each from the end of {@code skips}; {@code onEnter} sees the input of every resnet run (valid during the call);
         * {@code motion} after each layer (or null).
         */
        NDArray forwardFrom(int first, NDArray x, NDArray temb, NDArray context, Deque<NDArray> skips, long[] upsampleSize,
                            BiConsumer<Integer, NDArray> onEnter, Temporal motion) {
            List<NDArray> mine = new ArrayList<>();
            for (int i = first; i < resnets.size(); i++) {
                mine.add(skips.removeLast());
            }
            return Scoped.compute(() -> {
                NDArray h = x;
                for (int i = first; i < resnets.size(); i++) {
                    onEnter.accept(i, h);
                    NDArray cat = h.concat(mine.get(i - first), 1);
                    h = resnets.get(i).forward(cat, temb);
                    if (attentions != null) {
                        h = attentions.get(i).forward(h, context);
                    }
                    if (motion != null) {
                        h = motion.apply(i, h);
                    }
                }
                return upsampler == null ? h : upsampler.forward(h, upsampleSize);
            });
        }
    }
}
