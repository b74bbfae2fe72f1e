package io.github.ssrencoder.imagej;

import ij.ImagePlus;
import ij.gui.Roi;
import io.github.ssrencoder.pipeline.Box;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import io.github.ssrencoder.pipeline.SubjectQuery;
import java.awt.Rectangle;

/** Builds pipeline subject queries from an image, an optional selection and the query settings. */
public final class SubjectQueries {

    /**
     * A subject query with where it came from, so attention maps can be laid back over the reference.
     *
     * @param query  the pipeline query
     * @param source the reference image
     * @param region the square of the reference the framing shows to CLIP (may reach outside the image)
     */
    public record Framed(SubjectQuery query, ImagePlus source, Rectangle region) {
    }

    private SubjectQueries() {
    }

    /**
     * The subject of {@code imp} rendered as displayed at slice {@code z}, frame {@code t} (the current plane
     * when {@code z} is 0): a mask query from
     * {@code roi} when {@code useRoi} (the text still names the subject), else a text query. {@code roi} may be
     * null unless the framing crops to its bounds.
     */
    public static Framed of(ImagePlus imp, Roi roi, String text, boolean useRoi, double maskWeight, double weight,
                            ReferenceFraming framing, int z, int t) {
        requireImage(imp);
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("the query is empty: name the subject (e.g. query=[red mug])");
        }
        int w = imp.getWidth();
        int h = imp.getHeight();
        var image = PlaneRenderer.toArgb(z < 1 ? PlaneRenderer.render(imp) : PlaneRenderer.render(imp, z, t));
        Box box = null;
        if (framing == ReferenceFraming.CROP_TO_BOX) {
            if (roi == null) {
                throw new IllegalArgumentException("framing " + Framing.CROP_TO_ROI_BOUNDS + " needs an area selection on the image");
            }
            box = RoiMasks.clippedBounds(roi, w, h);
        }
        SubjectQuery q;
        if (useRoi && roi != null) {
            q = new SubjectQuery(image, text.trim(), RoiMasks.mask(roi, w, h), weight, maskWeight, framing, box);
        } else {
            q = new SubjectQuery(image, text.trim(), null, weight, maskWeight, framing, box);
        }
        return new Framed(q, imp, Framing.region(w, h, framing, box));
    }

    /** As {@link #of(ImagePlus, Roi, String, boolean, double, double, ReferenceFraming, int, int)} on the current plane. */
    public static Framed of(ImagePlus imp, Roi roi, String text, boolean useRoi, double maskWeight, double weight,
                            ReferenceFraming framing) {
        requireImage(imp);
        return of(imp, roi, text, useRoi, maskWeight, weight, framing, 0, 0);
    }

    /** Rejects a missing image, or the empty one a framework creates when no image was open. */
    static void requireImage(ImagePlus imp) {
        if (imp == null || imp.getWidth() == 0 || imp.getProcessor() == null) {
            throw new IllegalArgumentException("no image open: open the reference image first");
        }
    }
}
