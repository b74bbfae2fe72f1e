package io.github.ssrencoder.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds and opens the weight file of a model component folder the way diffusers and transformers do:
 * safetensors preferred, {@code .bin} (torch zip) as fallback, half-precision {@code .fp16} variants accepted.
 */
public final class WeightFiles {

    private WeightFiles() {
    }

    /**
     * Opens a weight file by its content: a zip is a {@code torch.save} checkpoint, anything else safetensors
     * unless its name says it is a torch file ({@code .bin}, {@code .ckpt}, {@code .pt}, {@code .pth}).
     */
    public static TensorSource open(Path file) {
        if (!Files.isRegularFile(file)) {
            throw WeightFileException.of(file, Files.isDirectory(file) ? "is a folder, expected a weight file" : "file not found");
        }
        if (isZip(file)) {
            return TorchCheckpoint.open(file);
        }
        String name = file.getFileName().toString();
        if (name.endsWith(".bin") || name.endsWith(".ckpt") || name.endsWith(".pt") || name.endsWith(".pth")) {
            return TorchCheckpoint.open(file);
        }
        return SafetensorsFile.open(file);
    }

    private static boolean isZip(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] magic = in.readNBytes(4);
            return magic.length == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * The candidate file names for a component whose weights are called {@code stem} (e.g.
     * {@code diffusion_pytorch_model} or {@code model}), in order of preference.
     */
    public static List<String> candidates(String stem) {
        List<String> names = new ArrayList<>();
        names.add(stem + ".safetensors");
        names.add(stem + ".fp16.safetensors");
        String bin = stem.equals("model") ? "pytorch_model" : stem;
        names.add(bin + ".bin");
        names.add(bin + ".fp16.bin");
        return names;
    }

    /** The first existing candidate in {@code folder}, or a clear error listing what was looked for. */
    public static Path find(Path folder, String stem) {
        if (!Files.isDirectory(folder)) {
            throw WeightFileException.of(folder, "folder not found");
        }
        List<String> names = candidates(stem);
        for (String n : names) {
            Path p = folder.resolve(n);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        throw WeightFileException.of(folder, "no weight file found (looked for " + String.join(", ", names) + ")");
    }

    /** Opens the preferred weight file of a component folder. */
    public static TensorSource openIn(Path folder, String stem) {
        return open(find(folder, stem));
    }
}
