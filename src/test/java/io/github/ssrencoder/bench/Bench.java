package io.github.ssrencoder.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import io.github.ssrencoder.model.AutoencoderKL;
import io.github.ssrencoder.model.ClipTextEncoder;
import io.github.ssrencoder.model.ClipVisionEncoder;
import io.github.ssrencoder.model.ControlNetModel;
import io.github.ssrencoder.model.DeepFeatureCache;
import io.github.ssrencoder.model.SsrLayers;
import io.github.ssrencoder.model.TokenToPatchAligner;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.KeyValueCache;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.GenerationResult;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.SsrPipeline;
import io.github.ssrencoder.pipeline.SubjectQuery;
import io.github.ssrencoder.pipeline.VaeTiling;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;

/**
 * Times the full-size SSR-Encoder networks on this machine and prints one line per figure: UNet steps with
 * classifier-free guidance at 512² and 256² with and without the SSR layers, VAE decode, CLIP vision and text
 * encoders, aligner, a 25-step UniPC generation at 256² through {@link SsrPipeline}, loading the models from
 * float16 safetensors, the peak memory of a 512² generation (also in low-memory mode), and the time to a 512² image
 * with 30 and 15 UniPC and 4 LCM steps, stage by stage; each with its operation count and achieved
 * GFLOP/s, also as a ratio to the fp32 matmul rate measured in the same run. Networks get seeded random weights
 * (full-size shapes from the key manifests), so nothing is downloaded. Not a test: run it through
 * {@code scripts/bench} (options: {@link BenchOptions#USAGE}).
 */
public final class Bench {

    private static final String PROMPT = "a photo of a dog on a beach";
    private static final String QUERY = "dog";
    private static final float TIMESTEP = 500f;
    private static final int GENERATION_STEPS = 25;
    private static final int MATMUL_SIZE = 2048;
    private static final int READ_CHUNK = 1 << 24;

    private final BenchOptions opt;
    private final BenchReport report;
    private final Device device;
    private int failures;

    private Bench(BenchOptions opt, BenchReport report, Device device) {
        this.opt = opt;
        this.report = report;
        this.device = device;
    }

