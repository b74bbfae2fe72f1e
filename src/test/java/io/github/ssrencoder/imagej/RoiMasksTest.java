package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.gui.OvalRoi;
import ij.gui.PolygonRoi;
import ij.gui.Roi;
import ij.process.ImageProcessor;
import io.github.ssrencoder.pipeline.Box;
import java.awt.Rectangle;
import net.imglib2.RandomAccess;
import net.imglib2.type.logic.BitType;
import org.junit.jupiter.api.Test;

class RoiMasksTest {

    private static final int W = 37;
    private static final int H = 29;

    /** Compares with ImageJ's own rasterisation (getMask over the bounds) and with Roi.contains. */
    private static void assertPixelExact(Roi roi) {
        var mask = RoiMasks.mask(roi, W, H);
        RandomAccess<BitType> ra = mask.randomAccess();
        Rectangle b = roi.getBounds();
        ImageProcessor m = roi.getMask();
        int inside = 0;
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++) {
                boolean inBounds = b.contains(x, y);
                boolean expected = inBounds && (m == null || m.get(x - b.x, y - b.y) != 0);
                boolean actual = ra.setPositionAndGet(x, y).get();
                assertEquals(expected, actual, roi.getTypeAsString() + " mask at (" + x + ", " + y + ") vs getMask");
                assertEquals(roi.contains(x, y), actual, roi.getTypeAsString() + " mask at (" + x + ", " + y + ") vs contains");
                inside += actual ? 1 : 0;
            }
        }
        assertTrue(inside > 0);
    }

    @Test
    void rectangleMaskIsPixelExact() {
        assertPixelExact(new Roi(3, 4, 10, 7));
    }

    @Test
    void ovalMaskIsPixelExact() {
        assertPixelExact(new OvalRoi(5, 3, 17, 12));
        assertPixelExact(new OvalRoi(0, 0, 4, 3));
    }

    @Test
    void polygonMaskIsPixelExact() {
        assertPixelExact(new PolygonRoi(new int[] {2, 30, 20, 8}, new int[] {3, 5, 26, 18}, 4, Roi.POLYGON));
        assertPixelExact(new PolygonRoi(new float[] {2.5f, 20.25f, 11.75f}, new float[] {1.5f, 9.5f, 22.25f}, 3, Roi.POLYGON));
    }

    @Test
    void roiPartlyOutsideIsClippedToTheImage() {
        assertPixelExact(new OvalRoi(-6, 20, 20, 15));
        assertPixelExact(new Roi(30, -3, 20, 10));
        assertEquals(new Box(30, 0, 7, 7), RoiMasks.clippedBounds(new Roi(30, -3, 20, 10), W, H));
    }

    @Test
    void roiFullyOutsideIsRejected() {
        var e = assertThrows(IllegalArgumentException.class, () -> RoiMasks.mask(new OvalRoi(-30, -30, 10, 10), W, H));
        assertTrue(e.getMessage().contains("lies outside the 37×29 image"), e.getMessage());
    }

    @Test
    void emptyAndNonAreaSelectionsAreRejected() {
        var none = assertThrows(IllegalArgumentException.class, () -> RoiMasks.mask(null, W, H));
        assertTrue(none.getMessage().startsWith("no selection"));
        var line = assertThrows(IllegalArgumentException.class,
                () -> RoiMasks.mask(new PolygonRoi(new int[] {1, 5, 9}, new int[] {1, 8, 2}, 3, Roi.POLYLINE), W, H));
        assertTrue(line.getMessage().contains("cannot be a mask query"), line.getMessage());
        var degenerate = assertThrows(IllegalArgumentException.class,
                () -> RoiMasks.mask(new PolygonRoi(new float[] {2.2f, 2.4f, 2.3f}, new float[] {2.2f, 2.3f, 2.4f}, 3, Roi.POLYGON), W, H));
        assertTrue(degenerate.getMessage().contains("covers no pixel") || degenerate.getMessage().contains("empty"),
                degenerate.getMessage());
    }
}
