package io.github.ssrencoder.fuzz;

import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.cli.SsrCli;
import io.github.ssrencoder.imagej.GenerationParameters;
import io.github.ssrencoder.imagej.UserMessages;
import io.github.ssrencoder.imagej.ij1.MacroOptions;
import io.github.ssrencoder.imagej.ij1.SsrIj1Plugin;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.io.WeightFiles;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * Runs fuzz cases through their entry points, each on a worker thread with a time bound, and judges the outcome:
 * the input was accepted (still valid), rejected with a documented error (CLI exit 2 with one {@code ssr: } line naming
 * the file, or the reader's one-line {@link WeightFileException} starting with the file), or it failed (anything
 * else: another exit code or exception, a {@link Error} such as {@link OutOfMemoryError}, a stack trace, an output
 * file left behind on rejection, or no end within the bound).
 */
final class FuzzRunner implements AutoCloseable {

    enum Verdict { ACCEPTED, REJECTED, FAILED }

    /** The outcome of one case. */
    record Outcome(FuzzCorpus.FuzzInput input, Verdict verdict, String detail, double seconds) {
    }

    private final long timeoutSeconds;
    private ExecutorService worker = newWorker();

    FuzzRunner(long timeoutSeconds) {
        this.timeoutSeconds = timeoutSeconds;
    }

    private static ExecutorService newWorker() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz-case");
            t.setDaemon(true);
            return t;
        });
    }

    Outcome run(FuzzCorpus.FuzzInput in) {
        long start = System.nanoTime();
        Future<Outcome> f = worker.submit(() -> judge(in, start));
        try {
            return f.get(timeoutSeconds, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            worker.shutdownNow();
            worker = newWorker(); // the stuck thread is abandoned
            return new Outcome(in, Verdict.FAILED, "no end within " + timeoutSeconds + " s", seconds(start));
        } catch (ExecutionException e) {
            return new Outcome(in, Verdict.FAILED, "harness: " + e.getCause(), seconds(start));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Outcome(in, Verdict.FAILED, "interrupted", seconds(start));
        }
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    private Outcome judge(FuzzCorpus.FuzzInput in, long start) {
        try {
            return switch (in.kind().layer) {
                case READER -> reader(in, start);
                case CLI_INPUT, CLI_MODELS -> cli(in, start);
                case MACRO -> macro(in, start);
            };
        } catch (Throwable t) { // the point is to see every throwable, errors included
            return new Outcome(in, Verdict.FAILED, "uncaught " + t, seconds(start));
        }
    }

    private Outcome reader(FuzzCorpus.FuzzInput in, long start) {
        try (TensorSource source = WeightFiles.open(in.file()); NDManager m = NDManager.newBaseManager()) {
            for (String key : source.keys()) {
                source.info(key);
                source.load(key, m).close();
            }
            return new Outcome(in, Verdict.ACCEPTED, "loaded", seconds(start));
        } catch (WeightFileException e) {
            String msg = e.getMessage();
            if (msg.startsWith(in.file() + ": ") && msg.lines().count() == 1) {
                return new Outcome(in, Verdict.REJECTED, msg.substring(in.file().toString().length() + 2), seconds(start));
            }
            return new Outcome(in, Verdict.FAILED, "message does not start with the file or has several lines: " + msg,
                    seconds(start));
        }
    }

    private Outcome cli(FuzzCorpus.FuzzInput in, long start) throws IOException {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = SsrCli.execute(in.cliArgs().toArray(String[]::new), new PrintWriter(out, true), new PrintWriter(err, true));
        double s = seconds(start);
        String errText = err.toString().strip();
        String last = errText.lines().reduce((a, b) -> b).orElse("");
        if (code == 0) {
            if (in.kind().layer == FuzzKind.Layer.CLI_MODELS) {
                return new Outcome(in, Verdict.ACCEPTED, "generated", s);
            }
            return new Outcome(in, Verdict.FAILED, "exit 0 without a models folder", s);
        }
        if (code != SsrCli.EXIT_BAD_INPUT) {
            return new Outcome(in, Verdict.FAILED, "exit " + code + ": " + last, s);
        }
        if (errText.contains("\tat ") || !last.startsWith("ssr: ")) {
            return new Outcome(in, Verdict.FAILED, "exit 2 without a one-line reason: " + errText, s);
        }
        List<Path> left = outputs(in.dir());
        if (!left.isEmpty()) {
            return new Outcome(in, Verdict.FAILED, "exit 2 left output files " + left + ": " + last, s);
        }
        Path models = Path.of(in.cliArgs().get(in.cliArgs().indexOf("--models") + 1));
        if (last.contains(in.file().toString())) {
            return new Outcome(in, Verdict.REJECTED, last.substring(last.indexOf(in.file().toString()) + in.file().toString().length()), s);
        }
        if (in.kind().layer == FuzzKind.Layer.CLI_INPUT && last.startsWith("ssr: " + in.dir())) {
            // the input passed its checks; another file it names (a job's image, LoRA or ControlNet) was refused
            return new Outcome(in, Verdict.ACCEPTED, last, s);
        }
        if (last.contains(models.toString())) {
            // the input passed its checks; the run stopped at the (absent, or mutated) models folder
            return new Outcome(in, in.kind().layer == FuzzKind.Layer.CLI_MODELS ? Verdict.REJECTED : Verdict.ACCEPTED,
                    last, s);
        }
        return new Outcome(in, Verdict.FAILED, "exit 2 without naming the file: " + last, s);
    }

    /** Files a run wrote (PNG, latents) in the case folder. */
    private static List<Path> outputs(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> {
                String n = p.getFileName().toString();
                return n.startsWith("out") || n.startsWith("o2") || n.startsWith("o3") || n.startsWith("lat.");
            }).toList();
        }
    }

    private Outcome macro(FuzzCorpus.FuzzInput in, long start) {
        try {
            MacroOptions o = MacroOptions.parse(in.text());
            GenerationParameters p = SsrIj1Plugin.parameters(o);
            p.toRequest(List.of(), p.resolveSeed());
            o.flag("use_roi");
            o.number("mask_weight", 1.0);
            return new Outcome(in, Verdict.ACCEPTED, "parsed", seconds(start));
        } catch (RuntimeException e) {
            String msg = e.getMessage();
            if (UserMessages.expected(e) && msg != null && !msg.isBlank() && msg.lines().count() == 1) {
                return new Outcome(in, Verdict.REJECTED, msg, seconds(start));
            }
            return new Outcome(in, Verdict.FAILED, "not a documented error: " + e, seconds(start));
        }
    }

    @Override
    public void close() {
        worker.shutdownNow();
    }
}
