package io.github.ssrencoder.model;

import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.io.WeightFiles;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleList;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.nn.TransformerTemporalModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AnimateDiff's motion modules for one UNet, as diffusers' {@code MotionAdapter} stores them
 * ({@code down_blocks.i.motion_modules.j.…}, {@code mid_block.motion_modules.0.…}, {@code up_blocks.i.motion_modules.j.…};
 * parameter paths equal the checkpoint keys). The modules are built as {@code UNetMotionModel.from_unet2d} builds
 * them: the UNet's {@code layers_per_block} and {@code norm_num_groups}, the adapter's heads, positional table
 * length and mid-block switch. {@link UNet2DCondition#setMotionAdapter} places them after the UNet's layers.
 */
public final class MotionAdapter extends Module implements AutoCloseable {

    private final MotionAdapterConfig config;
    private final ModuleList<MotionModules> downBlocks;
    private final MotionModules midBlock;
    private final ModuleList<MotionModules> upBlocks;
    private final UNetConfig unetConfig;
    private final List<Integer> spatialHeads;
    private NDManager ownWeights;
    private Path folder;

    /** {@code UNetMotionModel}'s default {@code num_attention_heads}. */
    static final int MOTION_UNET_DEFAULT_HEADS = 8;

    /** Builds the modules (no weights) of {@code adapter} for a UNet of {@code unet}'s config. */
    public MotionAdapter(MotionAdapterConfig adapter, UNetConfig unet, List<Integer> spatialHeads, boolean storedPositionTables) {
        this.config = adapter;
        this.unetConfig = unet;
        this.spatialHeads = List.copyOf(spatialHeads);
        List<Integer> ch = unet.blockOutChannels();
        int n = ch.size();
        int heads = adapter.motionNumAttentionHeads();
        int groups = unet.normNumGroups();
        int maxSeq = adapter.motionMaxSeqLength();
        this.downBlocks = child("down_blocks", new ModuleList<>());
        for (int i = 0; i < n; i++) {
            downBlocks.add(new MotionModules(ch.get(i), unet.layersPerBlock().get(i), heads, groups, maxSeq, storedPositionTables));
        }
        this.midBlock = adapter.useMotionMidBlock()
                ? child("mid_block", new MotionModules(ch.get(n - 1), 1, heads, groups, maxSeq, storedPositionTables)) : null;
        this.upBlocks = child("up_blocks", new ModuleList<>());
        for (int i = 0; i < n; i++) {
            int block = n - 1 - i;
            upBlocks.add(new MotionModules(ch.get(block), unet.layersPerBlock().get(block) + 1, heads, groups, maxSeq,
                    storedPositionTables));
        }
    }

    /**
     * Reads {@code folder/config.json}, checks it against {@code unet} and loads
     * {@code folder/diffusion_pytorch_model.*} into {@code weights} (in the engine's compute type). A checkpoint
     * without the positional tables ({@code …pos_embed.pe}) gets them computed.
     *
     * @param unetConfigFile the UNet's {@code config.json} ({@link #spatialHeads}), or {@code null} for a UNet from a
     *                       single-file checkpoint
     *
     * @throws WeightFileException naming the file and the key that does not fit
     */
    public static MotionAdapter load(Path folder, UNetConfig unet, Path unetConfigFile, NDManager weights) {
        if (!Files.isDirectory(folder)) {
            throw WeightFileException.of(folder, "motion adapter folder not found (expected a diffusers MotionAdapter folder "
                    + "with config.json and diffusion_pytorch_model.safetensors)");
        }
        Path configFile = folder.resolve("config.json");
        MotionAdapterConfig config = MotionAdapterConfig.read(configFile);
        checkFits(configFile, config, unet);
        List<Integer> heads = spatialHeads(unet, unetConfigFile);
        NDManager own = weights.newSubManager();
        MotionAdapter adapter = null;
        try (TensorSource source = WeightFiles.openIn(folder, "diffusion_pytorch_model")) {
            boolean stored = source.keys().stream().anyMatch(k -> k.endsWith(".pos_embed.pe"));
            adapter = new MotionAdapter(config, unet, heads, stored);
            ModuleWeights.load(adapter, source, KeyMapping.identity(), own, "motion adapter of this UNet",
                    EngineRuntime.computeType(weights.getDevice()));
            adapter.modules().values().forEach(m -> m.computePositions(own));
        } catch (RuntimeException | Error e) {
            own.close();
            if (adapter != null) {
                adapter.clearParameters();
            }
            throw e;
        }
        adapter.ownWeights = own;
        adapter.folder = folder.toAbsolutePath().normalize();
        return adapter;
    }

    /** Frees the weights {@link #load} read. */
    @Override
    public void close() {
        if (ownWeights != null) {
            ownWeights.close();
            ownWeights = null;
            clearParameters();
        }
    }

    /**
     * The heads of the spatial attentions in the motion UNet, per block. {@code from_unet2d} builds
     * {@code UNetMotionModel} from the 2-D config, but diffusers' config loader drops every key the UNet's
     * {@code config.json} did not name ({@code _use_default_values}), so without an explicit
     * {@code num_attention_heads} key the motion UNet takes its own default of 8 heads, whatever
     * {@code attention_head_dim} says (the same for SD1.5, whose {@code attention_head_dim} is 8). A key present
     * but null is filled from {@code attention_head_dim} as the 2-D UNet does, and a config built in code
     * (single-file checkpoints) keeps the UNet's heads.
     */
    static List<Integer> spatialHeads(UNetConfig unet, Path unetConfigFile) {
        List<Integer> heads = unet.headsPerBlock();
        if (unetConfigFile != null) {
            com.google.gson.JsonObject o = io.github.ssrencoder.io.JsonFiles.readObject(unetConfigFile);
            if (!o.has("num_attention_heads")) {
                heads = java.util.Collections.nCopies(unet.numBlocks(), MOTION_UNET_DEFAULT_HEADS);
            }
        }
        for (int i = 0; i < unet.numBlocks(); i++) {
            if (unet.blockOutChannels().get(i) % heads.get(i) != 0) {
                throw WeightFileException.of(unetConfigFile, "block " + i + ": " + unet.blockOutChannels().get(i)
                        + " channels are not divisible into the motion UNet's " + heads.get(i)
                        + " attention heads (num_attention_heads, 8 when absent)");
            }
        }
        return List.copyOf(heads);
    }

    /**
     * The UNet's topology must be one {@code UNetMotionModel} can be built from, and the adapter must have been
     * trained for it (the same channels and layers per block). {@code motion_norm_num_groups} is not checked: as in
     * {@code from_unet2d}, the motion modules normalise with the UNet's {@code norm_num_groups} (the weights do not
     * depend on it).
     */
    static void checkFits(Path configFile, MotionAdapterConfig a, UNetConfig u) {
        if (!a.blockOutChannels().equals(u.blockOutChannels())) {
            throw WeightFileException.of(configFile, "block_out_channels " + a.blockOutChannels()
                    + " do not fit this UNet's " + u.blockOutChannels() + " (an adapter for another Stable Diffusion version?)");
        }
        for (int i = 0; i < u.numBlocks(); i++) {
            if (u.layersPerBlock().get(i) != a.motionLayersPerBlock()) {
                throw WeightFileException.of(configFile, "motion_layers_per_block " + a.motionLayersPerBlock()
                        + " does not fit this UNet's layers_per_block " + u.layersPerBlock());
            }
            if (u.transformerLayersPerBlock().get(i) != 1 || u.onlyCrossAttention().get(i)) {
                throw new WeightFileException("motion adapters need a UNet with one transformer layer per attention and no "
                        + "only_cross_attention (as diffusers' UNetMotionModel); this UNet has transformer_layers_per_block "
                        + u.transformerLayersPerBlock() + ", only_cross_attention " + u.onlyCrossAttention());
            }
        }
        if (a.useMotionMidBlock() && a.motionMidBlockLayersPerBlock() != 1) {
            throw WeightFileException.of(configFile, "motion_mid_block_layers_per_block " + a.motionMidBlockLayersPerBlock()
                    + " is not supported: the motion UNet's mid block has one motion module");
        }
        if (u.useLinearProjection()) {
            throw new WeightFileException("motion adapters need a UNet without use_linear_projection: diffusers' "
                    + "UNetMotionModel builds its mid block with convolution projections");
        }
        if (u.convInKernel() != 3 || u.convOutKernel() != 3) {
            throw new WeightFileException("motion adapters need a UNet with 3×3 conv_in/conv_out (as diffusers' UNetMotionModel), got "
                    + u.convInKernel() + "/" + u.convOutKernel());
        }
    }

    /** The spatial attention heads of the motion UNet per down block ({@link #spatialHeads}). */
    public List<Integer> spatialHeads() {
        return spatialHeads;
    }

    /** The folder {@link #load} read, absolute and normalised (null for an adapter built otherwise). */
    public Path folder() {
        return folder;
    }

    public MotionAdapterConfig config() {
        return config;
    }

    /** The UNet config the modules were built for. */
    public UNetConfig unetConfig() {
        return unetConfig;
    }

    /** The most frames a clip may have (the positional table's rows, {@code motion_max_seq_length}). */
    public int maxFrames() {
        return config.motionMaxSeqLength();
    }

    /** The motion modules of down block {@code i}, one per layer. */
    public List<TransformerTemporalModel> down(int i) {
        return downBlocks.get(i).modules.items();
    }

    /** The mid block's motion modules (empty without {@code use_motion_mid_block}). */
    public List<TransformerTemporalModel> mid() {
        return midBlock == null ? List.of() : midBlock.modules.items();
    }

    /** The motion modules of up block {@code i} (0 = deepest), one per layer. */
    public List<TransformerTemporalModel> up(int i) {
        return upBlocks.get(i).modules.items();
    }

    /** Every motion module by its path ({@code down_blocks.0.motion_modules.1}), in diffusers' module order. */
    public Map<String, TransformerTemporalModel> modules() {
        Map<String, TransformerTemporalModel> out = new LinkedHashMap<>();
        for (int i = 0; i < downBlocks.size(); i++) {
            List<TransformerTemporalModel> d = down(i);
            for (int j = 0; j < d.size(); j++) {
                out.put("down_blocks." + i + ".motion_modules." + j, d.get(j));
            }
        }
        for (int i = 0; i < upBlocks.size(); i++) {
            List<TransformerTemporalModel> u = up(i);
            for (int j = 0; j < u.size(); j++) {
                out.put("up_blocks." + i + ".motion_modules." + j, u.get(j));
            }
        }
        List<TransformerTemporalModel> m = new ArrayList<>(mid());
        for (int j = 0; j < m.size(); j++) {
            out.put("mid_block.motion_modules." + j, m.get(j));
        }
        return out;
    }

    /** diffusers' {@code MotionModules}: a {@code motion_modules} list of temporal transformers. */
    private static final class MotionModules extends Module {
        private final ModuleList<TransformerTemporalModel> modules;

        MotionModules(long channels, int count, int heads, int groups, int maxSeq, boolean stored) {
            this.modules = child("motion_modules", new ModuleList<>());
            for (int j = 0; j < count; j++) {
                modules.add(new TransformerTemporalModel(channels, heads, groups, maxSeq, 1, stored));
            }
        }
    }
}
