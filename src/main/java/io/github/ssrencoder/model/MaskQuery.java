package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.io.WeightFileException;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * The mask query of SSR-Encoder: instead of text alone selecting the subject, a binary mask over the
 * reference image biases the aligner's attention toward the patches it covers.
 *
 * <p>As in the official code the mask is binarised at 0.5, resized to the vision patch grid with
 * bilinear interpolation (half-pixel centres, no antialiasing — what {@code transforms.Resize} does to
 * tensors in torchvision 0.14), and turned into a bias added to the attention scores before the softmax.
 * The mask is resized straight to the grid, with no crop, so it lines up with the image for square
 * references only (as in the official code).
 */
public final class MaskQuery {

    private MaskQuery() {
    }

    /**
     * A mask as values in [0, 1], row-major.
     *
     * @param values {@code width × height} values, row by row
     */
    public record Mask(float[] values, int width, int height) {
        public Mask {
            if (width <= 0 || height <= 0 || values.length != (long) width * height) {
                throw new IllegalArgumentException("a " + width + "×" + height + " mask needs " + ((long) width * height)
                        + " values, got " + values.length);
            }
        }
    }

    /**
     * Reads a mask image as the official code does ({@code load_image} → RGB, {@code ToTensor}, channel 0):
     * grey images give their grey level, colour images their red channel, each divided by the maximum
     * sample value (255 for 8-bit images).
     */
    public static Mask read(Path file) {
        BufferedImage image;
        try {
            if (!Files.isRegularFile(file)) {
                throw WeightFileException.of(file, "mask image not found");
            }
            image = ImageIO.read(file.toFile());
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot read mask image: " + e.getMessage(), e);
        }
        if (image == null) {
            throw WeightFileException.of(file, "not an image format Java can decode (use PNG, TIFF, BMP or JPEG)");
        }
        int w = image.getWidth();
        int h = image.getHeight();
        float[] values = new float[w * h];
        int bands = image.getColorModel().getNumColorComponents();
        boolean indexed = image.getColorModel() instanceof java.awt.image.IndexColorModel;
        if (bands == 1 && !indexed) {
            // Grey levels are read from the raster: getRGB would gamma-convert them.
            Raster raster = image.getRaster();
            float max = (1 << raster.getSampleModel().getSampleSize(0)) - 1;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    values[y * w + x] = raster.getSample(x, y, 0) / max;
                }
            }
        } else {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    values[y * w + x] = ((image.getRGB(x, y) >> 16) & 0xff) / 255f;
                }
            }
        }
        return new Mask(values, w, h);
    }

    /** {@link #toPatchGrid(float[], int, int, int)} of a read mask. */
    public static float[] toPatchGrid(Mask mask, int grid) {
        return toPatchGrid(mask.values(), mask.width(), mask.height(), grid);
    }

    /**
     * Binarises {@code mask} (row-major {@code width × height}) at 0.5 and resizes it bilinearly to a
     * {@code grid × grid} patch grid, row-major.
     *
     * @throws IllegalArgumentException when no value exceeds 0.5 (an empty mask selects nothing)
     */
    public static float[] toPatchGrid(float[] mask, int width, int height, int grid) {
        if (width <= 0 || height <= 0 || mask.length != (long) width * height) {
            throw new IllegalArgumentException("a " + width + "×" + height + " mask needs " + ((long) width * height)
                    + " values, got " + mask.length);
        }
        if (grid <= 0) {
            throw new IllegalArgumentException("patch grid must be positive, got " + grid);
        }
        float[] binary = new float[mask.length];
        boolean any = false;
        for (int i = 0; i < mask.length; i++) {
            if (mask[i] > 0.5f) {
                binary[i] = 1f;
                any = true;
            }
        }
        if (!any) {
            throw new IllegalArgumentException("the mask is empty: no pixel above 0.5 (mark the subject with values above half of full scale)");
        }
        int[] y0 = new int[grid];
        int[] y1 = new int[grid];
        float[] wy = new float[grid];
        int[] x0 = new int[grid];
        int[] x1 = new int[grid];
        float[] wx = new float[grid];
        sourceTaps(height, grid, y0, y1, wy);
        sourceTaps(width, grid, x0, x1, wx);
        float[] out = new float[grid * grid];
        for (int oy = 0; oy < grid; oy++) {
            float b = wy[oy];
            float a = 1f - b;
            for (int ox = 0; ox < grid; ox++) {
                float d = wx[ox];
                float c = 1f - d;
                float top = c * binary[y0[oy] * width + x0[ox]] + d * binary[y0[oy] * width + x1[ox]];
                float bottom = c * binary[y1[oy] * width + x0[ox]] + d * binary[y1[oy] * width + x1[ox]];
                out[oy * grid + ox] = a * top + b * bottom;
            }
        }
        return out;
    }

    /** PyTorch's half-pixel source coordinates for a bilinear resize from {@code in} to {@code out} samples. */
    private static void sourceTaps(int in, int out, int[] lo, int[] hi, float[] frac) {
        float ratio = (float) in / out;
        for (int i = 0; i < out; i++) {
            float src = Math.max(ratio * (i + 0.5f) - 0.5f, 0f);
            int l = (int) src;
            lo[i] = l;
            hi[i] = l < in - 1 ? l + 1 : l;
            frac[i] = src - l;
        }
    }

    /**
     * The aligner score bias of a resized mask: +1 on the CLS column and {@code w·m·(1 + w) − w} on a patch
     * with mask value m, w = {@code maskWeight} (the official {@code M − (1 − M)·w} with
     * {@code M = [1, w·m…]}; the weight enters twice, as in the official code). Shape [1, 1, 1 + grid²].
     */
    public static NDArray scoreBias(float[] gridMask, float maskWeight, NDManager manager) {
        if (!Float.isFinite(maskWeight)) {
            throw new IllegalArgumentException("mask weight must be a finite number, got " + maskWeight);
        }
        float[] bias = new float[gridMask.length + 1];
        bias[0] = 1f;
        for (int i = 0; i < gridMask.length; i++) {
            float m = maskWeight * gridMask[i];
            bias[i + 1] = m - (1f - m) * maskWeight;
        }
        return manager.create(bias, new Shape(1, 1, bias.length));
    }

    /** Side of the square patch grid for {@code tokens} vision tokens (one CLS token plus grid² patches). */
    public static int gridSide(long tokens) {
        long patches = tokens - 1;
        long side = Math.round(Math.sqrt((double) Math.max(patches, 0)));
        if (patches <= 0 || side * side != patches) {
            throw new IllegalArgumentException("vision tokens must be one CLS token plus a square patch grid, got " + tokens);
        }
        return (int) side;
    }
}
