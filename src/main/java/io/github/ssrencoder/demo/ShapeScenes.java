package io.github.ssrencoder.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Synthetic scenes of flat coloured shapes (circles, squares, triangles in red, green, blue or yellow) on a light
 * background, with their captions and per-shape masks, and subject portraits (one shape large in the middle): the
 * training data of the demo model and the reference picture of its quick start.
 */
public final class ShapeScenes {

    /** Side of every scene in pixels. */
    public static final int SIZE = 64;
    /** The background colour (RGB). */
    public static final int BACKGROUND = 0xEBEBE6;

    /** The shape kinds, named as in captions. */
    public enum Kind { CIRCLE, SQUARE, TRIANGLE;

        /** The caption word. */
        public String word() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** The colours, named as in captions. */
    public enum Colour {
        RED(0xDC2828), GREEN(0x28AA3C), BLUE(0x2850DC), YELLOW(0xE6C828);

        private final int rgb;

        Colour(int rgb) {
            this.rgb = rgb;
        }

        /** 0xRRGGBB. */
        public int rgb() {
            return rgb;
        }

        /** The caption word. */
        public String word() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** One shape centred at (cx, cy) with half-extent {@code r} pixels. */
    public record Shape(Kind kind, Colour colour, double cx, double cy, double r) {

        /** "red circle". */
        public String name() {
            return colour.word() + " " + kind.word();
        }

        /** Whether the pixel centre (x + ½, y + ½) lies inside the shape. */
        public boolean contains(int x, int y) {
            double px = x + 0.5 - cx;
            double py = y + 0.5 - cy;
            return switch (kind) {
                case CIRCLE -> px * px + py * py <= r * r;
                case SQUARE -> Math.abs(px) <= r * 0.85 && Math.abs(py) <= r * 0.85;
                case TRIANGLE -> py <= r * 0.8 && py >= -r && Math.abs(px) <= (py + r) / 1.8 * 1.1;
            };
        }
    }

    /** A scene: its shapes (later ones drawn on top) and its caption. */
    public record Scene(List<Shape> shapes) {

        public Scene {
            shapes = List.copyOf(shapes);
        }

        /** "a red circle and a blue square". */
        public String caption() {
            StringBuilder b = new StringBuilder();
            for (Shape s : shapes) {
                b.append(b.length() == 0 ? "a " : " and a ").append(s.name());
            }
            return b.toString();
        }

        /** Row-major 0xAARRGGBB pixels of the SIZE × SIZE picture. */
        public int[] argb() {
            int[] out = new int[SIZE * SIZE];
            for (int y = 0; y < SIZE; y++) {
                for (int x = 0; x < SIZE; x++) {
                    int c = BACKGROUND;
                    for (Shape s : shapes) {
                        if (s.contains(x, y)) {
                            c = s.colour().rgb();
                        }
                    }
                    out[y * SIZE + x] = 0xFF000000 | c;
                }
            }
            return out;
        }

        /** The picture as [3, SIZE, SIZE] values in [−1, 1] (the VAE's input). */
        public float[] chw() {
            int[] px = argb();
            float[] out = new float[3 * SIZE * SIZE];
            for (int i = 0; i < px.length; i++) {
                for (int c = 0; c < 3; c++) {
                    out[c * px.length + i] = ((px[i] >> (16 - 8 * c)) & 0xFF) / 127.5f - 1f;
                }
            }
            return out;
        }

        /** This scene with only shape {@code i}. */
        public Scene only(int i) {
            return new Scene(List.of(shapes.get(i)));
        }
    }

    private ShapeScenes() {
    }

    /**
     * The fraction of each cell of a {@code grid × grid} partition of the picture covered by shape {@code s} (the
     * CLIP patch grid of a square reference, row-major).
     */
    public static float[] coverage(Shape s, int grid) {
        float[] out = new float[grid * grid];
        for (int y = 0; y < SIZE; y++) {
            for (int x = 0; x < SIZE; x++) {
                if (s.contains(x, y)) {
                    out[(y * grid / SIZE) * grid + x * grid / SIZE] += 1f;
                }
            }
        }
        float cell = (float) SIZE * SIZE / (grid * grid);
        for (int i = 0; i < out.length; i++) {
            out[i] /= cell;
        }
        return out;
    }

    /** A random shape centred in the box [x0, x1] × [y0, y1]. */
    static Shape randomShape(SplittableRandom random, Kind kind, Colour colour, double x0, double x1, double y0, double y1) {
        double r = 9 + random.nextDouble() * 4;
        return new Shape(kind, colour, x0 + random.nextDouble() * (x1 - x0), y0 + random.nextDouble() * (y1 - y0), r);
    }

    /** One random shape anywhere in the picture. */
    public static Scene single(SplittableRandom random) {
        Kind k = Kind.values()[random.nextInt(Kind.values().length)];
        Colour c = Colour.values()[random.nextInt(Colour.values().length)];
        return new Scene(List.of(randomShape(random, k, c, 14, 50, 14, 50)));
    }

    /**
     * The subject picture of {@code shape}: the same kind and colour, large and near the centre (a few pixels of jitter
     * and size drawn from {@code random}).
     */
    public static Scene portrait(Shape shape, SplittableRandom random) {
        double r = 17 + random.nextDouble() * 4;
        return new Scene(List.of(new Shape(shape.kind(), shape.colour(), SIZE / 2.0 + (random.nextDouble() - 0.5) * 4,
                SIZE / 2.0 + (random.nextDouble() - 0.5) * 4, r)));
    }

    /** Two random shapes of different kinds and colours, one in each half of the picture (left/right or top/bottom). */
    public static Scene pair(SplittableRandom random) {
        Kind[] kinds = Kind.values();
        Colour[] colours = Colour.values();
        int k1 = random.nextInt(kinds.length);
        int k2 = (k1 + 1 + random.nextInt(kinds.length - 1)) % kinds.length;
        int c1 = random.nextInt(colours.length);
        int c2 = (c1 + 1 + random.nextInt(colours.length - 1)) % colours.length;
        List<Shape> shapes = new ArrayList<>();
        if (random.nextBoolean()) {
            shapes.add(randomShape(random, kinds[k1], colours[c1], 13, 21, 13, 51));
            shapes.add(randomShape(random, kinds[k2], colours[c2], 43, 51, 13, 51));
        } else {
            shapes.add(randomShape(random, kinds[k1], colours[c1], 13, 51, 13, 21));
            shapes.add(randomShape(random, kinds[k2], colours[c2], 13, 51, 43, 51));
        }
        return new Scene(shapes);
    }

    /** The quick start's reference: a red circle on the left, a blue square on the right. */
    public static Scene reference() {
        return new Scene(List.of(new Shape(Kind.CIRCLE, Colour.RED, 18, 32, 12), new Shape(Kind.SQUARE, Colour.BLUE, 46, 32, 12)));
    }
}
