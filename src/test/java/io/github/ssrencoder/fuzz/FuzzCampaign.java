package io.github.ssrencoder.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Runs a number of fuzz cases of each kind and tallies them: accepted, rejected with a documented error, failed; the
 * slowest case of each kind and overall.
 */
final class FuzzCampaign {

    /** The tally of one kind. */
    static final class Tally {
        int accepted;
        int rejected;
        int failed;
        double slowest;
        String slowestCase = "";
        final List<FuzzRunner.Outcome> failures = new ArrayList<>();

        int total() {
            return accepted + rejected + failed;
        }
    }

    private final FuzzCorpus corpus;
    private final long timeoutSeconds;
    private final Map<FuzzKind, Tally> tallies = new EnumMap<>(FuzzKind.class);

    FuzzCampaign(long seed, long timeoutSeconds) {
        this.corpus = new FuzzCorpus(seed);
        this.timeoutSeconds = timeoutSeconds;
    }

    /** Runs cases {@code 0 … count-1} of {@code kind} in folders under {@code work}, each deleted after its run. */
    void run(FuzzKind kind, int count, Path work, Consumer<FuzzRunner.Outcome> each) {
        run(kind, 0, count, work, each);
    }

    /** Runs cases {@code first … first+count-1} of {@code kind}. */
    void run(FuzzKind kind, int first, int count, Path work, Consumer<FuzzRunner.Outcome> each) {
        Tally t = tallies.computeIfAbsent(kind, k -> new Tally());
        try (FuzzRunner runner = new FuzzRunner(timeoutSeconds)) {
            for (int i = first; i < first + count; i++) {
                Path dir = work.resolve(kind.name().toLowerCase(Locale.ROOT) + "-" + i);
                FuzzCorpus.FuzzInput input;
                try {
                    input = corpus.make(kind, i, dir);
                } catch (RuntimeException e) {
                    // a bug of the generator itself: counted as a failure, so that it is seen and fixed
                    input = new FuzzCorpus.FuzzInput(kind, i, "generator", null, dir, java.util.List.of(), null);
                    FuzzRunner.Outcome o = new FuzzRunner.Outcome(input, FuzzRunner.Verdict.FAILED, "generator: " + e, 0);
                    t.failed++;
                    t.failures.add(o);
                    each.accept(o);
                    continue;
                }
                FuzzRunner.Outcome o = runner.run(input);
                switch (o.verdict()) {
                    case ACCEPTED -> t.accepted++;
                    case REJECTED -> t.rejected++;
                    default -> t.failed++;
                }
                if (o.verdict() == FuzzRunner.Verdict.FAILED) {
                    t.failures.add(o);
                } else {
                    deleteTree(dir);
                }
                if (o.seconds() > t.slowest) {
                    t.slowest = o.seconds();
                    t.slowestCase = kind.name().toLowerCase(Locale.ROOT) + " #" + i + " (" + o.input().mutation() + ")";
                }
                each.accept(o);
            }
        }
    }

    Map<FuzzKind, Tally> tallies() {
        return tallies;
    }

    List<FuzzRunner.Outcome> failures() {
        return tallies.values().stream().flatMap(t -> t.failures.stream()).toList();
    }

    /** A Markdown table: cases per kind, how they ended, the slowest case. */
    String summary() {
        StringBuilder s = new StringBuilder();
        s.append("| input kind | entry point | cases | still valid | documented error | other | slowest case |\n");
        s.append("|---|---|---:|---:|---:|---:|---:|\n");
        int total = 0;
        int failed = 0;
        double slowest = 0;
        for (Map.Entry<FuzzKind, Tally> e : tallies.entrySet()) {
            Tally t = e.getValue();
            s.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %d | %d | %.2f s |%n", e.getKey().description,
                    e.getKey().layer.name().toLowerCase(Locale.ROOT).replace('_', ' '), t.total(), t.accepted, t.rejected,
                    t.failed, t.slowest));
            total += t.total();
            failed += t.failed;
            slowest = Math.max(slowest, t.slowest);
        }
        String slowestCase = tallies.values().stream().max(Comparator.comparingDouble(t -> t.slowest))
                .map(t -> t.slowestCase).orElse("");
        s.append(String.format(Locale.ROOT, "%n%d cases, %d not ended in a documented error; slowest %.2f s: %s "
                + "(bound %d s per case)%n", total, failed, slowest, slowestCase, timeoutSeconds));
        return s.toString();
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
