package io.github.ssrencoder.schedule;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Scoped;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Pseudo linear multistep (PLMS) sampling, as diffusers' {@code PNDMScheduler} with {@code skip_prk_steps}:
 * the second timestep is evaluated twice (a Heun-like warm-up), then Adams-Bashforth combinations of up to
 * four past noise predictions are used.
 */
final class PndmScheduler extends MultistepScheduler {

    private static final int MAX_ETS = 4;

    private final float finalAlphaCumprod;
    private final Deque<NDArray> ets = new ArrayDeque<>();
    private int numInferenceSteps;
    private NDArray curSample;

    PndmScheduler(SchedulerConfig config) {
        super(requirePlms(config), "leading");
        this.finalAlphaCumprod = TrainingSchedule.finalAlphaCumprod(config, alphasCumprod, false);
    }

    private static SchedulerConfig requirePlms(SchedulerConfig config) {
        if (config.skipPrkSteps() == null || !config.skipPrkSteps()) {
            throw new IllegalArgumentException("pndm supports only skip_prk_steps = true (PLMS); the config has "
                    + (config.skipPrkSteps() == null ? "no skip_prk_steps (diffusers default false)" : "skip_prk_steps = false"));
        }
        return config;
    }

    @Override
    public String name() {
        return "pndm";
    }

    @Override
    public void setTimesteps(int n) {
        TrainingSchedule.requirePositiveSteps(n);
        if (n < 2) {
            throw new IllegalArgumentException("pndm needs at least 2 inference steps, got " + n);
        }
        int[] desc = Steps.rounded(TrainingSchedule.spacedTimesteps(spacing, config.numTrainTimesteps(), n, config.stepsOffset()));
        // the reference repeats the second timestep for the warm-up step
        timesteps = new int[n + 1];
        timesteps[0] = desc[0];
        timesteps[1] = desc[1];
        System.arraycopy(desc, 1, timesteps, 2, n - 1);
        numInferenceSteps = n;
        restart();
    }

    @Override
    NDArray advance(NDArray modelOutput, int stepIndex, NDArray sample) {
        int stride = config.numTrainTimesteps() / numInferenceSteps;
        int t = timesteps[stepIndex];
        int prev = t - stride;
        if (stepIndex != 1) {
            if (ets.size() == MAX_ETS) {
                History.free(ets.removeFirst());
            }
            ets.addLast(history.copy(modelOutput));
        } else {
            prev = t;
            t = t + stride;
        }
        final int from = t;
        final int to = prev;
        NDArray result;
        if (ets.size() == 1 && stepIndex == 0) {
            result = prevSample(sample, from, to, modelOutput);
            curSample = history.copy(sample);
        } else if (ets.size() == 1 && stepIndex == 1) {
            NDArray base = curSample;
            result = Scoped.compute(() -> prevSample(base, from, to, modelOutput.add(ets.getLast()).div(2f)));
            History.free(curSample);
            curSample = null;
        } else {
            NDArray[] e = ets.toArray(new NDArray[0]);
            int k = e.length;
            result = Scoped.compute(() -> {
                NDArray combined;
                if (k == 2) {
                    combined = e[1].mul(3f).sub(e[0]).div(2f);
                } else if (k == 3) {
                    combined = e[2].mul(23f).sub(e[1].mul(16f)).add(e[0].mul(5f)).div(12f);
                } else {
                    combined = e[3].mul(55f).sub(e[2].mul(59f)).add(e[1].mul(37f)).sub(e[0].mul(9f)).mul(1f / 24f);
                }
                return prevSample(sample, from, to, combined);
            });
        }
        // the warm-up step starts from the stored sample, so hand the result to the caller's manager
        result.attach(sample.getManager());
        return result;
    }

    /** The DDIM-equivalent transition from {@code t} to {@code prev} for a noise prediction. */
    private NDArray prevSample(NDArray sample, int t, int prev, NDArray modelOutput) {
        float alphaT = alphasCumprod[t];
        float alphaPrev = prev >= 0 ? alphasCumprod[prev] : finalAlphaCumprod;
        float betaT = 1.0f - alphaT;
        float betaPrev = 1.0f - alphaPrev;
        float sampleCoeff = (float) Math.sqrt(alphaPrev / alphaT);
        float denom = alphaT * (float) Math.sqrt(betaPrev) + (float) Math.sqrt(alphaT * betaT * alphaPrev);
        float diff = alphaPrev - alphaT;
        return Scoped.compute(() -> {
            NDArray eps = modelOutput;
            if (config.predictionType().equals("v_prediction")) {
                eps = modelOutput.mul((float) Math.sqrt(alphaT)).add(sample.mul((float) Math.sqrt(betaT)));
            }
            return sample.mul(sampleCoeff).sub(eps.mul(diff).div(denom));
        });
    }

    @Override
    void forgetHistory() {
        ets.clear();
        curSample = null;
    }
}
