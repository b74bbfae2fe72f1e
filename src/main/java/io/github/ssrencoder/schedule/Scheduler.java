package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;

/**
 * A diffusion sampler: the timesteps to evaluate the denoiser at, how to scale its input, and how to move
 * the latent sample one step towards the data given the denoiser's output. Mirrors the diffusers scheduler
 * contract with an explicit step index; multistep samplers keep their history internally, so one instance
 * drives one generation at a time ({@link #setTimesteps} starts a new one).
 */
public interface Scheduler extends AutoCloseable {

    /** Short name used on the command line and in metadata, e.g. {@code "unipc"}. */
    String name();

    /** Prepares a run of {@code numInferenceSteps} steps and forgets any earlier history. */
    void setTimesteps(int numInferenceSteps);

    /** The value passed to the denoiser at each step (integer-valued except for the Euler schedulers). */
    float[] timesteps();

    /** Number of denoiser evaluations, {@code timesteps().length}. */
    int numSteps();

    /** Standard deviation the initial Gaussian latents are multiplied with. */
    float initNoiseSigma();

    /** The denoiser input for step {@code stepIndex}; a new array in the sample's manager. */
    NDArray scaleModelInput(NDArray sample, int stepIndex);

    /**
     * One sampling step: returns the sample for step {@code stepIndex + 1} as a new array in the sample's
     * manager. Steps must be taken in order 0, 1, 2, ... after {@link #setTimesteps}. {@code noise} is drawn
     * only by the samplers that add fresh noise (Euler ancestral, LCM) and may be {@code null} for the others.
     */
    NDArray step(NDArray modelOutput, int stepIndex, NDArray sample, NoiseSource noise);

    /** Frees the history arrays a multistep scheduler holds. */
    @Override
    void close();
}
