package io.github.ssrencoder.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a LoRA file for Stable Diffusion 1.x and maps every entry to the module it changes. Two key schemes
 * are understood:
 * <ul>
 * <li>kohya / A1111: {@code lora_unet_<module path with "_" for ".">} and {@code lora_te_<...>}, each with
 * {@code .lora_down.weight}, {@code .lora_up.weight} and an optional 0-d {@code .alpha};</li>
 * <li>diffusers: {@code unet.<module>.lora.{down,up}.weight} (0.23 writes the prefix twice, {@code unet.unet.}),
 * {@code text_encoder.<module>.lora_linear_layer.{down,up}.weight}, the older attention-processor layout
 * ({@code ...attn1.processor.to_q_lora.down.weight}, {@code ...self_attn.to_q_lora.down.weight}) and the
 * {@code lora_A}/{@code lora_B} names of later versions; no alphas.</li>
 * </ul>
 * The file is checked completely against the target modules before any data is read: a key that fits no
 * scheme, a module the networks do not have (a LoRA for SDXL, say) or a shape that does not fit refuses the
 * whole file, naming every such entry.
 */
public final class LoraFile {

    /** Component name of the UNet's modules. */
    public static final String UNET = "unet";
    /** Component name of the CLIP text encoder's modules. */
    public static final String TEXT_ENCODER = "text_encoder";

    private static final int LISTED = 8;

    /**
     * The low-rank update of one module's weight: {@code ΔW = ((up·alpha)/rank)·down}, or {@code up·down}
     * without an alpha. Linear modules have {@code down} [r, in] and {@code up} [out, r]; 1×1 convolutions
     * [r, in, 1, 1] and [out, r, 1, 1]. Arrays are float32.
     *
     * @param component {@link #UNET} or {@link #TEXT_ENCODER}
     * @param module    the module's dotted path in its network (its weight is {@code module + ".weight"})
     * @param alpha     the file's alpha for this module, or {@code null} when it has none
     */
    public record Layer(String component, String module, NDArray down, NDArray up, Float alpha) {

        /** The rank: the number of rows of {@code down}. */
        public long rank() {
            return down.getShape().get(0);
        }
    }

    private static final Pattern KOHYA = Pattern.compile("lora_(unet|te)_(.+?)\\.(lora_down\\.weight|lora_up\\.weight|alpha)");
    private static final Pattern DIFFUSERS_UNET = Pattern.compile("(?:unet\\.)+(.+?)\\.(?:lora\\.)?(down|up|lora_A|lora_B)\\.weight");
    private static final Pattern DIFFUSERS_TEXT = Pattern.compile(
            "text_encoder\\.(.+?)\\.(?:lora_linear_layer\\.)?(down|up|lora_A|lora_B)\\.weight");
    private static final Pattern PROCESSOR = Pattern.compile("(.+?)\\.(?:processor\\.)?to_(q|k|v|out)_lora");

    private LoraFile() {
    }

    /** One module's entries while the file is being matched. */
    private static final class Found {
        final String component;
        final String module;
        String down;
        String up;
        String alpha;

        Found(String component, String module) {
            this.component = component;
            this.module = module;
        }
    }

    /**
     * Reads {@code file} into {@code manager}.
     *
     * @param targets per component ({@link #UNET}, {@link #TEXT_ENCODER}) the modules a LoRA may change,
     *                module path → weight shape ([out, in] linear, [out, in, 1, 1] convolution)
     * @throws WeightFileException naming the file and every entry that does not fit; nothing is kept then
     */
    public static List<Layer> read(Path file, Map<String, Map<String, long[]>> targets, NDManager manager) {
        try (TensorSource source = WeightFiles.open(file)) {
            Map<String, Found> modules = match(source, targets);
            NDManager layers = manager.newSubManager();
            try {
                List<Layer> out = new ArrayList<>();
                for (Found f : modules.values()) {
                    Float alpha = null;
                    if (f.alpha != null) {
                        try (NDArray a = source.load(f.alpha, layers)) {
                            alpha = a.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray()[0];
                        }
                    }
                    out.add(new Layer(f.component, f.module, source.load(f.down, layers), source.load(f.up, layers), alpha));
                }
                return out;
            } catch (RuntimeException | Error e) {
                layers.close();
                throw e;
            }
        }
    }

    /**
     * Checks {@code file} against {@code targets} as {@link #read} does, from the file's header only.
     *
     * @throws WeightFileException naming the file and every entry that does not fit
     */
    public static void check(Path file, Map<String, Map<String, long[]>> targets) {
        try (TensorSource source = WeightFiles.open(file)) {
            match(source, targets);
        }
    }

