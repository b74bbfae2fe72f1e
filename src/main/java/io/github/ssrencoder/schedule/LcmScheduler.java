package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Scoped;

/**
 * Latent consistency model sampling, as diffusers' {@code LCMScheduler}: each step maps the sample to the
 * consistency model's estimate of the clean latents and, except at the last step, re-noises that estimate
 * to the next timestep with fresh noise from the run's generator. The timesteps are a subset of the
 * {@code original_inference_steps}-point schedule the model was distilled on, so a run has at most that
 * many steps. Meant for LCM-distilled weights (LCM-LoRA) at 4–8 steps and low guidance.
 */
final class LcmScheduler extends UnitVarianceScheduler {

    static final int DEFAULT_ORIGINAL_INFERENCE_STEPS = 50;
    static final double DEFAULT_TIMESTEP_SCALING = 10.0;
    private static final float SIGMA_DATA = 0.5f;

    private final int originalSteps;
    private final float timestepScaling;

    LcmScheduler(SchedulerConfig config) {
        // timestep_spacing and steps_offset do not affect LCM's timesteps
        super(config, "leading");
        this.originalSteps = config.originalInferenceSteps() == null
                ? DEFAULT_ORIGINAL_INFERENCE_STEPS : config.originalInferenceSteps();
        this.timestepScaling = (float) (config.timestepScaling() == null
                ? DEFAULT_TIMESTEP_SCALING : config.timestepScaling().doubleValue());
        if (originalSteps > config.numTrainTimesteps()) {
            throw new IllegalArgumentException("original_inference_steps " + originalSteps
                    + " exceeds num_train_timesteps = " + config.numTrainTimesteps());
        }
    }

    @Override
    public String name() {
        return "lcm";
    }

    /**
     * The distillation schedule has the timesteps {@code k·c − 1}, {@code k = 1…orig}, with
     * {@code c = T // orig}; a run of {@code n} steps starts at its last point and walks down in strides of
     * {@code orig // n} points.
     */
    @Override
    public void setTimesteps(int n) {
        TrainingSchedule.requirePositiveSteps(n);
        if (n > originalSteps) {
            throw new IllegalArgumentException("lcm supports at most original_inference_steps = " + originalSteps
                    + " steps (the schedule the consistency model was distilled on), got " + n
                    + "; LCM is meant for 4 to 8 steps");
        }
        int c = config.numTrainTimesteps() / originalSteps;
        int skip = originalSteps / n;
        int[] t = new int[n];
        for (int k = 0; k < n; k++) {
            t[k] = (originalSteps - k * skip) * c - 1;
        }
        timesteps = t;
    }

    /** {@code c_skip} of the boundary condition at training timestep {@code t}, in float32 like the reference. */
    float cSkip(int t) {
        float scaled = t * timestepScaling;
        return SIGMA_DATA * SIGMA_DATA / (scaled * scaled + SIGMA_DATA * SIGMA_DATA);
    }

    /** {@code c_out} of the boundary condition at training timestep {@code t}, in float32 like the reference. */
    float cOut(int t) {
        float scaled = t * timestepScaling;
        return scaled / (float) Math.sqrt(scaled * scaled + SIGMA_DATA * SIGMA_DATA);
    }

    /** The consistency estimate of the clean latents at step {@code stepIndex}; a new array in the sample's manager. */
    NDArray denoised(NDArray modelOutput, int stepIndex, NDArray sample) {
        Steps.checkIndex(stepIndex, numSteps());
        int t = timesteps[stepIndex];
        float alphaT = alphasCumprod[t];
        float sqrtAlphaT = (float) Math.sqrt(alphaT);
        float sqrtBetaT = (float) Math.sqrt(1.0f - alphaT);
        float cSkip = cSkip(t);
        float cOut = cOut(t);
        boolean eps = config.predictionType().equals("epsilon");
        return Scoped.compute(() -> {
            NDArray x0 = eps
                    ? sample.sub(modelOutput.mul(sqrtBetaT)).div(sqrtAlphaT)
                    : sample.mul(sqrtAlphaT).sub(modelOutput.mul(sqrtBetaT));
            return x0.mul(cOut).add(sample.mul(cSkip));
        });
    }

    @Override
    public NDArray step(NDArray modelOutput, int stepIndex, NDArray sample, NoiseSource noise) {
        Steps.checkIndex(stepIndex, numSteps());
        if (stepIndex == numSteps() - 1) {
            return denoised(modelOutput, stepIndex, sample);
        }
        if (noise == null) {
            throw new IllegalArgumentException("lcm needs a noise source");
        }
        float alphaNext = alphasCumprod[timesteps[stepIndex + 1]];
        float sqrtAlphaNext = (float) Math.sqrt(alphaNext);
        float sqrtBetaNext = (float) Math.sqrt(1.0f - alphaNext);
        return Scoped.compute(() -> {
            NDArray denoised = denoised(modelOutput, stepIndex, sample);
            NDArray z = noise.randn(modelOutput.getShape(), sample.getManager());
            return denoised.mul(sqrtAlphaNext).add(z.mul(sqrtBetaNext));
        });
    }

    @Override
    public void close() {
        // LCM keeps no arrays between steps.
    }
}
