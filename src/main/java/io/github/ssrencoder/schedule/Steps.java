package io.github.ssrencoder.schedule;

/** Argument checks and timestep conversions shared by the schedulers. */
final class Steps {

    private Steps() {
    }

    static void checkIndex(int stepIndex, int numSteps) {
        if (numSteps == 0) {
            throw new IllegalStateException("setTimesteps must be called before stepping");
        }
        if (stepIndex < 0 || stepIndex >= numSteps) {
            throw new IllegalArgumentException("step index " + stepIndex + " outside [0, " + numSteps + ")");
        }
    }

    /** Integer timesteps from the reference's float64 schedule (numpy {@code round().astype(int64)}). */
    static int[] rounded(double[] values) {
        int[] out = new int[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (int) Math.rint(values[i]);
        }
        return out;
    }

    static float[] toFloat(double[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) values[i];
        }
        return out;
    }
}
