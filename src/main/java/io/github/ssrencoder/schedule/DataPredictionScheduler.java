package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import java.util.Arrays;

/**
 * Base of the multistep solvers that work on the noise-level tables of {@link SigmaTables} and combine
 * data predictions (DPM-Solver++, UniPC).
 */
abstract class DataPredictionScheduler extends MultistepScheduler {

    /** Noise level per step plus the level after the final step; empty before {@link #setTimesteps}. */
    float[] sigmas = new float[0];

    DataPredictionScheduler(SchedulerConfig config) {
        super(config, "linspace");
    }

    /**
     * Accepts {@code solver_type} {@code supported}, absent, or one of {@code aliases}, which the reference
     * silently replaces by {@code supported}.
     */
    static SchedulerConfig requireSolverType(SchedulerConfig config, String name, String supported, String... aliases) {
        String solver = config.solverType();
        if (solver != null && !solver.equals(supported) && !Arrays.asList(aliases).contains(solver)) {
            throw new IllegalArgumentException(name + " supports solver_type " + supported + " (and " + String.join(", ", aliases)
                    + ", which the reference maps to it), got " + solver);
        }
        return config;
    }

    @Override
    public final void setTimesteps(int n) {
        SigmaTables tables = SigmaTables.create(config, alphasCumprod, spacing, n, config.useKarrasSigmas());
        timesteps = tables.timesteps;
        sigmas = tables.sigmas;
        restart();
    }

    /** Noise level per step plus the final one. */
    final float[] sigmas() {
        return sigmas.clone();
    }

    /** The denoised sample the model output implies at noise level {@code sigma}; call inside a scope. */
    final NDArray dataPrediction(NDArray modelOutput, NDArray sample, float sigma) {
        float alpha = SigmaTables.alpha(sigma);
        float std = SigmaTables.sigmaT(sigma);
        return config.predictionType().equals("epsilon")
                ? sample.sub(modelOutput.mul(std)).div(alpha)
                : sample.mul(alpha).sub(modelOutput.mul(std));
    }
}
