package io.github.ssrencoder.demo;

import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.view.Views;

/** Measures of subject selection on the demo model's pictures: attention inside a shape, saturated colour counts. */
final class Selection {

    private Selection() {
    }

    /** The share of a patch map's mass (row-major grid × grid over the square reference) inside {@code shape}. */
    static double massInside(float[] map, ShapeScenes.Shape shape) {
        int grid = (int) Math.round(Math.sqrt(map.length));
        float[] cover = ShapeScenes.coverage(shape, grid);
        double inside = 0;
        double total = 0;
        for (int i = 0; i < map.length; i++) {
            total += map[i];
            if (cover[i] >= 0.5f) {
                inside += map[i];
            }
        }
        return inside / total;
    }

    /** How many pixels are clearly saturated and closest in hue to {@code colour} among the four demo colours. */
    static int pixelsOf(RandomAccessibleInterval<ARGBType> image, ShapeScenes.Colour colour) {
        int n = 0;
        for (ARGBType p : Views.flatIterable(image)) {
            int v = p.get();
            float[] hsb = java.awt.Color.RGBtoHSB((v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF, null);
            if (hsb[1] < 0.4f || hsb[2] < 0.3f) {
                continue;
            }
            ShapeScenes.Colour best = null;
            double bestDistance = Double.MAX_VALUE;
            for (ShapeScenes.Colour c : ShapeScenes.Colour.values()) {
                int rgb = c.rgb();
                float h = java.awt.Color.RGBtoHSB((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF, null)[0];
                double d = Math.abs(h - hsb[0]);
                d = Math.min(d, 1 - d);
                if (d < bestDistance) {
                    bestDistance = d;
                    best = c;
                }
            }
            if (best == colour) {
                n++;
            }
        }
        return n;
    }
}
