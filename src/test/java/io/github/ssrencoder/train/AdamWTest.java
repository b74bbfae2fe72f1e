package io.github.ssrencoder.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.nn.EngineRuntime;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** AdamW against its formula in double precision (bias corrections, eps outside the root, decoupled decay). */
class AdamWTest {

    @Test
    void twoStepsFollowTorchAdamWAndSkipDecayWhereAsked() {
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            float[] w0 = {0.5f, -1.25f, 2f};
            float[] b0 = {0.1f, 0.2f, -0.3f};
            Map<String, NDArray> params = new LinkedHashMap<>();
            params.put("w", m.create(w0.clone()));
            params.put("b", m.create(b0.clone()));
            AdamW.Settings s = new AdamW.Settings(1e-2, 0.9, 0.999, 0.1, 1e-8);
            float[][] grads = {{0.3f, -2f, 1e-6f}, {-0.1f, 0.5f, 0f}};
            double[] w = {0.5, -1.25, 2};
            double[] b = {0.1, 0.2, -0.3};
            double[][] mw = new double[2][3];
            double[][] vw = new double[2][3];
            try (AdamW opt = new AdamW(params, Set.of("b"), s, m)) {
                for (int k = 1; k <= 2; k++) {
                    Map<String, NDArray> g = Map.of("w", m.create(grads[k - 1]), "b", m.create(grads[k - 1]));
                    opt.update(g, s.lr());
                    for (int p = 0; p < 2; p++) {
                        double[] x = p == 0 ? w : b;
                        for (int i = 0; i < 3; i++) {
                            if (p == 0) {
                                x[i] *= 1 - s.lr() * s.weightDecay();
                            }
                            mw[p][i] = 0.9 * mw[p][i] + 0.1 * grads[k - 1][i];
                            vw[p][i] = 0.999 * vw[p][i] + 0.001 * grads[k - 1][i] * grads[k - 1][i];
                            double denom = Math.sqrt(vw[p][i]) / Math.sqrt(1 - Math.pow(0.999, k)) + 1e-8;
                            x[i] -= s.lr() / (1 - Math.pow(0.9, k)) * mw[p][i] / denom;
                        }
                    }
                }
                float[] gotW = params.get("w").toFloatArray();
                float[] gotB = params.get("b").toFloatArray();
                for (int i = 0; i < 3; i++) {
                    assertEquals(w[i], gotW[i], 1e-6, "w[" + i + "]");
                    assertEquals(b[i], gotB[i], 1e-6, "b[" + i + "]");
                }
                assertEquals(2, opt.step());
            }
        }
    }
}
