package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;

/**
 * Base of the samplers that carry arrays from one step to the next (PNDM, DPM-Solver++, UniPC). Their
 * history is only valid for consecutive steps, so steps are refused out of order, and
 * {@link #setTimesteps} and {@link #close} drop it.
 */
abstract class MultistepScheduler extends UnitVarianceScheduler {

    final History history = new History();
    private int nextStep;

    MultistepScheduler(SchedulerConfig config, String defaultSpacing) {
        super(config, defaultSpacing);
    }

    @Override
    public final NDArray step(NDArray modelOutput, int stepIndex, NDArray sample, NoiseSource noise) {
        Steps.checkIndex(stepIndex, numSteps());
        if (stepIndex != nextStep) {
            throw new IllegalArgumentException(name() + " steps must be taken in order: expected step " + nextStep + ", got " + stepIndex);
        }
        NDArray result = advance(modelOutput, stepIndex, sample);
        nextStep++;
        return result;
    }

    /** The step itself, called with consecutive indices from 0; returns an array in the sample's manager. */
    abstract NDArray advance(NDArray modelOutput, int stepIndex, NDArray sample);

    /** Drops the subclass's references into {@link #history}, which is freed right after. */
    abstract void forgetHistory();

    /** Starts a new run at step 0 with no history. */
    final void restart() {
        forgetHistory();
        nextStep = 0;
        history.close();
    }

    /** Arrays held between steps (for tests of memory use). */
    final int historySize() {
        return history.size();
    }

    @Override
    public final void close() {
        restart();
    }
}
