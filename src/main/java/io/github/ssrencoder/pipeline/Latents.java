package io.github.ssrencoder.pipeline;

import java.util.Arrays;

/**
 * A latent tensor held in Java memory (row-major float32), so that callers outside the numerical layers
 * (CLI, Fiji) can pass initial noise in and get final latents out without touching the engine.
 *
 * @param shape e.g. {@code [1, 4, H/8, W/8]}
 * @param data  row-major values, {@code product(shape)} of them
 */
public record Latents(long[] shape, float[] data) {

    public Latents {
        shape = shape.clone();
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != data.length) {
            throw new IllegalArgumentException("latents of shape " + Arrays.toString(shape) + " need " + n + " values, got " + data.length);
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }
}
