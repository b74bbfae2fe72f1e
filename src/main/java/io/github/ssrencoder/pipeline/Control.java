package io.github.ssrencoder.pipeline;

import java.nio.file.Path;
import java.util.Objects;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;

/**
 * A control image and the ControlNet that reads it (edges, depth, a segmentation map …). The image is stretched to
 * the output size with Lanczos resampling, as diffusers' ControlNet pipeline does (aspect ratio not kept).
 *
 * @param image      the control image, RGB
 * @param controlnet a diffusers ControlNet folder ({@code config.json}, {@code diffusion_pytorch_model.safetensors})
 *                   matching the Stable Diffusion UNet
 * @param scale      conditioning scale (diffusers' {@code controlnet_conditioning_scale}), 0…10
 * @param start      fraction of the denoising steps before which the ControlNet is off, 0…1
 *                   ({@code control_guidance_start})
 * @param end        fraction of the steps after which it is off again, start…1 ({@code control_guidance_end})
 * @param source     what the image is (a file name, an image title), reported in the result's parameters
 */
public record Control(RandomAccessibleInterval<ARGBType> image, Path controlnet, double scale, double start, double end,
                      String source) {

    public static final double MAX_SCALE = 10;

    public Control {
        Objects.requireNonNull(image, "control image");
        controlnet = Objects.requireNonNull(controlnet, "ControlNet folder").toAbsolutePath().normalize();
        if (image.numDimensions() != 2) {
            throw new IllegalArgumentException("control image must be 2-D RGB, got " + image.numDimensions() + " dimensions");
        }
        if (!Double.isFinite(scale) || scale < 0 || scale > MAX_SCALE) {
            throw new IllegalArgumentException("control scale must be between 0 and " + MAX_SCALE + ", got " + scale);
        }
        if (!(start >= 0 && start < end && end <= 1)) {
            throw new IllegalArgumentException("control start and end must satisfy 0 ≤ start < end ≤ 1, got start " + start
                    + " and end " + end);
        }
        source = source == null || source.isBlank() ? "image" : source;
    }

    /** A control at scale 1 over all steps. */
    public static Control of(RandomAccessibleInterval<ARGBType> image, Path controlnet) {
        return new Control(image, controlnet, 1.0, 0.0, 1.0, null);
    }

    /**
     * Whether the ControlNet acts at step {@code step} of {@code total}: diffusers'
     * {@code keep = 1 − (step/total < start or (step+1)/total > end)}.
     */
    public boolean activeAt(int step, int total) {
        return !((double) step / total < start || (double) (step + 1) / total > end);
    }
}
