package io.github.ssrencoder.pipeline;

import io.github.ssrencoder.model.AutoencoderKL;
import java.util.Locale;

/**
 * Whether the VAE decodes the final latents in tiles (diffusers' {@code enable_vae_tiling} semantics, see
 * {@link AutoencoderKL#decodeTiled}): a memory bound at the price of a small change of the image. The tiles are
 * half of diffusers' default ({@code sample_size} / 2: 256 pixels for Stable Diffusion 1.5), so that a 512² image
 * is tiled at all; the overlap and blending are diffusers'.
 */
public enum VaeTiling {
    /** Tiled when the image has more pixels than {@link #AUTO_MAX_UNTILED_PIXELS}. */
    AUTO,
    /** Always tiled (an image within one tile is still decoded in one piece, bit for bit as untiled). */
    ON,
    /** Never tiled: the exact decode, with the decoder's full-resolution activations in memory at once. */
    OFF;

    /**
     * The largest image decoded in one piece by {@link #AUTO}: 512² (Stable Diffusion 1.5's native size) is not
     * tiled. The untiled 512² decode adds about 1 GB to the loaded models in float32 (see the README).
     */
    public static final long AUTO_MAX_UNTILED_PIXELS = 512L * 512L;

    /** Parses {@code auto}, {@code on} or {@code off} (any case). */
    public static VaeTiling parse(String value) {
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException("VAE tiling must be auto, on or off, got '" + value + "'");
        }
    }

    /** Whether an image of {@code width}×{@code height} pixels is decoded in tiles. */
    public boolean tiles(int width, int height) {
        return switch (this) {
            case ON -> true;
            case OFF -> false;
            case AUTO -> (long) width * height > AUTO_MAX_UNTILED_PIXELS;
        };
    }

    /** The image-side tile size the pipeline uses with {@code vae}: half its {@link AutoencoderKL#defaultTileSize()}. */
    public static int tileSize(AutoencoderKL vae) {
        int quantum = 4 * vae.spatialScaleFactor();
        return Math.max(quantum, vae.defaultTileSize() / 2 / quantum * quantum);
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
