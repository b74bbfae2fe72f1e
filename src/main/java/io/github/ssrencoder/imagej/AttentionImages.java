package io.github.ssrencoder.imagej;

import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.ImageRoi;
import ij.gui.Overlay;
import ij.measure.Calibration;
import ij.plugin.LutLoader;
import ij.process.ColorProcessor;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;
import ij.process.LUT;
import io.github.ssrencoder.pipeline.AttentionMaps;
import java.awt.Rectangle;

/**
 * Shows the token-to-patch attention A_t2p of a query over its reference: a 32-bit stack with one slice per
 * query token (slice label = the token) and a {@code mean} slice, each the head-averaged patch probabilities
 * bilinearly up-sampled from the patch grid to the framed square of the reference, with the Fire LUT and a
 * display range from 0 to the largest probability. The reference's calibration is kept, shifted to the framed
 * region, so positions read off the map are positions in the reference.
 */
public final class AttentionImages {

    /** Larger framed regions are shown at this size, with the pixel size scaled to match. */
    static final int MAX_SIDE = 1024;

    private AttentionImages() {
    }

    /** The heat-map stack titled {@code SSR attention - <query>}. */
    public static ImagePlus heatMaps(AttentionMaps maps, SubjectQueries.Framed subject) {
        Rectangle region = subject.region();
        int side = Math.min(region.width, MAX_SIDE);
        ImageStack stack = new ImageStack(side, side);
        double max = 0;
        for (int k = 0; k <= maps.tokens().size(); k++) {
            boolean mean = k == maps.tokens().size();
            FloatProcessor fp = upsample(maps.tokenMap(mean ? -1 : k), maps.gridWidth(), maps.gridHeight(), side, side);
            max = Math.max(max, fp.getStatistics().max);
            stack.addSlice(mean ? "mean" : maps.tokens().get(k), fp);
        }
        ImagePlus imp = new ImagePlus("SSR attention - " + subject.query().text(), stack);
        imp.setCalibration(shiftedCalibration(subject.source().getCalibration(), region, side));
        imp.setSlice(stack.getSize());
        LUT fire = new LUT(LutLoader.getLut("fire"), 0, max > 0 ? max : 1);
        imp.setLut(fire);
        imp.setDisplayRange(0, max > 0 ? max : 1);
        imp.setProp("query", subject.query().text());
        imp.setProp("framing", Framing.name(subject.query().framing()));
        imp.setProp("region", region.x + "," + region.y + "," + region.width + "," + region.height);
        return imp;
    }

    /**
     * A copy of the reference (on a black canvas big enough for the framed region) with the mean heat map as
     * a half-transparent image overlay over the framed region; titled {@code SSR attention overlay - <query>}.
     */
    public static ImagePlus overlay(ImagePlus heatMaps, SubjectQueries.Framed subject) {
        ImagePlus ref = subject.source();
        Rectangle region = subject.region();
        Rectangle canvas = region.union(new Rectangle(0, 0, ref.getWidth(), ref.getHeight()));
        ColorProcessor copy = new ColorProcessor(canvas.width, canvas.height);
        copy.insert(PlaneRenderer.render(ref), -canvas.x, -canvas.y);
        ImageProcessor mean = heatMaps.getStack().getProcessor(heatMaps.getStackSize()).duplicate();
        mean.setLut(heatMaps.getProcessor().getLut());
        mean.setMinAndMax(heatMaps.getDisplayRangeMin(), heatMaps.getDisplayRangeMax());
        if (mean.getWidth() != region.width) {
            mean.setInterpolationMethod(ImageProcessor.BILINEAR);
            mean = mean.resize(region.width, region.height);
        }
        ImageRoi roi = new ImageRoi(region.x - canvas.x, region.y - canvas.y, mean.convertToRGB());
        roi.setOpacity(0.5);
        roi.setName("attention " + subject.query().text());
        ImagePlus out = new ImagePlus("SSR attention overlay - " + subject.query().text(), copy);
        Calibration cal = ref.getCalibration().copy();
        cal.xOrigin -= canvas.x;
        cal.yOrigin -= canvas.y;
        out.setCalibration(cal);
        out.setOverlay(new Overlay(roi));
        return out;
    }

    /** Bilinear up-sampling with pixel centres aligned (PyTorch {@code align_corners=False}), edges clamped. */
    static FloatProcessor upsample(float[] grid, int gw, int gh, int w, int h) {
        float[] out = new float[w * h];
        for (int y = 0; y < h; y++) {
            double sy = Math.max(0, (y + 0.5) * gh / h - 0.5);
            int y0 = Math.min((int) sy, gh - 1);
            int y1 = Math.min(y0 + 1, gh - 1);
            double fy = Math.min(sy - y0, 1);
            for (int x = 0; x < w; x++) {
                double sx = Math.max(0, (x + 0.5) * gw / w - 0.5);
                int x0 = Math.min((int) sx, gw - 1);
                int x1 = Math.min(x0 + 1, gw - 1);
                double fx = Math.min(sx - x0, 1);
                double top = grid[y0 * gw + x0] * (1 - fx) + grid[y0 * gw + x1] * fx;
                double bottom = grid[y1 * gw + x0] * (1 - fx) + grid[y1 * gw + x1] * fx;
                out[y * w + x] = (float) (top * (1 - fy) + bottom * fy);
            }
        }
        return new FloatProcessor(w, h, out);
    }

    private static Calibration shiftedCalibration(Calibration ref, Rectangle region, int side) {
        Calibration cal = ref.copy();
        double f = (double) region.width / side;
        cal.pixelWidth *= f;
        cal.pixelHeight *= f;
        cal.xOrigin = (ref.xOrigin - region.x) / f;
        cal.yOrigin = (ref.yOrigin - region.y) / f;
        cal.setValueUnit("attention probability");
        return cal;
    }
}
