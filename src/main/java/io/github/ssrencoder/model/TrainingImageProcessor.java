package io.github.ssrencoder.model;

import net.imglib2.Cursor;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.view.Views;

/**
 * The VAE input of the official {@code train.py}: torchvision's {@code Resize(R, BILINEAR)} (Pillow's bilinear
 * resampling of the shortest edge to R, the other edge {@code int(R·long/short)}), {@code CenterCrop(R)} (top-left
 * corner {@code round((size − R)/2)}, half to even), {@code ToTensor()} (a float32 division by 255), an optional
 * horizontal flip, and {@code Normalize([0.5], [0.5])}, giving values in [−1, 1].
 */
public final class TrainingImageProcessor {

    private final int resolution;

    /** A processor for square training crops of {@code resolution} pixels. */
    public TrainingImageProcessor(int resolution) {
        if (resolution < 8) {
            throw new IllegalArgumentException("the training resolution must be at least 8 pixels, got " + resolution);
        }
        this.resolution = resolution;
    }

    /** The side of the square crop. */
    public int resolution() {
        return resolution;
    }

    /** The resized and cropped 8-bit image, interleaved RGB ({@code R × R × 3} values 0…255), before the flip. */
    public int[] resizeAndCrop(RandomAccessibleInterval<ARGBType> image) {
        if (image.numDimensions() != 2) {
            throw new IllegalArgumentException("training image must be 2-D RGB, got " + image.numDimensions() + " dimensions");
        }
        long w = image.dimension(0);
        long h = image.dimension(1);
        if (w * h > Integer.MAX_VALUE / 3) {
            throw new IllegalArgumentException("training image is too large: " + w + "×" + h);
        }
        int iw = (int) w;
        int ih = (int) h;
        int[] rgb = new int[iw * ih * 3];
        Cursor<ARGBType> c = Views.flatIterable(image).localizingCursor();
        while (c.hasNext()) {
            int v = c.next().get();
            long x = c.getLongPosition(0) - image.min(0);
            long y = c.getLongPosition(1) - image.min(1);
            int o = (int) ((y * iw + x) * 3);
            rgb[o] = (v >> 16) & 0xFF;
            rgb[o + 1] = (v >> 8) & 0xFF;
            rgb[o + 2] = v & 0xFF;
        }
        int rw;
        int rh;
        if (iw <= ih) {
            rw = resolution;
            rh = (int) ((long) resolution * ih / iw);
        } else {
            rh = resolution;
            rw = (int) ((long) resolution * iw / ih);
        }
        int[] resized = rw == iw && rh == ih ? rgb : PillowResize.resize(rgb, iw, ih, rw, rh, PillowResize.Filter.BILINEAR);
        int top = (int) Math.rint((rh - resolution) / 2.0);
        int left = (int) Math.rint((rw - resolution) / 2.0);
        int[] out = new int[resolution * resolution * 3];
        for (int y = 0; y < resolution; y++) {
            System.arraycopy(resized, ((y + top) * rw + left) * 3, out, y * resolution * 3, resolution * 3);
        }
        return out;
    }

    /** {@code pixel_values} of one image, channel-first {@code [3, R, R]}, flipped left–right when {@code flip}. */
    public float[] pixelValues(RandomAccessibleInterval<ARGBType> image, boolean flip) {
        int[] u8 = resizeAndCrop(image);
        int r = resolution;
        float[] out = new float[3 * r * r];
        for (int y = 0; y < r; y++) {
            for (int x = 0; x < r; x++) {
                int sx = flip ? r - 1 - x : x;
                for (int ch = 0; ch < 3; ch++) {
                    float v = u8[(y * r + sx) * 3 + ch] / 255f;
                    out[(ch * r + y) * r + x] = (v - 0.5f) / 0.5f;
                }
            }
        }
        return out;
    }
}
