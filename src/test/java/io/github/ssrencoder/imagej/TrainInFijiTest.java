package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.gui.Plot;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.train.StepResult;
import io.github.ssrencoder.train.TrainingRun;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.scijava.command.CommandModule;

/**
 * <i>Train SSR-Encoder…</i> headless: the command trains on tiny-a's training set and returns the checkpoint it
 * wrote; cancelling after a step stops the run and still saves a checkpoint; the loss plot carries the curve.
 */
class TrainInFijiTest {

    private final SsrTestContext ctx = new SsrTestContext();

    @TempDir
    Path tmp;

    @AfterEach
    void close() {
        ctx.close();
    }

    @Test
    void commandTrainsHeadlessAndReturnsTheCheckpoint() throws IOException {
        Path out = tmp.resolve("run");
        CommandModule m = ctx.run(TrainSsrCommand.class, "data", Golden.tinyA().resolve("train").toFile(), "output", out.toFile(),
                "steps", 1, "batch", 2, "lr", 5e-5, "resolution", 48, "save_every", 0, "resume", null, "restart_optimizer", false,
                "seed", 4341L, "plot", false, "gradient_checkpointing", false, "models", "");
        assertTrue(!m.isCanceled(), m.getCancelReason());
        assertEquals(out.resolve("checkpoint-1").toString(), m.getOutput("checkpoint"));
        assertTrue(Files.isRegularFile(out.resolve("checkpoint-1/pytorch_model.bin")));
        assertTrue(Files.isRegularFile(out.resolve("checkpoint-1/pytorch_model_1.bin")));
        List<String> csv = Files.readAllLines(out.resolve(TrainingRun.LOSS_CSV));
        assertEquals(2, csv.size(), String.join("\n", csv));
        assertTrue(Double.isFinite(Double.parseDouble(csv.get(1).split(",")[1])), csv.get(1));
    }

    @Test
    void cancelStopsAfterTheStepAndSavesACheckpoint() {
        Path out = tmp.resolve("cancelled");
        AtomicBoolean stepped = new AtomicBoolean();
        List<String> log = new ArrayList<>();
        StatusProgress progress = new StatusProgress(null, log::add, stepped::get);
        Path last = TrainingRuns.train(ctx.service, "", new TrainingRuns.Request(Golden.tinyA().resolve("train"), out, 5, 1, 5e-5,
                48, 0, null, false, 1, false, true), progress, line -> {
                    log.add(line);
                    stepped.set(true);
                });
        assertEquals(out.resolve("checkpoint-1"), last);
        assertTrue(Files.isRegularFile(last.resolve("pytorch_model_1.bin")));
        assertTrue(log.get(log.size() - 1).contains("cancelled; checkpoint saved to " + last), log.toString());
    }

    @Test
    void lossPlotHoldsTheCurve() {
        Plot plot = LossPlot.of(List.of(new StepResult(1, 1.2, 6.5, 1.85, 5e-5, 1), new StepResult(2, 1.0, 6.4, 1.64, 5e-5, 1)));
        assertEquals(LossPlot.TITLE, plot.getTitle());
        float[] y = plot.getYValues();
        assertEquals(2, y.length);
        assertTrue(y[0] == 1.85f && y[1] == 1.64f || y[0] == 1.2f && y[1] == 1.0f, java.util.Arrays.toString(y));
    }
}
