package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Scoped;

/** Deterministic DDIM (eta = 0), as diffusers' {@code DDIMScheduler}. */
final class DdimScheduler implements Scheduler {

    private final SchedulerConfig config;
    private final float[] alphasCumprod;
    private final float finalAlphaCumprod;
    private final String spacing;
    private int numInferenceSteps;
    private int[] timesteps = new int[0];

    DdimScheduler(SchedulerConfig config) {
        this.config = config;
        this.alphasCumprod = TrainingSchedule.alphasCumprod(config);
        boolean alphaToOne = config.setAlphaToOne() == null || config.setAlphaToOne();
        this.finalAlphaCumprod = alphaToOne ? 1.0f : alphasCumprod[0];
        this.spacing = config.timestepSpacing() == null ? "leading" : config.timestepSpacing();
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
        double[] t = TrainingSchedule.spacedTimesteps(spacing, config.numTrainTimesteps(), n, config.stepsOffset());
        timesteps = new int[n];
        for (int i = 0; i < n; i++) {
            timesteps[i] = (int) Math.rint(t[i]);
        }
        numInferenceSteps = n;
    }

    @Override
    public float[] timesteps() {
        float[] out = new float[timesteps.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = timesteps[i];
        }
        return out;
    }

    @Override
    public int numSteps() {
        return timesteps.length;
    }

    @Override
    public float initNoiseSigma() {
        return 1.0f;
    }

    @Override
    public NDArray scaleModelInput(NDArray sample, int stepIndex) {
        return sample.duplicate();
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
