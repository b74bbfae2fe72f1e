package io.github.ssrencoder.train;

/**
 * Hyper-parameters and switches of a training run. {@link #TRAIN_PY} holds the official {@code train.py}
 * defaults (resolution 512, L = L_LDM + 0.1·L_reg, 80 % caption drop-out, AdamW lr 5e-5 with weight decay on
 * every tensor, constant learning rate, SSR attention scale 1). The switches that change the official
 * behaviour are off there:
 *
 * @param resolution        side of the square VAE training crop (a multiple of the VAE's 8)
 * @param reg               weight of L_reg ({@code --reg}; must be positive, as in train.py)
 * @param captionDropout    probability that the caption is replaced by "" (train.py: 0.8)
 * @param optimizer         the AdamW settings
 * @param decayNorms        whether LayerNorm gains/biases get weight decay (train.py: yes)
 * @param regTextTokensOnly L_reg averaged over the query's real tokens (BOS … EOS) only, instead of over all 77
 *                          positions including the padding (still summed over the scales)
 * @param predictionTarget  the L_LDM target follows the scheduler's {@code prediction_type} (v-prediction models);
 *                          train.py always uses the noise
 * @param gradientCheckpointing recompute the UNet block by block during back-propagation instead of keeping all its
 *                          activations (less memory, about one more UNet forward per step; same gradients)
 */
public record TrainingOptions(int resolution, double reg, double captionDropout, AdamW.Settings optimizer,
                              boolean decayNorms, boolean regTextTokensOnly, boolean predictionTarget,
                              boolean gradientCheckpointing) {

    /** The official defaults. */
    public static final TrainingOptions TRAIN_PY = new TrainingOptions(512, 0.1, 0.8, AdamW.Settings.TRAIN_PY, true, false, false,
            false);

    /** Options without gradient checkpointing. */
    public TrainingOptions(int resolution, double reg, double captionDropout, AdamW.Settings optimizer, boolean decayNorms,
                           boolean regTextTokensOnly, boolean predictionTarget) {
        this(resolution, reg, captionDropout, optimizer, decayNorms, regTextTokensOnly, predictionTarget, false);
    }

    public TrainingOptions {
        if (resolution < 8 || resolution % 8 != 0) {
            throw new IllegalArgumentException("the training resolution must be a positive multiple of 8, got " + resolution);
        }
        if (!(reg > 0)) {
            throw new IllegalArgumentException("the L_reg weight must be positive, got " + reg);
        }
        if (!(captionDropout >= 0 && captionDropout <= 1)) {
            throw new IllegalArgumentException("the caption drop-out must be between 0 and 1, got " + captionDropout);
        }
    }

    public TrainingOptions withResolution(int r) {
        return new TrainingOptions(r, reg, captionDropout, optimizer, decayNorms, regTextTokensOnly, predictionTarget,
                gradientCheckpointing);
    }

    public TrainingOptions withOptimizer(AdamW.Settings o) {
        return new TrainingOptions(resolution, reg, captionDropout, o, decayNorms, regTextTokensOnly, predictionTarget,
                gradientCheckpointing);
    }

    public TrainingOptions withGradientCheckpointing(boolean on) {
        return new TrainingOptions(resolution, reg, captionDropout, optimizer, decayNorms, regTextTokensOnly, predictionTarget, on);
    }
}
