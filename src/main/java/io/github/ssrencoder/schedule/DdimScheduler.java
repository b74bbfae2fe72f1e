package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Scoped;

/** Deterministic DDIM (eta = 0), as diffusers' {@code DDIMScheduler}. */
final class DdimScheduler extends UnitVarianceScheduler {

    private final float finalAlphaCumprod;
    private int numInferenceSteps;

    DdimScheduler(SchedulerConfig config) {
        super(config, "leading");
        this.finalAlphaCumprod = TrainingSchedule.finalAlphaCumprod(config, alphasCumprod, true);
    }

    @Override
    public String name() {
        return "ddim";
    }

    @Override
    public void setTimesteps(int n) {
        TrainingSchedule.requirePositiveSteps(n);
        if (n > config.numTrainTimesteps()) {
            throw new IllegalArgumentException("DDIM needs at most num_train_timesteps = " + config.numTrainTimesteps()
                    + " steps, got " + n);
        }
        timesteps = Steps.rounded(TrainingSchedule.spacedTimesteps(spacing, config.numTrainTimesteps(), n, config.stepsOffset()));
        numInferenceSteps = n;
    }

    @Override
    public NDArray step(NDArray modelOutput, int stepIndex, NDArray sample, NoiseSource noise) {
        Steps.checkIndex(stepIndex, numSteps());
        int t = timesteps[stepIndex];
        int prev = t - config.numTrainTimesteps() / numInferenceSteps;
        float alphaT = alphasCumprod[t];
        float alphaPrev = prev >= 0 ? alphasCumprod[prev] : finalAlphaCumprod;
        float betaT = 1.0f - alphaT;
        float sqrtAlphaT = (float) Math.sqrt(alphaT);
        float sqrtBetaT = (float) Math.sqrt(betaT);
        float sqrtAlphaPrev = (float) Math.sqrt(alphaPrev);
        float directionCoeff = (float) Math.sqrt(1.0f - alphaPrev);
        boolean eps = config.predictionType().equals("epsilon");
        return Scoped.compute(() -> {
            NDArray x0;
            NDArray epsilon;
            if (eps) {
                x0 = sample.sub(modelOutput.mul(sqrtBetaT)).div(sqrtAlphaT);
                epsilon = modelOutput;
            } else {
                x0 = sample.mul(sqrtAlphaT).sub(modelOutput.mul(sqrtBetaT));
                epsilon = modelOutput.mul(sqrtAlphaT).add(sample.mul(sqrtBetaT));
            }
            return x0.mul(sqrtAlphaPrev).add(epsilon.mul(directionCoeff));
        });
    }

    @Override
    public void close() {
        // DDIM keeps no arrays between steps.
    }
}
