package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Scoped;

/**
 * UniPC (bh2, order 2, data prediction), as diffusers' {@code UniPCMultistepScheduler} with its defaults:
 * each step first corrects the incoming sample with the new model output (UniC), then predicts the next
 * sample (UniP). The first step and the last step are first order.
 */
final class UniPcMultistepScheduler implements Scheduler {

    private static final int SOLVER_ORDER = 2;

    private final SchedulerConfig config;
    private final float[] alphasCumprod;
    private final String spacing;
    private final History history = new History();
    private SigmaTables tables;
    /** Data predictions of the two most recent steps; {@code [1]} is the newest. */
    private final NDArray[] x0History = new NDArray[SOLVER_ORDER];
    private NDArray lastSample;
    private int lowerOrderNums;
    private int thisOrder;
    private int nextStep;

    UniPcMultistepScheduler(SchedulerConfig config) {
        String solver = config.solverType();
        if (solver != null && !(solver.equals("bh2") || solver.equals("midpoint") || solver.equals("heun") || solver.equals("logrho"))) {
            throw new IllegalArgumentException("unipc supports solver_type bh2 (and midpoint, heun, logrho, which the reference maps to it), got " + solver);
        }
        if (config.useKarrasSigmas()) {
            throw new IllegalArgumentException("unipc does not support use_karras_sigmas = true (supported: false)");
        }
        this.config = config;
        this.alphasCumprod = TrainingSchedule.alphasCumprod(config);
        this.spacing = config.timestepSpacing() == null ? "linspace" : config.timestepSpacing();
    }

    @Override
    public String name() {
        return "unipc";
    }

    @Override
    public void setTimesteps(int n) {
        tables = SigmaTables.create(config, alphasCumprod, spacing, n, false);
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
            throw new IllegalArgumentException("unipc steps must be taken in order: expected step " + nextStep + ", got " + stepIndex);
        }
        float[] s = tables.sigmas;
        float sigma = s[stepIndex];
        float alpha = SigmaTables.alpha(sigma);
        float std = SigmaTables.sigmaT(sigma);
        boolean correct = stepIndex > 0 && lastSample != null;
        int correctorOrder = thisOrder;
        NDArray[] kept = new NDArray[2];
        NDArray result = Scoped.compute(() -> {
            NDArray x0 = config.predictionType().equals("epsilon")
                    ? sample.sub(modelOutput.mul(std)).div(alpha)
                    : sample.mul(alpha).sub(modelOutput.mul(std));
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
        nextStep++;
        // the corrected sample lives in the history, so the result must be handed to the caller's manager
        result.attach(sample.getManager());
        return result;
    }

    private int predictorOrder(int stepIndex, int n) {
        return Math.min(Math.min(SOLVER_ORDER, n - stepIndex), lowerOrderNums + 1);
    }

    /** UniC: refines the sample of step {@code i} using the model output obtained at it. */
    private NDArray corrector(NDArray x0, int i, int order) {
        float[] s = tables.sigmas;
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
        float[] s = tables.sigmas;
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

    private void reset() {
        x0History[0] = null;
        x0History[1] = null;
        lastSample = null;
        lowerOrderNums = 0;
        thisOrder = 0;
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
