package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.Linear;
import io.github.ssrencoder.nn.Module;
import java.util.Locale;

/** CLIP's feed-forward block ({@code CLIPMLP}): {@code fc1}, the configured activation, {@code fc2}. */
public final class ClipMlp extends Module {

    /** The {@code hidden_act} values CLIP checkpoints use. */
    public enum Activation {
        /** {@code x·sigmoid(1.702·x)}, the original CLIP models' choice. */
        QUICK_GELU,
        /** Exact (erf) GELU. */
        GELU,
        /** Tanh-approximated GELU ({@code gelu_new}, {@code gelu_pytorch_tanh}). */
        GELU_TANH;

        /** Maps a transformers {@code hidden_act} name. */
        public static Activation parse(String name) {
            return switch (name == null ? "" : name.toLowerCase(Locale.ROOT)) {
                case "quick_gelu" -> QUICK_GELU;
                case "gelu" -> GELU;
                case "gelu_new", "gelu_pytorch_tanh", "gelu_fast" -> GELU_TANH;
                default -> throw new IllegalArgumentException("unsupported hidden_act '" + name
                        + "' (expected quick_gelu, gelu, gelu_new or gelu_pytorch_tanh)");
            };
        }

        NDArray apply(NDArray x) {
            return switch (this) {
                case QUICK_GELU -> x.mul(ai.djl.nn.Activation.sigmoid(io.github.ssrencoder.nn.Scalars.mul(x, 1.702f)));
                case GELU -> ai.djl.nn.Activation.gelu(x);
                case GELU_TANH -> {
                    NDArray inner = x.pow(3).mul(0.044715f).add(x).mul((float) Math.sqrt(2 / Math.PI)).tanh();
                    yield x.mul(0.5f).mul(inner.add(1f));
                }
            };
        }
    }

    private final Linear fc1;
    private final Linear fc2;
    private final Activation activation;

    public ClipMlp(int hidden, int intermediate, Activation activation) {
        this.activation = activation;
        this.fc1 = child("fc1", new Linear(hidden, intermediate, true));
        this.fc2 = child("fc2", new Linear(intermediate, hidden, true));
    }

    public NDArray forward(NDArray x) {
        return fc2.forward(activation.apply(fc1.forward(x)));
    }
}
