package io.github.ssrencoder.pipeline;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A clip instead of an image (AnimateDiff): the UNet runs with the motion adapter's temporal layers on
 * {@code frames} frames that share the prompt and the subject conditioning.
 *
 * @param motionAdapter  a diffusers {@code MotionAdapter} folder (config.json + diffusion_pytorch_model.*)
 * @param frames         frames of the clip, 1…(the adapter's {@code motion_max_seq_length}, checked when it is loaded)
 * @param frameInterval  seconds between frames, for the clip's metadata only (TIFF/ImageJ frame interval, GIF delay)
 */
public record Animation(Path motionAdapter, int frames, double frameInterval) {

    /** The official {@code generate_animate}'s frame count. */
    public static final int DEFAULT_FRAMES = 16;
    /** 8 frames per second, AnimateDiff's usual playback rate. */
    public static final double DEFAULT_FRAME_INTERVAL = 0.125;

    public Animation {
        Objects.requireNonNull(motionAdapter, "motion adapter folder");
        motionAdapter = motionAdapter.toAbsolutePath().normalize();
        if (frames < 1 || frames > 1024) {
            throw new IllegalArgumentException("frames must be between 1 and 1024, got " + frames);
        }
        if (!Double.isFinite(frameInterval) || frameInterval <= 0 || frameInterval > 3600) {
            throw new IllegalArgumentException("frame interval must be between 0 and 3600 seconds, got " + frameInterval);
        }
    }

    /** {@code frames} frames at {@link #DEFAULT_FRAME_INTERVAL}. */
    public Animation(Path motionAdapter, int frames) {
        this(motionAdapter, frames, DEFAULT_FRAME_INTERVAL);
    }
}
