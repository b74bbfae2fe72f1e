package io.github.ssrencoder.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import net.imglib2.Cursor;
import net.imglib2.RandomAccess;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.type.numeric.RealType;
import net.imglib2.view.Views;

/** Conversions between decoded tensors, masks and imglib2 images. */
final class ImageConversion {

    private ImageConversion() {
    }

    /**
     * Converts a decoded VAE output [1, 3, H, W] in [-1, 1] to an 8-bit RGB image the way diffusers'
     * postprocess and PIL do: {@code round(clamp(x/2 + 0.5, 0, 1) · 255)}.
     */
    static ArrayImg<ARGBType, IntArray> toRgb(NDArray decoded) {
        long[] s = decoded.getShape().getShape();
        int h = (int) s[2];
        int w = (int) s[3];
        float[] v;
        try (NDArray img = decoded.div(2f).add(0.5f).clip(0f, 1f).toType(DataType.FLOAT32, false)) {
            v = img.toFloatArray();
        }
        int plane = h * w;
        int[] argb = new int[plane];
        for (int i = 0; i < plane; i++) {
            int r = Math.round(v[i] * 255f);
            int g = Math.round(v[plane + i] * 255f);
            int b = Math.round(v[2 * plane + i] * 255f);
            argb[i] = 0xFF000000 | r << 16 | g << 8 | b;
        }
        return ArrayImgs.argbs(argb, w, h);
    }

    /** The {@code [0, 1]} image as floats [3, H, W] (row-major), from the decoded tensor. */
    static float[] toUnitFloats(NDArray decoded) {
        try (NDArray img = decoded.div(2f).add(0.5f).clip(0f, 1f)) {
            return img.toFloatArray();
        }
    }

    /**
     * Samples a mask over a {@code width × height} frame as row-major floats. A mask of another size is
     * stretched to the frame by nearest-neighbour sampling (the caller warns about it).
     */
    static float[] maskToFrame(RandomAccessibleInterval<? extends RealType<?>> mask, long width, long height) {
        long mw = mask.dimension(0);
        long mh = mask.dimension(1);
        float[] out = new float[Math.toIntExact(width * height)];
        if (mw == width && mh == height) {
            Cursor<? extends RealType<?>> c = Views.flatIterable(mask).cursor();
            int i = 0;
            while (c.hasNext()) {
                out[i++] = c.next().getRealFloat();
            }
            return out;
        }
        RandomAccess<? extends RealType<?>> ra = mask.randomAccess();
        long x0 = mask.min(0);
        long y0 = mask.min(1);
        for (int y = 0; y < height; y++) {
            long sy = Math.min(mh - 1, (long) Math.floor((y + 0.5) * mh / height));
            for (int x = 0; x < width; x++) {
                long sx = Math.min(mw - 1, (long) Math.floor((x + 0.5) * mw / width));
                ra.setPosition(new long[] {x0 + sx, y0 + sy});
                out[(int) (y * width + x)] = ra.get().getRealFloat();
            }
        }
        return out;
    }

    /**
     * Cuts the square {@code (x0, y0, side)} out of a row-major {@code width × height} mask; parts outside
     * the frame are 0 (outside the subject), matching black padding of the image.
     */
    static float[] cropSquare(float[] mask, long width, long height, long x0, long y0, long side) {
        if (x0 == 0 && y0 == 0 && side == width && side == height) {
            return mask;
        }
        float[] out = new float[Math.toIntExact(side * side)];
        for (long y = 0; y < side; y++) {
            long sy = y0 + y;
            if (sy < 0 || sy >= height) {
                continue;
            }
            for (long x = 0; x < side; x++) {
                long sx = x0 + x;
                if (sx >= 0 && sx < width) {
                    out[(int) (y * side + x)] = mask[(int) (sy * width + sx)];
                }
            }
        }
        return out;
    }
}
