package io.github.ssrencoder.model;

/**
 * Pillow's {@code Image.resize(size, BICUBIC)} for 8-bit RGB images (Pillow 9.x {@code ImagingResample}):
 * a separable convolution with the bicubic kernel (a = −0.5, support 2, widened by the scale when
 * shrinking so it also anti-aliases), coefficients normalised per output pixel and converted to 22-bit
 * fixed point, a horizontal pass then a vertical pass, each rounded and clamped to 0…255. Reproducing
 * the integer arithmetic makes the CLIP input bit-identical to the reference's.
 */
final class PillowResize {

    private static final int PRECISION_BITS = 32 - 8 - 2;
    private static final double BICUBIC_SUPPORT = 2.0;

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

    private static Taps taps(int inSize, int outSize) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = BICUBIC_SUPPORT * filterScale;
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
                double w = bicubic((x + xmin - center + 0.5) * ss);
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

    /** Resizes interleaved RGB bytes ({@code h × w × 3}, values 0…255) to {@code outW × outH}. */
    static int[] resize(int[] rgb, int w, int h, int outW, int outH) {
        if (outW < 1 || outH < 1) {
            throw new IllegalArgumentException("resize target must be at least 1×1, got " + outW + "×" + outH);
        }
        int[] cur = rgb;
        int curW = w;
        if (outW != w) {
            Taps t = taps(w, outW);
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
            Taps t = taps(h, outH);
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
