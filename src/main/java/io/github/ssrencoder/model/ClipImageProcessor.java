package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.pipeline.Box;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import java.nio.file.Path;
import java.util.Arrays;
import net.imglib2.Cursor;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.view.Views;

/**
 * transformers' {@code CLIPImageProcessor}: resize the shortest edge to {@code shortestEdge} with Pillow's
 * bicubic filter on 8-bit RGB, center-crop, rescale by 1/255 and normalise with the CLIP mean and std.
 * The official SSR code always uses the defaults ({@link #defaults()}), whatever the image encoder's
 * {@code preprocessor_config.json} says. Before that, a {@link ReferenceFraming} may pad the image to a
 * square or crop it to a box; {@link #region} reports which source square ends up in the output, so a
 * mask can follow the identical geometry.
 */
public final class ClipImageProcessor {

    /** Pillow's number for the bicubic filter in {@code resample}. */
    private static final int PIL_BICUBIC = 3;

    /**
     * The square (or, for a non-square crop size, rectangle) of source pixel coordinates that becomes the
     * processor's output, in continuous coordinates (pixel {@code i} covers {@code [i, i+1)}); it extends
     * outside the image where padding was added.
     *
     * @param x0     left edge
     * @param y0     top edge
     * @param width  width in source pixels
     * @param height height in source pixels
     */
    public record SourceRegion(double x0, double y0, double width, double height) {
        /** The side of the region (its larger extent; width and height differ only by the resize rounding). */
        public double side() {
            return Math.max(width, height);
        }
    }

    private final boolean doResize;
    private final int shortestEdge;
    private final boolean doCenterCrop;
    private final int cropHeight;
    private final int cropWidth;
    private final boolean doRescale;
    private final double rescaleFactor;
    private final boolean doNormalize;
    private final float[] mean;
    private final float[] std;

    private ClipImageProcessor(boolean doResize, int shortestEdge, boolean doCenterCrop, int cropHeight, int cropWidth,
                               boolean doRescale, double rescaleFactor, boolean doNormalize, float[] mean, float[] std) {
        if (shortestEdge < 1 || cropHeight < 1 || cropWidth < 1) {
            throw new IllegalArgumentException("image sizes must be positive: shortest edge " + shortestEdge + ", crop "
                    + cropWidth + "×" + cropHeight);
        }
        if (mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("image_mean and image_std need 3 values (RGB)");
        }
        this.doResize = doResize;
        this.shortestEdge = shortestEdge;
        this.doCenterCrop = doCenterCrop;
        this.cropHeight = cropHeight;
        this.cropWidth = cropWidth;
        this.doRescale = doRescale;
        this.rescaleFactor = rescaleFactor;
        this.doNormalize = doNormalize;
        this.mean = mean.clone();
        this.std = std.clone();
    }

    /** {@code CLIPImageProcessor()}: shortest edge 224, bicubic, center crop 224×224, 1/255, CLIP mean/std. */
    public static ClipImageProcessor defaults() {
        return new ClipImageProcessor(true, 224, true, 224, 224, true, 1 / 255.0, true,
                new float[] {0.48145466f, 0.4578275f, 0.40821073f}, new float[] {0.26862954f, 0.26130258f, 0.27577711f});
    }

