package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import net.imglib2.Cursor;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.view.Views;

/**
 * The ControlNet's control image as diffusers' control {@code VaeImageProcessor} prepares it
 * ({@code do_convert_rgb=True, do_normalize=False}, Lanczos): stretched to the output size (aspect ratio not
 * kept, no crop) with Pillow's 8-bit Lanczos resampler, then {@code u8 / 255} in float32, channels R, G, B in
 * [0, 1]. An image that already has the output size is taken as it is, as Pillow does.
 */
public final class ControlImageProcessor {

    private ControlImageProcessor() {
    }

    /** The resized 8-bit pixels, interleaved {@code height × width × 3}. */
    public static int[] resizedRgb(RandomAccessibleInterval<ARGBType> image, int width, int height) {
        if (image.numDimensions() != 2) {
            throw new IllegalArgumentException("control image must be 2-D RGB, got " + image.numDimensions() + " dimensions");
        }
        long w = image.dimension(0);
        long h = image.dimension(1);
        if (w * h > Integer.MAX_VALUE / 3) {
            throw new IllegalArgumentException("control image is too large: " + w + "×" + h);
        }
        int[] rgb = new int[(int) (w * h * 3)];
        Cursor<ARGBType> c = Views.flatIterable(image).cursor();
        int i = 0;
        while (c.hasNext()) {
            int v = c.next().get();
            rgb[i++] = (v >> 16) & 0xFF;
            rgb[i++] = (v >> 8) & 0xFF;
            rgb[i++] = v & 0xFF;
        }
        if (w == width && h == height) {
            return rgb;
        }
        return PillowResize.resize(rgb, (int) w, (int) h, width, height, PillowResize.Filter.LANCZOS);
    }

    /**
     * {@code controlnet_cond} for a batch of {@code batch} rows: the prepared image [batch, 3, height, width],
     * every row the same (classifier-free guidance gives the unconditional and conditional halves one image).
     */
    public static NDArray prepare(RandomAccessibleInterval<ARGBType> image, int width, int height, int batch, NDManager manager) {
        int[] rgb = resizedRgb(image, width, height);
        int plane = width * height;
        float[] out = new float[batch * 3 * plane];
        for (int p = 0; p < plane; p++) {
            for (int ch = 0; ch < 3; ch++) {
                // a float32 division by 255, as numpy's astype(float32) / 255.0 (not a product with 1/255)
                out[ch * plane + p] = rgb[p * 3 + ch] / 255f;
            }
        }
        for (int b = 1; b < batch; b++) {
            System.arraycopy(out, 0, out, b * 3 * plane, 3 * plane);
        }
        return manager.create(out, new Shape(batch, 3, height, width));
    }
}
