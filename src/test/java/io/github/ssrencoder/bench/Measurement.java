package io.github.ssrencoder.bench;

import io.github.ssrencoder.nn.FlopCounter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The timed runs of one figure: seconds per run, the floating-point operations of one run (counted by
 * {@link FlopCounter} on its first run, warm-up or timed) and the peak resident memory over all runs.
 *
 * @param seconds     timed runs, in order
 * @param flops       operations of one run, or -1 when not counted
 * @param startRssMiB the process's RSS before the first run, MiB (NaN where it cannot be read)
 * @param peakRssMiB  the process's peak RSS over the runs, MiB (NaN where it cannot be read)
 */
record Measurement(double[] seconds, long flops, double startRssMiB, double peakRssMiB) {

    /** Runs {@code body} {@code warmup} times untimed, then {@code repeats} times timed. */
    static Measurement of(int warmup, int repeats, Runnable body) {
        Recorder r = new Recorder(body);
        for (int i = 0; i < warmup + repeats; i++) {
            r.run(i >= warmup);
        }
        return r.result();
    }

    /**
     * Runs several figures in turn, run by run, so that a change of machine load in the middle affects all of
     * them alike (their ratios stay meaningful on a shared machine).
     */
    static List<Measurement> interleaved(int warmup, int repeats, List<Runnable> bodies) {
        List<Recorder> recorders = bodies.stream().map(Recorder::new).toList();
        for (int i = 0; i < warmup + repeats; i++) {
            for (Recorder r : recorders) {
                r.run(i >= warmup);
            }
        }
        return recorders.stream().map(Recorder::result).toList();
    }

    /** The median of the timed runs. */
    double median() {
        return median(seconds);
    }

    /** Achieved GFLOP/s at the median time, or NaN when not counted. */
    double gflops() {
        return flops < 0 ? Double.NaN : flops / median() / 1e9;
    }

    /** The median of {@code values} (the mean of the middle two for an even count). */
    static double median(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("no values");
        }
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    /** Collects the runs of one figure; the memory peak is reset before each run and the highest kept. */
    private static final class Recorder {
        private final Runnable body;
        private final List<Double> times = new ArrayList<>();
        private long flops = -1;
        private double startRss = Double.NaN;
        private double peakRss = Double.NaN;
        private boolean first = true;

        Recorder(Runnable body) {
            this.body = body;
        }

        void run(boolean timed) {
            ProcMemory.resetPeak();
            if (first) {
                startRss = ProcMemory.rssMiB();
            }
            long t0 = System.nanoTime();
            if (first) {
                flops = FlopCounter.count(() -> {
                    body.run();
                    return null;
                }).flops();
                first = false;
            } else {
                body.run();
            }
            double s = (System.nanoTime() - t0) / 1e9;
            double peak = ProcMemory.peakMiB();
            peakRss = Double.isNaN(peakRss) ? peak : Math.max(peakRss, peak);
            if (timed) {
                times.add(s);
            }
        }

        Measurement result() {
            return new Measurement(times.stream().mapToDouble(Double::doubleValue).toArray(), flops, startRss, peakRss);
        }
    }
}
