package io.github.ssrencoder.soak;

import io.github.ssrencoder.bench.ProcMemory;
import io.github.ssrencoder.imagej.SsrService;
import io.github.ssrencoder.imagej.SsrSettings;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.pipeline.CancelledException;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.Lora;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.SsrPipeline;
import io.github.ssrencoder.pipeline.SubjectGenerator;
import io.github.ssrencoder.pipeline.SubjectQuery;
import io.github.ssrencoder.pipeline.VaeTiling;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Function;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.basictypeaccess.array.FloatArray;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.type.numeric.real.FloatType;
import org.scijava.Context;
import org.scijava.prefs.PrefService;

/**
 * {@code scripts/soak}: many generations in one process on the tiny models — sizes, schedulers, text, mask, several
 * and no subjects, LoRAs fused and removed, some runs cancelled at a random step — once on an {@link SsrPipeline} and
 * once through the Fiji {@link SsrService} with an <i>Unload Models</i> in the middle. Resident memory is read (after
 * a garbage collection and {@code malloc_trim}) at the start, after the warm-up and at the end; the models must give
 * the same latents for a reference request at the end as at the start.
 */
public final class Soak {

    /**
     * The growth of resident memory allowed after the warm-up, MiB. A run of the smallest request (64², guided)
     * allocates about 2 MiB of native arrays on the tiny models, so a leak of any run's arrays over 90 runs exceeds it,
     * while the JIT's code cache and the allocator's retained pages (a few MiB each) stay within.
     */
    public static final double GROWTH_BOUND_MIB = 64;

