package io.github.ssrencoder.train;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.AtomicFiles;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.pipeline.CancelledException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * A training run as the official script's loop: batches of the data set in epochs (shuffled per epoch, or in
 * file order), one {@link SsrTrainer} step per batch, a checkpoint folder {@code checkpoint-<step>} every
 * {@code saveEvery} steps and at the end (also when cancelled), and the loss curve {@code loss.csv} in the
 * output folder. A resume continues from a checkpoint written here: weights, AdamW moments, step count, data
 * position and random generator, so that the resumed run continues exactly as the uninterrupted one; with
 * {@code restartOptimizer} (the official {@code --resume}) only the two weight files are read.
 */
public final class TrainingRun {

    /** The loss curve file in the output folder. */
    public static final String LOSS_CSV = "loss.csv";
    static final String CSV_HEADER = "step,loss,loss_mse,loss_reg,lr,seconds";

    /**
     * What to train.
     *
     * @param models           models folder (sd/, image_encoder/, ssr/)
     * @param data             training data: a JSONL file or a folder holding one
     * @param output           output folder for checkpoints and the loss curve
     * @param steps            total optimizer steps to reach (a resumed run continues up to this count)
     * @param batch            examples per step
     * @param options          hyper-parameters
     * @param resume           checkpoint folder to continue from, or null
     * @param restartOptimizer with {@code resume}: read only the weights and restart AdamW (the official resume)
     * @param saveEvery        checkpoint interval in steps (0: only at the end)
     * @param seed             seed of the random draws
     * @param shuffle          shuffle the examples every epoch (train.py) or keep the file order
     * @param device           compute device
     */
    public record Settings(Path models, Path data, Path output, int steps, int batch, TrainingOptions options, Path resume,
                           boolean restartOptimizer, int saveEvery, long seed, boolean shuffle, Device device) {
        public Settings {
            if (steps < 1) {
                throw new IllegalArgumentException("the number of steps must be at least 1, got " + steps);
            }
            if (batch < 1) {
                throw new IllegalArgumentException("the batch size must be at least 1, got " + batch);
            }
            if (saveEvery < 0) {
                throw new IllegalArgumentException("the checkpoint interval must not be negative, got " + saveEvery);
            }
            if (resume != null && !Files.isDirectory(resume)) {
                throw new IllegalArgumentException("the checkpoint to resume from is not a folder: " + resume);
            }
        }
    }

    /** Receives the run's progress; {@link #isCancelled} is polled between steps. */
    public interface Listener {
        default void stage(String message) {
        }

        /** A step finished; {@code etaSeconds} estimates the time left. */
        default void step(StepResult result, int totalSteps, double etaSeconds) {
        }

        default boolean isCancelled() {
            return false;
        }
    }

    /** The outcome: the steps run here, and the last checkpoint folder written. */
    public record Result(List<StepResult> steps, Path lastCheckpoint, boolean cancelled) {
    }

    private TrainingRun() {
    }

