package io.github.ssrencoder.pipeline;

/**
 * An axis-aligned pixel rectangle (x, y of the top-left corner; width and height in pixels).
 *
 * @param x      left column
 * @param y      top row
 * @param width  width in pixels, at least 1
 * @param height height in pixels, at least 1
 */
public record Box(long x, long y, long width, long height) {

    public Box {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("box must be at least 1×1 pixels, got " + width + "×" + height);
        }
    }
}
