package io.github.ssrencoder.io;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A diffusers {@code model_index.json}: the pipeline class and, per component, the library and class that
 * implement it. Pipelines that are clearly not Stable Diffusion 1.x (SDXL, SD3, Flux, ...) are refused here,
 * before any weights are read.
 *
 * @param file       the file read (for messages)
 * @param className  the pipeline class ({@code _class_name})
 * @param components component name → class name, for components that are present (not {@code [null, null]})
 */
public record ModelIndex(Path file, String className, Map<String, String> components) {

    /** Pipeline name fragments of architectures this plugin cannot run. */
    private static final List<String> OTHER_ARCHITECTURES = List.of(
            "XL", "StableDiffusion3", "Flux", "Kandinsky", "Wuerstchen", "StableCascade", "PixArt", "Sana", "Lumina",
            "AuraFlow", "HunyuanDiT", "Kolors", "DeepFloyd", "IFPipeline", "StableUnCLIP", "Cascade");

    public ModelIndex {
        components = Collections.unmodifiableMap(new LinkedHashMap<>(components));
    }

    /** Reads and checks {@code file}. */
    public static ModelIndex read(Path file) {
        JsonObject o = JsonFiles.readObject(file);
        String cls = JsonFiles.getString(file, o, "_class_name", null);
        if (cls == null) {
            throw WeightFileException.of(file, "missing '_class_name': not a diffusers model_index.json");
        }
        Map<String, String> comps = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : o.entrySet()) {
            if (e.getKey().startsWith("_") || !e.getValue().isJsonArray()) {
                continue;
            }
            JsonArray pair = e.getValue().getAsJsonArray();
            if (pair.size() == 2 && !pair.get(1).isJsonNull()) {
                if (!pair.get(1).isJsonPrimitive()) {
                    throw WeightFileException.of(file, "component '" + e.getKey() + "' must be [library, class name], got " + pair);
                }
                comps.put(e.getKey(), pair.get(1).getAsString());
            }
        }
        ModelIndex index = new ModelIndex(file, cls, comps);
        index.requireStableDiffusion1();
        return index;
    }

    /** The class of a component, or {@code null} when the index does not list it. */
    public String component(String name) {
        return components.get(name);
    }

    private void requireStableDiffusion1() {
        for (String other : OTHER_ARCHITECTURES) {
            if (className.contains(other)) {
                throw WeightFileException.of(file, "pipeline '" + className + "' is not Stable Diffusion 1.x; "
                        + "SSR-Encoder needs a Stable Diffusion 1.5 folder in diffusers format (StableDiffusionPipeline)");
            }
        }
        if (!className.toLowerCase(Locale.ROOT).contains("stablediffusion")) {
            throw WeightFileException.of(file, "pipeline '" + className + "' is not a Stable Diffusion pipeline; "
                    + "SSR-Encoder needs a Stable Diffusion 1.5 folder in diffusers format (StableDiffusionPipeline)");
        }
        if (components.containsKey("text_encoder_2") || components.containsKey("tokenizer_2")) {
            throw WeightFileException.of(file, "pipeline '" + className + "' has a second text encoder (SDXL-style), "
                    + "not Stable Diffusion 1.x");
        }
        expect("unet", "UNet2DConditionModel");
        expect("vae", "AutoencoderKL");
        expect("text_encoder", "CLIPTextModel");
    }

    private void expect(String component, String cls) {
        String found = components.get(component);
        if (found != null && !found.equals(cls)) {
            throw WeightFileException.of(file, "component '" + component + "' is a " + found + ", expected " + cls
                    + " (Stable Diffusion 1.x)");
        }
    }
}
