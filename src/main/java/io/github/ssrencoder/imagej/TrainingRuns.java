package io.github.ssrencoder.imagej;

import ai.djl.Device;
import io.github.ssrencoder.train.AdamW;
import io.github.ssrencoder.train.StepResult;
import io.github.ssrencoder.train.TrainingOptions;
import io.github.ssrencoder.train.TrainingRun;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Training from Fiji, shared by the SciJava command and the ImageJ 1.x menu entry: the loaded generation models
 * are released first (training loads its own), progress goes to the status bar with loss and ETA, Esc or cancel
 * stops after the current step and saves a checkpoint, the loss curve is plotted as it grows. Trains on the CPU.
 */
public final class TrainingRuns {

    /**
     * What the user asked for, named as the macro keys.
     *
     * @param data             training data folder (a .jsonl with image file names and texts)
     * @param output           output folder
     * @param steps            total steps
     * @param batch            examples per step
     * @param lr               learning rate
     * @param resolution       training crop side
     * @param saveEvery        checkpoint interval (0: at the end)
     * @param resume           checkpoint folder to continue from, or null
     * @param restartOptimizer resume as the official script (weights only)
     * @param seed             seed of the random draws
     * @param plot             show the loss plot
     * @param gradientCheckpointing recompute the UNet block by block in the backward pass (less memory)
     */
    public record Request(Path data, Path output, int steps, int batch, double lr, int resolution, int saveEvery, Path resume,
                          boolean restartOptimizer, long seed, boolean plot, boolean gradientCheckpointing) {
    }

    private TrainingRuns() {
    }

    /** Runs the training; returns the last checkpoint folder written. */
    public static Path train(SsrService service, String models, Request r, StatusProgress progress, Consumer<String> log) {
        if (r.data() == null || r.data().toString().isBlank()) {
            throw new IllegalArgumentException("choose the training data folder (a .jsonl file with image names and texts)");
        }
        if (r.output() == null || r.output().toString().isBlank()) {
            throw new IllegalArgumentException("choose the output folder for checkpoints and the loss curve");
        }
        Path root = service.modelsFor(models);
        TrainingOptions options = TrainingOptions.TRAIN_PY.withResolution(r.resolution()).withOptimizer(new AdamW.Settings(r.lr(),
                AdamW.Settings.TRAIN_PY.beta1(), AdamW.Settings.TRAIN_PY.beta2(), AdamW.Settings.TRAIN_PY.weightDecay(),
                AdamW.Settings.TRAIN_PY.eps())).withGradientCheckpointing(r.gradientCheckpointing());
        TrainingRun.Settings settings = new TrainingRun.Settings(root, r.data(), r.output(), r.steps(), r.batch(), options,
                r.resume(), r.restartOptimizer(), r.saveEvery(), r.seed(), true, Device.cpu());
        service.unload();
        List<StepResult> curve = new ArrayList<>();
        LossPlot plot = new LossPlot();
        int logEvery = Math.max(1, r.steps() / 50);
        TrainingRun.Result result = TrainingRun.run(settings, new TrainingRun.Listener() {
            @Override
            public void stage(String message) {
                progress.stage(message);
            }

            @Override
            public void step(StepResult s, int total, double eta) {
                curve.add(s);
                String line = String.format(Locale.ROOT, "SSR-Encoder training: step %d/%d, loss %.5f (L_LDM %.5f, L_reg %.4f), "
                        + "%.1f s/step, ETA %s", s.step(), total, s.loss(), s.lossMse(), s.lossReg(), s.seconds(), eta(eta));
                progress.stage(line.substring("SSR-Encoder ".length()));
                progress.step((int) s.step(), total);
                if (s.step() % logEvery == 0 || s.step() == total || curve.size() == 1) {
                    log.accept(line);
                }
                if (r.plot()) {
                    plot.update(curve);
                }
            }

            @Override
            public boolean isCancelled() {
                return progress.isCancelled();
            }
        });
        if (result.cancelled()) {
            log.accept("SSR-Encoder training: cancelled; checkpoint saved to " + result.lastCheckpoint());
        } else {
            log.accept("SSR-Encoder training: done; checkpoint " + result.lastCheckpoint() + ", loss curve "
                    + r.output().resolve(TrainingRun.LOSS_CSV) + " (to use it, copy pytorch_model.bin, pytorch_model_1.bin and "
                    + "config.json into the ssr/ folder of a models folder)");
        }
        return result.lastCheckpoint();
    }

    static String eta(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60)
                : String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
}
