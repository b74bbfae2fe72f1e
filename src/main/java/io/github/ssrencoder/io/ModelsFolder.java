package io.github.ssrencoder.io;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The models folder every front end uses (CLI, Fiji preferences, tests, download script):
 * <pre>
 * root/sd/             Stable Diffusion 1.5 in diffusers format, or one single-file checkpoint (below)
 * root/image_encoder/  openai/clip-vit-large-patch14
 * root/ssr/            pytorch_model.bin (aligner), pytorch_model_1.bin (UNet SSR layers), optional config.json
 * root/controlnet/     optional: the ControlNet used when a control image names none
 * </pre>
 * Stable Diffusion may also come as one single-file checkpoint in the original (LDM) layout
 * ({@link SingleFileCheckpoint}): either {@code sd/} holds no {@code model_index.json} but exactly one
 * {@code <name>.safetensors} or {@code <name>.ckpt} (with an optional {@code <name>.yaml} beside it), or the
 * checkpoint is named explicitly ({@link #open(Path, Path)}) and {@code sd/} is optional. The text encoder config,
 * tokenizer and scheduler config then come from {@code sd/text_encoder/config.json}, {@code sd/tokenizer/} and
 * {@code sd/scheduler/scheduler_config.json} where present, otherwise from {@link Sd15Defaults}.
 *
 * <p>{@link #open(Path)} checks the whole layout at once and reports everything that is missing in one message,
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
    private final Path checkpoint;

    private ModelsFolder(Path root, ModelIndex index, Path unetWeights, Path vaeWeights, Path textEncoderWeights,
                         Path imageEncoderWeights, Path checkpoint) {
        this.root = root;
        this.index = index;
        this.unetWeights = unetWeights;
        this.vaeWeights = vaeWeights;
        this.textEncoderWeights = textEncoderWeights;
        this.imageEncoderWeights = imageEncoderWeights;
        this.checkpoint = checkpoint;
    }

    /**
     * Validates the layout under {@code root}. Throws a {@link WeightFileException} listing every missing
     * folder and file, or the reason {@code sd/model_index.json} is refused.
     */
    public static ModelsFolder open(Path root) {
        return open(root, null);
    }

    /**
     * As {@link #open(Path)}, with Stable Diffusion's weights from the single-file {@code checkpoint} (when not
     * {@code null}) instead of {@code sd/}, which is then optional.
     */
    public static ModelsFolder open(Path root, Path checkpoint) {
        Path r = root.toAbsolutePath().normalize();
        if (!Files.isDirectory(r)) {
            throw new WeightFileException("models folder " + r + ": " + (Files.exists(r) ? "is not a folder" : "folder not found"));
        }
        Path single = checkpoint != null ? explicitCheckpoint(checkpoint) : checkpointInSd(r);
        List<String> missing = new ArrayList<>();
        Path unet = null;
        Path vae = null;
        Path text = null;
        if (single != null) {
            if (Files.isDirectory(r.resolve("sd/tokenizer"))) {
                requireFile(r, "sd/tokenizer/vocab.json", missing);
                requireFile(r, "sd/tokenizer/merges.txt", missing);
            }
        } else if (requireFolder(r, "sd", "Stable Diffusion 1.5 in diffusers format, or one single-file checkpoint "
                + "sd/<name>.safetensors or .ckpt", missing)) {
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
            boolean sdIncomplete = single == null && missing.stream().anyMatch(m -> m.startsWith("sd/") && !m.startsWith("sd/ "));
            throw new WeightFileException("models folder " + r + ": missing " + String.join(", missing ", missing)
                    + (sdIncomplete ? "; or, instead of a diffusers folder, sd/ holds one single-file checkpoint "
                    + "<name>.safetensors or <name>.ckpt" : ""));
        }
        ModelIndex index = single == null ? ModelIndex.read(r.resolve("sd").resolve("model_index.json")) : null;
        return new ModelsFolder(r, index, unet, vae, text, image, single);
    }

    private static Path explicitCheckpoint(Path checkpoint) {
        Path c = checkpoint.toAbsolutePath().normalize();
        if (!Files.isRegularFile(c)) {
            throw WeightFileException.of(c, Files.isDirectory(c) ? "is a folder, expected a single-file checkpoint" : "file not found");
        }
        return c;
    }

    /** The one checkpoint file in {@code sd/} when {@code sd/} is not a diffusers folder; null otherwise. */
    private static Path checkpointInSd(Path r) {
        Path sd = r.resolve("sd");
        if (!Files.isDirectory(sd) || Files.exists(sd.resolve("model_index.json"))) {
            return null;
        }
        List<Path> found = new ArrayList<>();
        try (var files = Files.list(sd)) {
            files.filter(Files::isRegularFile).filter(ModelsFolder::isCheckpointName).sorted().forEach(found::add);
        } catch (java.io.IOException e) {
            throw WeightFileException.of(sd, "cannot list: " + e.getMessage(), e);
        }
        if (found.size() > 1) {
            throw WeightFileException.of(sd, "holds " + found.size() + " checkpoint files ("
                    + String.join(", ", found.stream().map(p -> p.getFileName().toString()).toList())
                    + "): keep one, or choose one explicitly");
        }
        return found.isEmpty() ? null : found.get(0);
    }

    private static boolean isCheckpointName(Path p) {
        String n = p.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return n.endsWith(".safetensors") || n.endsWith(".ckpt");
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

    /** {@code sd/model_index.json}, parsed; {@code null} when Stable Diffusion comes from a single checkpoint file. */
    public ModelIndex modelIndex() {
        return index;
    }

    /** The single-file checkpoint that supplies Stable Diffusion's weights, when not a diffusers {@code sd/}. */
    public Optional<Path> checkpoint() {
        return Optional.ofNullable(checkpoint);
    }

    /** The text encoder's {@code config.json}: {@code sd/text_encoder/}'s, or SD1.5's for a checkpoint without one. */
    public Path textEncoderConfig() {
        return orDefault(textEncoder().resolve("config.json"), Sd15Defaults.textEncoderConfig());
    }

    /** The scheduler config: {@code sd/scheduler/}'s, or SD1.5's for a checkpoint without one. */
    public Path schedulerConfig() {
        return orDefault(scheduler().resolve("scheduler_config.json"), Sd15Defaults.schedulerConfig());
    }

    /** The tokenizer folder: {@code sd/tokenizer/}, or SD1.5's CLIP tokenizer for a checkpoint without one. */
    public Path tokenizer() {
        Path own = sd().resolve("tokenizer");
        return checkpoint == null || Files.isDirectory(own) ? own : Sd15Defaults.tokenizer();
    }

    private Path orDefault(Path own, Path bundled) {
        return checkpoint == null || Files.isRegularFile(own) ? own : bundled;
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

    /** {@code sd/scheduler/}. */
    public Path scheduler() {
        return sd().resolve("scheduler");
    }

    /** {@code image_encoder/} (CLIP ViT-L/14). */
    public Path imageEncoder() {
        return root.resolve("image_encoder");
    }

    /** The UNet weight file found (safetensors preferred); {@code null} with a single-file checkpoint. */
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

    /** {@code controlnet/} under the models folder {@code root} when it is a folder: the default ControlNet. */
    public static Optional<Path> defaultControlNet(Path root) {
        Path p = root.toAbsolutePath().normalize().resolve("controlnet");
        return Files.isDirectory(p) ? Optional.of(p) : Optional.empty();
    }

    @Override
    public String toString() {
        return "models folder " + root;
    }
}
