package io.github.ssrencoder.model;

/**
 * Pillow's {@code Image.resize(size, BILINEAR)}, {@code resize(size, BICUBIC)} and {@code resize(size, LANCZOS)} for 8-bit RGB images (Pillow 9.x
 * {@code ImagingResample}): a separable convolution with the filter's kernel (bilinear: triangle, support 1; bicubic a = −0.5, support 2;
 * Lanczos a = 3, support 3), widened by the scale when shrinking so it also anti-aliases, coefficients
 * normalised per output pixel and converted to 22-bit fixed point, a horizontal pass then a vertical pass,
 * each rounded and clamped to 0…255. Reproducing the integer arithmetic makes the CLIP input and the
 * ControlNet's control image bit-identical to the reference's.
 */
final class PillowResize {

    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** The resampling filters used here: training's bilinear, CLIP's bicubic, diffusers' control-image Lanczos. */
    enum Filter {
        BILINEAR(1.0),
        BICUBIC(2.0),
        LANCZOS(3.0);

        private final double support;

        Filter(double support) {
            this.support = support;
        }

        double weight(double x) {
            return switch (this) {
                case BILINEAR -> Math.max(0.0, 1.0 - Math.abs(x));
                case BICUBIC -> bicubic(x);
                case LANCZOS -> lanczos(x);
            };
        }
    }

    private PillowResize() {
    }

    /** Fixed-point taps for one axis: for output i, {@code count[i]} weights starting at input {@code first[i]}. */
    private record Taps(int[] first, int[] count, int[][] weights) {
    }

    private static double bicubic(double x) {
        final double a = -0.5;
        x = Math.abs(x);
        if (x < 1.0) {
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        }
        if (x < 2.0) {
            return (((x - 5) * x + 8) * x - 4) * a;
        }
        return 0.0;
    }

    private static double sinc(double x) {
        if (x == 0.0) {
            return 1.0;
        }
        double px = x * Math.PI;
        return Math.sin(px) / px;
    }

    /** Pillow's truncated sinc: the window is half-open, [−3, 3). */
    private static double lanczos(double x) {
        return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
    }

    private static Taps taps(int inSize, int outSize, Filter filter) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = filter.support * filterScale;
        int[] first = new int[outSize];
        int[] count = new int[outSize];
        int[][] weights = new int[outSize][];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            // Truncation toward zero, as the C casts do.
            int xmin = Math.max((int) (center - support + 0.5), 0);
            int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
            double[] k = new double[Math.max(xmax, 0)];
            double ww = 0.0;
            for (int x = 0; x < k.length; x++) {
                double w = filter.weight((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            int[] fixed = new int[k.length];
            for (int x = 0; x < k.length; x++) {
                double v = ww != 0.0 ? k[x] / ww : k[x];
                fixed[x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS)) : (int) (0.5 + v * (1 << PRECISION_BITS));
            }
            first[xx] = xmin;
            count[xx] = k.length;
            weights[xx] = fixed;
        }
        return new Taps(first, count, weights);
    }

    private static int clip8(int acc) {
        int v = acc >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }

    /** Resizes interleaved RGB bytes ({@code h × w × 3}, values 0…255) to {@code outW × outH}, bicubic. */
    static int[] resize(int[] rgb, int w, int h, int outW, int outH) {
        return resize(rgb, w, h, outW, outH, Filter.BICUBIC);
    }

    /** Resizes interleaved RGB bytes ({@code h × w × 3}, values 0…255) to {@code outW × outH} with {@code filter}. */
    static int[] resize(int[] rgb, int w, int h, int outW, int outH, Filter filter) {
        if (outW < 1 || outH < 1) {
            throw new IllegalArgumentException("resize target must be at least 1×1, got " + outW + "×" + outH);
        }
        int[] cur = rgb;
        int curW = w;
        if (outW != w) {
            Taps t = taps(w, outW, filter);
            int[] out = new int[h * outW * 3];
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < outW; xx++) {
                    int s0 = 1 << (PRECISION_BITS - 1);
                    int s1 = s0;
                    int s2 = s0;
                    int[] k = t.weights[xx];
                    int base = (y * w + t.first[xx]) * 3;
                    for (int x = 0; x < t.count[xx]; x++) {
                        s0 += cur[base + 3 * x] * k[x];
                        s1 += cur[base + 3 * x + 1] * k[x];
                        s2 += cur[base + 3 * x + 2] * k[x];
                    }
                    int o = (y * outW + xx) * 3;
                    out[o] = clip8(s0);
                    out[o + 1] = clip8(s1);
                    out[o + 2] = clip8(s2);
                }
            }
            cur = out;
            curW = outW;
        }
        if (outH != h) {
            Taps t = taps(h, outH, filter);
            int[] out = new int[outH * curW * 3];
            for (int yy = 0; yy < outH; yy++) {
                int[] k = t.weights[yy];
                for (int x = 0; x < curW; x++) {
                    int s0 = 1 << (PRECISION_BITS - 1);
                    int s1 = s0;
                    int s2 = s0;
                    for (int y = 0; y < t.count[yy]; y++) {
                        int i = ((t.first[yy] + y) * curW + x) * 3;
                        s0 += cur[i] * k[y];
                        s1 += cur[i + 1] * k[y];
                        s2 += cur[i + 2] * k[y];
                    }
                    int o = (yy * curW + x) * 3;
                    out[o] = clip8(s0);
                    out[o + 1] = clip8(s1);
                    out[o + 2] = clip8(s2);
                }
            }
            cur = out;
        }
        return cur == rgb ? rgb.clone() : cur;
    }
}