    /** The figures of one soak. */
    public record Figures(String where, int generations, int cancelled, double startMiB, double warmMiB, double endMiB,
                          double peakMiB, double heapWarmMiB, double heapEndMiB, boolean sameResult, double seconds) {

        double growthMiB() {
            return endMiB - warmMiB;
        }

        boolean passed() {
            return sameResult && growthMiB() <= GROWTH_BOUND_MIB;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s: %d generations (%d cancelled) in %.0f s; RSS start %.0f MiB, after warm-up "
                    + "%.0f MiB, end %.0f MiB (growth %+.1f MiB, bound %.0f), peak %.0f MiB; Java heap committed %.0f → "
                    + "%.0f MiB; reference result %s", where, generations, cancelled, seconds, startMiB, warmMiB, endMiB,
                    growthMiB(), GROWTH_BOUND_MIB, peakMiB, heapWarmMiB, heapEndMiB, sameResult ? "unchanged" : "CHANGED");
        }
    }

    private final Path models = Golden.tinyA();
    /** 64² images only (the test suite's short soak). */
    private final boolean quick;
    private final ArrayImg<ARGBType, IntArray> reference = ImageFiles.readRgb(models.resolve("reference.png"));
    private final ArrayImg<ARGBType, IntArray> reference2 = ImageFiles.readRgb(models.resolve("reference2.png"));
    private final ArrayImg<FloatType, FloatArray> mask = ImageFiles.readMask(models.resolve("mask.png"));
    private final Lora lora = new Lora(models.resolve("lora/lora_a_kohya.safetensors"), 0.7);

    /** A soak; {@code quick} keeps the images at 64². */
    public Soak(boolean quick) {
        this.quick = quick;
    }

    /** The fixed request whose latents must not change over the soak. */
    GenerationRequest referenceRequest() {
        return new GenerationRequest(List.of(SubjectQuery.text(reference, "red circle")), "a red circle on a table", "",
                0.5, 7.5, 2, "ddim", 64, 64, 1234L, null, 1);
    }

    /** The next request drawn from {@code r}. */
    GenerationRequest request(SplittableRandom r) {
        int[] sizes = quick ? new int[] {64} : new int[] {64, 128, 192};
        int w = sizes[r.nextInt(sizes.length)];
        int h = sizes[r.nextInt(sizes.length)];
        List<String> schedulers = List.of("unipc", "ddim", "pndm", "euler", "euler-a", "dpmpp-2m", "lcm");
        String scheduler = schedulers.get(r.nextInt(schedulers.size()));
        List<SubjectQuery> subjects = switch (r.nextInt(4)) {
            case 0 -> List.of();
            case 1 -> List.of(SubjectQuery.text(reference, "red circle"));
            case 2 -> List.of(SubjectQuery.mask(reference, "a red circle and a blue square", mask, 1.0));
            default -> List.of(new SubjectQuery(reference, "red circle", null, 0.8, 1.0,
                            io.github.ssrencoder.pipeline.ReferenceFraming.CENTER_CROP, null),
                    new SubjectQuery(reference2, "yellow ellipse", null, 0.8, 1.0,
                            io.github.ssrencoder.pipeline.ReferenceFraming.PAD_TO_SQUARE, null));
        };
        double guidance = r.nextInt(4) == 0 ? 1.0 : 7.5;
        GenerationRequest req = new GenerationRequest(subjects, "a red circle on a table", r.nextBoolean() ? "" : "blurry",
                0.5 + r.nextInt(3) * 0.25, guidance, 2 + r.nextInt(3), scheduler, w, h, r.nextLong(1L << 32), null,
                r.nextInt(6) == 0 ? 2 : 1);
        if (r.nextInt(8) == 0) {
            req = req.withLoras(List.of(lora));
        }
        return req.withVaeTiling(r.nextBoolean() ? VaeTiling.AUTO : VaeTiling.ON);
    }

    /** A listener that cancels before step {@code at} (never when negative). */
    private static ProgressListener cancelAt(int at) {
        return new ProgressListener() {
            private int done;

            @Override
            public void step(int step, int total) {
                done = step;
            }

            @Override
            public boolean isCancelled() {
                return at >= 0 && done >= at;
            }
        };
    }

    private Figures soak(String where, int generations, int warmup, long seed, Function<GenerationRequest,
            Function<ProgressListener, float[]>> run, Runnable middle, Consumer<String> log) {
        long t0 = System.nanoTime();
        SplittableRandom r = new SplittableRandom(seed);
        float[] before = run.apply(referenceRequest()).apply(ProgressListener.NONE);
        ProcMemory.releaseFreedMemory();
        double start = ProcMemory.rssMiB();
        ProcMemory.resetPeak();
        double warm = start;
        double heapWarm = heapMiB();
        int cancelled = 0;
        for (int i = 0; i < generations; i++) {
            if (i == generations / 2 && middle != null) {
                middle.run();
                log.accept(where + ": models unloaded after generation " + i);
            }
            GenerationRequest req = request(r);
            int cancelStep = r.nextInt(5) == 0 ? r.nextInt(req.steps()) : -1;
            try {
                run.apply(req).apply(cancelAt(cancelStep));
            } catch (CancelledException e) {
                cancelled++;
            }
            if (i + 1 == warmup) {
                ProcMemory.releaseFreedMemory();
                warm = ProcMemory.rssMiB();
                heapWarm = heapMiB();
            }
            if ((i + 1) % 10 == 0) {
                log.accept(String.format(Locale.ROOT, "%s: %d generations, RSS %.0f MiB, Java heap committed %.0f MiB", where,
                        i + 1, ProcMemory.rssMiB(), heapMiB()));
            }
        }
        float[] after = run.apply(referenceRequest()).apply(ProgressListener.NONE);
        ProcMemory.releaseFreedMemory();
        double end = ProcMemory.rssMiB();
        return new Figures(where, generations, cancelled, start, warm, end, ProcMemory.peakMiB(), heapWarm, heapMiB(),
                Arrays.equals(before, after), (System.nanoTime() - t0) / 1e9);
    }

    private static double heapMiB() {
        return Runtime.getRuntime().totalMemory() / (1024.0 * 1024.0);
    }

    /** The soak on one {@link SsrPipeline}. */
    public Figures pipeline(int generations, int warmup, long seed, Consumer<String> log) {
        try (SsrPipeline p = SsrPipeline.open(models, EngineRuntime.DeviceChoice.CPU, 0)) {
            return soak("pipeline", generations, warmup, seed, req -> listener -> p.generate(req, listener).latents().get(0).data(),
                    null, log);
        }
    }

    /** The soak through the Fiji service, with the models unloaded half-way. */
    public Figures service(int generations, int warmup, long seed, Consumer<String> log) {
        Context context = new Context(PrefService.class, SsrService.class);
        try {
            SsrService service = context.service(SsrService.class);
            context.service(PrefService.class).clear(SsrService.class);
            service.saveSettings(SsrSettings.defaults().withModels(models));
            Path root = service.modelsFor("");
            Function<GenerationRequest, Function<ProgressListener, float[]>> run = req -> listener ->
                    service.withGenerator(root, (SubjectGenerator g) -> g.generate(req, listener).latents().get(0).data());
            return soak("Fiji service", generations, warmup, seed, run, service::unload, log);
        } finally {
            context.dispose();
        }
    }

    public static void main(String[] args) throws Exception {
        int generations = 100;
        int warmup = 10;
        long seed = 1;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--generations" -> generations = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                default -> {
                    System.err.println("usage: scripts/soak [--generations N (100)] [--warmup N (10)] [--seed N (1)]");
                    System.exit(2);
                }
            }
        }
        String prefs = java.nio.file.Files.createTempDirectory("ssr-soak-prefs").toString();
        System.setProperty("java.util.prefs.userRoot", prefs);
        System.setProperty("java.util.prefs.systemRoot", prefs);
        EngineRuntime.configureOffline(0);
        System.out.println("soak: CPU " + cpuModel() + ", " + Runtime.getRuntime().availableProcessors() + " cores");
        Soak soak = new Soak(false);
        List<Figures> all = new ArrayList<>();
        all.add(soak.pipeline(generations, warmup, seed, System.out::println));
        System.out.println(all.get(0));
        all.add(soak.service(generations, warmup, seed + 1, System.out::println));
        System.out.println(all.get(1));
        System.out.println();
        System.out.println("| soak | generations (cancelled) | RSS start | after warm-up | end | growth | peak | reference result |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---|");
        for (Figures f : all) {
            System.out.printf(Locale.ROOT, "| %s | %d (%d) | %.0f MiB | %.0f MiB | %.0f MiB | %+.1f MiB | %.0f MiB | %s |%n",
                    f.where(), f.generations(), f.cancelled(), f.startMiB(), f.warmMiB(), f.endMiB(), f.growthMiB(),
                    f.peakMiB(), f.sameResult() ? "unchanged" : "CHANGED");
        }
        System.exit(all.stream().allMatch(Figures::passed) ? 0 : 1);
    }

    private static String cpuModel() {
        try {
            return java.nio.file.Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown");
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }
}
