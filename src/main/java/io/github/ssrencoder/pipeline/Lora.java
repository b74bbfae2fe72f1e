package io.github.ssrencoder.pipeline;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A LoRA file fused into the networks at a weight: {@code W' = W + weight·(alpha/rank)·up·down} for every
 * module it covers (kohya / A1111 or diffusers format; see {@code io.LoraFile}).
 *
 * @param file   the LoRA file (.safetensors, or a torch .bin/.pt file)
 * @param weight the LoRA weight (diffusers' {@code lora_scale}, A1111's {@code <lora:name:weight>}), −10…10
 */
public record Lora(Path file, double weight) {

    public static final double MAX_WEIGHT = 10;

    public Lora {
        file = Objects.requireNonNull(file, "file").toAbsolutePath().normalize();
        if (!Double.isFinite(weight) || Math.abs(weight) > MAX_WEIGHT) {
            throw new IllegalArgumentException("LoRA weight must be between -" + MAX_WEIGHT + " and " + MAX_WEIGHT + ", got "
                    + weight + " for " + file);
        }
    }

    /**
     * Parses {@code FILE[:WEIGHT]} (weight 1 when absent). Only a number after the last colon is a weight, so
     * Windows paths such as {@code C:\loras\a.safetensors} read as files.
     */
    public static Lora parse(String spec) {
        return parse(spec, Path.of(""));
    }

    /** As {@link #parse(String)}, a relative file being relative to {@code base}. */
    public static Lora parse(String spec, Path base) {
        String s = spec.trim();
        int colon = s.lastIndexOf(':');
        if (colon > 0) {
            double w;
            try {
                w = Double.parseDouble(s.substring(colon + 1).trim());
            } catch (NumberFormatException e) {
                w = Double.NaN;
            }
            if (!Double.isNaN(w)) {
                return new Lora(base.resolve(s.substring(0, colon).trim()), w);
            }
        }
        if (s.isEmpty()) {
            throw new IllegalArgumentException("empty LoRA (expected FILE or FILE:WEIGHT)");
        }
        return new Lora(base.resolve(s), 1.0);
    }

    /** {@code FILE:WEIGHT}, as {@link #parse} reads it. */
    @Override
    public String toString() {
        return file + ":" + (weight == Math.rint(weight) ? Long.toString((long) weight) : Double.toString(weight));
    }
}
