package io.github.ssrencoder.train;

import io.github.ssrencoder.pipeline.TorchGenerator;

/**
 * The random draws of a training step, in the order the official {@code train.py} makes them: per batch the
 * flip uniforms, caption drop-out uniforms and list choices, then the VAE sampling noise, the diffusion noise
 * and the timesteps. A run uses one seeded generator ({@link #seeded}); tests inject recorded draws.
 */
public interface TrainingRandom {

    /** One uniform float32 value in [0, 1) ({@code torch.rand(1)}). */
    float uniform();

    /** One integer in [0, high) ({@code torch.randint(high, (1,))}). */
    long randint(long high);

    /** A float32 standard-normal tensor of {@code shape}, row-major ({@code torch.randn(shape)}). */
    float[] randn(long... shape);

    /** Draws from {@code torch.Generator("cpu").manual_seed(seed)}, value for value. */
    static Seeded seeded(long seed) {
        return new Seeded(new TorchGenerator(seed));
    }

    /** The draws of a seeded torch generator; its state can be saved with a checkpoint and restored. */
    final class Seeded implements TrainingRandom {
        private final TorchGenerator g;

        private Seeded(TorchGenerator g) {
            this.g = g;
        }

        @Override
        public float uniform() {
            return g.rand();
        }

        @Override
        public long randint(long high) {
            return g.randint(high);
        }

        @Override
        public float[] randn(long... shape) {
            return g.randn(shape);
        }

        /** The generator state. */
        public long[] state() {
            return g.state();
        }

        /** Continues from a saved state. */
        public void restore(long[] state) {
            g.restore(state);
        }
    }
}
