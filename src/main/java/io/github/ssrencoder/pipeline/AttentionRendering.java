package io.github.ssrencoder.pipeline;

import io.github.ssrencoder.model.ClipImageProcessor;
import net.imglib2.Cursor;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.view.Views;

/**
 * Renders token-to-patch attention as pictures: a heat map of the patch grid, and an overlay of it on the
 * reference image over exactly the region the image encoder saw.
 */
public final class AttentionRendering {

    private AttentionRendering() {
    }

    /** The "fire" colour of a value in [0, 1] (black → red → yellow → white). */
    static int fire(float v) {
        float t = Math.max(0f, Math.min(1f, v));
        int r = Math.round(255 * Math.min(1f, t * 3f));
        int g = Math.round(255 * Math.max(0f, Math.min(1f, t * 3f - 1f)));
        int b = Math.round(255 * Math.max(0f, Math.min(1f, t * 3f - 2f)));
        return 0xFF000000 | r << 16 | g << 8 | b;
    }

    /** Bilinear sample (pixel centres, edges clamped) of a row-major {@code gw × gh} map at (u, v) in [0, 1]². */
    static float sample(float[] map, int gw, int gh, double u, double v) {
        double x = u * gw - 0.5;
        double y = v * gh - 0.5;
        int x0 = (int) Math.floor(x);
        int y0 = (int) Math.floor(y);
        double fx = x - x0;
        double fy = y - y0;
        float a = at(map, gw, gh, x0, y0);
        float b = at(map, gw, gh, x0 + 1, y0);
        float c = at(map, gw, gh, x0, y0 + 1);
        float d = at(map, gw, gh, x0 + 1, y0 + 1);
        return (float) ((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy);
    }

    private static float at(float[] map, int gw, int gh, int x, int y) {
        int cx = Math.max(0, Math.min(gw - 1, x));
        int cy = Math.max(0, Math.min(gh - 1, y));
        return map[cy * gw + cx];
    }

    private static float max(float[] map) {
        float m = 0;
        for (float v : map) {
            m = Math.max(m, v);
        }
        return m;
    }

    /** A {@code size × size} heat map of a patch-grid map, normalised by its maximum. */
    public static ArrayImg<ARGBType, IntArray> heatMap(float[] map, int gw, int gh, int size) {
        float m = max(map);
        int[] px = new int[size * size];
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                float v = sample(map, gw, gh, (x + 0.5) / size, (y + 0.5) / size);
                px[y * size + x] = fire(m > 0 ? v / m : 0);
            }
        }
        return ArrayImgs.argbs(px, size, size);
    }

    /**
     * The reference image with the normalised map blended on top ({@code alpha} = map opacity) over the
     * square region that was framed into the encoder input; pixels outside that region are dimmed.
     */
    public static ArrayImg<ARGBType, IntArray> overlay(RandomAccessibleInterval<ARGBType> reference, AttentionMaps maps,
                                                       int token, SubjectQuery query, double alpha) {
        int w = (int) reference.dimension(0);
        int h = (int) reference.dimension(1);
        float[] map = maps.tokenMap(token);
        float m = max(map);
        ClipImageProcessor.SourceRegion r = ClipImageProcessor.defaults().region(w, h, query.framing(), query.cropBox());
        int[] px = new int[w * h];
        Cursor<ARGBType> c = Views.flatIterable(reference).cursor();
        int i = 0;
        while (c.hasNext()) {
            px[i++] = c.next().get();
        }
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double u = (x + 0.5 - r.x0()) / r.side();
                double v = (y + 0.5 - r.y0()) / r.side();
                int p = px[y * w + x];
                if (u < 0 || u > 1 || v < 0 || v > 1) {
                    px[y * w + x] = blend(p, 0xFF000000, 0.6);
                    continue;
                }
                float a = sample(map, maps.gridWidth(), maps.gridHeight(), u, v);
                px[y * w + x] = blend(p, fire(m > 0 ? a / m : 0), alpha);
            }
        }
        return ArrayImgs.argbs(px, w, h);
    }

    private static int blend(int base, int top, double alpha) {
        int r = (int) Math.round(((base >> 16) & 0xFF) * (1 - alpha) + ((top >> 16) & 0xFF) * alpha);
        int g = (int) Math.round(((base >> 8) & 0xFF) * (1 - alpha) + ((top >> 8) & 0xFF) * alpha);
        int b = (int) Math.round((base & 0xFF) * (1 - alpha) + (top & 0xFF) * alpha);
        return 0xFF000000 | r << 16 | g << 8 | b;
    }
}
