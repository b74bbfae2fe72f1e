package io.github.ssrencoder.io;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * The architecture of a single-file Stable Diffusion 1.x checkpoint, from the original (CompVis/LDM)
 * inference config ({@code v1-inference.yaml} layout) that users keep beside a non-standard checkpoint under
 * the same name ({@code model.safetensors} + {@code model.yaml}), or the standard SD1.x config when there is
 * none. Translated into diffusers-style {@code config.json} objects for the UNet and the VAE, as diffusers
 * 0.23.1 derives them: everything the yaml does not describe takes the diffusers class defaults, in
 * particular 32 normalisation groups (LDM hard-codes them); a {@code norm_num_groups} entry in the UNet
 * params or the VAE's {@code ddconfig} overrides that.
 *
 * <p>The yaml is read with SnakeYAML's safe constructor: plain maps, lists and scalars, no tags that build
 * objects.
 */
public final class LdmConfig {

    /** The standard SD1.x inference config, bundled. */
    static final String STANDARD_RESOURCE = "sd15/v1-inference.yaml";

    private final Path file;
    private final String description;
    private final JsonObject unet;
    private final JsonObject vae;
    private final double linearStart;
    private final double linearEnd;
    private final String predictionType;

    private LdmConfig(Path file, String description, JsonObject unet, JsonObject vae, double linearStart, double linearEnd,
                      String predictionType) {
        this.file = file;
        this.description = description;
        this.unet = unet;
        this.vae = vae;
        this.linearStart = linearStart;
        this.linearEnd = linearEnd;
        this.predictionType = predictionType;
    }

    /** The same-named {@code .yaml} beside {@code checkpoint} if there is one, else the standard SD1.x config. */
    public static LdmConfig forCheckpoint(Path checkpoint) {
        Optional<Path> yaml = besideCheckpoint(checkpoint);
        return yaml.isPresent() ? read(yaml.get()) : standardSd1();
    }

