package io.github.ssrencoder.schedule;

/**
 * Timesteps and noise levels of the multistep solvers (DPM-Solver++, UniPC), with the reference's mix of
 * float64 numpy and float32 torch arithmetic, and the float32 scalar maths of their update coefficients.
 */
final class SigmaTables {

    final int[] timesteps;
    /** Noise level per step plus the level after the final step. */
    final float[] sigmas;

    private SigmaTables(int[] timesteps, float[] sigmas) {
        this.timesteps = timesteps;
        this.sigmas = sigmas;
    }

    static SigmaTables create(SchedulerConfig config, float[] alphasCumprod, String spacing, int n, boolean karras) {
        TrainingSchedule.requirePositiveSteps(n);
        float[] train = TrainingSchedule.trainingSigmas(alphasCumprod);
        float sigmaLast = (float) Math.sqrt((1.0f - alphasCumprod[0]) / alphasCumprod[0]);
        if (karras) {
            return karras(train, n);
        }
        double[] t = TrainingSchedule.multistepTimesteps(spacing, config.numTrainTimesteps(), n, config.stepsOffset());
        int[] ts = new int[n];
        float[] sigmas = new float[n + 1];
        for (int i = 0; i < n; i++) {
            ts[i] = (int) Math.rint(t[i]);
            sigmas[i] = (float) TrainingSchedule.interp(ts[i], train);
        }
        sigmas[n] = sigmaLast;
        return new SigmaTables(ts, sigmas);
    }

    /** Karras et al. (2022) levels (rho 7) between the extreme training levels, mapped back to timesteps. */
    private static SigmaTables karras(float[] train, int n) {
        double[] logSigmas = new double[train.length];
        for (int i = 0; i < train.length; i++) {
            logSigmas[i] = Math.log((double) train[i]);
        }
        double sigmaMin = train[0];
        double sigmaMax = train[train.length - 1];
        double rho = 7.0;
        double minInv = Math.pow(sigmaMin, 1 / rho);
        double maxInv = Math.pow(sigmaMax, 1 / rho);
        double[] ramp = TrainingSchedule.npLinspace(0, 1, n);
        int[] ts = new int[n];
        float[] sigmas = new float[n + 1];
        for (int i = 0; i < n; i++) {
            double s = Math.pow(maxInv + ramp[i] * (minInv - maxInv), rho);
            ts[i] = (int) Math.rint(sigmaToT(s, logSigmas));
            sigmas[i] = (float) s;
        }
        sigmas[n] = sigmas[n - 1];
        return new SigmaTables(ts, sigmas);
    }

    /** Fractional training timestep whose log noise level interpolates to {@code log(sigma)}. */
    private static double sigmaToT(double sigma, double[] logSigmas) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        int count = 0;
        for (double ls : logSigmas) {
            if (logSigma - ls >= 0) {
                count++;
            }
        }
        // index of the last level not above sigma (the reference's cumsum/argmax), clipped to leave a neighbour
        int low = Math.min(Math.max(count - 1, 0), logSigmas.length - 2);
        double lo = logSigmas[low];
        double hi = logSigmas[low + 1];
        double w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
        return (1 - w) * low + w * (low + 1);
    }

    /** {@code alpha_t, sigma_t} of a noise level, float32 like the reference's 0-dim tensors. */
    static float alpha(float sigma) {
        return 1.0f / (float) Math.sqrt(sigma * sigma + 1.0f);
    }

    static float sigmaT(float sigma) {
        return sigma * alpha(sigma);
    }

    /** Half-log signal-to-noise ratio {@code log(alpha_t) - log(sigma_t)} in float32. */
    static float lambda(float sigma) {
        return (float) Math.log(alpha(sigma)) - (float) Math.log(sigmaT(sigma));
    }

    static float[] timestepsAsFloat(int[] t) {
        float[] out = new float[t.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = t[i];
        }
        return out;
    }
}
