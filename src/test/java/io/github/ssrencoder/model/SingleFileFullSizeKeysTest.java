package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.DType;
import io.github.ssrencoder.io.LdmConfig;
import io.github.ssrencoder.io.Sd15Defaults;
import io.github.ssrencoder.io.SingleFileCheckpoint;
import io.github.ssrencoder.io.TensorInfo;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A real SD1.5 single file's keys are all used. The golden data holds no manifest of the original (LDM) layout,
 * so one is derived here from the diffusers manifests ({@code sd15_unet.json}, {@code sd15_vae.json},
 * {@code sd15_text_encoder.json}) with the inverse of the documented key table — written independently of the
 * reader and first checked to reproduce tiny-a's {@code single_file_keys.json} exactly — plus the extra entries
 * real SD1.x files carry (the text encoder's {@code position_ids}, LatentDiffusion's noise-schedule buffers, an
 * EMA copy of the UNet). Read with the standard SD1.x config and the bundled SD1.5 text encoder config, every
 * network key must bind to exactly one parameter of the right shape.
 */
class SingleFileFullSizeKeysTest {

    private static final Map<String, String> RESNET = Map.of("norm1", "in_layers.0", "conv1", "in_layers.2",
            "time_emb_proj", "emb_layers.1", "norm2", "out_layers.0", "conv2", "out_layers.3", "conv_shortcut", "skip_connection");
    private static final Map<String, String> VAE_ATTENTION = Map.of("group_norm", "norm", "to_q", "q", "to_k", "k",
            "to_v", "v", "to_out.0", "proj_out");

    /** diffusers UNet key → original key; {@code crossUp} says which up blocks have attentions. */
    static String originalUNetKey(String key, int layers, List<Boolean> crossUp) {
        String p = "model.diffusion_model.";
        String[] s = key.split("\\.");
        String rest3 = tail(s, 3);
        return switch (s[0]) {
            case "conv_in" -> p + "input_blocks.0.0." + tail(s, 1);
            case "time_embedding" -> p + "time_embed." + (s[1].equals("linear_1") ? "0." : "2.") + tail(s, 2);
            case "conv_norm_out" -> p + "out.0." + tail(s, 1);
            case "conv_out" -> p + "out.2." + tail(s, 1);
            case "mid_block" -> s[1].equals("attentions") ? p + "middle_block.1." + rest3
                    : p + "middle_block." + (s[2].equals("0") ? "0." : "2.") + resnet(rest3);
            case "down_blocks", "up_blocks" -> {
                boolean down = s[0].equals("down_blocks");
                int i = Integer.parseInt(s[1]);
                String what = s[2];
                if (what.equals("downsamplers")) {
                    yield p + "input_blocks." + (i + 1) * (layers + 1) + ".0.op." + tail(s, 5);
                }
                if (what.equals("upsamplers")) {
                    yield p + "output_blocks." + (i * (layers + 1) + layers) + "." + (crossUp.get(i) ? 2 : 1) + ".conv." + tail(s, 5);
                }
                int j = Integer.parseInt(s[3]);
                int block = down ? 1 + i * (layers + 1) + j : i * (layers + 1) + j;
                String list = p + (down ? "input_blocks." : "output_blocks.") + block;
                yield what.equals("resnets") ? list + ".0." + resnet(tail(s, 4)) : list + ".1." + tail(s, 4);
            }
            default -> throw new AssertionError(key);
        };
    }

    private static String resnet(String rest) {
        int dot = rest.indexOf('.');
        return RESNET.get(rest.substring(0, dot)) + rest.substring(dot);
    }

