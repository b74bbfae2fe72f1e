package io.github.ssrencoder.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BenchHelpersTest {

    @Test
    void halfBitsAreRoundedToNearestEvenWithSubnormalsAndSaturation() {
        assertEquals(0x3c00, RandomValues.toHalf(1f) & 0xffff);
        assertEquals(0x251f, RandomValues.toHalf(0.02f) & 0xffff, "0.02 → 0.0200043");
        assertEquals(0xc000, RandomValues.toHalf(-2f) & 0xffff);
        assertEquals(0x8011, RandomValues.toHalf(-1e-6f) & 0xffff, "subnormal: 1e-6 / 2^-24 = 16.8 → 17");
        assertEquals(0x0400, RandomValues.toHalf(6.1035156e-5f) & 0xffff, "smallest normal");
        assertEquals(0x3c00, RandomValues.toHalf(1f + 0x1p-11f) & 0xffff, "a tie rounds to the even mantissa");
        assertEquals(0x3c02, RandomValues.toHalf(1f + 3 * 0x1p-11f) & 0xffff, "a tie rounds to the even mantissa");
        assertEquals(0x7bff, RandomValues.toHalf(65504f) & 0xffff);
        assertEquals(0x7c00, RandomValues.toHalf(1e6f) & 0xffff);
    }

    @Test
    void normalisationGainsAreTheOneDimensionalWeights() {
        assertTrue(RandomValues.isGain("down_blocks.0.resnets.0.norm1.weight", new long[] {320}));
        assertFalse(RandomValues.isGain("down_blocks.0.resnets.0.norm1.bias", new long[] {320}));
        assertFalse(RandomValues.isGain("conv_in.weight", new long[] {320, 4, 3, 3}));
    }

    @Test
    void medianOfOddAndEvenCounts() {
        assertEquals(2.0, Measurement.median(new double[] {3, 1, 2}));
        assertEquals(2.5, Measurement.median(new double[] {4, 1, 3, 2}));
        assertThrows(IllegalArgumentException.class, () -> Measurement.median(new double[0]));
    }

    @Test
    void optionsHaveDefaultsAndRejectBadValuesByName() {
        BenchOptions o = BenchOptions.parse(new String[] {"--quick", "--repeats", "5"});
        assertTrue(o.quick());
        assertEquals(5, o.repeats());
        assertEquals(1, o.genRepeats(), "one 25-step generation with --quick");
        assertEquals(3, BenchOptions.parse(new String[0]).genRepeats());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BenchOptions.parse(new String[] {"--repeats", "x"}));
        assertTrue(e.getMessage().contains("--repeats"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BenchOptions.parse(new String[] {"--fast"}));
        assertTrue(e.getMessage().contains("--fast"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BenchOptions.parse(new String[] {"--repeats", "0"}));
        assertTrue(e.getMessage().contains("--repeats"), e.getMessage());
    }
}
