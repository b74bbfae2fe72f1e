package io.github.ssrencoder.imagej;

import io.github.ssrencoder.pipeline.Box;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import java.awt.Rectangle;
import java.util.Locale;

/**
 * The macro names of the reference framings and the square region of the reference each one shows to CLIP,
 * in reference pixels. {@code center-crop} (the official behaviour) keeps the centred square of side
 * min(w, h) and cuts the rest of a non-square image away; {@code pad-to-square} keeps the whole field of view
 * on a black square of side max(w, h) (the region then reaches outside the image); {@code crop-to-roi-bounds}
 * keeps the selection's bounding box, centre-cropped to a square.
 */
public final class Framing {

    public static final String CENTER_CROP = "center-crop";
    public static final String PAD_TO_SQUARE = "pad-to-square";
    public static final String CROP_TO_ROI_BOUNDS = "crop-to-roi-bounds";

    private Framing() {
    }

    /** Parses a macro name (case-insensitive; underscores accepted for dashes). */
    public static ReferenceFraming parse(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        return switch (n) {
            case "", CENTER_CROP -> ReferenceFraming.CENTER_CROP;
            case PAD_TO_SQUARE -> ReferenceFraming.PAD_TO_SQUARE;
            case CROP_TO_ROI_BOUNDS -> ReferenceFraming.CROP_TO_BOX;
            default -> throw new IllegalArgumentException("unknown framing '" + name + "' (use " + CENTER_CROP + ", "
                    + PAD_TO_SQUARE + " or " + CROP_TO_ROI_BOUNDS + ")");
        };
    }

    /** The macro name of {@code f}. */
    public static String name(ReferenceFraming f) {
        return switch (f) {
            case CENTER_CROP -> CENTER_CROP;
            case PAD_TO_SQUARE -> PAD_TO_SQUARE;
            case CROP_TO_BOX -> CROP_TO_ROI_BOUNDS;
        };
    }

    /** The square region of a {@code width × height} reference that the framing maps onto the CLIP input. */
    public static Rectangle region(int width, int height, ReferenceFraming f, Box box) {
        return switch (f) {
            case CENTER_CROP -> centred(0, 0, width, height, Math.min(width, height));
            case PAD_TO_SQUARE -> centred(0, 0, width, height, Math.max(width, height));
            case CROP_TO_BOX -> centred((int) box.x(), (int) box.y(), (int) box.width(), (int) box.height(),
                    (int) Math.min(box.width(), box.height()));
        };
    }

    private static Rectangle centred(int x, int y, int w, int h, int side) {
        return new Rectangle(x + Math.floorDiv(w - side, 2), y + Math.floorDiv(h - side, 2), side, side);
    }
}
