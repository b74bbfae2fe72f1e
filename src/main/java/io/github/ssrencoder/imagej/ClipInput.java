package io.github.ssrencoder.imagej;

import ij.ImagePlus;
import ij.measure.Calibration;
import io.github.ssrencoder.model.MotionAdapterConfig;
import io.github.ssrencoder.pipeline.Animation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A clip instead of images (AnimateDiff), from the macro keys {@code frames=…} ({@code 0} = images),
 * {@code motion_adapter=[folder]} (empty = the Settings' motion adapter) and {@code frame_interval=…} (seconds).
 *
 * @param frames        frames of the clip
 * @param motionAdapter the motion adapter folder, blank for the Settings' one
 * @param frameInterval seconds between frames (the result's time calibration)
 */
public record ClipInput(int frames, String motionAdapter, double frameInterval) {

    /** The clip of these keys, or {@code null} when {@code frames} is 0 (images). */
    public static ClipInput of(int frames, String motionAdapter, double frameInterval) {
        if (frames < 0) {
            throw new IllegalArgumentException("frames must be 0 (images) or more, got " + frames);
        }
        return frames == 0 ? null : new ClipInput(frames, motionAdapter == null ? "" : motionAdapter.trim(), frameInterval);
    }

    /** The pipeline's animation, with the Settings' motion adapter when none is given here. */
    public Animation toAnimation(SsrSettings settings) {
        Path folder;
        if (!motionAdapter.isBlank()) {
            folder = checkAdapterFolder(Path.of(motionAdapter));
        } else if (settings.motionAdapter() != null) {
            folder = settings.motionAdapter();
        } else {
            throw new IllegalArgumentException("a clip (frames > 0) needs a motion adapter: choose its folder in SSR-Encoder "
                    + "Settings or give motion_adapter=[folder]");
        }
        return new Animation(folder, frames, frameInterval);
    }

    /** The macro keys of this clip, for the result's Info. */
    public void describe(Map<String, String> into, Animation animation) {
        into.put("frames", Integer.toString(frames));
        into.put("motion_adapter", animation.motionAdapter().toString());
        into.put("frame_interval", Double.toString(frameInterval));
    }

    /** Makes {@code result} (one slice per frame) a hyperstack with the frames on the time axis, calibrated in seconds. */
    public void toHyperstack(ImagePlus result) {
        result.setDimensions(1, 1, result.getStackSize());
        result.setOpenAsHyperStack(true);
        Calibration cal = result.getCalibration();
        cal.frameInterval = frameInterval;
        cal.fps = 1.0 / frameInterval;
        cal.setTimeUnit("sec");
    }

    /** {@code folder} when it holds a motion adapter's {@code config.json} (checked), absolute and normalised. */
    public static Path checkAdapterFolder(Path folder) {
        Path abs = folder.toAbsolutePath().normalize();
        if (!Files.isDirectory(abs)) {
            throw new IllegalArgumentException("motion adapter folder " + abs + " not found (a diffusers MotionAdapter folder "
                    + "with config.json and diffusion_pytorch_model.safetensors)");
        }
        MotionAdapterConfig.read(abs.resolve("config.json"));
        return abs;
    }
}
