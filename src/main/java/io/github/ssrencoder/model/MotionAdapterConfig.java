package io.github.ssrencoder.model;

import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.WeightFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code config.json} of a diffusers {@code MotionAdapter} (AnimateDiff's motion modules), with diffusers
 * 0.23.1's defaults for absent keys.
 *
 * @param blockOutChannels              channels of the UNet blocks the adapter was trained for
 * @param motionLayersPerBlock          motion modules per down block (up blocks have one more)
 * @param motionMidBlockLayersPerBlock  motion modules of the mid block
 * @param motionNumAttentionHeads       heads of every temporal attention
 * @param motionNormNumGroups           GroupNorm groups the adapter was built with
 * @param motionMaxSeqLength            rows of the positional table: the most frames a clip may have
 * @param useMotionMidBlock             whether the mid block has motion modules
 */
public record MotionAdapterConfig(List<Integer> blockOutChannels, int motionLayersPerBlock, int motionMidBlockLayersPerBlock,
                                  int motionNumAttentionHeads, int motionNormNumGroups, int motionMaxSeqLength,
                                  boolean useMotionMidBlock) {

    public MotionAdapterConfig {
        blockOutChannels = List.copyOf(blockOutChannels);
    }

    /** Parses and validates {@code file}. */
    public static MotionAdapterConfig read(Path file) {
        JsonObject o = JsonFiles.readObject(file);
        String cls = JsonFiles.getString(file, o, "_class_name", "MotionAdapter");
        if (!cls.equals("MotionAdapter")) {
            throw ConfigValues.unsupported(file, "_class_name", cls, "expected MotionAdapter (an AnimateDiff motion adapter folder)");
        }
        List<Integer> channels = ConfigValues.ints(file, o, "block_out_channels", List.of(320, 640, 1280, 1280));
        int layers = positive(file, o, "motion_layers_per_block", 2);
        int midLayers = positive(file, o, "motion_mid_block_layers_per_block", 1);
        int heads = positive(file, o, "motion_num_attention_heads", 8);
        int groups = positive(file, o, "motion_norm_num_groups", 32);
        int maxSeq = positive(file, o, "motion_max_seq_length", 32);
        for (int c : channels) {
            if (c % heads != 0) {
                throw WeightFileException.of(file, c + " channels ('block_out_channels') are not divisible by "
                        + heads + " heads ('motion_num_attention_heads')");
            }
        }
        return new MotionAdapterConfig(channels, layers, midLayers, heads, groups, maxSeq,
                JsonFiles.getBoolean(file, o, "use_motion_mid_block", true));
    }

    private static int positive(Path file, JsonObject o, String key, int fallback) {
        int v = JsonFiles.getInt(file, o, key, fallback);
        if (v < 1) {
            throw WeightFileException.of(file, "'" + key + "' must be positive, got " + v);
        }
        return v;
    }
}
