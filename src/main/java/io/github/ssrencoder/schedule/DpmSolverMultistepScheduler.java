package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Scoped;

/**
 * DPM-Solver++ 2M (data prediction, second-order multistep, midpoint variant), as diffusers'
 * {@code DPMSolverMultistepScheduler} with its defaults; the first step and, for fewer than 15 steps, the last
 * step are first order. Optional Karras noise levels.
 */
final class DpmSolverMultistepScheduler extends DataPredictionScheduler {

    private NDArray previousX0;

    DpmSolverMultistepScheduler(SchedulerConfig config) {
        super(requireSolverType(config, "dpmpp-2m", "midpoint", "logrho", "bh1", "bh2"));
    }

    @Override
    public String name() {
        return "dpmpp-2m";
    }

    @Override
    NDArray advance(NDArray modelOutput, int stepIndex, NDArray sample) {
        int n = numSteps();
        float[] s = sigmas;
        float sigmaS0 = s[stepIndex];
        float sigmaNext = s[stepIndex + 1];
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
            NDArray x0 = dataPrediction(modelOutput, sample, sigmaS0);
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
        return result;
    }

    @Override
    void forgetHistory() {
        previousX0 = null;
    }
}
