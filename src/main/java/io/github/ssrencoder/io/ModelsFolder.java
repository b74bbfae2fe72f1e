package io.github.ssrencoder.io;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The models folder every front end uses (CLI, Fiji preferences, tests, download script):
 * <pre>
 * root/sd/             Stable Diffusion 1.5 in diffusers format
 * root/image_encoder/  openai/clip-vit-large-patch14
 * root/ssr/            pytorch_model.bin (aligner), pytorch_model_1.bin (UNet SSR layers), optional config.json
 * </pre>
 * {@link #open(Path)} checks the whole layout at once and reports everything that is missing in one message,
 * so a user fixes an incomplete download in one go.
 */
public final class ModelsFolder {

    private static final String UNET_STEM = "diffusion_pytorch_model";
    private static final String MODEL_STEM = "model";

    private final Path root;
    private final ModelIndex index;
    private final Path unetWeights;
    private final Path vaeWeights;
    private final Path textEncoderWeights;
    private final Path imageEncoderWeights;

    private ModelsFolder(Path root, ModelIndex index, Path unetWeights, Path vaeWeights, Path textEncoderWeights,
                         Path imageEncoderWeights) {
        this.root = root;
        this.index = index;
        this.unetWeights = unetWeights;
        this.vaeWeights = vaeWeights;
        this.textEncoderWeights = textEncoderWeights;
        this.imageEncoderWeights = imageEncoderWeights;
    }

    /**
     * Validates the layout under {@code root}. Throws a {@link WeightFileException} listing every missing
     * folder and file, or the reason {@code sd/model_index.json} is refused.
     */
    public static ModelsFolder open(Path root) {
        Path r = root.toAbsolutePath().normalize();
        if (!Files.isDirectory(r)) {
            throw new WeightFileException("models folder " + r + ": " + (Files.exists(r) ? "is not a folder" : "folder not found"));
        }
        List<String> missing = new ArrayList<>();
        Path unet = null;
        Path vae = null;
        Path text = null;
        if (requireFolder(r, "sd", "Stable Diffusion 1.5 in diffusers format", missing)) {
            requireFile(r, "sd/model_index.json", missing);
            unet = component(r, "sd/unet", UNET_STEM, missing);
            vae = component(r, "sd/vae", UNET_STEM, missing);
            text = component(r, "sd/text_encoder", MODEL_STEM, missing);
            if (requireFolder(r, "sd/tokenizer", "vocab.json, merges.txt", missing)) {
                requireFile(r, "sd/tokenizer/vocab.json", missing);
                requireFile(r, "sd/tokenizer/merges.txt", missing);
            }
            if (requireFolder(r, "sd/scheduler", "scheduler_config.json", missing)) {
                requireFile(r, "sd/scheduler/scheduler_config.json", missing);
            }
        }
        Path image = component(r, "image_encoder", MODEL_STEM, missing);
        if (requireFolder(r, "ssr", "pytorch_model.bin, pytorch_model_1.bin", missing)) {
            requireFile(r, "ssr/pytorch_model.bin", missing);
            requireFile(r, "ssr/pytorch_model_1.bin", missing);
        }
        if (!missing.isEmpty()) {
            throw new WeightFileException("models folder " + r + ": missing " + String.join(", missing ", missing));
        }
        ModelIndex index = ModelIndex.read(r.resolve("sd").resolve("model_index.json"));
        return new ModelsFolder(r, index, unet, vae, text, image);
    }

    private static boolean requireFolder(Path r, String rel, String contents, List<String> missing) {
        if (Files.isDirectory(r.resolve(rel))) {
            return true;
        }
        missing.add(rel + "/ (" + contents + ")");
        return false;
    }

    private static void requireFile(Path r, String rel, List<String> missing) {
        if (!Files.isRegularFile(r.resolve(rel))) {
            missing.add(rel);
        }
    }

    /** Checks a model component folder (config.json plus a weight file); returns the weight file or null. */
    private static Path component(Path r, String rel, String stem, List<String> missing) {
        List<String> names = WeightFiles.candidates(stem);
        String alternatives = names.get(0) + " or " + names.get(2);
        Path folder = r.resolve(rel);
        if (!Files.isDirectory(folder)) {
            missing.add(rel + "/ (config.json, " + alternatives + ")");
            return null;
        }
        requireFile(r, rel + "/config.json", missing);
        for (String n : names) {
            if (Files.isRegularFile(folder.resolve(n))) {
                return folder.resolve(n);
            }
        }
        missing.add(rel + "/" + names.get(0) + " (or " + String.join(", ", names.subList(1, names.size())) + ")");
        return null;
    }

    /** The models folder (absolute). */
    public Path root() {
        return root;
    }

    /** The Stable Diffusion folder {@code sd/}. */
    public Path sd() {
        return root.resolve("sd");
    }

    /** {@code sd/model_index.json}, parsed. */
    public ModelIndex modelIndex() {
        return index;
    }

    /** {@code sd/unet/}. */
    public Path unet() {
        return sd().resolve("unet");
    }

    /** {@code sd/vae/}. */
    public Path vae() {
        return sd().resolve("vae");
    }

    /** {@code sd/text_encoder/}. */
    public Path textEncoder() {
        return sd().resolve("text_encoder");
    }

    /** {@code sd/tokenizer/}. */
    public Path tokenizer() {
        return sd().resolve("tokenizer");
    }

    /** {@code sd/scheduler/}. */
    public Path scheduler() {
        return sd().resolve("scheduler");
    }

    /** {@code image_encoder/} (CLIP ViT-L/14). */
    public Path imageEncoder() {
        return root.resolve("image_encoder");
    }

    /** The UNet weight file found (safetensors preferred). */
    public Path unetWeights() {
        return unetWeights;
    }

    /** The VAE weight file found. */
    public Path vaeWeights() {
        return vaeWeights;
    }

    /** The text encoder weight file found. */
    public Path textEncoderWeights() {
        return textEncoderWeights;
    }

    /** The image encoder weight file found. */
    public Path imageEncoderWeights() {
        return imageEncoderWeights;
    }

    /** {@code ssr/pytorch_model.bin}: the subject-query aligner. */
    public Path ssrAligner() {
        return root.resolve("ssr").resolve("pytorch_model.bin");
    }

    /** {@code ssr/pytorch_model_1.bin}: the SSR attention layers of the UNet. */
    public Path ssrLayers() {
        return root.resolve("ssr").resolve("pytorch_model_1.bin");
    }

    /** {@code ssr/config.json} when present. */
    public Optional<Path> ssrConfig() {
        Path p = root.resolve("ssr").resolve("config.json");
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    @Override
    public String toString() {
        return "models folder " + root;
    }
}
