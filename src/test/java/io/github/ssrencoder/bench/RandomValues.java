package io.github.ssrencoder.bench;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.SplittableRandom;

/**
 * Cheap seeded random weights for the full-size models (about 1.3 billion values): 65 536 draws of N(0, σ) are
 * made once, and every value is one of them picked by 16 random bits, four values per 64-bit draw. That is
 * fast enough to write the models in seconds, and the values have the spread of the real distribution, which
 * is all a benchmark needs. 1-D {@code weight} tensors are normalisation gains: 1 + N(0, σ).
 */
final class RandomValues {

    private static final int TABLE = 1 << 16;

    private final SplittableRandom random;
    private final float[] plain = new float[TABLE];
    private final float[] gain = new float[TABLE];
    private final short[] plainHalf = new short[TABLE];
    private final short[] gainHalf = new short[TABLE];

    RandomValues(long seed, double sigma) {
        random = new SplittableRandom(seed);
        for (int i = 0; i < TABLE; i++) {
            double u = 1 - random.nextDouble();
            double g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.nextDouble()) * sigma;
            plain[i] = (float) g;
            gain[i] = (float) (1 + g);
            plainHalf[i] = toHalf(plain[i]);
            gainHalf[i] = toHalf(gain[i]);
        }
    }

    /** Whether the tensor {@code key} of {@code shape} is a normalisation gain (values around 1). */
    static boolean isGain(String key, long[] shape) {
        return shape.length == 1 && key.endsWith("weight");
    }

    /** Puts {@code count} float16 values (little-endian bit patterns) into {@code out}. */
    void putHalves(ByteBuffer out, int count, boolean gains) {
        short[] t = gains ? gainHalf : plainHalf;
        int i = 0;
        for (; i + 4 <= count; i += 4) {
            long r = random.nextLong();
            out.putShort(t[(int) (r & 0xFFFF)]);
            out.putShort(t[(int) ((r >>> 16) & 0xFFFF)]);
            out.putShort(t[(int) ((r >>> 32) & 0xFFFF)]);
            out.putShort(t[(int) (r >>> 48)]);
        }
        for (; i < count; i++) {
            out.putShort(t[random.nextInt(TABLE)]);
        }
    }

    /** Puts {@code count} float32 values into {@code out}. */
    void putFloats(FloatBuffer out, int count, boolean gains) {
        float[] t = gains ? gain : plain;
        int i = 0;
        for (; i + 4 <= count; i += 4) {
            long r = random.nextLong();
            out.put(t[(int) (r & 0xFFFF)]);
            out.put(t[(int) ((r >>> 16) & 0xFFFF)]);
            out.put(t[(int) ((r >>> 32) & 0xFFFF)]);
            out.put(t[(int) (r >>> 48)]);
        }
        for (; i < count; i++) {
            out.put(t[random.nextInt(TABLE)]);
        }
    }

    /** {@code count} float32 values. */
    float[] floats(int count, boolean gains) {
        float[] t = gains ? gain : plain;
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = t[random.nextInt(TABLE)];
        }
        return v;
    }

    /** IEEE 754 binary16 bits of {@code f}, rounded to nearest even; beyond the half range saturates. */
    static short toHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        float a = Math.abs(f);
        if (Float.isNaN(f)) {
            return (short) 0x7e00;
        }
        if (a >= 65520f) {
            return (short) (sign | 0x7c00);
        }
        if (a < 6.103515625e-5f) {
            // Subnormal halves count units of 2^-24; a result of 1024 is the smallest normal, which has the same bits.
            return (short) (sign | Math.round(a * 16777216f));
        }
        int exponent = ((bits >>> 23) & 0xff) - 127 + 15;
        int mantissa = bits & 0x7fffff;
        int h = (exponent << 10) | (mantissa >>> 13);
        int rest = mantissa & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1)) {
            h++;
        }
        return (short) (sign | h);
    }
}