    /** diffusers VAE key → original key, with {@code blocks} blocks. */
    static String originalVaeKey(String key, int blocks) {
        String p = "first_stage_model.";
        if (key.startsWith("quant_conv.") || key.startsWith("post_quant_conv.")) {
            return p + key;
        }
        String[] s = key.split("\\.");
        String part = s[0] + ".";
        return switch (s[1]) {
            case "conv_in", "conv_out" -> p + key;
            case "conv_norm_out" -> p + part + "norm_out." + tail(s, 2);
            case "mid_block" -> {
                if (s[2].equals("resnets")) {
                    yield p + part + "mid.block_" + (Integer.parseInt(s[3]) + 1) + "." + shortcut(tail(s, 4));
                }
                String rest = tail(s, 4);
                String name = rest.startsWith("to_out.0.") ? "to_out.0" : rest.substring(0, rest.indexOf('.'));
                yield p + part + "mid.attn_1." + VAE_ATTENTION.get(name) + rest.substring(name.length());
            }
            case "down_blocks", "up_blocks" -> {
                int i = Integer.parseInt(s[2]);
                boolean down = s[1].equals("down_blocks");
                String level = p + part + (down ? "down." + i : "up." + (blocks - 1 - i)) + ".";
                yield s[3].equals("resnets") ? level + "block." + s[4] + "." + shortcut(tail(s, 5))
                        : level + (down ? "downsample" : "upsample") + ".conv." + tail(s, 6);
            }
            default -> throw new AssertionError(key);
        };
    }

    private static String shortcut(String rest) {
        return rest.startsWith("conv_shortcut.") ? "nin_shortcut." + rest.substring("conv_shortcut.".length()) : rest;
    }

    private static boolean isVaeAttentionMatrix(String diffusersKey) {
        return diffusersKey.contains("mid_block.attentions.0.") && diffusersKey.endsWith(".weight") && !diffusersKey.contains("group_norm");
    }

    private static String tail(String[] s, int from) {
        return String.join(".", List.of(s).subList(Math.min(from, s.length), s.length));
    }

    private static List<Boolean> crossUp(JsonObject unetConfig) {
        List<Boolean> out = new ArrayList<>();
        for (JsonElement t : unetConfig.getAsJsonArray("up_block_types")) {
            out.add(t.getAsString().startsWith("CrossAttn"));
        }
        return out;
    }

    @Test
    void derivationReproducesTheTinyKeyTable() {
        JsonObject unetConfig = Golden.json(Golden.tinyA().resolve("sd/unet/config.json")).getAsJsonObject();
        JsonObject table = Golden.json(Golden.tinyA().resolve("cases/single_file_keys.json")).getAsJsonObject().getAsJsonObject("keys");
        int checked = 0;
        for (Map.Entry<String, JsonElement> e : table.entrySet()) {
            JsonObject doc = e.getValue().getAsJsonObject();
            String target = doc.get("key").isJsonNull() ? null : doc.get("key").getAsString();
            String derived = switch (doc.get("component").getAsString()) {
                case "unet" -> originalUNetKey(target, unetConfig.get("layers_per_block").getAsInt(), crossUp(unetConfig));
                case "vae" -> originalVaeKey(target, 4);
                case "text_encoder" -> "cond_stage_model.transformer." + target;
                default -> e.getKey();
            };
            assertEquals(e.getKey(), derived, target);
            checked++;
        }
        assertEquals(981, checked);
    }

    /** The derived SD1.5 single file: every network tensor in the original layout, plus what real files carry besides. */
    private static List<TensorInfo> sd15SingleFile() {
        JsonObject unet = manifest("sd15_unet.json");
        JsonObject config = unet.getAsJsonObject("config");
        List<TensorInfo> out = new ArrayList<>();
        List<TensorInfo> unetKeys = new ArrayList<>();
        for (Map.Entry<String, long[]> e : tensors(unet).entrySet()) {
            unetKeys.add(new TensorInfo(originalUNetKey(e.getKey(), config.get("layers_per_block").getAsInt(), crossUp(config)),
                    DType.F16, e.getValue()));
        }
        out.addAll(unetKeys);
        for (Map.Entry<String, long[]> e : tensors(manifest("sd15_vae.json")).entrySet()) {
            long[] shape = e.getValue();
            if (isVaeAttentionMatrix(e.getKey())) {
                shape = new long[] {shape[0], shape[1], 1, 1};
            }
            out.add(new TensorInfo(originalVaeKey(e.getKey(), 4), DType.F16, shape));
        }
        for (Map.Entry<String, long[]> e : tensors(manifest("sd15_text_encoder.json")).entrySet()) {
            out.add(new TensorInfo("cond_stage_model.transformer." + e.getKey(), DType.F16, e.getValue()));
        }
        out.add(new TensorInfo("cond_stage_model.transformer.text_model.embeddings.position_ids", DType.I64, new long[] {1, 77}));
        for (String buffer : List.of("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
                "posterior_mean_coef1", "posterior_mean_coef2")) {
            out.add(new TensorInfo(buffer, DType.F32, new long[] {1000}));
        }
        out.add(new TensorInfo("model_ema.decay", DType.F32, new long[0]));
        out.add(new TensorInfo("model_ema.num_updates", DType.I32, new long[0]));
        for (TensorInfo t : unetKeys) {
            out.add(new TensorInfo(SingleFileCheckpoint.emaKey(t.name()), t.dtype(), t.shape()));
        }
        return out;
    }

