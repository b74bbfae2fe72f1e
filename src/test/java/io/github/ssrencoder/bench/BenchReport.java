package io.github.ssrencoder.bench;

import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Prints one line per figure and collects the same numbers under stable JSON keys: {@code <key>_s} (median
 * seconds), {@code <key>_runs_s}, {@code <key>_gflop_count} (operations of one run, 10⁹), {@code <key>_gflops}
 * (achieved GFLOP/s), {@code <key>_of_peak} (that rate over the measured matmul peak) and
 * {@code <key>_peak_rss_mb} (MiB; {@code <key>_start_rss_mb} is the RSS the figure started from).
 */
final class BenchReport {

    private final PrintStream out;
    private final Map<String, Object> values = new LinkedHashMap<>();
    private double peakGflops = Double.NaN;

    BenchReport(PrintStream out) {
        this.out = out;
    }

    /** The fp32 matmul rate every figure is compared with. */
    void setPeak(double gflops) {
        peakGflops = gflops;
        put("matmul_peak_gflops", gflops);
    }

    double peak() {
        return peakGflops;
    }

    /** Records and prints one measured figure. */
    void figure(String key, String label, Measurement m) {
        double median = m.median();
        put(key + "_s", median);
        List<Double> runs = new ArrayList<>();
        for (double s : m.seconds()) {
            runs.add(round(s));
        }
        values.put(key + "_runs_s", runs);
        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%-46s %9.3f s", label, median));
        line.append(String.format(Locale.ROOT, "  runs %-24s", join(m.seconds())));
        if (m.flops() >= 0) {
            double gflops = m.gflops();
            put(key + "_gflop_count", m.flops() / 1e9);
            put(key + "_gflops", gflops);
            put(key + "_of_peak", gflops / peakGflops);
            line.append(String.format(Locale.ROOT, " %9.1f GFLOP %7.1f GFLOP/s %6.2f× peak", m.flops() / 1e9, gflops, gflops / peakGflops));
        }
        if (!Double.isNaN(m.peakRssMiB())) {
            put(key + "_peak_rss_mb", m.peakRssMiB());
            put(key + "_start_rss_mb", m.startRssMiB());
            line.append(String.format(Locale.ROOT, "  peak RSS %6.0f MiB (from %.0f)", m.peakRssMiB(), m.startRssMiB()));
        }
        out.println(line);
    }

    /** Prints a line as it is. */
    void line(String text) {
        out.println(text);
    }

    /** Records a number. */
    void put(String key, double value) {
        if (Double.isFinite(value)) {
            values.put(key, round(value));
        }
    }

    /** Records a whole number. */
    void put(String key, long value) {
        values.put(key, value);
    }

    /** Records a text. */
    void put(String key, String value) {
        values.put(key, value);
    }

    /** Writes every recorded value as one JSON object. */
    void writeJson(Path file) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.writeString(file, new GsonBuilder().setPrettyPrinting().create().toJson(values) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static double round(double v) {
        return Math.abs(v) >= 1e-4 ? Double.parseDouble(String.format(Locale.ROOT, "%.6g", v)) : v;
    }

    private static String join(double[] seconds) {
        StringBuilder b = new StringBuilder();
        for (double s : seconds) {
            if (b.length() > 0) {
                b.append(' ');
            }
            b.append(String.format(Locale.ROOT, s >= 10 ? "%.1f" : s >= 0.1 ? "%.2f" : "%.4f", s));
        }
        return b.toString();
    }
}
