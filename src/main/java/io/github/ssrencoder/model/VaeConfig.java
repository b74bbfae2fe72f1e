package io.github.ssrencoder.model;

import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.WeightFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code vae/config.json} of a diffusers {@code AutoencoderKL}, with diffusers 0.23.1's defaults for absent
 * keys ({@code scaling_factor} 0.18215). Only the Stable Diffusion layout (DownEncoderBlock2D /
 * UpDecoderBlock2D, KL latent) is accepted.
 */
public record VaeConfig(int inChannels, int outChannels, List<Integer> blockOutChannels, int layersPerBlock, String actFn,
                        int latentChannels, int normNumGroups, Integer sampleSize, float scalingFactor, boolean forceUpcast,
                        boolean midBlockAddAttention) {

    public VaeConfig {
        blockOutChannels = List.copyOf(blockOutChannels);
    }

    /** Parses and validates {@code file}. */
    public static VaeConfig read(Path file) {
        return fromJson(file, JsonFiles.readObject(file));
    }

    /** Validates a config object read from {@code file} (named in errors), e.g. one derived from an original yaml. */
    public static VaeConfig fromJson(Path file, JsonObject o) {
        String cls = JsonFiles.getString(file, o, "_class_name", "AutoencoderKL");
        if (!cls.equals("AutoencoderKL")) {
            throw ConfigValues.unsupported(file, "_class_name", cls, "expected AutoencoderKL");
        }
        String why = "only the Stable Diffusion AutoencoderKL layout is supported";
        ConfigValues.requireOneOf(file, o, "act_fn", why, "silu", "swish");
        ConfigValues.requireOneOf(file, o, "use_quant_conv", why, "true");
        ConfigValues.requireOneOf(file, o, "use_post_quant_conv", why, "true");
        ConfigValues.requireAbsent(file, o, "shift_factor", why);
        ConfigValues.requireAbsent(file, o, "latents_mean", why);
        List<Integer> channels = ConfigValues.ints(file, o, "block_out_channels", List.of(64));
        int n = channels.size();
        List<String> down = ConfigValues.strings(file, o, "down_block_types", java.util.Collections.nCopies(n, "DownEncoderBlock2D"));
        List<String> up = ConfigValues.strings(file, o, "up_block_types", java.util.Collections.nCopies(n, "UpDecoderBlock2D"));
        if (down.size() != n || up.size() != n) {
            throw WeightFileException.of(file, "'down_block_types' (" + down.size() + ") and 'up_block_types' (" + up.size()
                    + ") must have one entry per 'block_out_channels' (" + n + ")");
        }
        for (String t : down) {
            if (!t.equals("DownEncoderBlock2D")) {
                throw ConfigValues.unsupported(file, "down_block_types", t, "supported: DownEncoderBlock2D");
            }
        }
        for (String t : up) {
            if (!t.equals("UpDecoderBlock2D")) {
                throw ConfigValues.unsupported(file, "up_block_types", t, "supported: UpDecoderBlock2D");
            }
        }
        int groups = JsonFiles.getInt(file, o, "norm_num_groups", 32);
        if (groups < 1) {
            throw WeightFileException.of(file, "'norm_num_groups' must be at least 1, got " + groups);
        }
        for (int c : channels) {
            if (c % groups != 0) {
                throw WeightFileException.of(file, c + " channels are not divisible into " + groups + " groups ('norm_num_groups')");
            }
        }
        Integer sampleSize = o.has("sample_size") && !o.get("sample_size").isJsonNull() && !o.get("sample_size").isJsonArray()
                ? JsonFiles.getInt(file, o, "sample_size", 0) : null;
        return new VaeConfig(
                JsonFiles.getInt(file, o, "in_channels", 3),
                JsonFiles.getInt(file, o, "out_channels", 3),
                channels,
                JsonFiles.getInt(file, o, "layers_per_block", 1),
                JsonFiles.getString(file, o, "act_fn", "silu"),
                JsonFiles.getInt(file, o, "latent_channels", 4),
                groups,
                sampleSize,
                (float) JsonFiles.getDouble(file, o, "scaling_factor", 0.18215),
                JsonFiles.getBoolean(file, o, "force_upcast", true),
                JsonFiles.getBoolean(file, o, "mid_block_add_attention", true));
    }
}
