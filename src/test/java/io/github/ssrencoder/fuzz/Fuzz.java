package io.github.ssrencoder.fuzz;

import io.github.ssrencoder.nn.EngineRuntime;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code scripts/fuzz}: the full fuzz campaign (10 000+ cases by default), printing each failure as it happens and a
 * Markdown summary at the end; exit code 1 when any case did not end in a documented error.
 */
public final class Fuzz {

    private Fuzz() {
    }

    static final String USAGE = """
            usage: scripts/fuzz [--seed N] [--scale X] [--kinds K,K,…] [--timeout S] [--work DIR]
              --seed N      seed of the corpus (1)
              --scale X     multiplies every kind's case count (1: 11 200 cases)
              --first N     start at case N of each kind (to split a campaign into several runs)
              --kinds K,…   only these kinds (safetensors, init_latents, torch_zip, pickle, model_config, model_index,
                            tokenizer, scheduler_config, job_file, png, tiff, jpeg, macro_options)
              --timeout S   the bound on one case, seconds (60)
              --work DIR    where the cases are written (a temporary folder); failed cases are kept there
              --verbose     one line per case""";

    /** Cases per kind at scale 1: the models-folder kinds load the tiny models and generate, so they get fewer. */
    static Map<FuzzKind, Integer> defaultCounts() {
        Map<FuzzKind, Integer> m = new EnumMap<>(FuzzKind.class);
        for (FuzzKind k : FuzzKind.values()) {
            m.put(k, k.layer == FuzzKind.Layer.CLI_MODELS ? 100 : 1200);
        }
        return m;
    }

    public static void main(String[] args) throws IOException {
        long seed = 1;
        double scale = 1;
        long timeout = 60;
        int first = 0;
        Path work = null;
        boolean verbose = false;
        List<FuzzKind> kinds = new ArrayList<>(List.of(FuzzKind.values()));
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--scale" -> scale = Double.parseDouble(args[++i]);
                case "--timeout" -> timeout = Long.parseLong(args[++i]);
                case "--first" -> first = Integer.parseInt(args[++i]);
                case "--work" -> work = Path.of(args[++i]);
                case "--verbose" -> verbose = true;
                case "--kinds" -> {
                    kinds.clear();
                    for (String k : args[++i].split(",")) {
                        kinds.add(FuzzKind.valueOf(k.trim().toUpperCase(Locale.ROOT)));
                    }
                }
                case "--help", "-h" -> {
                    System.out.println(USAGE);
                    return;
                }
                default -> {
                    System.err.println("fuzz: unknown option " + a + "\n" + USAGE);
                    System.exit(2);
                }
            }
        }
        if (work == null) {
            work = Files.createTempDirectory("ssr-fuzz");
        }
        EngineRuntime.configureOffline(1);
        System.out.println("fuzz: seed " + seed + ", cases in " + work + ", CPU " + cpuModel());
        FuzzCampaign campaign = new FuzzCampaign(seed, timeout);
        Map<FuzzKind, Integer> counts = defaultCounts();
        long start = System.nanoTime();
        boolean everyCase = verbose;
        for (FuzzKind k : kinds) {
            int n = (int) Math.round(counts.get(k) * scale);
            campaign.run(k, first, n, work, o -> {
                if (everyCase) {
                    System.out.printf(Locale.ROOT, "%s #%d (%s): %s %.3f s: %s%n", k, o.input().index(), o.input().mutation(),
                            o.verdict(), o.seconds(), o.detail());
                }
                if (o.verdict() == FuzzRunner.Verdict.FAILED) {
                    System.out.println("FAILED " + k + " #" + o.input().index() + " (" + o.input().mutation() + "): "
                            + o.detail() + (o.input().file() != null ? " [kept: " + o.input().dir() + "]" : " [text: "
                            + o.input().text() + "]"));
                }
            });
            FuzzCampaign.Tally t = campaign.tallies().get(k);
            System.out.printf(Locale.ROOT, "fuzz: %-16s %5d cases, %5d valid, %5d documented errors, %d other, slowest %.2f s%n",
                    k.name().toLowerCase(Locale.ROOT), t.total(), t.accepted, t.rejected, t.failed, t.slowest);
        }
        System.out.printf(Locale.ROOT, "%nfuzz: %.0f s in all%n%n", (System.nanoTime() - start) / 1e9);
        System.out.println(campaign.summary());
        System.exit(campaign.failures().isEmpty() ? 0 : 1);
    }

    static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
