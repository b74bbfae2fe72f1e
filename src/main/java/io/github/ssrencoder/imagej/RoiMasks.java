package io.github.ssrencoder.imagej;

import ij.gui.Roi;
import ij.process.ImageProcessor;
import io.github.ssrencoder.pipeline.Box;
import java.awt.Rectangle;
import net.imglib2.RandomAccess;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.img.basictypeaccess.array.LongArray;
import net.imglib2.type.logic.BitType;

/**
 * Turns an area selection into a mask over the whole image, pixel for pixel as ImageJ itself rasterises it
 * ({@link Roi#getMask()} over the selection's bounds; rectangles are solid). Parts outside the image are
 * clipped; selections that are not areas, lie outside the image or cover no pixel are rejected with a message
 * that says what to do.
 */
public final class RoiMasks {

    private RoiMasks() {
    }

    /** A {@code width × height} mask, true inside {@code roi}. */
    public static ArrayImg<BitType, LongArray> mask(Roi roi, int width, int height) {
        Rectangle clipped = clipped(roi, width, height);
        Rectangle b = roi.getBounds();
        ImageProcessor m = roi.getMask();
        ArrayImg<BitType, LongArray> out = ArrayImgs.bits(width, height);
        RandomAccess<BitType> ra = out.randomAccess();
        long inside = 0;
        for (int y = clipped.y; y < clipped.y + clipped.height; y++) {
            for (int x = clipped.x; x < clipped.x + clipped.width; x++) {
                if (m == null || m.get(x - b.x, y - b.y) != 0) {
                    ra.setPositionAndGet(x, y).set(true);
                    inside++;
                }
            }
        }
        if (inside == 0) {
            throw new IllegalArgumentException("the selection (" + describe(b) + ") covers no pixel of the image; "
                    + "draw an area selection over the subject");
        }
        return out;
    }

    /** The selection's bounds clipped to the image (for crop-to-ROI framing). */
    public static Box clippedBounds(Roi roi, int width, int height) {
        Rectangle c = clipped(roi, width, height);
        return new Box(c.x, c.y, c.width, c.height);
    }

    /** The part of an area selection inside the image; rejects one that lies wholly outside. */
    private static Rectangle clipped(Roi roi, int width, int height) {
        checkArea(roi);
        Rectangle b = roi.getBounds();
        Rectangle c = b.intersection(new Rectangle(0, 0, width, height));
        if (c.isEmpty()) {
            throw new IllegalArgumentException("the selection (" + describe(b) + ") lies outside the "
                    + width + "×" + height + " image");
        }
        return c;
    }

    /** Rejects selections that cannot be a mask. */
    public static void checkArea(Roi roi) {
        if (roi == null) {
            throw new IllegalArgumentException("no selection: draw an area selection over the subject");
        }
        if (roi.isLine() || roi.getType() == Roi.POINT) {
            throw new IllegalArgumentException("a " + roi.getTypeAsString().toLowerCase(java.util.Locale.ROOT)
                    + " selection cannot be a mask query; draw an area selection (rectangle, oval, polygon, freehand, composite)");
        }
        if (!roi.isArea()) {
            throw new IllegalArgumentException("the " + roi.getTypeAsString() + " selection is not an area; "
                    + "draw an area selection over the subject");
        }
        Rectangle b = roi.getBounds();
        if (b.width < 1 || b.height < 1) {
            throw new IllegalArgumentException("the selection is empty (" + describe(b) + ")");
        }
    }

    private static String describe(Rectangle b) {
        return "x=" + b.x + " y=" + b.y + " " + b.width + "×" + b.height;
    }
}
