package io.github.ssrencoder.bench;

import io.github.ssrencoder.nn.EngineRuntime;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.Locale;

/**
 * The command line of {@link Bench}.
 *
 * @param quick         only the matmul peak and the 256² figures
 * @param json          where to write the results as JSON, or {@code null}
 * @param work          the folder holding the generated full-size models folder
 * @param repeats       timed runs per figure (the median is reported)
 * @param warmup        untimed runs before them
 * @param threads       PyTorch intra-op threads
 * @param steps512      denoising steps of the 512² generation whose peak memory is measured
 * @param genRepeats    timed 25-step generations at 256² (0: none)
 * @param matmulRepeats timed 2048² matrix products for the peak
 * @param seed          seed of every random weight and input
 * @param device        where the networks run (CPU by default; GPU needs a CUDA build, see the README)
 */
record BenchOptions(boolean quick, Path json, Path work, int repeats, int warmup, int threads, int steps512,
                    int genRepeats, int matmulRepeats, long seed, EngineRuntime.DeviceChoice device, Set<String> only) {

    /** The figure groups {@code --only} can pick. */
    static final List<String> GROUPS = List.of("pipeline", "lowmemory", "unet", "controlnet", "cache", "vae", "vision", "text",
            "aligner", "animate");

    /** Whether figure group {@code group} runs ({@code --only} not given, or naming it). */
    boolean runs(String group) {
        return only.isEmpty() || only.contains(group);
    }

    static final String USAGE = """
            usage: scripts/bench [--quick] [--json FILE] [--work DIR] [--repeats N] [--warmup N] [--threads N]
                                 [--steps-512 N] [--gen-repeats N] [--matmul-repeats N] [--seed N] [--device cpu|gpu]
              --quick            only the fp32 matmul peak and the 256² figures (a few minutes)
              --json FILE        also write the results as JSON
              --work DIR         where the full-size random models folder is written and reused (target/bench-models)
              --repeats N        timed runs per figure, median reported (3); --warmup N untimed runs first (1)
              --threads N        PyTorch intra-op threads (all cores)
              --steps-512 N      steps of the 512² generation whose peak memory is measured (2)
              --gen-repeats N    timed 25-step 256² generations (1 with --quick, else 3; 0 skips them)
              --matmul-repeats N timed 2048² products for the peak (9)
              --seed N           seed of the random weights and inputs (42)
              --device cpu|gpu   where the networks run (cpu; gpu needs the CUDA build: mvn -Pcuda)
              --only G,G,…       only these figure groups besides the matmul rate: pipeline (load, generations,
                                 time to a 512² image per stage), lowmemory (the 512² peak and the encoder reload in
                                 low-memory mode, after the pipeline group's models are closed),
                                 unet, controlnet (UNet step with one ControlNet), cache (feature caching
                                 across steps), vae, vision, text, aligner, animate (AnimateDiff: 16-frame 256² steps
                                 with the full-size motion adapter; only when named: about 8 GB and several minutes)""";

    BenchOptions {
        requireAtLeast("--repeats", repeats, 1);
        requireAtLeast("--warmup", warmup, 0);
        requireAtLeast("--threads", threads, 1);
        requireAtLeast("--steps-512", steps512, 1);
        requireAtLeast("--gen-repeats", genRepeats, 0);
        requireAtLeast("--matmul-repeats", matmulRepeats, 1);
    }

    /** Parses {@code args}; a bad or unknown option is an {@link IllegalArgumentException} naming it. */
    static BenchOptions parse(String[] args) {
        boolean quick = false;
        Path json = null;
        Path work = Path.of("target", "bench-models");
        int repeats = 3;
        int warmup = 1;
        int threads = Runtime.getRuntime().availableProcessors();
        int steps512 = 2;
        Integer genRepeats = null;
        int matmulRepeats = 9;
        long seed = 42;
        EngineRuntime.DeviceChoice device = EngineRuntime.DeviceChoice.CPU;
        Set<String> only = new LinkedHashSet<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--quick")) {
                quick = true;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(a.startsWith("--") ? a + " needs a value" : "unexpected argument '" + a + "'");
            }
            String v = args[++i];
            switch (a) {
                case "--json" -> json = Path.of(v);
                case "--work" -> work = Path.of(v);
                case "--repeats" -> repeats = integer(a, v);
                case "--warmup" -> warmup = integer(a, v);
                case "--threads" -> threads = integer(a, v);
                case "--steps-512" -> steps512 = integer(a, v);
                case "--gen-repeats" -> genRepeats = integer(a, v);
                case "--matmul-repeats" -> matmulRepeats = integer(a, v);
                case "--seed" -> seed = longValue(a, v);
                case "--device" -> device = EngineRuntime.DeviceChoice.parse(v);
                case "--only" -> {
                    for (String g : v.split(",")) {
                        if (!GROUPS.contains(g.trim())) {
                            throw new IllegalArgumentException("--only: unknown figure group '" + g.trim() + "' (use " + GROUPS + ")");
                        }
                        only.add(g.trim());
                    }
                }
                default -> throw new IllegalArgumentException("unknown option '" + a + "'");
            }
        }
        return new BenchOptions(quick, json, work, repeats, warmup, threads, steps512,
                genRepeats != null ? genRepeats : quick ? 1 : 3, matmulRepeats, seed, device, Set.copyOf(only));
    }

    private static int integer(String option, String value) {
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " expects an integer, got '" + value + "'");
        }
    }

    private static long longValue(String option, String value) {
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " expects an integer, got '" + value + "'");
        }
    }

    private static void requireAtLeast(String option, int value, int min) {
        if (value < min) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "%s must be at least %d, got %d", option, min, value));
        }
    }
}