    /**
     * Reads a {@code preprocessor_config.json}, in the current format ({@code size: {shortest_edge}},
     * {@code crop_size: {height, width}}) or the legacy one (plain integers); absent keys take the defaults.
     * Only the bicubic filter is supported.
     */
    public static ClipImageProcessor read(Path file) {
        JsonObject o = JsonFiles.readObject(file);
        ClipImageProcessor d = defaults();
        int resample = JsonFiles.getInt(file, o, "resample", PIL_BICUBIC);
        if (resample != PIL_BICUBIC) {
            throw WeightFileException.of(file, "resample " + resample + " is not supported (only 3 = bicubic)");
        }
        int shortest = d.shortestEdge;
        JsonElement size = o.get("size");
        if (size != null && !size.isJsonNull()) {
            if (size.isJsonPrimitive()) {
                shortest = JsonFiles.getInt(file, o, "size", shortest);
            } else if (size.isJsonObject() && size.getAsJsonObject().has("shortest_edge")) {
                shortest = JsonFiles.getInt(file, size.getAsJsonObject(), "shortest_edge", shortest);
            } else {
                throw WeightFileException.of(file, "'size' must be an integer or {\"shortest_edge\": n}, got " + size);
            }
        }
        int cropH = d.cropHeight;
        int cropW = d.cropWidth;
        JsonElement crop = o.get("crop_size");
        if (crop != null && !crop.isJsonNull()) {
            if (crop.isJsonPrimitive()) {
                cropH = cropW = JsonFiles.getInt(file, o, "crop_size", cropH);
            } else if (crop.isJsonObject()) {
                cropH = JsonFiles.requireInt(file, crop.getAsJsonObject(), "height");
                cropW = JsonFiles.requireInt(file, crop.getAsJsonObject(), "width");
            } else {
                throw WeightFileException.of(file, "'crop_size' must be an integer or {\"height\", \"width\"}, got " + crop);
            }
        }
        try {
            return new ClipImageProcessor(
                    JsonFiles.getBoolean(file, o, "do_resize", true), shortest,
                    JsonFiles.getBoolean(file, o, "do_center_crop", true), cropH, cropW,
                    JsonFiles.getBoolean(file, o, "do_rescale", true),
                    JsonFiles.getDouble(file, o, "rescale_factor", d.rescaleFactor),
                    JsonFiles.getBoolean(file, o, "do_normalize", true),
                    floats(file, o, "image_mean", d.mean), floats(file, o, "image_std", d.std));
        } catch (IllegalArgumentException e) {
            throw WeightFileException.of(file, e.getMessage());
        }
    }

