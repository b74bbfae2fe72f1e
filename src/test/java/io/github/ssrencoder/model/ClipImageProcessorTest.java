package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.pipeline.Box;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipImageProcessorTest {

    private static ArrayImg<ARGBType, IntArray> referenceImage(SafetensorsFile g, NDManager m) {
        NDArray rgb = g.load("reference_rgb_uint8", m);
        long h = rgb.getShape().get(0);
        long w = rgb.getShape().get(1);
        byte[] b = rgb.toByteArray();
        int[] argb = new int[(int) (w * h)];
        for (int i = 0; i < argb.length; i++) {
            argb[i] = 0xFF000000 | (b[3 * i] & 0xFF) << 16 | (b[3 * i + 1] & 0xFF) << 8 | (b[3 * i + 2] & 0xFF);
        }
        return ArrayImgs.argbs(argb, w, h);
    }

    @Test
    void reproducesTheGoldenPixelValuesBitForBit() {
        try (SafetensorsFile g = Golden.caseTensors("image_encoder"); NDManager m = EngineRuntime.newManager(Device.cpu())) {
            ArrayImg<ARGBType, IntArray> img = referenceImage(g, m);
            for (ClipImageProcessor p : new ClipImageProcessor[] {ClipImageProcessor.defaults(),
                    ClipImageProcessor.read(Golden.tinyA().resolve("image_encoder/preprocessor_config.json"))}) {
                byte[] expected = g.load("pixel_values_resized_cropped", m).toByteArray();
                int[] actual = p.resizeAndCrop(img, ReferenceFraming.CENTER_CROP, null);
                assertEquals(expected.length, actual.length);
                int worst = 0;
                for (int i = 0; i < actual.length; i++) {
                    worst = Math.max(worst, Math.abs((expected[i] & 0xFF) - actual[i]));
                }
                System.out.println("max abs error pixel_values_resized_cropped (uint8) " + worst);
                assertEquals(0, worst, "uint8 resize + crop");
                NDArray px = p.preprocess(img, ReferenceFraming.CENTER_CROP, null, m);
                NDArray golden = g.load("pixel_values", m);
                System.out.println("max abs error pixel_values " + Golden.maxAbsDiff(golden.toFloatArray(), px.toFloatArray()));
                assertArrayEquals(golden.toFloatArray(), px.toFloatArray(), 0f, "pixel_values");
            }
        }
    }

    /** A black image with one bright 2×2 block whose top-left pixel is (x, y). */
    private static ArrayImg<ARGBType, IntArray> marked(int w, int h, int x, int y) {
        int[] argb = new int[w * h];
        java.util.Arrays.fill(argb, 0xFF000000);
        for (int dy = 0; dy < 2; dy++) {
            for (int dx = 0; dx < 2; dx++) {
                argb[(y + dy) * w + x + dx] = 0xFFFFFFFF;
            }
        }
        return ArrayImgs.argbs(argb, w, h);
    }

    /** Brightness-weighted centroid of the red channel, in output pixel-centre coordinates. */
    private static double[] centroid(int[] chw, int side) {
        double sx = 0;
        double sy = 0;
        double s = 0;
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                double v = chw[y * side + x];
                sx += v * x;
                sy += v * y;
                s += v;
            }
        }
        return new double[] {sx / s, sy / s};
    }

    private static void assertMarkLandsWhereTheRegionSays(int w, int h, int mx, int my, ReferenceFraming f, Box box,
                                                          double[] expectedRegion) {
        ClipImageProcessor p = ClipImageProcessor.defaults();
        ClipImageProcessor.SourceRegion r = p.region(w, h, f, box);
        if (expectedRegion != null) {
            assertArrayEquals(expectedRegion, new double[] {r.x0(), r.y0(), r.side()}, 1e-9, f + " region");
        }
        int[] out = p.resizeAndCrop(marked(w, h, mx, my), f, box);
        double[] c = centroid(out, 224);
        // The block's centre (mx + 1, my + 1) in source coordinates, mapped through the region.
        double ex = (mx + 1 - r.x0()) / r.width() * 224 - 0.5;
        double ey = (my + 1 - r.y0()) / r.height() * 224 - 0.5;
        assertEquals(ex, c[0], 0.6, f + " x");
        assertEquals(ey, c[1], 0.6, f + " y");
    }

    @Test
    void centerCropKeepsTheMiddleSquareOfAWideImage() {
        assertMarkLandsWhereTheRegionSays(200, 100, 100, 50, ReferenceFraming.CENTER_CROP, null, new double[] {50, 0, 100});
        assertMarkLandsWhereTheRegionSays(100, 300, 40, 160, ReferenceFraming.CENTER_CROP, null, new double[] {0, 100, 100});
    }

    @Test
    void padToSquareAddsBlackBarsSymmetrically() {
        assertMarkLandsWhereTheRegionSays(100, 50, 10, 5, ReferenceFraming.PAD_TO_SQUARE, null, new double[] {0, -25, 100});
        assertMarkLandsWhereTheRegionSays(61, 120, 50, 100, ReferenceFraming.PAD_TO_SQUARE, null, new double[] {-29, 0, 120});
        // The padding is black: a white image gives black corners.
        int[] white = new int[100 * 50];
        java.util.Arrays.fill(white, 0xFFFFFFFF);
        int[] out = ClipImageProcessor.defaults().resizeAndCrop(ArrayImgs.argbs(white, 100, 50), ReferenceFraming.PAD_TO_SQUARE, null);
        assertEquals(0, out[0]);
        assertEquals(255, out[112 * 224 + 112]);
    }

    @Test
    void cropToBoxUsesOnlyTheBox() {
        Box box = new Box(10, 20, 30, 30);
        assertMarkLandsWhereTheRegionSays(100, 80, 24, 34, ReferenceFraming.CROP_TO_BOX, box, new double[] {10, 20, 30});
        // A mark outside the box does not appear at all.
        int[] out = ClipImageProcessor.defaults().resizeAndCrop(marked(100, 80, 70, 70), ReferenceFraming.CROP_TO_BOX, box);
        assertEquals(0, java.util.Arrays.stream(out).max().orElseThrow());
        // A wide box is then center-cropped inside the box.
        assertMarkLandsWhereTheRegionSays(100, 80, 40, 30, ReferenceFraming.CROP_TO_BOX, new Box(0, 20, 80, 40), new double[] {20, 20, 40});
    }

    @Test
    void badFramingArgumentsAreRejected() {
        ClipImageProcessor p = ClipImageProcessor.defaults();
        assertThrows(IllegalArgumentException.class, () -> p.region(100, 100, ReferenceFraming.CROP_TO_BOX, null));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.region(100, 100, ReferenceFraming.CROP_TO_BOX, new Box(200, 0, 10, 10)));
        assertTrue(e.getMessage().contains("does not overlap"), e.getMessage());
    }

    @Test
    void unsupportedResampleIsAClearError(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("preprocessor_config.json");
        Files.writeString(f, "{\"resample\": 2, \"size\": 224}");
        WeightFileException e = assertThrows(WeightFileException.class, () -> ClipImageProcessor.read(f));
        assertTrue(e.getMessage().contains("bicubic"), e.getMessage());
        Files.writeString(f, "{\"size\": {\"shortest_edge\": 112}, \"crop_size\": {\"height\": 112, \"width\": 112}}");
        assertEquals(50, ClipImageProcessor.read(f).region(50, 50, ReferenceFraming.CENTER_CROP, null).side(), 1e-9);
    }
}
