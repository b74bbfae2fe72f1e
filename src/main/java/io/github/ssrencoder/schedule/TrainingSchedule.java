package io.github.ssrencoder.schedule;

/**
 * The training noise schedule and the timestep spacings shared by all schedulers, reproduced with the
 * reference's arithmetic: betas and cumulative alphas as float32 torch tensors, timestep grids as float64
 * numpy arrays, noise levels {@code sqrt((1 - a) / a)} in float32.
 */
public final class TrainingSchedule {

    private TrainingSchedule() {
    }

    /** Cumulative products of {@code 1 - beta} (float32, as diffusers stores them). */
    public static float[] alphasCumprod(SchedulerConfig c) {
        int n = c.numTrainTimesteps();
        float[] betas;
        if (c.betaSchedule().equals("scaled_linear")) {
            betas = torchLinspace(Math.sqrt(c.betaStart()), Math.sqrt(c.betaEnd()), n);
            for (int i = 0; i < n; i++) {
                betas[i] = betas[i] * betas[i];
            }
        } else {
            betas = torchLinspace(c.betaStart(), c.betaEnd(), n);
        }
        float[] out = new float[n];
        // torch's CPU cumprod accumulates in double and rounds each stored prefix to float
        double acc = 1.0;
        for (int i = 0; i < n; i++) {
            acc *= (float) (1.0f - betas[i]);
            out[i] = (float) acc;
        }
        return out;
    }

    /**
     * {@code torch.linspace(start, end, steps, dtype=float32)} as torch 1.13's CPU kernel computes it: pairs
     * of 8-lane vectors whose first lane is a fused multiply-add from the nearer end and whose other lanes
     * add multiples of the float step; the remainder element by element. Reproducing this makes the
     * cumulative alphas bit-identical to the reference's.
     */
    static float[] torchLinspace(double start, double end, int steps) {
        final int lanes = 8;
        float s = (float) start;
        float e = (float) end;
        float step = steps > 1 ? (e - s) / (float) (steps - 1) : 0f;
        float[] out = new float[steps];
        int half = steps / 2;
        int vectorized = steps / (2 * lanes) * (2 * lanes);
        int i = 0;
        for (; i < vectorized; i += lanes) {
            float base = i < half ? Math.fma(step, (float) i, s) : Math.fma(-step, (float) (steps - i - 1), e);
            for (int k = 0; k < lanes; k++) {
                out[i + k] = base + k * step;
            }
        }
        for (; i < steps; i++) {
            out[i] = i < half ? s + step * i : e - step * (steps - i - 1);
        }
        return out;
    }

    /** {@code np.linspace(start, stop, num)} in float64 (endpoint included). */
    static double[] npLinspace(double start, double stop, int num) {
        double[] out = new double[num];
        if (num == 1) {
            out[0] = start;
            return out;
        }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) {
            out[i] = i * step + start;
        }
        out[num - 1] = stop;
        return out;
    }

    /** Noise levels {@code ((1 - a) / a) ** 0.5} per training step, float32 like the torch expression. */
    static float[] trainingSigmas(float[] alphasCumprod) {
        float[] s = new float[alphasCumprod.length];
        for (int i = 0; i < s.length; i++) {
            float a = alphasCumprod[i];
            s[i] = (float) Math.sqrt((1.0f - a) / a);
        }
        return s;
    }

    /** {@code np.interp(t, arange(len(table)), table)} in float64. */
    static double interp(double t, float[] table) {
        if (t <= 0) {
            return table[0];
        }
        int last = table.length - 1;
        if (t >= last) {
            return table[last];
        }
        int j = (int) Math.floor(t);
        if (j == t) {
            return table[j];
        }
        double slope = ((double) table[j + 1] - table[j]);
        return slope * (t - j) + table[j];
    }

    /**
     * The integer timesteps DDIM, PNDM and Euler use for {@code n} steps: {@code leading} counts up from 0
     * in strides of {@code T // n} (plus the offset), {@code trailing} counts down from {@code T} in strides
     * of {@code T / n}, {@code linspace} spreads {@code n} points over {@code [0, T - 1]}. Descending.
     */
    static double[] spacedTimesteps(String spacing, int trainSteps, int n, int stepsOffset) {
        double[] t = new double[n];
        switch (spacing) {
            case "linspace" -> {
                double[] lin = npLinspace(0, trainSteps - 1, n);
                for (int i = 0; i < n; i++) {
                    t[i] = lin[n - 1 - i];
                }
            }
            case "leading" -> {
                int ratio = trainSteps / n;
                for (int i = 0; i < n; i++) {
                    t[i] = (double) (n - 1 - i) * ratio + stepsOffset;
                }
            }
            case "trailing" -> {
                double[] down = npArangeDown(trainSteps, (double) trainSteps / n);
                if (down.length != n) {
                    throw new IllegalArgumentException("trailing spacing gives " + down.length + " timesteps for " + n + " steps");
                }
                for (int i = 0; i < n; i++) {
                    t[i] = Math.rint(down[i]) - 1;
                }
            }
            default -> throw new IllegalArgumentException("unsupported timestep_spacing " + spacing);
        }
        return t;
    }

    /**
     * The integer timesteps of the multistep solvers (DPM-Solver, UniPC): {@code n + 1} grid points with the
     * last (lowest) one dropped for {@code linspace} and {@code leading}. Descending.
     */
    static double[] multistepTimesteps(String spacing, int trainSteps, int n, int stepsOffset) {
        double[] t = new double[n];
        switch (spacing) {
            case "linspace" -> {
                double[] lin = npLinspace(0, trainSteps - 1, n + 1);
                for (int i = 0; i < n; i++) {
                    t[i] = Math.rint(lin[n - i]);
                }
            }
            case "leading" -> {
                int ratio = trainSteps / (n + 1);
                for (int i = 0; i < n; i++) {
                    t[i] = (double) (n - i) * ratio + stepsOffset;
                }
            }
            case "trailing" -> {
                return spacedTimesteps(spacing, trainSteps, n, stepsOffset);
            }
            default -> throw new IllegalArgumentException("unsupported timestep_spacing " + spacing);
        }
        return t;
    }

    /** {@code np.arange(start, 0, -step)} for a positive float step. */
    private static double[] npArangeDown(double start, double step) {
        int len = (int) Math.ceil((0 - start) / -step);
        double[] out = new double[Math.max(len, 0)];
        for (int i = 0; i < out.length; i++) {
            out[i] = start + i * -step;
        }
        return out;
    }

    /**
     * The cumulative alpha a DDIM-style step lands on when it steps past timestep 0: 1 with
     * {@code set_alpha_to_one}, else the first training value. The default differs between DDIM and PNDM.
     */
    static float finalAlphaCumprod(SchedulerConfig config, float[] alphasCumprod, boolean alphaToOneByDefault) {
        boolean alphaToOne = config.setAlphaToOne() == null ? alphaToOneByDefault : config.setAlphaToOne();
        return alphaToOne ? 1.0f : alphasCumprod[0];
    }

    static void requirePositiveSteps(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("the number of inference steps must be at least 1, got " + n);
        }
    }
}
