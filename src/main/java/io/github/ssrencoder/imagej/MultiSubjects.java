package io.github.ssrencoder.imagej;

import ij.ImagePlus;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.macro.Interpreter;
import ij.plugin.frame.RoiManager;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Collects the subjects of a multi-subject generation, in one of two macro-friendly ways:
 * <ul>
 * <li><b>selections</b>: every area selection (ROI Manager, else the current image's overlay) is a subject;
 * its name is the text query and its area the mask. Its image is the one it is attached to, else the open
 * image whose title is in the selection's {@code image} property, else the current image; a selection with a
 * slice/frame position uses that plane.</li>
 * <li><b>queries</b>: {@code queries=[dog.png=dog;man.png=man]} names open images by title, each with its
 * text query; an image's own area selection is its mask when {@code use_roi} is on.</li>
 * </ul>
 * The weight of subject k is the selection's {@code ssr_scale} property when set, else the k-th entry of
 * {@code scales=[0.8,1.2]}, else 1.
 */
public final class MultiSubjects {

    /** Selection property holding a subject's weight. */
    public static final String SCALE_PROPERTY = "ssr_scale";
    /** Selection property naming the image a selection belongs to. */
    public static final String IMAGE_PROPERTY = "image";

    private MultiSubjects() {
    }

    /** One subject per selection in {@code rois}. */
    public static List<SubjectQueries.Framed> fromRois(Roi[] rois, ImagePlus current, Function<String, ImagePlus> byTitle,
                                                       String scales, double maskWeight, ReferenceFraming framing) {
        if (rois == null || rois.length == 0) {
            throw new IllegalArgumentException("no selections: add one named area selection per subject to the ROI "
                    + "Manager (name = text query), or use queries=[title=query;…]");
        }
        double[] weights = weights(scales, rois.length);
        List<SubjectQueries.Framed> out = new ArrayList<>();
        for (int k = 0; k < rois.length; k++) {
            Roi roi = rois[k];
            String what = "selection " + (k + 1);
            String name = roi.getName();
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException(what + " has no name: rename it to the subject's text query");
            }
            ImagePlus imp = imageOf(roi, current, byTitle, what);
            int[] zt = plane(roi, imp);
            double weight = weights[k];
            String prop = roi.getProperty(SCALE_PROPERTY);
            if (prop != null && !prop.isBlank()) {
                weight = parseNumber(prop, what + " property " + SCALE_PROPERTY);
            }
            try {
                out.add(SubjectQueries.of(imp, roi, name, true, maskWeight, weight, framing, zt[0], zt[1]));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(what + " (" + name + "): " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** One subject per {@code title=query} entry of {@code queries}. */
    public static List<SubjectQueries.Framed> fromQueries(String queries, Function<String, ImagePlus> byTitle, String scales,
                                                          boolean useRoi, double maskWeight, ReferenceFraming framing) {
        List<String[]> entries = new ArrayList<>();
        for (String part : queries.split(";")) {
            if (part.isBlank()) {
                continue;
            }
            int eq = part.indexOf('=');
            if (eq <= 0 || eq == part.length() - 1) {
                throw new IllegalArgumentException("queries entry '" + part.trim() + "' must be image title=query text");
            }
            entries.add(new String[] {part.substring(0, eq).trim(), part.substring(eq + 1).trim()});
        }
        if (entries.isEmpty()) {
            throw new IllegalArgumentException("queries is empty: use queries=[title1=query1;title2=query2]");
        }
        double[] weights = weights(scales, entries.size());
        List<SubjectQueries.Framed> out = new ArrayList<>();
        for (int k = 0; k < entries.size(); k++) {
            String title = entries.get(k)[0];
            ImagePlus imp = byTitle.apply(title);
            if (imp == null) {
                throw new IllegalArgumentException("no open image titled '" + title + "' (queries entry " + (k + 1) + ")");
            }
            try {
                out.add(SubjectQueries.of(imp, imp.getRoi(), entries.get(k)[1], useRoi, maskWeight, weights[k], framing));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("image '" + title + "': " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** The ROI Manager's selections, else those of the current image's overlay. */
    public static Roi[] selections(ImagePlus current) {
        RoiManager rm = RoiManager.getInstance();
        if (rm == null && Interpreter.isBatchMode() && Interpreter.isBatchModeRoiManager()) {
            rm = Interpreter.getBatchModeRoiManager();
        }
        if (rm != null && rm.getCount() > 0) {
            return rm.getRoisAsArray();
        }
        Overlay overlay = current == null ? null : current.getOverlay();
        return overlay == null ? new Roi[0] : overlay.toArray();
    }

    /** Parses {@code 0.8,1.2}; blank means weight 1 for all; otherwise one value per subject. */
    static double[] weights(String scales, int n) {
        double[] w = new double[n];
        java.util.Arrays.fill(w, 1.0);
        if (scales == null || scales.isBlank()) {
            return w;
        }
        String[] parts = scales.split("[,;\\s]+");
        List<String> values = new ArrayList<>();
        for (String p : parts) {
            if (!p.isBlank()) {
                values.add(p);
            }
        }
        if (values.size() != n) {
            throw new IllegalArgumentException("scales lists " + values.size() + " value(s) for " + n + " subject(s)");
        }
        for (int k = 0; k < n; k++) {
            w[k] = parseNumber(values.get(k), "scales entry " + (k + 1));
        }
        return w;
    }

    private static double parseNumber(String s, String what) {
        try {
            return Double.parseDouble(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " is not a number: '" + s.trim() + "'", e);
        }
    }

    private static ImagePlus imageOf(Roi roi, ImagePlus current, Function<String, ImagePlus> byTitle, String what) {
        if (roi.getImage() != null) {
            return roi.getImage();
        }
        String title = roi.getProperty(IMAGE_PROPERTY);
        if (title != null && !title.isBlank()) {
            ImagePlus imp = current != null && title.equals(current.getTitle()) ? current : byTitle.apply(title);
            if (imp == null) {
                throw new IllegalArgumentException(what + " names image '" + title + "', which is not open");
            }
            return imp;
        }
        if (current == null) {
            throw new IllegalArgumentException(what + " belongs to no image and no image is open");
        }
        return current;
    }

    /** The slice and frame a selection is attached to; {0, 0} (the current plane) where it has none. */
    private static int[] plane(Roi roi, ImagePlus imp) {
        int z = 0;
        int t = 0;
        if (roi.hasHyperStackPosition() && (roi.getZPosition() > 0 || roi.getTPosition() > 0)) {
            z = roi.getZPosition() > 0 ? roi.getZPosition() : imp.getZ();
            t = roi.getTPosition() > 0 ? roi.getTPosition() : imp.getT();
        } else if (roi.getPosition() > 0 && roi.getPosition() <= imp.getStackSize()) {
            int[] czt = imp.convertIndexToPosition(roi.getPosition());
            z = czt[1];
            t = czt[2];
        }
        return new int[] {z, t};
    }
}