    private static float[] floats(Path file, JsonObject o, String key, float[] fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (!e.isJsonArray()) {
            throw WeightFileException.of(file, "'" + key + "' must be a list of numbers, got " + e);
        }
        JsonArray a = e.getAsJsonArray();
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsFloat();
        }
        return out;
    }

    /** The framed image before resizing: its size and where its top-left corner lies in source coordinates. */
    private record Framed(long offsetX, long offsetY, long width, long height) {
    }

    private static Framed frame(long width, long height, ReferenceFraming framing, Box box) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("image must be at least 1×1 pixels, got " + width + "×" + height);
        }
        ReferenceFraming f = framing == null ? ReferenceFraming.CENTER_CROP : framing;
        return switch (f) {
            case CENTER_CROP -> new Framed(0, 0, width, height);
            case PAD_TO_SQUARE -> {
                long side = Math.max(width, height);
                yield new Framed(-((side - width) / 2), -((side - height) / 2), side, side);
            }
            case CROP_TO_BOX -> {
                if (box == null) {
                    throw new IllegalArgumentException("CROP_TO_BOX framing needs a crop box");
                }
                long x0 = Math.max(box.x(), 0);
                long y0 = Math.max(box.y(), 0);
                long x1 = Math.min(box.x() + box.width(), width);
                long y1 = Math.min(box.y() + box.height(), height);
                if (x1 <= x0 || y1 <= y0) {
                    throw new IllegalArgumentException("crop box " + box + " does not overlap the " + width + "×" + height + " image");
                }
                yield new Framed(x0, y0, x1 - x0, y1 - y0);
            }
        };
    }

    /** Size after the shortest-edge resize, as transformers computes it (long edge truncated). */
    private int[] resizedSize(long w, long h) {
        if (!doResize) {
            return new int[] {Math.toIntExact(w), Math.toIntExact(h)};
        }
        long shortSide = Math.min(w, h);
        long longSide = Math.max(w, h);
        int newLong = (int) ((double) (shortestEdge * longSide) / shortSide);
        return w <= h ? new int[] {shortestEdge, newLong} : new int[] {newLong, shortestEdge};
    }

    private int[] cropOrigin(int rw, int rh) {
        if (!doCenterCrop) {
            return new int[] {0, 0};
        }
        if (rw < cropWidth || rh < cropHeight) {
            throw new IllegalArgumentException("resized image " + rw + "×" + rh + " is smaller than the crop " + cropWidth + "×" + cropHeight);
        }
        return new int[] {(rw - cropWidth) / 2, (rh - cropHeight) / 2};
    }

    /**
     * The source square that the output covers, for an image of {@code width × height} pixels framed by
     * {@code framing} (and {@code box} for {@link ReferenceFraming#CROP_TO_BOX}).
     */
    public SourceRegion region(long width, long height, ReferenceFraming framing, Box box) {
        Framed fr = frame(width, height, framing, box);
        int[] rs = resizedSize(fr.width, fr.height);
        int[] origin = cropOrigin(rs[0], rs[1]);
        double sx = (double) fr.width / rs[0];
        double sy = (double) fr.height / rs[1];
        int outW = doCenterCrop ? cropWidth : rs[0];
        int outH = doCenterCrop ? cropHeight : rs[1];
        return new SourceRegion(fr.offsetX + origin[0] * sx, fr.offsetY + origin[1] * sy, outW * sx, outH * sy);
    }

    /**
     * The resized and cropped 8-bit image, channel-first ({@code 3 × H × W} values 0…255): the processor's
     * output before rescaling and normalisation.
     */
    public int[] resizeAndCrop(RandomAccessibleInterval<ARGBType> image, ReferenceFraming framing, Box box) {
        return pixels(image, framing, box).chw;
    }

    /** 8-bit channel-first pixels and their size. */
    private record Pixels(int[] chw, int width, int height) {
    }

    private Pixels pixels(RandomAccessibleInterval<ARGBType> image, ReferenceFraming framing, Box box) {
        if (image.numDimensions() != 2) {
            throw new IllegalArgumentException("reference image must be 2-D RGB, got " + image.numDimensions() + " dimensions");
        }
        long w = image.dimension(0);
        long h = image.dimension(1);
        Framed fr = frame(w, h, framing, box);
        if (fr.width * fr.height > Integer.MAX_VALUE / 3) {
            throw new IllegalArgumentException("reference image is too large: " + fr.width + "×" + fr.height);
        }
        int fw = (int) fr.width;
        int fh = (int) fr.height;
        int[] rgb = new int[fw * fh * 3];
        Cursor<ARGBType> c = Views.flatIterable(image).localizingCursor();
        while (c.hasNext()) {
            int v = c.next().get();
            long x = c.getLongPosition(0) - image.min(0) - fr.offsetX;
            long y = c.getLongPosition(1) - image.min(1) - fr.offsetY;
            if (x >= 0 && x < fw && y >= 0 && y < fh) {
                int o = (int) ((y * fw + x) * 3);
                rgb[o] = (v >> 16) & 0xFF;
                rgb[o + 1] = (v >> 8) & 0xFF;
                rgb[o + 2] = v & 0xFF;
            }
        }
        int[] rs = resizedSize(fw, fh);
        int[] resized = doResize && (rs[0] != fw || rs[1] != fh) ? PillowResize.resize(rgb, fw, fh, rs[0], rs[1]) : rgb;
        int[] origin = cropOrigin(rs[0], rs[1]);
        int outW = doCenterCrop ? cropWidth : rs[0];
        int outH = doCenterCrop ? cropHeight : rs[1];
        int[] out = new int[3 * outH * outW];
        for (int ch = 0; ch < 3; ch++) {
            for (int y = 0; y < outH; y++) {
                for (int x = 0; x < outW; x++) {
                    out[(ch * outH + y) * outW + x] = resized[(((y + origin[1]) * rs[0]) + x + origin[0]) * 3 + ch];
                }
            }
        }
        return new Pixels(out, outW, outH);
    }

    /** The processor output as a channel-first float array {@code [3, H, W]} (H = W = 224 by default). */
    public float[] preprocessToArray(RandomAccessibleInterval<ARGBType> image, ReferenceFraming framing, Box box) {
        return normalise(resizeAndCrop(image, framing, box));
    }

    private float[] normalise(int[] u8) {
        int plane = u8.length / 3;
        float[] out = new float[u8.length];
        for (int i = 0; i < u8.length; i++) {
            int ch = i / plane;
            // float32(u8 · factor) evaluated in double, then float32 arithmetic, as numpy does.
            float v = doRescale ? (float) (u8[i] * rescaleFactor) : (float) u8[i];
            out[i] = doNormalize ? (v - mean[ch]) / std[ch] : v;
        }
        return out;
    }

    /** The processor output as {@code pixel_values} [1, 3, H, W] float32 in {@code manager}. */
    public NDArray preprocess(RandomAccessibleInterval<ARGBType> image, ReferenceFraming framing, Box box, NDManager manager) {
        Pixels p = pixels(image, framing, box);
        return manager.create(normalise(p.chw), new Shape(1, 3, p.height, p.width));
    }

    @Override
    public String toString() {
        return "ClipImageProcessor[shortestEdge=" + shortestEdge + ", crop=" + cropWidth + "×" + cropHeight + ", rescale="
                + rescaleFactor + ", mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "]";
    }
}
