package io.github.ssrencoder.pipeline;

/**
 * How a reference image (and its mask, always through the identical transform) is brought to the square
 * CLIP input. The official SSR code center-crops; microscopy images are often far from square, so the
 * alternatives keep the whole field of view or a chosen region.
 */
public enum ReferenceFraming {
    /** Shortest side to the CLIP size, then a centered square crop (the official behaviour). */
    CENTER_CROP,
    /** Pad the shorter side symmetrically with black to a square first, so nothing is cut away. */
    PAD_TO_SQUARE,
    /** Crop to {@link SubjectQuery#cropBox()} first, then center-crop what remains. */
    CROP_TO_BOX
}