    /** Runs the training; native memory is released whatever happens. */
    public static Result run(Settings s, Listener listener) {
        TrainingData data = TrainingData.read(s.data());
        try {
            Files.createDirectories(s.output());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot create the output folder " + s.output() + ": " + e.getMessage(), e);
        }
        listener.stage("Loading models");
        TrainingCheckpoint.Progress start = new TrainingCheckpoint.Progress(0, 0, s.seed());
        List<String> csv = new ArrayList<>();
        csv.add(CSV_HEADER);
        try (SsrTrainer trainer = SsrTrainer.load(s.models(), s.resume(), s.device(), s.options())) {
            TrainingRandom.Seeded random = TrainingRandom.seeded(s.seed());
            if (s.resume() != null) {
                TrainingCheckpoint.Progress saved = TrainingCheckpoint.progress(s.resume());
                if (s.restartOptimizer()) {
                    long at = saved.step() > 0 ? saved.step() : stepFromName(s.resume());
                    start = new TrainingCheckpoint.Progress(at, 0, s.seed());
                } else {
                    TrainingCheckpoint.restoreOptimizer(s.resume(), trainer);
                    start = saved;
                    if (start.generatorState() != null) {
                        random.restore(start.generatorState());
                    }
                }
                csv.addAll(previousCurve(s.output(), start.step()));
            }
            if (start.step() >= s.steps()) {
                throw new IllegalArgumentException("the checkpoint is already at step " + start.step() + "; ask for more than "
                        + s.steps() + " steps");
            }
            long examplesSeen = start.examplesSeen();
            List<StepResult> done = new ArrayList<>();
            Path last = null;
            long begin = System.nanoTime();
            int total = s.steps();
            for (long step = start.step() + 1; step <= total; step++) {
                if (listener.isCancelled()) {
                    last = save(s, trainer, step - 1, examplesSeen, random);
                    return new Result(done, last, true);
                }
                List<TrainingExample> batch = nextBatch(data, s, examplesSeen);
                StepResult r;
                try (NDManager m = EngineRuntime.newManager(Device.cpu()); TrainingBatch b = trainer.prepare(batch, random, m)) {
                    r = trainer.step(b, random);
                }
                r = new StepResult(step, r.lossMse(), r.lossReg(), r.loss(), r.lr(), r.seconds());
                examplesSeen += batch.size();
                done.add(r);
                csv.add(String.format(Locale.ROOT, "%d,%.8g,%.8g,%.8g,%.6g,%.3f", step, r.loss(), r.lossMse(), r.lossReg(), r.lr(),
                        r.seconds()));
                writeCsv(s.output(), csv);
                double perStep = (System.nanoTime() - begin) / 1e9 / done.size();
                listener.step(r, total, perStep * (total - step));
                if (s.saveEvery() > 0 && step % s.saveEvery() == 0 || step == total) {
                    listener.stage("Saving checkpoint-" + step);
                    last = save(s, trainer, step, examplesSeen, random);
                }
            }
            return new Result(done, last, false);
        }
    }

    /** The step of an official {@code checkpoint-N} folder name, else 0. */
    static long stepFromName(Path dir) {
        String name = dir.getFileName().toString();
        int dash = name.lastIndexOf('-');
        try {
            return dash < 0 ? 0 : Long.parseLong(name.substring(dash + 1));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static Path save(Settings s, SsrTrainer trainer, long step, long examplesSeen, TrainingRandom.Seeded random) {
        Path dir = s.output().resolve("checkpoint-" + step);
        TrainingCheckpoint.write(dir, trainer, new TrainingCheckpoint.Progress(step, examplesSeen, s.seed(), random.state()));
        return dir;
    }

    /**
     * The examples of the step that starts after {@code seen} examples: the epoch's order (file order, or a
     * permutation drawn from the seed and the epoch number), up to {@code batch} examples, fewer at the end of an
     * epoch (as a DataLoader keeps its last, partial batch).
     */
    static List<TrainingExample> nextBatch(TrainingData data, Settings s, long seen) {
        int n = data.size();
        long epoch = seen / n;
        int offset = (int) (seen % n);
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            order.add(i);
        }
        if (s.shuffle()) {
            Collections.shuffle(order, new Random(s.seed() * 1_000_003L + epoch));
        }
        List<TrainingExample> out = new ArrayList<>();
        for (int i = offset; i < n && out.size() < s.batch(); i++) {
            out.add(data.examples().get(order.get(i)));
        }
        return out;
    }

    private static List<String> previousCurve(Path output, long upTo) {
        Path file = output.resolve(LOSS_CSV);
        List<String> rows = new ArrayList<>();
        if (!Files.isRegularFile(file)) {
            return rows;
        }
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                int comma = line.indexOf(',');
                if (comma > 0 && Character.isDigit(line.charAt(0)) && Long.parseLong(line.substring(0, comma)) <= upTo) {
                    rows.add(line);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return new ArrayList<>();
        }
        return rows;
    }

    private static void writeCsv(Path output, List<String> rows) {
        byte[] bytes = (String.join("\n", rows) + "\n").getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(output.resolve(LOSS_CSV), out -> out.write(bytes));
    }
}