    private static Map<String, Found> match(TensorSource source, Map<String, Map<String, long[]>> targets) {
        Path file = source.file();
        if (source.keys().isEmpty()) {
            throw WeightFileException.of(file, "holds no tensors (not a LoRA file)");
        }
        boolean kohya = source.keys().stream().allMatch(k -> k.startsWith("lora_"));
        Map<String, Map<String, String>> underscored = kohya ? underscoredNames(targets) : Map.of();
        Map<String, Found> modules = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        for (String key : source.keys()) {
            if (kohya && !KOHYA.matcher(key).matches()) {
                problems.add(key + " (not a kohya LoRA key of Stable Diffusion 1.x: lora_unet_… or lora_te_…)");
                continue;
            }
            String[] target = kohya ? kohyaTarget(key, underscored) : diffusersTarget(key);
            if (target == null) {
                problems.add(key + " (" + (kohya ? "no such module" : "not a known LoRA key") + ")");
                continue;
            }
            String component = target[0];
            String module = target[1];
            if (!targets.getOrDefault(component, Map.of()).containsKey(module)) {
                problems.add(key + " (no linear or 1×1 convolution '" + module + "' in the " + describe(component) + ")");
                continue;
            }
            Found f = modules.computeIfAbsent(component + "/" + module, k -> new Found(component, module));
            switch (target[2]) {
                case "down" -> f.down = key;
                case "up" -> f.up = key;
                default -> f.alpha = key;
            }
        }
        for (Found f : modules.values()) {
            String problem = checkShapes(source, f, targets.get(f.component).get(f.module));
            if (problem != null) {
                problems.add(problem);
            }
        }
        if (!problems.isEmpty()) {
            StringBuilder msg = new StringBuilder("not a LoRA for these Stable Diffusion 1.x models (kohya or diffusers format): ")
                    .append(problems.size()).append(problems.size() == 1 ? " entry does" : " entries do").append(" not fit: ");
            msg.append(String.join("; ", problems.subList(0, Math.min(LISTED, problems.size()))));
            if (problems.size() > LISTED) {
                msg.append("; … and ").append(problems.size() - LISTED).append(" more");
            }
            throw WeightFileException.of(file, msg.toString());
        }
        return modules;
    }

    private static String describe(String component) {
        return UNET.equals(component) ? "UNet" : "text encoder";
    }

    /** Per component: module path with every "." replaced by "_" → module path (kohya names). */
    private static Map<String, Map<String, String>> underscoredNames(Map<String, Map<String, long[]>> targets) {
        Map<String, Map<String, String>> out = new HashMap<>();
        targets.forEach((component, modules) -> {
            Map<String, String> names = new HashMap<>();
            for (String m : modules.keySet()) {
                names.put(m.replace('.', '_'), m);
            }
            out.put(component, names);
        });
        return out;
    }

    private static String[] kohyaTarget(String key, Map<String, Map<String, String>> underscored) {
        Matcher m = KOHYA.matcher(key);
        if (!m.matches()) {
            return null;
        }
        String component = m.group(1).equals("unet") ? UNET : TEXT_ENCODER;
        String module = underscored.getOrDefault(component, Map.of()).get(m.group(2));
        if (module == null) {
            return null;
        }
        String part = switch (m.group(3)) {
            case "lora_down.weight" -> "down";
            case "lora_up.weight" -> "up";
            default -> "alpha";
        };
        return new String[] {component, module, part};
    }

    private static String[] diffusersTarget(String key) {
        Matcher u = DIFFUSERS_UNET.matcher(key);
        Matcher t = DIFFUSERS_TEXT.matcher(key);
        String component;
        Matcher m;
        if (u.matches()) {
            component = UNET;
            m = u;
        } else if (t.matches()) {
            component = TEXT_ENCODER;
            m = t;
        } else {
            return null;
        }
        String module = m.group(1);
        Matcher p = PROCESSOR.matcher(module);
        if (p.matches()) {
            String which = p.group(2);
            module = p.group(1) + "." + (component.equals(UNET)
                    ? (which.equals("out") ? "to_out.0" : "to_" + which)
                    : which + "_proj");
        }
        String part = switch (m.group(2)) {
            case "down", "lora_A" -> "down";
            default -> "up";
        };
        return new String[] {component, module, part};
    }

    /** Checks one module's entries against its weight shape; returns a description of the problem or null. */
    private static String checkShapes(TensorSource source, Found f, long[] weight) {
        String where = describe(f.component) + " module " + f.module;
        if (f.down == null || f.up == null) {
            return where + " (has " + (f.down == null ? "no down" : "no up") + " matrix)";
        }
        long[] down = source.info(f.down).shape();
        long[] up = source.info(f.up).shape();
        boolean conv = weight.length == 4;
        if (conv && (weight[2] != 1 || weight[3] != 1)) {
            return where + " (only linear layers and 1×1 convolutions are supported)";
        }
        long rank = down.length > 0 ? down[0] : -1;
        long[] expectDown = conv ? new long[] {rank, weight[1], 1, 1} : new long[] {rank, weight[1]};
        long[] expectUp = conv ? new long[] {weight[0], rank, 1, 1} : new long[] {weight[0], rank};
        if (rank < 1 || !Arrays.equals(down, expectDown) || !Arrays.equals(up, expectUp)) {
            return where + " (down " + Arrays.toString(down) + " and up " + Arrays.toString(up) + " do not fit its weight "
                    + Arrays.toString(weight) + ")";
        }
        if (f.alpha != null && source.info(f.alpha).numel() != 1) {
            return where + " (alpha is not a single number)";
        }
        return null;
    }
}
