package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Scoped;

/**
 * DPM-Solver++ 2M (data prediction, second-order multistep, midpoint variant), as diffusers'
 * {@code DPMSolverMultistepScheduler} with its defaults; the first step and, for fewer than 15 steps, the last
 * step are first order. Optional Karras noise levels.
 */
final class DpmSolverMultistepScheduler implements Scheduler {

    private final SchedulerConfig config;
    private final float[] alphasCumprod;
    private final String spacing;
    private final History history = new History();
    private SigmaTables tables;
    private NDArray previousX0;
    private int nextStep;

    DpmSolverMultistepScheduler(SchedulerConfig config) {
        String solver = config.solverType();
        if (solver != null && !(solver.equals("midpoint") || solver.equals("logrho") || solver.equals("bh1") || solver.equals("bh2"))) {
            throw new IllegalArgumentException("dpmpp-2m supports solver_type midpoint (and logrho, bh1, bh2, which the reference maps to it), got " + solver);
        }
        this.config = config;
        this.alphasCumprod = TrainingSchedule.alphasCumprod(config);
        this.spacing = config.timestepSpacing() == null ? "linspace" : config.timestepSpacing();
    }

    @Override
    public String name() {
        return "dpmpp-2m";
    }

    @Override
    public void setTimesteps(int n) {
        tables = SigmaTables.create(config, alphasCumprod, spacing, n, config.useKarrasSigmas());
        reset();
    }

    @Override
    public float[] timesteps() {
        return tables == null ? new float[0] : SigmaTables.timestepsAsFloat(tables.timesteps);
    }

    /** Noise level per step plus the final one. */
    float[] sigmas() {
        return tables.sigmas.clone();
    }

    @Override
    public int numSteps() {
        return tables == null ? 0 : tables.timesteps.length;
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
        int n = numSteps();
        Steps.checkIndex(stepIndex, n);
        if (stepIndex != nextStep) {
            throw new IllegalArgumentException("dpmpp-2m steps must be taken in order: expected step " + nextStep + ", got " + stepIndex);
        }
        float[] s = tables.sigmas;
        float sigmaS0 = s[stepIndex];
        float sigmaNext = s[stepIndex + 1];
        float alphaS0 = SigmaTables.alpha(sigmaS0);
        float stdS0 = SigmaTables.sigmaT(sigmaS0);
        float alphaT = SigmaTables.alpha(sigmaNext);
        float stdT = SigmaTables.sigmaT(sigmaNext);
        float lambdaT = SigmaTables.lambda(sigmaNext);
        float lambdaS0 = SigmaTables.lambda(sigmaS0);
        float h = lambdaT - lambdaS0;
        float sampleCoeff = stdT / stdS0;
        float d0Coeff = alphaT * ((float) Math.exp(-h) - 1.0f);
        boolean lastLowOrder = stepIndex == n - 1 && n < 15;
        boolean firstOrder = previousX0 == null || lastLowOrder;
        NDArray prevX0 = previousX0;
        NDArray[] x0Out = new NDArray[1];
        NDArray result = Scoped.compute(() -> {
            NDArray x0 = config.predictionType().equals("epsilon")
                    ? sample.sub(modelOutput.mul(stdS0)).div(alphaS0)
                    : sample.mul(alphaS0).sub(modelOutput.mul(stdS0));
            NDArray out;
            if (firstOrder) {
                out = sample.mul(sampleCoeff).sub(x0.mul(d0Coeff));
            } else {
                float lambdaS1 = SigmaTables.lambda(s[stepIndex - 1]);
                float r0 = (lambdaS0 - lambdaS1) / h;
                NDArray d1 = x0.sub(prevX0).mul(1.0f / r0);
                out = sample.mul(sampleCoeff).sub(x0.mul(d0Coeff)).sub(d1.mul(0.5f * d0Coeff));
            }
            x0Out[0] = history.keep(x0);
            return out;
        });
        History.free(previousX0);
        previousX0 = x0Out[0];
        nextStep++;
        return result;
    }

    private void reset() {
        previousX0 = null;
        nextStep = 0;
        history.close();
    }

    /** Arrays held between steps (for tests of memory use). */
    int historySize() {
        return history.size();
    }

    @Override
    public void close() {
        reset();
    }
}
