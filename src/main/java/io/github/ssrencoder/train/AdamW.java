package io.github.ssrencoder.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code torch.optim.AdamW} (single-tensor form, amsgrad off) over named float32 parameters, updated in place:
 * {@code p ← p·(1 − lr·wd)}, {@code m ← β₁m + (1 − β₁)g}, {@code v ← β₂v + (1 − β₂)g²},
 * {@code p ← p − lr/(1 − β₁ᵏ) · m / (√v/√(1 − β₂ᵏ) + ε)}, the scalar factors computed in double precision and
 * rounded to float32 as PyTorch applies Python numbers to float32 tensors. Parameters listed in
 * {@code noDecay} skip the weight decay (an option; the official script decays every tensor).
 */
public final class AdamW implements AutoCloseable {

    /** The optimizer's settings ({@code train.py}: lr 5e-5, betas (0.9, 0.999), weight decay 1e-2, eps 1e-8). */
    public record Settings(double lr, double beta1, double beta2, double weightDecay, double eps) {
        public static final Settings TRAIN_PY = new Settings(5e-5, 0.9, 0.999, 1e-2, 1e-8);

        public Settings {
            if (!(lr > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(weightDecay >= 0) || !(eps >= 0)) {
                throw new IllegalArgumentException("invalid AdamW settings: lr " + lr + ", betas (" + beta1 + ", " + beta2
                        + "), weight decay " + weightDecay + ", eps " + eps);
            }
        }
    }

    private final Map<String, NDArray> params;
    private final Map<String, NDArray> expAvg = new LinkedHashMap<>();
    private final Map<String, NDArray> expAvgSq = new LinkedHashMap<>();
    private final java.util.Set<String> noDecay;
    private final NDManager state;
    private final Settings settings;
    private long step;

    /**
     * @param params   the parameters in optimizer order, by name
     * @param noDecay  names of the parameters without weight decay
     * @param settings the settings
     * @param manager  where the moment arrays are created (a sub-manager is made and closed with this optimizer)
     */
    public AdamW(Map<String, NDArray> params, java.util.Set<String> noDecay, Settings settings, NDManager manager) {
        this.params = new LinkedHashMap<>(params);
        this.noDecay = java.util.Set.copyOf(noDecay);
        this.settings = settings;
        this.state = manager.newSubManager();
        for (Map.Entry<String, NDArray> e : this.params.entrySet()) {
            expAvg.put(e.getKey(), state.zeros(e.getValue().getShape(), e.getValue().getDataType()));
            expAvgSq.put(e.getKey(), state.zeros(e.getValue().getShape(), e.getValue().getDataType()));
        }
    }

    public Settings settings() {
        return settings;
    }

    /** Steps taken so far. */
    public long step() {
        return step;
    }

    /** The parameter names in optimizer order. */
    public java.util.List<String> names() {
        return java.util.List.copyOf(params.keySet());
    }

    /** The first moment of {@code name}. */
    public NDArray expAvg(String name) {
        return expAvg.get(name);
    }

    /** The second moment of {@code name}. */
    public NDArray expAvgSq(String name) {
        return expAvgSq.get(name);
    }

    /** Restores moments and step count (resume): every parameter's two moments, float32 values. */
    public void restore(long steps, Map<String, float[]> m, Map<String, float[]> v) {
        for (String name : params.keySet()) {
            float[] a = m.get(name);
            float[] b = v.get(name);
            NDArray p = params.get(name);
            if (a == null || b == null || a.length != p.size() || b.length != p.size()) {
                throw new IllegalArgumentException("optimizer state has no moments of the right size for '" + name + "'");
            }
            expAvg.get(name).set(a);
            expAvgSq.get(name).set(b);
        }
        this.step = steps;
    }

    /** One update with learning rate {@code lr} from {@code grads} (by parameter name). Must run outside gradient recording. */
    public void update(Map<String, NDArray> grads, double lr) {
        step++;
        double bc1 = 1 - Math.pow(settings.beta1(), step);
        double bc2 = 1 - Math.pow(settings.beta2(), step);
        float stepSize = (float) (lr / bc1);
        float bc2Sqrt = (float) Math.sqrt(bc2);
        float decay = (float) (1 - lr * settings.weightDecay());
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            String name = e.getKey();
            NDArray p = e.getValue();
            NDArray g = grads.get(name);
            if (g == null) {
                throw new IllegalStateException("no gradient for '" + name + "'");
            }
            NDManager scratch = state.newSubManager();
            try (scratch) {
                NDArray grad = g.duplicate();
                grad.attach(scratch);
                if (!noDecay.contains(name)) {
                    p.muli(decay);
                }
                NDArray m = expAvg.get(name);
                NDArray v = expAvgSq.get(name);
                m.muli((float) settings.beta1()).addi(tmp(grad.mul((float) (1 - settings.beta1())), scratch));
                v.muli((float) settings.beta2()).addi(tmp(tmp(grad.mul(grad), scratch).mul((float) (1 - settings.beta2())), scratch));
                NDArray denom = tmp(tmp(tmp(v.sqrt(), scratch).div(bc2Sqrt), scratch).add((float) settings.eps()), scratch);
                p.addi(tmp(tmp(m.mul(-stepSize), scratch).div(denom), scratch));
            }
        }
    }

    private static NDArray tmp(NDArray a, NDManager scratch) {
        a.attach(scratch);
        return a;
    }

    @Override
    public void close() {
        state.close();
    }
}