    /** {@code <stem>.yaml} (or {@code .yml}) beside {@code checkpoint}, when present. */
    public static Optional<Path> besideCheckpoint(Path checkpoint) {
        String name = checkpoint.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        for (String ext : List.of(".yaml", ".yml")) {
            Path p = checkpoint.resolveSibling(stem + ext);
            if (Files.isRegularFile(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** Reads an original inference config. */
    public static LdmConfig read(Path yaml) {
        String text;
        try {
            text = Files.readString(yaml, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw WeightFileException.of(yaml, "file not found");
        } catch (IOException e) {
            throw WeightFileException.of(yaml, "cannot read: " + e.getMessage(), e);
        }
        return parse(yaml, yaml.toString(), new StringReader(text));
    }

    /** The standard Stable Diffusion 1.x config ({@code v1-inference.yaml} values), used without a yaml. */
    public static LdmConfig standardSd1() {
        try (InputStream in = LdmConfig.class.getResourceAsStream(STANDARD_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("bundled resource " + STANDARD_RESOURCE + " is missing");
            }
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return parse(Path.of(STANDARD_RESOURCE), "the standard SD1.x config", new StringReader(text));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read bundled " + STANDARD_RESOURCE, e);
        }
    }

    private static LdmConfig parse(Path file, String description, Reader text) {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        options.setMaxAliasesForCollections(20);
        options.setCodePointLimit(1 << 20);
        Object root;
        try {
            root = new Yaml(new SafeConstructor(options)).load(text);
        } catch (YAMLException e) {
            throw WeightFileException.of(file, "not a readable yaml file: " + oneLine(e.getMessage()), e);
        }
        Map<?, ?> model = map(file, map(file, root, "the file").get("model"), "model");
        Map<?, ?> params = map(file, model.get("params"), "model.params");
        Map<?, ?> cond = optionalMap(file, params.get("cond_stage_config"), "model.params.cond_stage_config");
        if (cond != null && cond.get("target") != null && !String.valueOf(cond.get("target")).endsWith("FrozenCLIPEmbedder")) {
            throw WeightFileException.of(file, "model.params.cond_stage_config.target is " + cond.get("target")
                    + ": only Stable Diffusion 1.x checkpoints (FrozenCLIPEmbedder text encoder) are supported");
        }
        Map<?, ?> unetParams = map(file, map(file, params.get("unet_config"), "model.params.unet_config").get("params"),
                "model.params.unet_config.params");
        Map<?, ?> first = map(file, params.get("first_stage_config"), "model.params.first_stage_config");
        Map<?, ?> dd = map(file, map(file, first.get("params"), "model.params.first_stage_config.params").get("ddconfig"),
                "model.params.first_stage_config.params.ddconfig");
        String parameterization = params.get("parameterization") == null ? "eps" : String.valueOf(params.get("parameterization"));
        String prediction = switch (parameterization) {
            case "eps" -> "epsilon";
            case "v" -> "v_prediction";
            default -> throw WeightFileException.of(file, "model.params.parameterization '" + parameterization
                    + "' is not supported (eps or v)");
        };
        return new LdmConfig(file, description, unetConfig(file, unetParams), vaeConfig(file, dd, params),
                number(file, params, "linear_start", 0.00085, "model.params"),
                number(file, params, "linear_end", 0.012, "model.params"), prediction);
    }

    private static JsonObject unetConfig(Path file, Map<?, ?> p) {
        String where = "model.params.unet_config.params";
        int modelChannels = integer(file, p, "model_channels", null, where);
        List<Integer> mult = integers(file, p, "channel_mult", where);
        List<Integer> attentionResolutions = integers(file, p, "attention_resolutions", where);
        int n = mult.size();
        JsonArray channels = new JsonArray();
        JsonArray down = new JsonArray();
        JsonArray up = new JsonArray();
        JsonArray heads = new JsonArray();
        int heads0 = integer(file, p, "num_heads", -1, where);
        int headChannels = integer(file, p, "num_head_channels", -1, where);
        if (heads0 <= 0 && headChannels <= 0) {
            throw WeightFileException.of(file, where + " needs num_heads or num_head_channels");
        }
        for (int i = 0; i < n; i++) {
            int c = modelChannels * mult.get(i);
            channels.add(c);
            // 2^i is the down-sampling factor at block i; LDM lists the factors that carry attention.
            down.add(attentionResolutions.contains(1 << i) ? "CrossAttnDownBlock2D" : "DownBlock2D");
            up.add(attentionResolutions.contains(1 << (n - 1 - i)) ? "CrossAttnUpBlock2D" : "UpBlock2D");
            heads.add(heads0 > 0 ? heads0 : c / headChannels);
        }
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "UNet2DConditionModel");
        o.addProperty("in_channels", integer(file, p, "in_channels", 4, where));
        o.addProperty("out_channels", integer(file, p, "out_channels", 4, where));
        o.add("block_out_channels", channels);
        o.add("down_block_types", down);
        o.add("up_block_types", up);
        o.addProperty("layers_per_block", integer(file, p, "num_res_blocks", null, where));
        o.add("attention_head_dim", heads);
        o.addProperty("cross_attention_dim", integer(file, p, "context_dim", null, where));
        o.addProperty("transformer_layers_per_block", integer(file, p, "transformer_depth", 1, where));
        o.addProperty("use_linear_projection", bool(file, p, "use_linear_in_transformer", false, where));
        if (p.containsKey("norm_num_groups")) {
            o.addProperty("norm_num_groups", integer(file, p, "norm_num_groups", null, where));
        }
        return o;
    }

    private static JsonObject vaeConfig(Path file, Map<?, ?> dd, Map<?, ?> params) {
        String where = "model.params.first_stage_config.params.ddconfig";
        int ch = integer(file, dd, "ch", null, where);
        JsonArray channels = new JsonArray();
        JsonArray down = new JsonArray();
        JsonArray up = new JsonArray();
        for (int m : integers(file, dd, "ch_mult", where)) {
            channels.add(ch * m);
            down.add("DownEncoderBlock2D");
            up.add("UpDecoderBlock2D");
        }
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "AutoencoderKL");
        o.addProperty("in_channels", integer(file, dd, "in_channels", 3, where));
        o.addProperty("out_channels", integer(file, dd, "out_ch", 3, where));
        o.add("block_out_channels", channels);
        o.add("down_block_types", down);
        o.add("up_block_types", up);
        o.addProperty("layers_per_block", integer(file, dd, "num_res_blocks", null, where));
        o.addProperty("latent_channels", integer(file, dd, "z_channels", 4, where));
        o.addProperty("scaling_factor", number(file, params, "scale_factor", 0.18215, "model.params"));
        if (dd.containsKey("norm_num_groups")) {
            o.addProperty("norm_num_groups", integer(file, dd, "norm_num_groups", null, where));
        }
        return o;
    }

    /** The yaml this config was read from; empty for the standard config. */
    public Optional<Path> file() {
        return file.toString().equals(STANDARD_RESOURCE) ? Optional.empty() : Optional.of(file);
    }

    /** The yaml path, or the standard config's resource name, for error messages. */
    public Path source() {
        return file;
    }

    /** What this config is, for messages: the yaml path or "the standard SD1.x config". */
    public String description() {
        return description;
    }

    /** A diffusers {@code unet/config.json} equivalent (a copy). */
    public JsonObject unetConfig() {
        return unet.deepCopy();
    }

    /** A diffusers {@code vae/config.json} equivalent (a copy). */
    public JsonObject vaeConfig() {
        return vae.deepCopy();
    }

    /** Resnets per UNet down block ({@code num_res_blocks}). */
    public int unetLayersPerBlock() {
        return unet.get("layers_per_block").getAsInt();
    }

    /** Number of VAE blocks ({@code len(ch_mult)}). */
    public int vaeBlocks() {
        return vae.getAsJsonArray("block_out_channels").size();
    }

    /** First beta of the training schedule ({@code linear_start}). */
    public double linearStart() {
        return linearStart;
    }

    /** Last beta of the training schedule ({@code linear_end}). */
    public double linearEnd() {
        return linearEnd;
    }

    /** {@code epsilon}, or {@code v_prediction} for {@code parameterization: v}. */
    public String predictionType() {
        return predictionType;
    }

    private static Map<?, ?> map(Path file, Object o, String where) {
        Map<?, ?> m = optionalMap(file, o, where);
        if (m == null) {
            throw WeightFileException.of(file, where + " is missing (expected the original v1-inference.yaml layout)");
        }
        return m;
    }

    private static Map<?, ?> optionalMap(Path file, Object o, String where) {
        if (o == null) {
            return null;
        }
        if (!(o instanceof Map<?, ?> m)) {
            throw WeightFileException.of(file, where + " must be a mapping, got " + o);
        }
        return m;
    }

    private static int integer(Path file, Map<?, ?> m, String key, Integer fallback, String where) {
        Object v = m.get(key);
        if (v == null) {
            if (fallback == null) {
                throw WeightFileException.of(file, where + "." + key + " is missing");
            }
            return fallback;
        }
        if (!(v instanceof Integer i)) {
            throw WeightFileException.of(file, where + "." + key + " must be an integer, got " + v);
        }
        return i;
    }

    private static List<Integer> integers(Path file, Map<?, ?> m, String key, String where) {
        Object v = m.get(key);
        if (!(v instanceof List<?> l) || l.isEmpty()) {
            throw WeightFileException.of(file, where + "." + key + " must be a non-empty list of integers, got " + v);
        }
        List<Integer> out = new ArrayList<>();
        for (Object x : l) {
            if (!(x instanceof Integer i)) {
                throw WeightFileException.of(file, where + "." + key + " must be a list of integers, got " + v);
            }
            out.add(i);
        }
        return out;
    }

    private static double number(Path file, Map<?, ?> m, String key, double fallback, String where) {
        Object v = m.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Number n)) {
            throw WeightFileException.of(file, where + "." + key + " must be a number, got " + v);
        }
        return n.doubleValue();
    }

    private static boolean bool(Path file, Map<?, ?> m, String key, boolean fallback, String where) {
        Object v = m.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Boolean b)) {
            throw WeightFileException.of(file, where + "." + key + " must be true or false, got " + v);
        }
        return b;
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s*\\n\\s*", " ").strip();
    }
}