    public static void main(String[] args) {
        if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
            System.out.println(BenchOptions.USAGE);
            return;
        }
        BenchOptions opt;
        try {
            opt = BenchOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("bench: " + e.getMessage());
            System.err.println(BenchOptions.USAGE);
            System.exit(2);
            return;
        }
        EngineRuntime.configureOffline(opt.threads());
        Device device = EngineRuntime.device(opt.device());
        Bench bench = new Bench(opt, new BenchReport(System.out), device);
        bench.run();
        System.exit(bench.failures == 0 ? 0 : 1);
    }

    private void run() {
        header();
        figure("matmul peak", () -> matmulPeak(true));
        if (!Double.isFinite(report.peak())) {
            return;
        }
        // The pipeline runs first so that its memory figures start from a process that has computed nothing yet.
        BenchModels models = new BenchModels(opt.work());
        if (opt.runs("pipeline") || opt.runs("lowmemory") || opt.runs("aligner")) {
            figure("models folder", () -> ensureModels(models));
        }
        if (opt.runs("pipeline") && models.isComplete(opt.seed())) {
            figure("SSR pipeline", () -> pipeline(models));
        }
        if (opt.runs("lowmemory") && !opt.quick() && models.isComplete(opt.seed())) {
            figure("SSR pipeline, low memory", () -> lowMemoryGeneration512(models));
        }
        if (opt.runs("unet")) {
            figure("UNet steps", this::unetSteps);
        }
        if (opt.runs("controlnet") || opt.runs("cache")) {
            figure("UNet step options", this::unetStepOptions);
        }
        if (!opt.quick()) {
            if (opt.runs("vae")) {
                figure("VAE decode", this::vaeDecode);
            }
            if (opt.runs("vision")) {
                figure("CLIP vision encoder", this::visionEncode);
            }
            if (opt.runs("text")) {
                figure("text encoder", this::textEncode);
            }
            if (opt.runs("aligner") && models.isComplete(opt.seed())) {
                figure("aligner", () -> aligner(models));
            }
        }
        if (opt.only().contains("animate")) {
            figure("AnimateDiff UNet steps", () -> new BenchAnimate(opt, report, device).run());
        }
        figure("matmul peak at the end", () -> matmulPeak(false));
        report.put("load_average_end", loadAverage());
        if (opt.json() != null) {
            report.writeJson(opt.json());
            report.line("results written to " + opt.json());
        }
        if (failures > 0) {
            report.line(failures + " figure group(s) failed (see above)");
        }
    }

    /** Runs one group of figures; a failure is reported and the next group still runs. */
    private void figure(String what, Runnable body) {
        ProcMemory.releaseFreedMemory();
        try {
            body.run();
        } catch (RuntimeException | OutOfMemoryError e) {
            failures++;
            report.line(what + ": FAILED: " + e);
            e.printStackTrace();
        }
    }

    private void header() {
        Engine engine = EngineRuntime.engine();
        int cores = Runtime.getRuntime().availableProcessors();
        int threads = JniUtils.getNumThreads();
        String cpu = cpuModel() + " (" + instructionSets() + ")";
        String commit = System.getProperty("bench.commit", "");
        report.line(String.format(Locale.ROOT, "bench: %s, %d cores, %d PyTorch threads, PyTorch %s on %s, Java %s, load average %s%s%s",
                cpu, cores, threads, engine.getVersion(), device, System.getProperty("java.version"), loadAverage(),
                commit.isEmpty() ? "" : ", commit " + commit, opt.quick() ? " (quick)" : ""));
        report.line(String.format(Locale.ROOT, "timings: median of %d after %d warm-up run(s); GFLOP counts 2× the multiply-adds "
                + "of linear, convolution and attention products; peak RSS per figure includes that figure's weights", opt.repeats(), opt.warmup()));
        report.put("machine", cpu + ", " + cores + " cores");
        report.put("cpu", cpu);
        report.put("cores", cores);
        report.put("threads", threads);
        report.put("pytorch", engine.getVersion());
        report.put("java", System.getProperty("java.version"));
        report.put("load_average_start", loadAverage());
        if (!commit.isEmpty()) {
            report.put("git_commit", commit);
        }
        report.put("quick", opt.quick() ? 1 : 0);
        report.put("repeats", opt.repeats());
        report.put("warmup", opt.warmup());
        report.put("seed", opt.seed());
    }

    // ---------------------------------------------------------------------------------------------
    // The machine's reference rate.

    /**
     * The fp32 2048² matrix product rate. The first measurement is the reference of every ratio; the second, at
     * the end, shows whether the machine's load changed during the run.
     */
    private void matmulPeak(boolean reference) {
        try (NDManager m = EngineRuntime.newManager(device)) {
            seedEngine(m);
            Shape s = new Shape(MATMUL_SIZE, MATMUL_SIZE);
            NDArray a = m.randomNormal(0, 1, s, DataType.FLOAT32);
            NDArray b = m.randomNormal(0, 1, s, DataType.FLOAT32);
            Runnable product = () -> {
                try (NDArray c = a.matMul(b)) {
                    c.getFloat(0, 0);
                }
            };
            for (int i = 0; i < Math.max(3, opt.warmup()); i++) {
                product.run();
            }
            double[] t = new double[opt.matmulRepeats()];
            for (int i = 0; i < t.length; i++) {
                long t0 = System.nanoTime();
                product.run();
                t[i] = (System.nanoTime() - t0) / 1e9;
            }
            double flop = 2.0 * MATMUL_SIZE * MATMUL_SIZE * MATMUL_SIZE;
            double median = Measurement.median(t);
            double best = java.util.Arrays.stream(t).min().orElseThrow();
            if (reference) {
                report.setPeak(flop / median / 1e9);
                report.put("matmul_best_gflops", flop / best / 1e9);
            } else {
                report.put("matmul_end_gflops", flop / median / 1e9);
            }
            report.line(String.format(Locale.ROOT, "%-46s %9.1f GFLOP/s (median of %d, best %.1f; %.4f s per product)",
                    reference ? "fp32 matmul peak (2048² · 2048², NDArray.matMul)" : "fp32 matmul rate again, at the end",
                    flop / median / 1e9, t.length, flop / best / 1e9, median));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Networks built directly with random weights.

    private void unetSteps() {
        try (NDManager weights = EngineRuntime.newManager(device)) {
            seedEngine(weights);
            long t0 = System.nanoTime();
            UNet2DCondition unet = RandomModules.unet(weights, opt.seed());
            SsrLayers ssr = RandomModules.ssrLayers(unet, weights, opt.seed() + 1);
            report.line(String.format(Locale.ROOT, "(UNet and SSR layers: random float32 weights in %.1f s, RSS %.0f MiB)",
                    (System.nanoTime() - t0) / 1e9, ProcMemory.rssMiB()));
            int textTokens = Manifest.read("sd15_text_encoder.json").config().get("max_position_embeddings").getAsInt();
            int subjectTokens = alignerScales() * textTokens;
            int latentFactor = vaeScaleFactor();
            List<Integer> sizes = opt.quick() ? List.of(256) : List.of(512, 256);
            for (int size : sizes) {
                int latent = size / latentFactor;
                try (NDManager io = weights.newSubManager()) {
                    NDArray sample = io.randomNormal(new Shape(2, unet.config().inChannels(), latent, latent));
                    long width = unet.config().crossAttentionDim();
                    NDArray text = UNet2DCondition.typed(io.randomNormal(new Shape(2, textTokens, width)), unet.computeType());
                    NDArray ssrStates = UNet2DCondition.typed(io.randomNormal(new Shape(2, textTokens + subjectTokens, width)),
                            unet.computeType());
                    Measurement[] m = measureUnet(unet, ssr, textTokens, sample, text, ssrStates);
                    report.figure("unet_step_" + size, String.format(Locale.ROOT, "UNet step %d² CFG (2×%d×%d², %d tokens)",
                            size, unet.config().inChannels(), latent, textTokens), m[0]);
                    report.figure("unet_ssr_step_" + size, String.format(Locale.ROOT, "UNet step %d² CFG + SSR (%d+%d tokens)",
                            size, textTokens, subjectTokens), m[1]);
                    double ratio = m[1].median() / m[0].median();
                    report.put(size == 512 ? "ssr_overhead_ratio" : "ssr_overhead_ratio_" + size, ratio);
                    report.line(String.format(Locale.ROOT, "%-46s %9.3f", "SSR step time / plain step time, " + size + "²", ratio));
                }
            }
        }
    }

    /**
     * The UNet step (CFG + SSR) with the options that change its cost, interleaved run by run with the plain step:
     * one full-size ControlNet (its residuals computed, then the UNet with them), and a step of feature caching that
     * reuses the deep features ({@code --cache-interval}); from the latter the speed-up of intervals 2 and 3, where
     * one step in N is a full one.
     */
    private void unetStepOptions() {
        boolean control = opt.runs("controlnet");
        boolean cache = opt.runs("cache");
        try (NDManager weights = EngineRuntime.newManager(device)) {
            seedEngine(weights);
            long t0 = System.nanoTime();
            UNet2DCondition unet = RandomModules.unet(weights, opt.seed());
            SsrLayers ssr = RandomModules.ssrLayers(unet, weights, opt.seed() + 1);
            ControlNetModel net = control ? RandomModules.controlNet(weights, opt.seed() + 2) : null;
            report.line(String.format(Locale.ROOT, "(UNet, SSR layers%s: random float32 weights in %.1f s, RSS %.0f MiB)",
                    control ? " and SD1.5 ControlNet" : "", (System.nanoTime() - t0) / 1e9, ProcMemory.rssMiB()));
            int textTokens = Manifest.read("sd15_text_encoder.json").config().get("max_position_embeddings").getAsInt();
            int subjectTokens = alignerScales() * textTokens;
            int latentFactor = vaeScaleFactor();
            unet.setSsr(ssr, 1f, textTokens);
            for (int size : opt.quick() ? List.of(256) : List.of(512, 256)) {
                int latent = size / latentFactor;
                try (NDManager io = weights.newSubManager(); KeyValueCache keysAndValues = new KeyValueCache();
                     DeepFeatureCache features = new DeepFeatureCache(2, io)) {
                    unet.setKeyValueCache(keysAndValues);
                    if (net != null) {
                        net.setKeyValueCache(keysAndValues);
                    }
                    NDArray sample = io.randomNormal(new Shape(2, unet.config().inChannels(), latent, latent));
                    NDArray states = UNet2DCondition.typed(io.randomNormal(
                            new Shape(2, textTokens + subjectTokens, unet.config().crossAttentionDim())), unet.computeType());
                    NDArray image = io.randomUniform(0f, 1f, new Shape(2, 3, size, size));
                    boolean[] checked = {false, false, false};
                    List<Runnable> bodies = new ArrayList<>();
                    bodies.add(() -> {
                        try (NDArray eps = unetStep(unet, sample, TIMESTEP, states)) {
                            checkOnce(checked, 0, "UNet output", eps);
                        }
                    });
                    if (net != null) {
                        bodies.add(() -> {
                            // the scope frees the residuals and the output
                            try (ai.djl.ndarray.NDScope scope = new ai.djl.ndarray.NDScope()) {
                                var residuals = net.forward(sample, TIMESTEP, states, image, 1f);
                                NDArray eps = unet.forward(sample, TIMESTEP, states, residuals, null);
                                eps.get(0, 0, 0, 0).getFloat();
                                checkOnce(checked, 1, "UNet output with ControlNet", eps);
                            }
                        });
                    }
                    if (cache) {
                        features.startStep(0);
                        unet.forward(sample, TIMESTEP, states, null, features, null).close();
                        bodies.add(() -> {
                            features.startStep(1);
                            try (NDArray eps = unet.forward(sample, TIMESTEP, states, null, features, null)) {
                                eps.get(0, 0, 0, 0).getFloat();
                                checkOnce(checked, 2, "UNet output of a cached step", eps);
                            }
                        });
                    }
                    List<Measurement> m = Measurement.interleaved(opt.warmup(), opt.repeats(), bodies);
                    Measurement full = m.get(0);
                    String shape = String.format(Locale.ROOT, "%d² CFG + SSR", size);
                    report.figure("unet_ssr_step_options_" + size, "UNet step " + shape + " (reference of the ratios below)", full);
                    int next = 1;
                    if (net != null) {
                        Measurement withNet = m.get(next++);
                        report.figure("controlnet_step_" + size, "UNet step " + shape + " + 1 ControlNet", withNet);
                        double ratio = withNet.median() / full.median();
                        report.put("controlnet_overhead_ratio_" + size, ratio);
                        double flopRatio = (double) withNet.flops() / full.flops();
                        report.put("controlnet_flop_ratio_" + size, flopRatio);
                        report.line(String.format(Locale.ROOT, "%-46s %9.3f  (the ControlNet adds %.0f%% of the time, %.0f%% of "
                                + "the FLOPs)", "ControlNet step time / step time, " + size + "²", ratio, 100 * (ratio - 1),
                                100 * (flopRatio - 1)));
                    }
                    if (cache) {
                        Measurement cached = m.get(next);
                        report.figure("cached_step_" + size, "UNet step " + shape + ", cached (shallow branch)", cached);
                        double ratio = cached.median() / full.median();
                        report.put("cached_step_ratio_" + size, ratio);
                        double flopRatio = (double) cached.flops() / full.flops();
                        report.put("cached_step_flop_ratio_" + size, flopRatio);
                        report.line(String.format(Locale.ROOT, "%-46s %9.3f  (FLOP ratio %.3f)",
                                "cached step time / full step time, " + size + "²", ratio, flopRatio));
                        for (int interval : List.of(2, 3, 5)) {
                            double speedUp = interval / (1 + (interval - 1) * ratio);
                            double flopSpeedUp = interval / (1 + (interval - 1) * flopRatio);
                            report.put("cache_interval_" + interval + "_speedup_" + size, speedUp);
                            report.line(String.format(Locale.ROOT, "%-46s %9.2f×  (by FLOPs %.2f×)", "denoising speed-up, "
                                    + "cache interval " + interval + ", " + size + "²", speedUp, flopSpeedUp));
                        }
                        long[] f = features.featureShape();
                        report.line(String.format(Locale.ROOT, "%-46s %9.1f MiB  (%s)", "cached features, " + size + "²",
                                4.0 * java.util.Arrays.stream(f).reduce(1, (a, b) -> a * b) / (1 << 20),
                                java.util.Arrays.toString(f)));
                    }
                } finally {
                    unet.setKeyValueCache(null);
                    if (net != null) {
                        net.setKeyValueCache(null);
                    }
                }
            }
            unet.clearSsr();
            if (net != null) {
                net.close();
            }
        }
    }

    /** Plain and SSR steps, interleaved run by run so that their ratio holds on a loaded machine. */
    private Measurement[] measureUnet(UNet2DCondition unet, SsrLayers ssr, int textTokens, NDArray sample, NDArray text,
                                      NDArray ssrStates) {
        boolean[] checked = {false, false};
        // As in a generation: the cross-attention keys and values of the (unchanging) encoder states are
        // projected at the first (warm-up) step and reused by the timed ones; one cache per variant.
        try (KeyValueCache plainCache = new KeyValueCache(); KeyValueCache ssrCache = new KeyValueCache()) {
            Runnable plain = () -> {
                unet.clearSsr();
                unet.setKeyValueCache(plainCache);
                try (NDArray eps = unetStep(unet, sample, TIMESTEP, text)) {
                    checkOnce(checked, 0, "UNet output", eps);
                } finally {
                    unet.setKeyValueCache(null);
                }
            };
            Runnable withSsr = () -> {
                unet.setSsr(ssr, 1f, textTokens);
                unet.setKeyValueCache(ssrCache);
                try (NDArray eps = unetStep(unet, sample, TIMESTEP, ssrStates)) {
                    checkOnce(checked, 1, "UNet output with SSR", eps);
                } finally {
                    unet.setKeyValueCache(null);
                    unet.clearSsr();
                }
            };
            return Measurement.interleaved(opt.warmup(), opt.repeats(), List.of(plain, withSsr)).toArray(new Measurement[0]);
        }
    }

    private static void checkOnce(boolean[] checked, int i, String what, NDArray a) {
        if (!checked[i]) {
            checked[i] = true;
            requireFinite(what, a);
        }
    }

    /** One noise prediction of a guided step (batch 2: unconditional and conditional). */
    private static NDArray unetStep(UNet2DCondition unet, NDArray sample, float timestep, NDArray states) {
        NDArray eps = unet.forward(sample, timestep, states);
        eps.get(0, 0, 0, 0).getFloat();
        return eps;
    }

    private void vaeDecode() {
        try (NDManager weights = EngineRuntime.newManager(device)) {
            seedEngine(weights);
            AutoencoderKL vae = RandomModules.vae(weights, opt.seed());
            int latent = 512 / vae.spatialScaleFactor();
            try (NDManager io = weights.newSubManager()) {
                NDArray z = io.randomNormal(new Shape(1, vae.config().latentChannels(), latent, latent));
                Measurement m = Measurement.of(opt.warmup(), opt.repeats(), () -> {
                    try (NDArray image = vae.decode(z)) {
                        image.getFloat(0, 0, 0, 0);
                    }
                });
                report.figure("vae_decode_512", String.format(Locale.ROOT, "VAE decode 512² (1×%d×%d²)", vae.config().latentChannels(), latent), m);
                ProcMemory.releaseFreedMemory();
                int tile = VaeTiling.tileSize(vae);
                Measurement tiled = Measurement.of(opt.warmup(), opt.repeats(), () -> {
                    try (NDArray image = vae.decodeTiled(z, tile)) {
                        image.getFloat(0, 0, 0, 0);
                    }
                });
                report.figure("vae_decode_512_tiled", String.format(Locale.ROOT, "VAE decode 512², tiled (%d-px tiles)", tile), tiled);
                report.put("vae_decode_tile_size", tile);
                report.line(String.format(Locale.ROOT, "%-46s %9.2f  (peak RSS %.0f → %.0f MiB)", "VAE decode 512² tiled / untiled time",
                        tiled.median() / m.median(), m.peakRssMiB(), tiled.peakRssMiB()));
            }
        }
    }

    private void visionEncode() {
        try (NDManager weights = EngineRuntime.newManager(device)) {
            seedEngine(weights);
            ClipVisionEncoder vision = RandomModules.visionEncoder(weights, opt.seed());
            int size = vision.imageSize();
            try (NDManager io = weights.newSubManager()) {
                NDArray pixels = io.randomNormal(new Shape(1, vision.config().numChannels(), size, size));
                Measurement m = Measurement.of(opt.warmup(), opt.repeats(), () -> {
                    NDList hidden = vision.forward(pixels);
                    try (NDArray embeds = ClipVisionEncoder.ssrImageEmbeds(hidden)) {
                        embeds.getFloat(0, 0, 0);
                    } finally {
                        hidden.close();
                    }
                });
                report.figure("clip_vision_224", String.format(Locale.ROOT, "CLIP vision encode %d² (%d layers, %d tokens)",
                        size, vision.numLayers(), vision.numTokens()), m);
            }
        }
    }

    private void textEncode() {
        try (NDManager weights = EngineRuntime.newManager(device)) {
            seedEngine(weights);
            ClipTextEncoder text = RandomModules.textEncoder(weights, opt.seed());
            try (NDManager io = weights.newSubManager()) {
                NDArray ids = io.randomInteger(0, text.config().vocabSize(), new Shape(1, text.maxLength()), DataType.INT64);
                Measurement m = Measurement.of(opt.warmup(), opt.repeats(), () -> {
                    try (NDArray states = text.forward(ids)) {
                        states.getFloat(0, 0, 0);
                    }
                });
                report.figure("text_encode", String.format(Locale.ROOT, "text encode (1×%d tokens, %d layers)",
                        text.maxLength(), text.config().numHiddenLayers()), m);
            }
        }
    }

    private void aligner(BenchModels models) {
        try (NDManager weights = EngineRuntime.newManager(device)) {
            seedEngine(weights);
            TokenToPatchAligner aligner = TokenToPatchAligner.load(models.root().resolve("ssr"), weights);
            int textTokens = Manifest.read("sd15_text_encoder.json").config().get("max_position_embeddings").getAsInt();
            int patches = visionTokens();
            try (NDManager io = weights.newSubManager()) {
                NDArray text = io.randomNormal(new Shape(1, textTokens, aligner.queryDim()));
                NDArray image = io.randomNormal(new Shape(1, (long) aligner.numScales() * patches, aligner.imageDim()));
                Measurement m = Measurement.of(opt.warmup(), Math.max(opt.repeats(), 5), () -> {
                    try (TokenToPatchAligner.AlignerOutput out = aligner.forward(text, image, null)) {
                        out.subjectEmbeds().getFloat(0, 0, 0);
                    }
                });
                report.figure("aligner", String.format(Locale.ROOT, "aligner (%d text tokens × %d×%d patches)",
                        textTokens, aligner.numScales(), patches), m);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The models folder and the public pipeline.

    private void ensureModels(BenchModels models) {
        if (models.isComplete(opt.seed())) {
            report.line("(reusing the models folder " + models.root() + ")");
            return;
        }
        long t0 = System.nanoTime();
        models.write(opt.seed());
        report.line(String.format(Locale.ROOT, "(models folder written to %s in %.1f s, %.2f GB of weight files)",
                models.root(), (System.nanoTime() - t0) / 1e9, totalBytes(models.weightFiles()) / 1e9));
    }

    private void pipeline(BenchModels models) {
        List<Path> files = models.weightFiles();
        readAll(files);
        ProcMemory.resetPeak();
        StageTimes stages = new StageTimes();
        long t0 = System.nanoTime();
        try (SsrPipeline pipeline = SsrPipeline.open(models.root(), opt.device(), opt.threads(), stages)) {
            double load = (System.nanoTime() - t0) / 1e9;
            stages.end();
            double loadRss = ProcMemory.peakMiB();
            double rss = ProcMemory.rssMiB();
            double fileRss = ProcMemory.fileBackedMiB();
            long t1 = System.nanoTime();
            long bytes = readAll(files);
            double read = (System.nanoTime() - t1) / 1e9;
            report.put("load_fp16_s", load);
            report.put("load_peak_rss_mb", loadRss);
            report.put("read_files_s", read);
            report.put("weight_files_gb", bytes / 1e9);
            report.put("load_read_ratio", load / read);
            report.put("loaded_rss_mb", rss);
            report.put("loaded_file_rss_mb", fileRss);
            report.line(String.format(Locale.ROOT, "%-46s %9.3f s  (%s)  peak RSS %6.0f MiB, then %.0f MiB of which %.0f MiB "
                    + "mapped from files", "load models (SsrPipeline.open, fp16 files)", load, stages, loadRss, rss, fileRss));
            report.line(String.format(Locale.ROOT, "%-46s %9.3f s  (%.2f GB, %.2f GB/s, page cache warm)", "read the same weight files",
                    read, bytes / 1e9, bytes / 1e9 / read));
            report.line(String.format(Locale.ROOT, "%-46s %9.2f", "load time / read time", load / read));
            if (!opt.quick()) {
                generation512(pipeline);
                fewStepGeneration512(pipeline);
            }
            if (opt.genRepeats() > 0) {
                generation256(pipeline);
            }
        }
    }

    /**
     * Low-memory mode ({@code SsrPipeline.open(…, lowMemory = true, …)}, after the default pipeline was closed): the
     * peak of loading and of a 512² generation with the decoder tiled, and the seconds the run spends loading the image
     * encoder again (its weights are released at open and after each run's subject encoding).
     */
    private void lowMemoryGeneration512(BenchModels models) {
        ProcMemory.resetPeak();
        StageTimes loading = new StageTimes();
        long t0 = System.nanoTime();
        try (SsrPipeline pipeline = SsrPipeline.open(models.root(), null, false, true, opt.device(), opt.threads(), loading)) {
            double load = (System.nanoTime() - t0) / 1e9;
            loading.end();
            double loadPeak = ProcMemory.peakMiB();
            double loaded = ProcMemory.rssMiB();
            ProcMemory.releaseFreedMemory();
            ProcMemory.resetPeak();
            double start = ProcMemory.rssMiB();
            StageTimes stages = new StageTimes(true);
            long t1 = System.nanoTime();
            GenerationResult r = pipeline.generate(request(512, opt.steps512()).withVaeTiling(VaeTiling.ON), stages);
            double s = (System.nanoTime() - t1) / 1e9;
            stages.end();
            requireFinite("512² low-memory generation", r);
            double generationPeak = stages.peaks().values().stream().mapToDouble(Double::doubleValue).max().orElse(0);
            double peak = Math.max(loadPeak, generationPeak);
            double reload = stages.seconds("image encoder");
            double vaeReload = stages.seconds("VAE");
            List<String> stagePeaks = new ArrayList<>();
            stages.peaks().forEach((k, v) -> stagePeaks.add(String.format(Locale.ROOT, "%s %.0f", k, v)));
            report.put("low_memory_load_s", load);
            report.put("low_memory_load_peak_rss_mb", loadPeak);
            report.put("low_memory_loaded_rss_mb", loaded);
            report.put("peak_rss_512_tiled_low_memory_mb", peak);
            report.put("generation_512_tiled_low_memory_peak_rss_mb", generationPeak);
            report.put("generation_512_tiled_low_memory_start_rss_mb", start);
            report.put("generation_512_tiled_low_memory_s", s);
            report.put("low_memory_encoder_reload_s", reload);
            report.put("low_memory_vae_reload_s", vaeReload);
            report.put("low_memory_image_encoder_released", pipeline.isImageEncoderLoaded() ? 0 : 1);
            report.put("low_memory_vae_released", pipeline.isVaeLoaded() ? 0 : 1);
            report.line(String.format(Locale.ROOT, "%-46s %9.0f MiB  (%.2f GB; loading %.0f, then %.0f resident; generation %.0f "
                            + "from %.0f; %d steps in %.1f s: %s; target ≤ 6 GB)", "peak RSS, load + 512² SSR generation, low memory",
                    peak, peak * 1048576 / 1e9, loadPeak, loaded, generationPeak, start, opt.steps512(), s, stages));
            report.line("  peak RSS per stage, MiB: " + String.join(", ", stagePeaks));
            report.line(String.format(Locale.ROOT, "%-46s %9.1f s  (+ VAE %.1f s per run in low-memory mode; image encoder %s, "
                            + "VAE %s after the run)", "reload the image encoder", reload, vaeReload,
                    pipeline.isImageEncoderLoaded() ? "STILL LOADED" : "released", pipeline.isVaeLoaded() ? "STILL LOADED" : "released"));
        }
    }

    /**
     * The peak memory of a 512² generation, loading included (the peak was reset before {@code open}): first with
     * the VAE decoding in one piece, then in tiles, each with the time of its decode stage.
     */
    private void generation512(SsrPipeline pipeline) {
        double loadPeak = ProcMemory.peakMiB();
        for (VaeTiling tiling : List.of(VaeTiling.OFF, VaeTiling.ON)) {
            String suffix = tiling == VaeTiling.OFF ? "" : "_tiled";
            ProcMemory.releaseFreedMemory();
            ProcMemory.resetPeak();
            double start = ProcMemory.rssMiB();
            StageTimes stages = new StageTimes();
            long t0 = System.nanoTime();
            GenerationResult r = pipeline.generate(request(512, opt.steps512()).withVaeTiling(tiling), stages);
            double s = (System.nanoTime() - t0) / 1e9;
            stages.end();
            requireFinite("512² generation", r);
            double generationPeak = ProcMemory.peakMiB();
            double peak = Math.max(loadPeak, generationPeak);
            double decode = stages.seconds("Decoding image 1 of 1");
            report.put("peak_rss_512" + suffix + "_mb", peak);
            report.put("generation_512" + suffix + "_peak_rss_mb", generationPeak);
            report.put("generation_512" + suffix + "_start_rss_mb", start);
            report.put("generation_512" + suffix + "_s", s);
            report.put("generation_512" + suffix + "_decode_s", decode);
            report.line(String.format(Locale.ROOT, "%-46s %9.0f MiB  (loading %.0f, generation %.0f from %.0f; %d steps in %.1f s, "
                            + "decode %.1f s; target ≤ 6 GB tiled)", "peak RSS, load + 512² SSR generation, VAE tiling " + tiling,
                    peak, loadPeak, generationPeak, start, opt.steps512(), s, decode));
        }
        report.put("generation_512_steps", opt.steps512());
    }

    /**
     * Time to a 512² image, models loaded: 30 and 15 UniPC steps and 4 LCM steps (the LCM-LoRA recipe: guidance 1.5,
     * CFG still on, so a step costs the same; a fused LoRA adds nothing per step), each end to end once, with the
     * seconds of each stage (prompt and subject encoding, denoising, VAE decode) and the ratio to the 30-step run.
     */
    private void fewStepGeneration512(SsrPipeline pipeline) {
        List<Object[]> runs = List.of(new Object[] {"unipc", 30, GenerationRequest.DEFAULT_GUIDANCE},
                new Object[] {"unipc", 15, GenerationRequest.DEFAULT_GUIDANCE}, new Object[] {"lcm", 4, 1.5});
        double reference = 0;
        for (Object[] run : runs) {
            String scheduler = (String) run[0];
            int steps = (Integer) run[1];
            StageTimes stages = new StageTimes();
            long t0 = System.nanoTime();
            GenerationResult r = pipeline.generate(request(512, steps, scheduler, (Double) run[2]), stages);
            double s = (System.nanoTime() - t0) / 1e9;
            stages.end();
            requireFinite("512² " + scheduler + " generation", r);
            double prompt = stages.seconds("Encoding prompt");
            double subject = stages.seconds("Encoding subject 1 of 1");
            double denoise = stages.seconds("Denoising image 1 of 1");
            double decode = stages.seconds("Decoding image 1 of 1");
            double other = s - prompt - subject - denoise - decode;
            if (reference == 0) {
                reference = s;
            }
            String key = "generation_512_" + scheduler + steps;
            report.put(key + "_s", s);
            report.put(key + "_prompt_s", prompt);
            report.put(key + "_subject_s", subject);
            report.put(key + "_denoise_s", denoise);
            report.put(key + "_step_s", denoise / steps);
            report.put(key + "_decode_s", decode);
            report.put(key + "_other_s", other);
            report.put(key + "_over_unipc30", s / reference);
            report.line(String.format(Locale.ROOT, "%-46s %9.1f s  (%.2f× the 30-step time; prompt %.1f s, subject %.1f s, "
                            + "denoising %.1f s = %d × %.2f s per CFG step, decode %.1f s, rest %.1f s%s)",
                    "SSR generation 512², " + steps + " " + scheduler.toUpperCase(Locale.ROOT) + " steps", s, s / reference,
                    prompt, subject, denoise, steps, denoise / steps, decode, other,
                    scheduler.equals("lcm") ? "; target ≤ 60 s" : ""));
        }
    }

    private void generation256(SsrPipeline pipeline) {
        if (opt.warmup() > 0) {
            pipeline.generate(request(256, 1), ProgressListener.NONE);
        }
        GenerationRequest request = request(256, GENERATION_STEPS);
        GenerationResult[] last = new GenerationResult[1];
        Measurement m = Measurement.of(0, opt.genRepeats(), () -> last[0] = pipeline.generate(request, ProgressListener.NONE));
        requireFinite("256² generation", last[0]);
        report.figure("generation_256_25steps", "SSR generation 256², 25 UniPC steps", m);
    }

    private GenerationRequest request(int size, int steps) {
        return request(size, steps, "unipc", GenerationRequest.DEFAULT_GUIDANCE);
    }

    private GenerationRequest request(int size, int steps, String scheduler, double guidance) {
        SubjectQuery subject = SubjectQuery.text(referenceImage(512, opt.seed()), QUERY);
        return new GenerationRequest(List.of(subject), PROMPT, "", GenerationRequest.DEFAULT_SCALE, guidance,
                steps, scheduler, size, size, opt.seed(), null, 1);
    }

    /** A seeded noise picture: the encoders' cost does not depend on the content. */
    private static ArrayImg<ARGBType, IntArray> referenceImage(int size, long seed) {
        ArrayImg<ARGBType, IntArray> img = ArrayImgs.argbs(size, size);
        int[] pixels = img.update(null).getCurrentStorageArray();
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = 0xff000000 | (r.nextInt() & 0xffffff);
        }
        return img;
    }

    /** Reads every byte of {@code files} into one reused direct buffer; returns the byte count. */
    private static long readAll(List<Path> files) {
        ByteBuffer buf = ByteBuffer.allocateDirect(READ_CHUNK);
        long total = 0;
        for (Path f : files) {
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                int n;
                do {
                    buf.clear();
                    n = ch.read(buf);
                    total += Math.max(n, 0);
                } while (n >= 0);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return total;
    }

    private static long totalBytes(List<Path> files) {
        long n = 0;
        for (Path f : files) {
            try {
                n += Files.size(f);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return n;
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * Seconds per stage, from the pipeline's progress messages; with {@code peaks}, also each stage's peak RSS (the
     * peak is reset at every stage, so the figure's overall peak is the largest of them).
     */
    private static final class StageTimes implements ProgressListener {
        private final Map<String, Double> seconds = new LinkedHashMap<>();
        private final Map<String, Double> peaks = new LinkedHashMap<>();
        private final boolean trackPeaks;
        private String current;
        private long since;

        StageTimes() {
            this(false);
        }

        StageTimes(boolean trackPeaks) {
            this.trackPeaks = trackPeaks;
        }

        @Override
        public void stage(String message) {
            end();
            current = message.replaceFirst("^Loading ", "");
            since = System.nanoTime();
        }

        /** Peak RSS per stage, MiB (empty unless tracked). */
        Map<String, Double> peaks() {
            return peaks;
        }

        /** Seconds spent in the stage reported as {@code message} (0 if it was not reported). */
        double seconds(String message) {
            return seconds.getOrDefault(message.replaceFirst("^Loading ", ""), 0.0);
        }

        void end() {
            if (current != null) {
                seconds.merge(current, (System.nanoTime() - since) / 1e9, Double::sum);
                if (trackPeaks) {
                    peaks.merge(current, ProcMemory.peakMiB(), Math::max);
                }
                current = null;
            }
            if (trackPeaks) {
                ProcMemory.resetPeak();
            }
        }

        @Override
        public String toString() {
            List<String> parts = new ArrayList<>();
            seconds.forEach((k, v) -> parts.add(String.format(Locale.ROOT, "%s %.1f s", k, v)));
            return String.join(", ", parts);
        }
    }

    private void seedEngine(NDManager manager) {
        manager.getEngine().setRandomSeed(Long.hashCode(opt.seed()));
    }

    static int alignerScales() {
        int n = 0;
        while (Manifest.read("ssr_aligner.json").tensors().containsKey("aligner.processor.to_v." + n + ".weight")) {
            n++;
        }
        return n;
    }

    private static int visionTokens() {
        var c = Manifest.read("clip_vit_large_patch14_vision.json").config();
        int grid = c.get("image_size").getAsInt() / c.get("patch_size").getAsInt();
        return grid * grid + 1;
    }

    static int vaeScaleFactor() {
        return 1 << (Manifest.read("sd15_vae.json").config().getAsJsonArray("block_out_channels").size() - 1);
    }

    static void requireFinite(String what, NDArray a) {
        if (!Float.isFinite(a.sum().getFloat())) {
            throw new IllegalStateException(what + " is not finite (random weights out of range?)");
        }
    }

    private static void requireFinite(String what, GenerationResult r) {
        for (float v : r.latents().get(0).data()) {
            if (!Float.isFinite(v)) {
                throw new IllegalStateException(what + ": final latents are not finite");
            }
        }
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            return System.getProperty("os.arch");
        }
        return System.getProperty("os.arch");
    }

    /** The vector instruction sets that decide float32 and bfloat16 speed, from /proc/cpuinfo's flags (Linux). */
    private static String instructionSets() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags") || line.startsWith("Features")) {
                    java.util.Set<String> flags = java.util.Set.of(line.substring(line.indexOf(':') + 1).trim().split("\\s+"));
                    List<String> found = new ArrayList<>();
                    Map<String, String> names = new LinkedHashMap<>();
                    names.put("avx2", "AVX2");
                    names.put("fma", "FMA");
                    names.put("avx512f", "AVX-512");
                    names.put("avx512_vnni", "AVX512_VNNI");
                    names.put("avx512_bf16", "AVX512_BF16");
                    names.put("amx_bf16", "AMX-BF16");
                    names.put("asimd", "NEON");
                    names.put("bf16", "BF16");
                    names.forEach((flag, name) -> {
                        if (flags.contains(flag)) {
                            found.add(name);
                        }
                    });
                    return found.isEmpty() ? "no AVX2/AVX-512/NEON" : String.join(", ", found);
                }
            }
        } catch (IOException | RuntimeException e) {
            return "instruction sets unknown";
        }
        return "instruction sets unknown";
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "?";
        }
    }
}
