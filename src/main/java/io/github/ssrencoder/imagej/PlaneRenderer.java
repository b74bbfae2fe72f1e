package io.github.ssrencoder.imagej;

import ij.CompositeImage;
import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.process.ColorProcessor;
import ij.process.ImageProcessor;
import ij.process.LUT;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;

/**
 * Renders one plane of an image as the user sees it (greyscale with its current display range and LUT, RGB
 * as is, composites with every active channel blended additively as ImageJ displays them) into a new RGB
 * image, leaving the user's image untouched. Overlays and selections are not drawn.
 */
public final class PlaneRenderer {

    private PlaneRenderer() {
    }

    /** The current plane of {@code imp}, as displayed. */
    public static ColorProcessor render(ImagePlus imp) {
        if (imp instanceof CompositeImage ci && ci.getNChannels() > 1) {
            return renderComposite(ci, ci.getStack(), ci.getZ(), ci.getT());
        }
        ImageProcessor ip = imp.getProcessor();
        return renderGrey(ip, ip.getLut(), ip.getMin(), ip.getMax());
    }

    /** Slice {@code z} of frame {@code t} (1-based) of {@code imp}, displayed with its current LUTs and ranges. */
    public static ColorProcessor render(ImagePlus imp, int z, int t) {
        if (imp.getStackSize() == 1) {
            ImageProcessor ip = imp.getProcessor();
            return renderGrey(ip, ip.getLut(), ip.getMin(), ip.getMax());
        }
        ImageStack stack = imp.getStack();
        if (imp instanceof CompositeImage ci && ci.getNChannels() > 1) {
            return renderComposite(ci, stack, z, t);
        }
        ImageProcessor current = imp.getProcessor();
        int index = stackIndex(imp, imp.getC(), z, t);
        ImageProcessor plane = index == imp.getCurrentSlice() ? current : stack.getProcessor(index);
        return renderGrey(plane, current.getLut(), current.getMin(), current.getMax());
    }

    /** {@link #render(ImagePlus)} wrapped as an imglib2 image (copied, opaque). */
    public static ArrayImg<ARGBType, IntArray> renderArgb(ImagePlus imp) {
        return toArgb(render(imp));
    }

    /** Wraps a copy of the pixels of {@code cp} as an opaque ARGB imglib2 image. */
    public static ArrayImg<ARGBType, IntArray> toArgb(ColorProcessor cp) {
        int[] src = (int[]) cp.getPixels();
        int[] argb = new int[src.length];
        for (int i = 0; i < src.length; i++) {
            argb[i] = 0xff000000 | (src[i] & 0xffffff);
        }
        return ArrayImgs.argbs(argb, cp.getWidth(), cp.getHeight());
    }

    private static ColorProcessor renderComposite(CompositeImage ci, ImageStack stack, int z, int t) {
        int mode = ci.getMode();
        int w = ci.getWidth();
        int h = ci.getHeight();
        if (mode != IJ.COMPOSITE) {
            int c = ci.getC();
            LUT lut = ci.getChannelLut(c);
            LUT shown = mode == IJ.GRAYSCALE ? LUT.createLutFromColor(java.awt.Color.white) : lut;
            return renderGrey(stack.getProcessor(stackIndex(ci, c, z, t)), shown, lut.min, lut.max);
        }
        boolean[] active = ci.getActiveChannels();
        int[] sum = new int[w * h * 3];
        for (int c = 1; c <= ci.getNChannels(); c++) {
            if (c - 1 < active.length && !active[c - 1]) {
                continue;
            }
            LUT lut = ci.getChannelLut(c);
            int[] px = (int[]) renderGrey(stack.getProcessor(stackIndex(ci, c, z, t)), lut, lut.min, lut.max).getPixels();
            for (int i = 0; i < px.length; i++) {
                sum[3 * i] += (px[i] >> 16) & 0xff;
                sum[3 * i + 1] += (px[i] >> 8) & 0xff;
                sum[3 * i + 2] += px[i] & 0xff;
            }
        }
        int[] out = new int[w * h];
        for (int i = 0; i < out.length; i++) {
            out[i] = (Math.min(255, sum[3 * i]) << 16) | (Math.min(255, sum[3 * i + 1]) << 8) | Math.min(255, sum[3 * i + 2]);
        }
        return new ColorProcessor(w, h, out);
    }

    /** The 1-based stack index of a position, with the dimensions verified first (ImageJ updates them lazily). */
    static int stackIndex(ImagePlus imp, int c, int z, int t) {
        int nc = imp.getNChannels();
        int nz = imp.getNSlices();
        int nt = imp.getNFrames();
        int cc = Math.max(1, Math.min(c, nc));
        int zz = Math.max(1, Math.min(z, nz));
        int tt = Math.max(1, Math.min(t, nt));
        return (tt - 1) * nc * nz + (zz - 1) * nc + cc;
    }

    /** ImageJ's own conversion of a plane with the given LUT and display range, on a copy. */
    private static ColorProcessor renderGrey(ImageProcessor plane, LUT lut, double min, double max) {
        if (plane instanceof ColorProcessor cp) {
            return (ColorProcessor) cp.duplicate();
        }
        ImageProcessor copy = plane.duplicate();
        if (lut != null) {
            copy.setLut(lut);
        }
        copy.setMinAndMax(min, max);
        return (ColorProcessor) copy.convertToRGB();
    }
}
