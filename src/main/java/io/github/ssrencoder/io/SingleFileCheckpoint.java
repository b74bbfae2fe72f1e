package io.github.ssrencoder.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A whole Stable Diffusion 1.x model in one file, in the original (CompVis/LDM) key layout, as A1111 and most
 * model sites distribute it: {@code .safetensors} (F32/F16/BF16) or {@code .ckpt} ({@code torch.save} zip whose
 * {@code state_dict} holds the tensors). The UNet lives under {@code model.diffusion_model.}, the VAE under
 * {@code first_stage_model.}, the CLIP text encoder under {@code cond_stage_model.transformer.}; every other key
 * (noise-schedule buffers, {@code position_ids}, an unused EMA copy) is ignored, as diffusers does.
 *
 * <p>Each network is handed out as a {@link Component}: a view of the file holding that network's original
 * keys (so errors name the keys as they are in the file), with shapes as the module tree expects them, plus the
 * {@link KeyMapping} to module parameter paths. The only tensor transform is the VAE mid-block attention, which
 * LDM stores as 1×1 convolutions ({@code [C, C, 1, 1]}) and the module tree as linear layers ({@code [C, C]}).
 *
 * <p>EMA: training checkpoints may carry an exponential-moving-average copy of the UNet under
 * {@code model_ema.<key without "model." and without dots>}. Like diffusers 0.23.1 ({@code extract_ema=False}),
 * the regular {@code model.diffusion_model.*} weights are used by default; {@link #unet(boolean) unet(true)}
 * takes the EMA copy instead.
 */
public final class SingleFileCheckpoint implements AutoCloseable {

    public static final String UNET_PREFIX = "model.diffusion_model.";
    public static final String VAE_PREFIX = "first_stage_model.";
    public static final String TEXT_ENCODER_PREFIX = "cond_stage_model.transformer.";
    static final String EMA_PREFIX = "model_ema.";
    private static final String TEXT_MODEL = "text_model.";

    private static final Map<String, String> UNET_RESNET = Map.of(
            "in_layers.0", "norm1", "in_layers.2", "conv1", "emb_layers.1", "time_emb_proj",
            "out_layers.0", "norm2", "out_layers.3", "conv2", "skip_connection", "conv_shortcut");
    private static final Map<String, String> VAE_ATTENTION = Map.of(
            "norm", "group_norm", "q", "to_q", "k", "to_k", "v", "to_v", "proj_out", "to_out.0");

    /**
     * One network's tensors.
     *
     * @param tensors the network's keys as stored in the file, with the shapes the module tree expects
     * @param mapping file key → module parameter path
     */
    public record Component(TensorSource tensors, KeyMapping mapping) {
    }

    private final TensorSource source;
    private final LdmConfig config;

    private SingleFileCheckpoint(TensorSource source, LdmConfig config) {
        this.source = source;
        this.config = config;
    }

    /** Opens {@code file} with the same-named {@code .yaml} beside it, or the standard SD1.x config. */
    public static SingleFileCheckpoint open(Path file) {
        LdmConfig config = LdmConfig.forCheckpoint(file);
        return open(file, config);
    }

    /** Opens {@code file} as described by {@code config}; refuses files that are not in the original layout. */
    public static SingleFileCheckpoint open(Path file, LdmConfig config) {
        TensorSource source = WeightFiles.open(file);
        try {
            return of(source, config);
        } catch (RuntimeException e) {
            source.close();
            throw e;
        }
    }

    /**
     * Reads an already open tensor source as a single-file checkpoint (closed with it); refuses sources that are not
     * in the original layout.
     */
    public static SingleFileCheckpoint of(TensorSource source, LdmConfig config) {
        if (source.keys().stream().noneMatch(k -> k.startsWith(UNET_PREFIX))) {
            boolean diffusers = source.keys().stream().anyMatch(k -> k.startsWith("down_blocks.") || k.startsWith("conv_in."));
            throw WeightFileException.of(source.file(), "not a Stable Diffusion checkpoint in the original (LDM) layout: no "
                    + UNET_PREFIX + "* keys" + (diffusers ? " (this looks like one component of a diffusers folder)" : ""));
        }
        return new SingleFileCheckpoint(source, config);
    }

    /** The checkpoint file. */
    public Path file() {
        return source.file();
    }

    /** The architecture the file is read with. */
    public LdmConfig config() {
        return config;
    }

    /** Whether every UNet tensor has an EMA copy ({@code model_ema.*}). */
    public boolean hasEma() {
        return firstWithoutEma() == null;
    }

    private String firstWithoutEma() {
        for (String k : source.keys()) {
            if (k.startsWith(UNET_PREFIX) && !source.contains(emaKey(k))) {
                return k;
            }
        }
        return null;
    }

    /** The UNet: the regular weights, or with {@code ema} the EMA copy (refused when the file has none). */
    public Component unet(boolean ema) {
        int layers = config.unetLayersPerBlock();
        Map<String, String> table = new LinkedHashMap<>();
        for (String k : source.keys()) {
            if (k.startsWith(UNET_PREFIX)) {
                String target = unetKey(k, layers);
                table.put(ema ? emaKey(k) : k, target == null ? k : target);
            }
        }
        if (ema) {
            String missing = firstWithoutEma();
            if (missing != null) {
                throw WeightFileException.of(file(), "has no EMA copy of the UNet weights (no " + emaKey(missing) + " for "
                        + missing + "); load it without the EMA option");
            }
        }
        return component(table, Set.of());
    }

    /** The VAE ({@code first_stage_model.*}). */
    public Component vae() {
        int blocks = config.vaeBlocks();
        Map<String, String> table = new LinkedHashMap<>();
        Set<String> squeeze = new LinkedHashSet<>();
        for (String k : source.keys()) {
            if (k.startsWith(VAE_PREFIX)) {
                String target = vaeKey(k, blocks);
                table.put(k, target == null ? k : target);
                if (target != null && isAttentionMatrix(target) && source.info(k).shape().length == 4) {
                    squeeze.add(k);
                }
            }
        }
        return component(table, squeeze);
    }

    /** The CLIP text encoder ({@code cond_stage_model.transformer.*}, without the {@code position_ids} buffer). */
    public Component textEncoder() {
        Map<String, String> table = new LinkedHashMap<>();
        for (String k : source.keys()) {
            if (k.startsWith(TEXT_ENCODER_PREFIX) && !k.endsWith(".position_ids")) {
                table.put(k, textEncoderKey(k));
            }
        }
        return component(table, Set.of());
    }

    /** Keys that belong to none of the three networks (schedule buffers, EMA copies not in use, ...). */
    public List<String> otherKeys() {
        List<String> out = new ArrayList<>();
        for (String k : source.keys()) {
            if (!k.startsWith(UNET_PREFIX) && !k.startsWith(VAE_PREFIX)
                    && !(k.startsWith(TEXT_ENCODER_PREFIX) && !k.endsWith(".position_ids"))) {
                out.add(k);
            }
        }
        return out;
    }

    private Component component(Map<String, String> table, Set<String> squeeze) {
        Map<String, String> fixed = Collections.unmodifiableMap(table);
        KeyMapping mapping = KeyMapping.identity().withRename(k -> fixed.getOrDefault(k, k));
        return new Component(new View(source, List.copyOf(table.keySet()), squeeze), mapping);
    }

    private static boolean isAttentionMatrix(String vaeKey) {
        return vaeKey.contains(".mid_block.attentions.0.") && vaeKey.endsWith(".weight") && !vaeKey.contains(".group_norm.");
    }

    /** The EMA twin of a {@code model.diffusion_model.*} key. */
    public static String emaKey(String unetKey) {
        return EMA_PREFIX + unetKey.substring("model.".length()).replace(".", "");
    }

    /**
     * The diffusers UNet key of an original {@code model.diffusion_model.*} key, for a UNet with {@code layers}
     * resnets per down block; {@code null} when the key is not part of an SD UNet.
     */
    public static String unetKey(String key, int layers) {
        if (!key.startsWith(UNET_PREFIX)) {
            return null;
        }
        String[] s = key.substring(UNET_PREFIX.length()).split("\\.", -1);
        try {
            switch (s[0]) {
                case "time_embed" -> {
                    return switch (s[1]) {
                        case "0" -> "time_embedding.linear_1." + tail(s, 2);
                        case "2" -> "time_embedding.linear_2." + tail(s, 2);
                        default -> null;
                    };
                }
                case "out" -> {
                    return switch (s[1]) {
                        case "0" -> "conv_norm_out." + tail(s, 2);
                        case "2" -> "conv_out." + tail(s, 2);
                        default -> null;
                    };
                }
                case "middle_block" -> {
                    String rest = tail(s, 2);
                    return switch (s[1]) {
                        case "0" -> prefixed("mid_block.resnets.0.", unetResnet(rest));
                        case "1" -> "mid_block.attentions.0." + rest;
                        case "2" -> prefixed("mid_block.resnets.1.", unetResnet(rest));
                        default -> null;
                    };
                }
                case "input_blocks" -> {
                    int b = Integer.parseInt(s[1]);
                    int m = Integer.parseInt(s[2]);
                    String rest = tail(s, 3);
                    if (b == 0) {
                        return m == 0 ? "conv_in." + rest : null;
                    }
                    int i = (b - 1) / (layers + 1);
                    int j = (b - 1) % (layers + 1);
                    if (j == layers) {
                        return m == 0 && rest.startsWith("op.") ? "down_blocks." + i + ".downsamplers.0.conv." + rest.substring(3) : null;
                    }
                    return switch (m) {
                        case 0 -> prefixed("down_blocks." + i + ".resnets." + j + ".", unetResnet(rest));
                        case 1 -> "down_blocks." + i + ".attentions." + j + "." + rest;
                        default -> null;
                    };
                }
                case "output_blocks" -> {
                    int b = Integer.parseInt(s[1]);
                    int m = Integer.parseInt(s[2]);
                    String rest = tail(s, 3);
                    int i = b / (layers + 1);
                    int j = b % (layers + 1);
                    if (m == 0) {
                        return prefixed("up_blocks." + i + ".resnets." + j + ".", unetResnet(rest));
                    }
                    // The up-sampler follows the block's last resnet (and its attention, when the block has one).
                    if (j == layers && rest.startsWith("conv.") && (m == 1 || m == 2)) {
                        return "up_blocks." + i + ".upsamplers.0.conv." + rest.substring(5);
                    }
                    return m == 1 ? "up_blocks." + i + ".attentions." + j + "." + rest : null;
                }
                default -> {
                    return null;
                }
            }
        } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
            return null;
        }
    }

    private static String unetResnet(String rest) {
        for (Map.Entry<String, String> e : UNET_RESNET.entrySet()) {
            if (rest.startsWith(e.getKey() + ".")) {
                return e.getValue() + rest.substring(e.getKey().length());
            }
        }
        return null;
    }

    /**
     * The diffusers VAE key of an original {@code first_stage_model.*} key, for a VAE with {@code blocks} blocks
     * (the decoder's {@code up.*} are numbered from the bottom); {@code null} when not part of an SD VAE.
     */
    public static String vaeKey(String key, int blocks) {
        if (!key.startsWith(VAE_PREFIX)) {
            return null;
        }
        String k = key.substring(VAE_PREFIX.length());
        if (k.startsWith("quant_conv.") || k.startsWith("post_quant_conv.")) {
            return k;
        }
        String[] s = k.split("\\.", -1);
        boolean encoder = s[0].equals("encoder");
        if (!encoder && !s[0].equals("decoder") || s.length < 3) {
            return null;
        }
        String part = s[0] + ".";
        try {
            switch (s[1]) {
                case "conv_in", "conv_out" -> {
                    return k;
                }
                case "norm_out" -> {
                    return part + "conv_norm_out." + tail(s, 2);
                }
                case "mid" -> {
                    String rest = tail(s, 3);
                    return switch (s[2]) {
                        case "block_1" -> prefixed(part + "mid_block.resnets.0.", vaeResnet(rest));
                        case "block_2" -> prefixed(part + "mid_block.resnets.1.", vaeResnet(rest));
                        case "attn_1" -> {
                            String name = VAE_ATTENTION.get(s[3]);
                            yield name == null ? null : part + "mid_block.attentions.0." + name + "." + tail(s, 4);
                        }
                        default -> null;
                    };
                }
                case "down", "up" -> {
                    if (encoder != s[1].equals("down")) {
                        return null;
                    }
                    int u = Integer.parseInt(s[2]);
                    if (u < 0 || u >= blocks) {
                        return null;
                    }
                    int i = encoder ? u : blocks - 1 - u;
                    String blocksName = encoder ? "down_blocks." : "up_blocks.";
                    String sampler = encoder ? "downsample" : "upsample";
                    if (s[3].equals("block")) {
                        return prefixed(part + blocksName + i + ".resnets." + s[4] + ".", vaeResnet(tail(s, 5)));
                    }
                    if (s[3].equals(sampler) && s[4].equals("conv")) {
                        return part + blocksName + i + "." + sampler + "rs.0.conv." + tail(s, 5);
                    }
                    return null;
                }
                default -> {
                    return null;
                }
            }
        } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
            return null;
        }
    }

    private static String vaeResnet(String rest) {
        return rest.startsWith("nin_shortcut.") ? "conv_shortcut." + rest.substring("nin_shortcut.".length()) : rest;
    }

    /**
     * The transformers {@code CLIPTextModel} key of an original {@code cond_stage_model.transformer.*} key (files
     * written by old transformers versions lack the {@code text_model.} level).
     */
    public static String textEncoderKey(String key) {
        if (!key.startsWith(TEXT_ENCODER_PREFIX)) {
            return null;
        }
        String k = key.substring(TEXT_ENCODER_PREFIX.length());
        return k.startsWith(TEXT_MODEL) ? k : TEXT_MODEL + k;
    }

    private static String tail(String[] s, int from) {
        return String.join(".", java.util.Arrays.asList(s).subList(from, s.length));
    }

    private static String prefixed(String prefix, String rest) {
        return rest == null ? null : prefix + rest;
    }

    @Override
    public void close() {
        source.close();
    }

    /** A network's keys of the file, with the 1×1-convolution attention weights seen as matrices. */
    private static final class View implements TensorSource {
        private final TensorSource base;
        private final Set<String> keys;
        private final Set<String> squeeze;

        View(TensorSource base, List<String> keys, Set<String> squeeze) {
            this.base = base;
            this.keys = Collections.unmodifiableSet(new LinkedHashSet<>(keys));
            this.squeeze = Set.copyOf(squeeze);
        }

        @Override
        public Path file() {
            return base.file();
        }

        @Override
        public Set<String> keys() {
            return keys;
        }

        @Override
        public TensorInfo info(String key) {
            TensorInfo t = base.info(requireKey(key));
            if (!squeeze.contains(key)) {
                return t;
            }
            long[] s = t.shape();
            return new TensorInfo(key, t.dtype(), new long[] {s[0], s[1] * s[2] * s[3]});
        }

        @Override
        public NDArray load(String key, NDManager manager) {
            NDArray a = base.load(requireKey(key), manager);
            if (!squeeze.contains(key)) {
                return a;
            }
            NDArray m = a.reshape(info(key).shape());
            a.close();
            return m;
        }

        @Override
        public byte[] readBytes(String key) {
            return base.readBytes(requireKey(key));
        }

        private String requireKey(String key) {
            if (!keys.contains(key)) {
                throw WeightFileException.of(base.file(), "no tensor named '" + key + "' in this part of the checkpoint");
            }
            return key;
        }

        @Override
        public void close() {
            // the checkpoint owns the file
        }
    }
}
