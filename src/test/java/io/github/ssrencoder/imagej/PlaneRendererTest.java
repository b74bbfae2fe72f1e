package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ij.CompositeImage;
import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.process.ByteProcessor;
import ij.process.ColorProcessor;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;
import ij.process.LUT;
import ij.process.ShortProcessor;
import java.awt.Color;
import org.junit.jupiter.api.Test;

class PlaneRendererTest {

    private static int[] rgb(ColorProcessor cp) {
        int[] px = ((int[]) cp.getPixels()).clone();
        for (int i = 0; i < px.length; i++) {
            px[i] &= 0xffffff;
        }
        return px;
    }

    /** ImageJ's own "as displayed" rendering of a single plane (no overlay). */
    private static int[] flattened(ImagePlus imp) {
        return rgb((ColorProcessor) imp.flatten().getProcessor());
    }

    private static ImageProcessor ramp(ImageProcessor ip) {
        for (int y = 0; y < ip.getHeight(); y++) {
            for (int x = 0; x < ip.getWidth(); x++) {
                ip.putPixelValue(x, y, x * 37 + y * 11);
            }
        }
        return ip;
    }

    @Test
    void eightBitUsesDisplayRangeAndLutAsFlattenDoes() {
        ImagePlus imp = new ImagePlus("8", ramp(new ByteProcessor(9, 7)));
        imp.setLut(LUT.createLutFromColor(Color.green));
        imp.setDisplayRange(30, 200);
        assertArrayEquals(flattened(imp), rgb(PlaneRenderer.render(imp)));
        assertEquals(30, imp.getDisplayRangeMin());
    }

    @Test
    void sixteenAndThirtyTwoBitUseDisplayRangeAsFlattenDoes() {
        ImagePlus s = new ImagePlus("16", ramp(new ShortProcessor(9, 7)));
        s.setDisplayRange(50, 300);
        assertArrayEquals(flattened(s), rgb(PlaneRenderer.render(s)));
        ImagePlus f = new ImagePlus("32", ramp(new FloatProcessor(9, 7)));
        f.setDisplayRange(-10, 250.5);
        f.setLut(LUT.createLutFromColor(Color.magenta));
        assertArrayEquals(flattened(f), rgb(PlaneRenderer.render(f)));
        short[] before = ((short[]) s.getProcessor().getPixels()).clone();
        PlaneRenderer.render(s);
        assertArrayEquals(before, (short[]) s.getProcessor().getPixels());
    }

    @Test
    void rgbIsCopiedAsIs() {
        ColorProcessor cp = new ColorProcessor(5, 4);
        for (int i = 0; i < 20; i++) {
            cp.set(i, i * 0x030507);
        }
        ImagePlus imp = new ImagePlus("rgb", cp);
        assertArrayEquals(rgb(cp), rgb(PlaneRenderer.render(imp)));
        var argb = PlaneRenderer.renderArgb(imp).randomAccess().setPositionAndGet(1, 0).get();
        assertEquals(0xff000000 | 0x030507, argb, "opaque copy of pixel 1");
    }

    @Test
    void stackRendersTheCurrentPlane() {
        ImageStack stack = new ImageStack(6, 5);
        for (int z = 0; z < 3; z++) {
            ByteProcessor bp = new ByteProcessor(6, 5);
            bp.setValue(40 * (z + 1));
            bp.fill();
            stack.addSlice(bp);
        }
        ImagePlus imp = new ImagePlus("stack", stack);
        imp.setSlice(2);
        assertEquals(80, PlaneRenderer.render(imp).get(0) & 0xff);
        assertEquals(120, PlaneRenderer.render(imp, 3, 1).get(0) & 0xff);
        assertEquals(2, imp.getCurrentSlice(), "the user's position stays");
    }

    @Test
    void compositeRendersActiveChannelsAsDisplayed() {
        ImageStack stack = new ImageStack(8, 6);
        stack.addSlice(ramp(new ShortProcessor(8, 6)));
        ImageProcessor second = new ShortProcessor(8, 6);
        second.setValue(500);
        second.fill();
        stack.addSlice(second);
        ImagePlus base = new ImagePlus("two channels", stack);
        base.setDimensions(2, 1, 1);
        CompositeImage ci = new CompositeImage(base, IJ.COMPOSITE);
        ci.setChannelLut(LUT.createLutFromColor(Color.red), 1);
        ci.setChannelLut(LUT.createLutFromColor(Color.green), 2);
        ci.setC(1);
        ci.setDisplayRange(0, 300);
        ci.setC(2);
        ci.setDisplayRange(0, 1000);
        int[] rendered = rgb(PlaneRenderer.render(ci));
        ci.updateImage();
        assertArrayEquals(flattened(ci), rendered);
        int green = (rendered[0] >> 8) & 0xff;
        assertEquals(128, green, 1, "channel 2 at half its display range");
        ci.setActiveChannels("10");
        assertEquals(0, (rgb(PlaneRenderer.render(ci))[0] >> 8) & 0xff, "inactive channel not drawn");
    }
}
