package io.github.ssrencoder.pipeline;

import java.util.Objects;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.type.numeric.RealType;

/**
 * One subject to condition on: a reference image, the text that names what to pick, optionally a mask of
 * the subject (values above 0.5 are inside), and the subject's weight.
 *
 * @param image      the reference image (RGB, any size at least the patch grid)
 * @param text       the query text ("the red mug"); with a mask it still names the subject
 * @param mask       optional mask over the image (same size, else resized with a warning); {@code null} for a text query
 * @param weight     multiplies this subject's embeddings (multi-subject weight), finite and ≥ 0
 * @param maskWeight the official mask weight λ (≥ 0), used only with a mask
 * @param framing    how the image and mask are framed to the square CLIP input
 * @param cropBox    the region for {@link ReferenceFraming#CROP_TO_BOX}, else {@code null}
 */
public record SubjectQuery(RandomAccessibleInterval<ARGBType> image, String text,
                           RandomAccessibleInterval<? extends RealType<?>> mask, double weight, double maskWeight,
                           ReferenceFraming framing, Box cropBox) {

    public SubjectQuery {
        Objects.requireNonNull(image, "subject image");
        text = text == null ? "" : text;
        framing = framing == null ? ReferenceFraming.CENTER_CROP : framing;
        if (!Double.isFinite(weight) || weight < 0) {
            throw new IllegalArgumentException("subject weight must be a finite number ≥ 0, got " + weight);
        }
        if (!Double.isFinite(maskWeight) || maskWeight < 0) {
            throw new IllegalArgumentException("mask weight must be a finite number ≥ 0, got " + maskWeight);
        }
        if (framing == ReferenceFraming.CROP_TO_BOX && cropBox == null) {
            throw new IllegalArgumentException("CROP_TO_BOX framing needs a crop box");
        }
    }

    /** A text query with weight 1, center-cropped as the official code. */
    public static SubjectQuery text(RandomAccessibleInterval<ARGBType> image, String text) {
        return new SubjectQuery(image, text, null, 1.0, 1.0, ReferenceFraming.CENTER_CROP, null);
    }

    /** A mask query with weight 1 and mask weight {@code maskWeight}. */
    public static SubjectQuery mask(RandomAccessibleInterval<ARGBType> image, String text,
                                    RandomAccessibleInterval<? extends RealType<?>> mask, double maskWeight) {
        return new SubjectQuery(image, text, mask, 1.0, maskWeight, ReferenceFraming.CENTER_CROP, null);
    }

    /** Whether this is a mask query. */
    public boolean hasMask() {
        return mask != null;
    }

    public SubjectQuery withWeight(double w) {
        return new SubjectQuery(image, text, mask, w, maskWeight, framing, cropBox);
    }

    public SubjectQuery withFraming(ReferenceFraming f, Box box) {
        return new SubjectQuery(image, text, mask, weight, maskWeight, f, box);
    }
}
