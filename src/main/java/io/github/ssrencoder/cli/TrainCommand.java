package io.github.ssrencoder.cli;

import ai.djl.Device;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.train.AdamW;
import io.github.ssrencoder.train.StepResult;
import io.github.ssrencoder.train.TrainingOptions;
import io.github.ssrencoder.train.TrainingRun;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ssr train}: trains the aligner and SSR layers on a folder of images with captions (the official train.py). */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train the SSR-Encoder (aligner + SSR attention layers) on your images: L_LDM + reg·L_reg, AdamW, "
                + "as the official train.py. Writes checkpoint-N folders and loss.csv into --output.")
final class TrainCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--models", required = true, description = "Models folder (sd/, image_encoder/, ssr/); ssr/ holds the initial weights.")
    Path models;
    @Option(names = "--data", required = true, description = "Training data: a folder with a .jsonl file (lines like "
            + "{\"file_name\": \"img.png\", \"text\": [\"caption\", \"query\"]}) or the .jsonl file.")
    Path data;
    @Option(names = "--output", required = true, description = "Output folder (checkpoint-N/, loss.csv).")
    Path output;
    @Option(names = "--steps", defaultValue = "1000", description = "Total training steps (default ${DEFAULT-VALUE}).")
    int steps;
    @Option(names = "--batch", defaultValue = "1", description = "Examples per step (default ${DEFAULT-VALUE}, as train.py).")
    int batch;
    @Option(names = "--lr", defaultValue = "5e-5", description = "AdamW learning rate (default ${DEFAULT-VALUE}).")
    double lr;
    @Option(names = "--weight-decay", defaultValue = "1e-2", description = "AdamW weight decay (default ${DEFAULT-VALUE}).")
    double weightDecay;
    @Option(names = "--reg", defaultValue = "0.1", description = "Weight of L_reg (default ${DEFAULT-VALUE}; train.sh uses 0.001).")
    double reg;
    @Option(names = "--resolution", defaultValue = "512", description = "Training crop side in pixels (default ${DEFAULT-VALUE}).")
    int resolution;
    @Option(names = "--caption-dropout", defaultValue = "0.8", description = "Probability of training with an empty caption "
            + "(default ${DEFAULT-VALUE}, as train.py).")
    double captionDropout;
    @Option(names = "--no-decay-norms", description = "No weight decay on LayerNorm gains and biases (train.py decays every tensor).")
    boolean noDecayNorms;
    @Option(names = "--reg-text-tokens-only", description = "Average L_reg over the query's real tokens, not over all 77 "
            + "positions including padding (train.py).")
    boolean regTextTokensOnly;
    @Option(names = "--prediction-target", description = "Use the scheduler's prediction_type for the L_LDM target "
            + "(v-prediction models); train.py always uses the noise.")
    boolean predictionTarget;
    @Option(names = "--gradient-checkpointing", description = "Recompute the UNet block by block in the backward pass "
            + "instead of keeping all its activations: less memory, about one more UNet forward per step, same gradients.")
    boolean gradientCheckpointing;
    @Option(names = "--resume", description = "Checkpoint folder to continue from (weights, optimizer, data position, random state).")
    Path resume;
    @Option(names = "--restart-optimizer", description = "With --resume: load only the two weight files and restart AdamW "
            + "(the official train.py --resume).")
    boolean restartOptimizer;
    @Option(names = "--save-every", defaultValue = "500", description = "Checkpoint every N steps (0: only at the end; "
            + "default ${DEFAULT-VALUE}).")
    int saveEvery;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random draws (default ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--no-shuffle", description = "Keep the file order instead of shuffling the examples every epoch.")
    boolean noShuffle;
    @Option(names = "--device", defaultValue = "cpu", description = "cpu, gpu, mps or auto (default ${DEFAULT-VALUE}); "
            + "training computes in float32.")
    String device;
    @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads (0 = engine default).")
    int threads;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        if (restartOptimizer && resume == null) {
            throw new IllegalArgumentException("--restart-optimizer needs --resume");
        }
        TrainingOptions options = new TrainingOptions(resolution, reg, captionDropout,
                new AdamW.Settings(lr, AdamW.Settings.TRAIN_PY.beta1(), AdamW.Settings.TRAIN_PY.beta2(), weightDecay,
                        AdamW.Settings.TRAIN_PY.eps()),
                !noDecayNorms, regTextTokensOnly, predictionTarget, gradientCheckpointing);
        EngineRuntime.configureOffline(threads);
        System.setProperty(EngineRuntime.PRECISION_PROPERTY, "float32");
        Device dev = EngineRuntime.device(EngineRuntime.DeviceChoice.parse(device));
        TrainingRun.Settings settings = new TrainingRun.Settings(models, data, output, steps, batch, options, resume,
                restartOptimizer, saveEvery, seed, !noShuffle, dev);
        TrainingRun.Result result = TrainingRun.run(settings, new TrainingRun.Listener() {
            @Override
            public void stage(String message) {
                err.println("ssr: " + message);
            }

            @Override
            public void step(StepResult r, int total, double eta) {
                err.println(String.format(Locale.ROOT, "ssr: step %d/%d  loss %.5f (L_LDM %.5f, L_reg %.5f)  %.1f s/step  ETA %s",
                        r.step(), total, r.loss(), r.lossMse(), r.lossReg(), r.seconds(), duration(eta)));
            }
        });
        spec.commandLine().getOut().println(result.lastCheckpoint());
        return 0;
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60)
                : String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
}
