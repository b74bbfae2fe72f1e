package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Scoped;

/**
 * Euler sampling in noise-level (sigma) space, as diffusers' {@code EulerDiscreteScheduler} (no churn) and,
 * with {@code ancestral}, {@code EulerAncestralDiscreteScheduler}, which re-injects fresh noise each step.
 */
final class EulerScheduler implements Scheduler {

    private final SchedulerConfig config;
    private final boolean ancestral;
    private final float[] trainingSigmas;
    private final String spacing;
    private float[] timesteps = new float[0];
    private float[] sigmas = new float[0];

    EulerScheduler(SchedulerConfig config, boolean ancestral) {
        this.config = config;
        this.ancestral = ancestral;
        this.trainingSigmas = TrainingSchedule.trainingSigmas(TrainingSchedule.alphasCumprod(config));
        this.spacing = config.timestepSpacing() == null ? "linspace" : config.timestepSpacing();
    }

    @Override
    public String name() {
        return ancestral ? "euler-a" : "euler";
    }

    @Override
    public void setTimesteps(int n) {
        TrainingSchedule.requirePositiveSteps(n);
        double[] t = TrainingSchedule.spacedTimesteps(spacing, config.numTrainTimesteps(), n, config.stepsOffset());
        // timesteps are float32 here; the noise levels are interpolated at those float32 values
        timesteps = Steps.toFloat(t);
        sigmas = new float[n + 1];
        for (int i = 0; i < n; i++) {
            sigmas[i] = (float) TrainingSchedule.interp(timesteps[i], trainingSigmas);
        }
        sigmas[n] = 0f;
    }

    @Override
    public float[] timesteps() {
        return timesteps.clone();
    }

    /** Noise level per step, ending with 0. */
    float[] sigmas() {
        return sigmas.clone();
    }

    @Override
    public int numSteps() {
        return timesteps.length;
    }

    @Override
    public float initNoiseSigma() {
        float max = 0f;
        for (float s : sigmas) {
            max = Math.max(max, s);
        }
        if (spacing.equals("linspace") || spacing.equals("trailing")) {
            return max;
        }
        return (float) Math.sqrt(max * max + 1.0f);
    }

    @Override
    public NDArray scaleModelInput(NDArray sample, int stepIndex) {
        Steps.checkIndex(stepIndex, numSteps());
        float sigma = sigmas[stepIndex];
        return sample.div((float) Math.sqrt(sigma * sigma + 1.0f));
    }

    @Override
    public NDArray step(NDArray modelOutput, int stepIndex, NDArray sample, NoiseSource noise) {
        Steps.checkIndex(stepIndex, numSteps());
        if (ancestral && noise == null) {
            throw new IllegalArgumentException("euler-a needs a noise source");
        }
        float sigma = sigmas[stepIndex];
        float sigmaNext = sigmas[stepIndex + 1];
        return Scoped.compute(() -> {
            NDArray x0;
            if (config.predictionType().equals("epsilon")) {
                x0 = sample.sub(modelOutput.mul(sigma));
            } else {
                float denom = sigma * sigma + 1.0f;
                x0 = modelOutput.mul(-sigma / (float) Math.sqrt(denom)).add(sample.div(denom));
            }
            NDArray derivative = sample.sub(x0).div(sigma);
            if (!ancestral) {
                return sample.add(derivative.mul(sigmaNext - sigma));
            }
            float sigmaUp = (float) Math.sqrt(sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext) / (sigma * sigma));
            float sigmaDown = (float) Math.sqrt(sigmaNext * sigmaNext - sigmaUp * sigmaUp);
            NDArray moved = sample.add(derivative.mul(sigmaDown - sigma));
            NDArray z = noise.randn(modelOutput.getShape(), sample.getManager());
            return moved.add(z.mul(sigmaUp));
        });
    }

    @Override
    public void close() {
        // Euler keeps no arrays between steps.
    }
}
