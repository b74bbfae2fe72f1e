package io.github.ssrencoder.imagej;

import java.io.File;
import java.nio.file.Path;
import org.scijava.ItemIO;
import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

/**
 * Trains the SSR-Encoder's aligner and SSR attention layers on a folder of images with captions (the official
 * {@code train.py} objective and defaults), writing {@code checkpoint-N} folders and {@code loss.csv}. Progress with
 * loss and ETA in the status bar; cancel (Esc) saves a checkpoint; the loss curve is plotted unless headless.
 */
@Plugin(type = Command.class, label = "Train SSR-Encoder...", headless = true)
public class TrainSsrCommand extends SsrCommand {

    @Parameter(label = "Training data (folder with a .jsonl)", style = "directory")
    private File data;

    @Parameter(label = "Output folder", style = "directory")
    private File output;

    @Parameter(label = "Steps", min = "1")
    private int steps = 1000;

    @Parameter(label = "Batch size", min = "1")
    private int batch = 1;

    @Parameter(label = "Learning rate", stepSize = "0.00001")
    private double lr = 5e-5;

    @Parameter(label = "Resolution (pixels)", min = "8", stepSize = "8")
    private int resolution = 512;

    @Parameter(label = "Checkpoint every N steps (0 = at the end)", min = "0")
    private int save_every = 500;

    @Parameter(label = "Resume from checkpoint folder (optional)", style = "directory", required = false)
    private File resume;

    @Parameter(label = "Resume as train.py (weights only, restart AdamW)")
    private boolean restart_optimizer;

    @Parameter(label = "Seed")
    private long seed;

    @Parameter(label = "Show the loss plot")
    private boolean plot = true;

    @Parameter(label = "Gradient checkpointing (less memory, slower)")
    private boolean gradient_checkpointing;

    @Parameter(label = "Models folder (empty = Settings)", required = false, persist = false)
    private String models = "";

    @Parameter(type = ItemIO.OUTPUT, label = "Checkpoint")
    private String checkpoint;

    @Override
    protected void execute(StatusProgress progress) {
        Path resumed = resume == null || resume.getPath().isBlank() ? null : resume.toPath();
        TrainingRuns.Request r = new TrainingRuns.Request(data == null ? null : data.toPath(),
                output == null ? null : output.toPath(), steps, batch, lr, resolution, save_every, resumed, restart_optimizer,
                seed, plot, gradient_checkpointing);
        Path last = TrainingRuns.train(ssr, models, r, progress, this::logInfo);
        checkpoint = last == null ? "" : last.toString();
    }
}
