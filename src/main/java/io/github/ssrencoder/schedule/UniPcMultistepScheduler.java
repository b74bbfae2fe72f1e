package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Scoped;

/**
 * UniPC (bh2, order 2, data prediction), as diffusers' {@code UniPCMultistepScheduler} with its defaults:
 * each step first corrects the incoming sample with the new model output (UniC), then predicts the next
 * sample (UniP). The first step and the last step are first order.
 */
final class UniPcMultistepScheduler extends DataPredictionScheduler {

    private static final int SOLVER_ORDER = 2;

    /** Data predictions of the two most recent steps; {@code [1]} is the newest. */
    private final NDArray[] x0History = new NDArray[SOLVER_ORDER];
    private NDArray lastSample;
    private int lowerOrderNums;
    private int thisOrder;

    UniPcMultistepScheduler(SchedulerConfig config) {
        super(requireSupported(config));
    }

    private static SchedulerConfig requireSupported(SchedulerConfig config) {
        requireSolverType(config, "unipc", "bh2", "midpoint", "heun", "logrho");
        if (config.useKarrasSigmas()) {
            throw new IllegalArgumentException("unipc does not support use_karras_sigmas = true (supported: false)");
        }
        return config;
    }

    @Override
    public String name() {
        return "unipc";
    }

    @Override
    NDArray advance(NDArray modelOutput, int stepIndex, NDArray sample) {
        int n = numSteps();
        float sigma = sigmas[stepIndex];
        boolean correct = stepIndex > 0 && lastSample != null;
        int correctorOrder = thisOrder;
        NDArray[] kept = new NDArray[2];
        NDArray result = Scoped.compute(() -> {
            NDArray x0 = dataPrediction(modelOutput, sample, sigma);
            NDArray current = correct ? corrector(x0, stepIndex, correctorOrder) : sample.duplicate();
            kept[0] = history.keep(x0);
            kept[1] = history.keep(current);
            return predictor(current, x0, stepIndex, predictorOrder(stepIndex, n));
        });
        History.free(x0History[0]);
        x0History[0] = x0History[1];
        x0History[1] = kept[0];
        History.free(lastSample);
        lastSample = kept[1];
        thisOrder = predictorOrder(stepIndex, n);
        if (lowerOrderNums < SOLVER_ORDER) {
            lowerOrderNums++;
        }
        // the corrected sample lives in the history, so the result must be handed to the caller's manager
        result.attach(sample.getManager());
        return result;
    }

    private int predictorOrder(int stepIndex, int n) {
        return Math.min(Math.min(SOLVER_ORDER, n - stepIndex), lowerOrderNums + 1);
    }

    /** UniC: refines the sample of step {@code i} using the model output obtained at it. */
    private NDArray corrector(NDArray x0, int i, int order) {
        float[] s = sigmas;
        Coefficients c = new Coefficients(s[i - 1], s[i]);
        NDArray m0 = x0History[1];
        NDArray base = lastSample.mul(c.sampleCoeff).sub(m0.mul(c.alphaT * c.hPhi1));
        NDArray dt = x0.sub(m0);
        NDArray correction;
        if (order == 1) {
            correction = dt.mul(0.5f);
        } else {
            float rk = (SigmaTables.lambda(s[i - 2]) - c.lambdaS0) / c.h;
            float[] rhos = c.solveCorrector(rk);
            NDArray d1 = x0History[0].sub(m0).div(rk);
            correction = d1.mul(rhos[0]).add(dt.mul(rhos[1]));
        }
        return base.sub(correction.mul(c.alphaT * c.bH));
    }

    /** UniP: the sample of step {@code i + 1} from the (corrected) sample and data prediction of step {@code i}. */
    private NDArray predictor(NDArray sample, NDArray x0, int i, int order) {
        float[] s = sigmas;
        Coefficients c = new Coefficients(s[i], s[i + 1]);
        NDArray base = sample.mul(c.sampleCoeff).sub(x0.mul(c.alphaT * c.hPhi1));
        if (order == 1) {
            return base;
        }
        float rk = (SigmaTables.lambda(s[i - 1]) - c.lambdaS0) / c.h;
        NDArray d1 = x0History[1].sub(x0).div(rk);
        return base.sub(d1.mul(0.5f).mul(c.alphaT * c.bH));
    }

    /** Float32 scalars of one UniPC update from noise level {@code from} to {@code to}. */
    private static final class Coefficients {
        final float alphaT;
        final float sampleCoeff;
        final float lambdaS0;
        final float h;
        final float hh;
        final float hPhi1;
        final float bH;

        Coefficients(float from, float to) {
            alphaT = SigmaTables.alpha(to);
            sampleCoeff = SigmaTables.sigmaT(to) / SigmaTables.sigmaT(from);
            lambdaS0 = SigmaTables.lambda(from);
            h = SigmaTables.lambda(to) - lambdaS0;
            hh = -h;
            hPhi1 = (float) Math.expm1(hh);
            bH = hPhi1;
        }

        /** Solves {@code [[1, 1], [rk, 1]] rho = b} for the second-order corrector weights. */
        float[] solveCorrector(float rk) {
            float phi = hPhi1 / hh - 1.0f;
            float b1 = phi / bH;
            phi = phi / hh - 0.5f;
            float b2 = phi * 2.0f / bH;
            double det = 1.0 - rk;
            double rho0 = (b1 - (double) b2) / det;
            double rho1 = (b2 - rk * (double) b1) / det;
            return new float[] {(float) rho0, (float) rho1};
        }
    }

    @Override
    void forgetHistory() {
        x0History[0] = null;
        x0History[1] = null;
        lastSample = null;
        lowerOrderNums = 0;
        thisOrder = 0;
    }
}
