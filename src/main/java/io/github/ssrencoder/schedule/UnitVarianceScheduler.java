package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;

/**
 * Base of the variance-preserving samplers (DDIM, PNDM, DPM-Solver++, UniPC, LCM): their latents start as unit
 * Gaussian noise, the denoiser sees the sample unscaled, and they run on integer training timesteps.
 */
abstract class UnitVarianceScheduler implements Scheduler {

    final SchedulerConfig config;
    final float[] alphasCumprod;
    final String spacing;
    /** Set by {@link #setTimesteps}; empty before the first call. */
    int[] timesteps = new int[0];

    UnitVarianceScheduler(SchedulerConfig config, String defaultSpacing) {
        this.config = config;
        this.alphasCumprod = TrainingSchedule.alphasCumprod(config);
        this.spacing = config.timestepSpacing() == null ? defaultSpacing : config.timestepSpacing();
    }

    @Override
    public final float[] timesteps() {
        return SigmaTables.timestepsAsFloat(timesteps);
    }

    @Override
    public final int numSteps() {
        return timesteps.length;
    }

    @Override
    public final float initNoiseSigma() {
        return 1.0f;
    }

    @Override
    public final NDArray scaleModelInput(NDArray sample, int stepIndex) {
        return sample.duplicate();
    }
}
