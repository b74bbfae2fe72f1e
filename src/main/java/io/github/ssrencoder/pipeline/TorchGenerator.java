package io.github.ssrencoder.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Bit-exact replica of {@code torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))} for
 * float32 as computed by torch 1.13 on an AVX2 CPU, so that a seed gives the same initial latents as
 * diffusers. Successive {@link #randn} calls continue the generator's stream exactly as successive torch
 * draws from one generator do.
 *
 * <p>The generator is a 32-bit Mersenne Twister (mt19937) seeded with the low 32 bits of the seed. Tensors
 * of 16 or more elements take torch's vectorised path: one 24-bit uniform float per element, then a
 * Box–Muller transform pairing element {@code j} with {@code j + 8} inside every block of 16, evaluated
 * with the single-precision Cephes log/sincos approximations torch vectorises (including the fused
 * multiply-adds the compiler forms in them); when the size is not a multiple of 16, 16 fresh uniforms
 * replace the last 16 values. Smaller tensors take torch's scalar path: double-precision Box–Muller from
 * two 53-bit uniforms, whose second (sine) value is cached for the next scalar draw.
 *
 * <p>Not thread-safe: one generator belongs to one generation.
 */
public final class TorchGenerator {

    private static final int N = 624;
    private static final int M = 397;

    private static final float TWO_PI = (float) (2.0 * Math.PI);

    private final int[] state = new int[N];
    private int next;
    private boolean hasCachedNormal;
    private double cachedNormal;

    /** A generator in the state of {@code torch.Generator("cpu").manual_seed(seed)}; any 64-bit seed. */
    public TorchGenerator(long seed) {
        state[0] = (int) seed;
        for (int j = 1; j < N; j++) {
            int prev = state[j - 1];
            state[j] = 1812433253 * (prev ^ (prev >>> 30)) + j;
        }
        next = N;
    }

    /** Draws a float32 standard-normal tensor of {@code shape} (row-major), advancing the generator. */
    public float[] randn(long... shape) {
        long count = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + java.util.Arrays.toString(shape));
            }
            count = Math.multiplyExact(count, d);
        }
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("too many elements for one array: " + count);
        }
        int n = (int) count;
        float[] out = new float[n];
        if (n >= 16) {
            fillBlocks(out);
        } else {
            for (int i = 0; i < n; i++) {
                out[i] = (float) scalarNormal();
            }
        }
        return out;
    }

    /**
     * One uniform float32 value in [0, 1), as {@code torch.rand(1, generator=g, dtype=torch.float32)} draws it:
     * the low 24 bits of one 32-bit draw, divided by 2^24.
     */
    public float rand() {
        return uniformFloat();
    }

    /**
     * One integer in [0, high), as {@code torch.randint(high, (1,), generator=g)} draws it for high below 2^32:
     * one 32-bit draw modulo {@code high}. Successive elements of {@code torch.randint(0, high, (n,))} are
     * successive calls.
     */
    public long randint(long high) {
        if (high < 1 || high > 0xffffffffL) {
            throw new IllegalArgumentException("randint bound must be in [1, 2^32), got " + high);
        }
        return (nextInt() & 0xffffffffL) % high;
    }

    /** The generator's full state (Mersenne Twister words, position, cached normal), to continue it later. */
    public long[] state() {
        long[] out = new long[N + 3];
        for (int i = 0; i < N; i++) {
            out[i] = state[i];
        }
        out[N] = next;
        out[N + 1] = hasCachedNormal ? 1 : 0;
        out[N + 2] = Double.doubleToRawLongBits(cachedNormal);
        return out;
    }

    /** Restores a state returned by {@link #state()}. */
    public void restore(long[] saved) {
        if (saved.length != N + 3 || saved[N] < 0 || saved[N] > N) {
            throw new IllegalArgumentException("not a generator state (" + saved.length + " values)");
        }
        for (int i = 0; i < N; i++) {
            state[i] = (int) saved[i];
        }
        next = (int) saved[N];
        hasCachedNormal = saved[N + 1] != 0;
        cachedNormal = Double.longBitsToDouble(saved[N + 2]);
    }

    /** {@link #randn(long...)} as a float32 NDArray in {@code manager}. */
    public NDArray randn(Shape shape, NDManager manager) {
        return manager.create(randn(shape.getShape()), shape);
    }

    private int nextInt() {
        if (next >= N) {
            twist();
        }
        int y = state[next++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    private void twist() {
        for (int k = 0; k < N; k++) {
            int y = (state[k] & 0x80000000) | (state[(k + 1) % N] & 0x7fffffff);
            int v = state[(k + M) % N] ^ (y >>> 1);
            state[k] = (y & 1) != 0 ? v ^ 0x9908b0df : v;
        }
        next = 0;
    }

    private float uniformFloat() {
        return (nextInt() & 0xffffff) * 0x1.0p-24f;
    }

    private double uniformDouble() {
        long hi = nextInt() & 0xffffffffL;
        long lo = nextInt() & 0xffffffffL;
        return (((hi << 32) | lo) & ((1L << 53) - 1)) * 0x1.0p-53;
    }

    private double scalarNormal() {
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal;
        }
        double u1 = uniformDouble();
        double u2 = uniformDouble();
        double r = Math.sqrt(-2.0 * Math.log(1.0 - u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * Math.sin(theta);
        hasCachedNormal = true;
        return r * Math.cos(theta);
    }

    private void fillBlocks(float[] data) {
        int n = data.length;
        for (int i = 0; i < n; i++) {
            data[i] = uniformFloat();
        }
        for (int i = 0; i + 16 <= n; i += 16) {
            boxMuller16(data, i);
        }
        if (n % 16 != 0) {
            int start = n - 16;
            for (int i = 0; i < 16; i++) {
                data[start + i] = uniformFloat();
            }
            boxMuller16(data, start);
        }
    }

    private static void boxMuller16(float[] d, int at) {
        for (int j = 0; j < 8; j++) {
            float u1 = 1.0f - d[at + j];
            float u2 = d[at + j + 8];
            float radius = (float) Math.sqrt(-2.0f * CephesFloat.log(u1));
            float theta = TWO_PI * u2;
            float[] sc = CephesFloat.sincos(theta);
            d[at + j] = radius * sc[1];
            d[at + j + 8] = radius * sc[0];
        }
    }

    /**
     * The single-precision Cephes approximations of log and sincos in the form torch vectorises them
     * (AVX2), with multiply-adds fused where GCC fuses them, so that results match bit for bit rather than
     * to the last ulp.
     */
    static final class CephesFloat {

        private CephesFloat() {
        }

        private static final float[] LOG_P = {
            7.0376836292E-2f, -1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f, 1.4249322787E-1f,
            -1.6668057665E-1f, 2.0000714765E-1f, -2.4999993993E-1f, 3.3333331174E-1f};
        private static final float LOG_Q1 = -2.12194440e-4f;
        private static final float LOG_Q2 = 0.693359375f;
        private static final float SQRT_HALF = 0.707106781186547524f;

        private static final float FOUR_OVER_PI = 1.27323954473516f;
        private static final float DP1 = -0.78515625f;
        private static final float DP2 = -2.4187564849853515625e-4f;
        private static final float DP3 = -3.77489497744594108e-8f;
        private static final float SIN_P0 = -1.9515295891E-4f;
        private static final float SIN_P1 = 8.3321608736E-3f;
        private static final float SIN_P2 = -1.6666654611E-1f;
        private static final float COS_P0 = 2.443315711809948E-005f;
        private static final float COS_P1 = -1.388731625493765E-003f;
        private static final float COS_P2 = 4.166664568298827E-002f;

        /** Natural log for positive normal inputs (the only ones Box–Muller passes: 1 − u ∈ [2^-24, 1]). */
        static float log(float v) {
            int bits = Float.floatToRawIntBits(Math.max(v, Float.MIN_NORMAL));
            float e = (float) ((bits >>> 23) - 0x7f) + 1.0f;
            float x = Float.intBitsToFloat((bits & ~0x7f800000) | Float.floatToRawIntBits(0.5f));
            boolean small = x < SQRT_HALF;
            float tmp = small ? x : 0.0f;
            x = x - 1.0f;
            e = e - (small ? 1.0f : 0.0f);
            x = x + tmp;
            float z = x * x;
            float y = LOG_P[0];
            for (int i = 1; i < LOG_P.length; i++) {
                y = Math.fma(y, x, LOG_P[i]);
            }
            y = y * x;
            y = Math.fma(y, z, e * LOG_Q1);
            y = Math.fma(-z, 0.5f, y);
            float r = Math.fma(e, LOG_Q2, x + y);
            return v <= 0 ? Float.NaN : r;
        }

        /** {sin, cos} of {@code v}. */
        static float[] sincos(float v) {
            boolean negative = Float.floatToRawIntBits(v) < 0;
            float x = Math.abs(v);
            int j = (int) (x * FOUR_OVER_PI);
            j = (j + 1) & ~1;
            float y = j;
            boolean swapSin = (j & 4) != 0;
            boolean firstPoly = (j & 2) == 0;
            x = Math.fma(y, DP1, x);
            x = Math.fma(y, DP2, x);
            x = Math.fma(y, DP3, x);
            boolean negCos = ((~(j - 2)) & 4) != 0;
            boolean negSin = negative ^ swapSin;

            float z = x * x;
            float yc = COS_P0;
            yc = Math.fma(yc, z, COS_P1);
            yc = Math.fma(yc, z, COS_P2);
            yc = yc * z;
            yc = Math.fma(yc, z, -(z * 0.5f));
            yc = yc + 1.0f;

            float ys = SIN_P0;
            ys = Math.fma(ys, z, SIN_P1);
            ys = Math.fma(ys, z, SIN_P2);
            ys = ys * z;
            ys = Math.fma(ys, x, x);

            float s = firstPoly ? ys : yc;
            float c = firstPoly ? yc : ys;
            return new float[] {negSin ? -s : s, negCos ? -c : c};
        }
    }
}
