package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * The diffusion timestep as a vector: diffusers' sinusoidal {@code Timesteps} projection (no parameters)
 * followed by {@code TimestepEmbedding} ({@code linear_1} → SiLU → {@code linear_2}).
 */
public final class TimestepEmbedding extends Module {

    private final Linear linear1;
    private final Linear linear2;

    public TimestepEmbedding(long in, long out) {
        this.linear1 = child("linear_1", new Linear(in, out, true));
        this.linear2 = child("linear_2", new Linear(out, out, true));
    }

    public NDArray forward(NDArray t) {
        return Scoped.compute(() -> linear2.forward(Activations.silu(linear1.forward(t))));
    }

    /**
     * The sinusoidal projection [batch, dim] of one (possibly fractional) timestep, computed in float32 with
     * the reference's operation order: frequencies exp(−ln(10000)·i/(dim/2 − shift)), then sin and cos of
     * t·frequency; cos first when {@code flipSinToCos}; a zero column appended when {@code dim} is odd.
     */
    public static NDArray sinusoidal(NDManager manager, float timestep, int batch, int dim, boolean flipSinToCos, float freqShift) {
        int half = dim / 2;
        float[] out = new float[batch * dim];
        float logPeriod = (float) -Math.log(10000.0);
        float[] row = new float[dim];
        for (int i = 0; i < half; i++) {
            float exponent = (logPeriod * i) / (half - freqShift);
            float arg = timestep * (float) Math.exp(exponent);
            float sin = (float) Math.sin(arg);
            float cos = (float) Math.cos(arg);
            row[flipSinToCos ? half + i : i] = sin;
            row[flipSinToCos ? i : half + i] = cos;
        }
        for (int b = 0; b < batch; b++) {
            System.arraycopy(row, 0, out, b * dim, dim);
        }
        // an owned copy: the table feeds a linear layer whose backward keeps it (training the UNet itself)
        try (NDArray borrowed = manager.create(out, new ai.djl.ndarray.types.Shape(batch, dim))) {
            return borrowed.duplicate();
        }
    }
}