    @Test
    void everyKeyOfARealSd15SingleFileIsUsed() {
        List<TensorInfo> file = sd15SingleFile();
        assertEquals(686 + 248 + 196 + 1 + 12 + 2 + 686, file.size());
        LdmConfig standard = LdmConfig.standardSd1();
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.of(new ShapesOnly(file), standard)) {
            UNet2DCondition unet = new UNet2DCondition(UNetConfig.fromJson(standard.source(), standard.unetConfig()));
            AutoencoderKL vae = new AutoencoderKL(VaeConfig.fromJson(standard.source(), standard.vaeConfig()));
            ClipTextEncoder text = new ClipTextEncoder(ClipTextConfig.read(Sd15Defaults.textEncoderConfig()));
            assertBinds(unet, ckpt.unet(false), 686, "UNet");
            assertBinds(unet, ckpt.unet(true), 686, "UNet (EMA)");
            assertBinds(vae, ckpt.vae(), 248, "VAE");
            assertBinds(text, ckpt.textEncoder(), 196, "text encoder");
            assertEquals(1 + 12 + 2 + 686, ckpt.otherKeys().size(), "ignored: position_ids, schedule buffers, the EMA copy");
            assertTrue(ckpt.hasEma());
        }
    }

    private static void assertBinds(Module module, SingleFileCheckpoint.Component part, int tensors, String what) {
        ModuleWeights.plan(module, part.tensors(), part.mapping()).requireComplete("SD1.5 " + what);
        assertEquals(tensors, part.tensors().keys().size(), what);
        assertEquals(tensors, module.namedParameters().size(), what + ": one parameter per key");
    }

    private static JsonObject manifest(String name) {
        return Golden.json(Golden.fullSizeKeys(name)).getAsJsonObject();
    }

    private static Map<String, long[]> tensors(JsonObject manifest) {
        Map<String, long[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : manifest.getAsJsonObject("tensors").entrySet()) {
            JsonArray shape = e.getValue().getAsJsonObject().getAsJsonArray("shape");
            long[] s = new long[shape.size()];
            for (int i = 0; i < s.length; i++) {
                s[i] = shape.get(i).getAsLong();
            }
            out.put(e.getKey(), s);
        }
        return out;
    }

    /** A file known by its header only. */
    private static final class ShapesOnly implements TensorSource {
        private final Map<String, TensorInfo> infos = new LinkedHashMap<>();

        ShapesOnly(List<TensorInfo> tensors) {
            tensors.forEach(t -> infos.put(t.name(), t));
        }

        @Override
        public Path file() {
            return Path.of("sd15-derived.safetensors");
        }

        @Override
        public Set<String> keys() {
            return infos.keySet();
        }

        @Override
        public TensorInfo info(String key) {
            return infos.get(key);
        }

        @Override
        public NDArray load(String key, NDManager manager) {
            throw new UnsupportedOperationException("shapes only");
        }

        @Override
        public byte[] readBytes(String key) {
            throw new UnsupportedOperationException("shapes only");
        }

        @Override
        public void close() {
        }
    }
}
