package io.github.ssrencoder.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.model.UNetConfig;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.GroupNorm;
import io.github.ssrencoder.nn.Parameter;
import io.github.ssrencoder.nn.PassTimings;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Times full-size UNet passes (classifier-free-guidance batch) with random weights built from a diffusers
 * config, and breaks each pass down by block (down/mid/up) and by kind of work (resnets, self-/cross-attention,
 * feed-forward, rest). Attention piece sizes given with {@code --pieces} are run interleaved, pass by pass, so
 * that their ratios come from the same run under the same machine load. Not a test: run it through
 * {@code scripts/bench-unet.sh}.
 *
 * <p>Arguments: {@code --config FILE} (a {@code config.json}, or a key manifest holding one under
 * {@code "config"}), {@code --passes N}, {@code --warmup N}, {@code --batch N}, {@code --latent N},
 * {@code --tokens N}, {@code --pieces MiB,MiB,…} (score memory per attention piece; {@code 0} = unsliced),
 * {@code --threads N,N,…} (PyTorch intra-op threads, set between passes); every combination is one variant.
 */
public final class BenchUNet {

    private BenchUNet() {
    }

    public static void main(String[] args) throws IOException {
        Map<String, String> opt = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opt.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        Path config = Path.of(opt.getOrDefault("config", "src/test/resources/golden/full-size-keys/sd15_unet.json"));
        int passes = Integer.parseInt(opt.getOrDefault("passes", "3"));
        int warmup = Integer.parseInt(opt.getOrDefault("warmup", "1"));
        int batch = Integer.parseInt(opt.getOrDefault("batch", "2"));
        int latent = Integer.parseInt(opt.getOrDefault("latent", "64"));
        int tokens = Integer.parseInt(opt.getOrDefault("tokens", "77"));
        List<Long> pieces = longs(opt.get("pieces"));
        List<Long> threads = longs(opt.get("threads"));

        EngineRuntime.configureOffline(0);
        UNet2DCondition unet = new UNet2DCondition(UNetConfig.read(configFile(config)));
        System.out.printf(Locale.ROOT, "engine: %s, load average %s%n",
                EngineRuntime.describe(EngineRuntime.device(EngineRuntime.DeviceChoice.CPU)), loadAverage());
        try (NDManager weights = EngineRuntime.newManager(EngineRuntime.device(EngineRuntime.DeviceChoice.CPU));
             NDManager io = weights.newSubManager()) {
            long t0 = System.nanoTime();
            long count = fillRandom(unet, weights);
            System.out.printf(Locale.ROOT, "random weights: %d parameters (%.2f GiB float32) in %.1f s; RSS %.2f GiB%n",
                    count, count * 4.0 / (1L << 30), (System.nanoTime() - t0) / 1e9, procStatusGiB("VmRSS"));
            io.getEngine().setRandomSeed(1);
            NDArray sample = io.randomNormal(new Shape(batch, unet.config().inChannels(), latent, latent));
            NDArray context = io.randomNormal(new Shape(batch, tokens, unet.config().crossAttentionDim()));
            List<String> variants = new ArrayList<>();
            List<long[]> settings = new ArrayList<>();
            for (long p : pieces.isEmpty() ? List.of(-1L) : pieces) {
                for (long th : threads.isEmpty() ? List.of(-1L) : threads) {
                    String name = p < 0 ? "default pieces" : p == 0 ? "unsliced" : p + " MiB pieces";
                    variants.add(th < 0 ? name : name + ", " + th + " thr");
                    settings.add(new long[] {p, th});
                }
            }
            System.out.printf(Locale.ROOT, "UNet pass: batch %d, %d×%d latents, %d tokens; %d warm-up + %d timed passes per variant%n",
                    batch, latent, latent, tokens, warmup, passes);
            Map<String, List<Map<String, Long>>> runs = new LinkedHashMap<>();
            variants.forEach(v -> runs.put(v, new ArrayList<>()));
            for (int round = 0; round < warmup + passes; round++) {
                for (int vi = 0; vi < variants.size(); vi++) {
                    long mib = settings.get(vi)[0];
                    if (mib >= 0) {
                        unet.setMaxAttentionScoreElements(mib == 0 ? Long.MAX_VALUE : mib * (1L << 20) / 4);
                    }
                    if (settings.get(vi)[1] > 0) {
                        JniUtils.setNumThreads((int) settings.get(vi)[1]);
                    }
                    Map<String, Long> t = timedPass(unet, sample, context);
                    boolean timed = round >= warmup;
                    System.out.printf(Locale.ROOT, "%s pass %d (%s): %.2f s, load %s%n", timed ? "timed" : "warm-up",
                            timed ? round - warmup + 1 : round + 1, variants.get(vi), t.get("total") / 1e9, loadAverage());
                    if (timed) {
                        runs.get(variants.get(vi)).add(t);
                    }
                }
            }
            System.out.printf(Locale.ROOT, "peak RSS %.2f GiB (weights alone %.2f GiB)%n", procStatusGiB("VmHWM"), count * 4.0 / (1L << 30));
            report(runs);
            compareGroupNorm(io, unet.config().normNumGroups(), Math.max(passes, 5));
        }
    }

    /**
     * Times {@link GroupNorm} against the same normalisation composed from reductions (mean, centring, variance,
     * division) on the UNet's largest activation shapes, interleaved in this process.
     */
    private static void compareGroupNorm(NDManager manager, int groups, int reps) {
        System.out.println();
        System.out.println("== GroupNorm: fused layer norm vs composed reductions (median ms, ratio, max abs difference)");
        for (long[] shape : new long[][] {{2, 320, 64, 64}, {2, 960, 64, 64}, {2, 640, 32, 32}, {2, 2560, 16, 16}}) {
            try (NDManager m = manager.newSubManager()) {
                long c = shape[1];
                GroupNorm norm = new GroupNorm(groups, c, 1e-5f);
                norm.namedParameters().get("weight").set(m.randomUniform(0.9f, 1.1f, new Shape(c)));
                norm.namedParameters().get("bias").set(m.randomUniform(-0.1f, 0.1f, new Shape(c)));
                NDArray x = m.randomNormal(new Shape(shape));
                List<Long> fused = new ArrayList<>();
                List<Long> composed = new ArrayList<>();
                float diff = 0;
                for (int r = 0; r < reps; r++) {
                    long t0 = System.nanoTime();
                    NDArray a = norm.forward(x);
                    long t1 = System.nanoTime();
                    NDArray b = composedGroupNorm(x, groups, norm);
                    long t2 = System.nanoTime();
                    fused.add(t1 - t0);
                    composed.add(t2 - t1);
                    diff = Math.max(diff, a.sub(b).abs().max().getFloat());
                }
                Collections.sort(fused);
                Collections.sort(composed);
                double f = fused.get(reps / 2) / 1e6;
                double k = composed.get(reps / 2) / 1e6;
                System.out.printf(Locale.ROOT, "  %-22s fused %7.2f ms  composed %7.2f ms  ×%.2f faster  max |Δ| %.2e%n",
                        new Shape(shape), f, k, k / f, diff);
            }
        }
    }

    private static NDArray composedGroupNorm(NDArray x, int groups, GroupNorm norm) {
        long[] shape = x.getShape().getShape();
        NDArray grouped = x.reshape(shape[0], groups, -1);
        NDArray mean = grouped.mean(new int[] {2}, true);
        NDArray centered = grouped.sub(mean);
        NDArray var = centered.square().mean(new int[] {2}, true);
        NDArray normed = centered.divi(var.addi(1e-5f).sqrt()).reshape(shape);
        Shape affine = new Shape(1, shape[1], 1, 1);
        return normed.muli(norm.namedParameters().get("weight").get().reshape(affine))
                .addi(norm.namedParameters().get("bias").get().reshape(affine));
    }

    private static List<Long> longs(String csv) {
        List<Long> out = new ArrayList<>();
        if (csv != null) {
            for (String p : csv.split(",")) {
                out.add(Long.parseLong(p.trim()));
            }
        }
        return out;
    }

    private static Path configFile(Path file) throws IOException {
        JsonObject o = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
        if (!o.has("config")) {
            return file;
        }
        Path tmp = Files.createTempFile("unet-config", ".json");
        tmp.toFile().deleteOnExit();
        Files.writeString(tmp, o.getAsJsonObject("config").toString(), StandardCharsets.UTF_8);
        return tmp;
    }

    /** Uniform ±1/√fan-in for weights (activations stay of order one through the depth), 1 ± 0.1 for norm gains. */
    private static long fillRandom(UNet2DCondition unet, NDManager manager) {
        long count = 0;
        for (Map.Entry<String, Parameter> e : unet.namedParameters().entrySet()) {
            long[] shape = e.getValue().shape();
            Shape s = new Shape(shape);
            NDArray v;
            if (shape.length >= 2) {
                float bound = (float) (1.0 / Math.sqrt(s.size() / shape[0]));
                v = manager.randomUniform(-bound, bound, s);
            } else if (e.getKey().contains("norm") && e.getKey().endsWith("weight")) {
                v = manager.randomUniform(0.9f, 1.1f, s);
            } else {
                v = manager.randomUniform(-0.02f, 0.02f, s);
            }
            e.getValue().set(v);
            count += s.size();
        }
        return count;
    }

    /** One pass: total, per top-level block (from the probe's call times) and per kind of work. */
    private static Map<String, Long> timedPass(UNet2DCondition unet, NDArray sample, NDArray context) {
        Map<String, Long> t = new LinkedHashMap<>();
        long[] last = new long[1];
        PassTimings.start();
        long start = System.nanoTime();
        last[0] = start;
        try (NDArray out = unet.forward(sample, 500f, context, (name, value) -> {
            String block = blockOf(name);
            if (block != null) {
                long now = System.nanoTime();
                t.merge("block " + block, now - last[0], Long::sum);
                last[0] = now;
            }
        })) {
            t.put("total", System.nanoTime() - start);
            float check = out.sum().getFloat();
            if (!Float.isFinite(check)) {
                throw new IllegalStateException("UNet output is not finite");
            }
        }
        Map<String, Long> parts = PassTimings.stop();
        long sum = 0;
        for (Map.Entry<String, Long> e : parts.entrySet()) {
            t.put("part " + e.getKey(), e.getValue());
            sum += e.getValue();
        }
        t.put("part rest (conv_in/out, time embedding, down/up-samplers, skips)", t.get("total") - sum);
        return t;
    }

    /** Groups probe names into the blocks a pass runs through; the time up to a probe is that block's. */
    private static String blockOf(String probe) {
        if (probe.equals("time_embedding") || probe.equals("conv_in")) {
            return "stem (time embedding, conv_in)";
        }
        if (probe.startsWith("down_blocks.") && probe.endsWith(".hidden_states")) {
            return probe.substring(0, probe.indexOf('.', "down_blocks.".length()));
        }
        if (probe.equals("mid_block") || probe.startsWith("up_blocks.")) {
            return probe;
        }
        if (probe.equals("conv_out")) {
            return "head (conv_norm_out, conv_out)";
        }
        return null;
    }

    private static void report(Map<String, List<Map<String, Long>>> runs) {
        String first = runs.keySet().iterator().next();
        double base = median(runs.get(first), "total");
        System.out.println();
        System.out.println("== seconds per UNet pass (median), ratio to " + first);
        for (Map.Entry<String, List<Map<String, Long>>> e : runs.entrySet()) {
            double m = median(e.getValue(), "total");
            System.out.printf(Locale.ROOT, "  %-26s %7.2f s  ×%.2f  (passes: %s)%n", e.getKey(), m / 1e9, m / base, passList(e.getValue()));
        }
        for (Map.Entry<String, List<Map<String, Long>>> e : runs.entrySet()) {
            List<Map<String, Long>> list = e.getValue();
            double total = median(list, "total");
            System.out.println();
            System.out.println("== breakdown, " + e.getKey() + " (median seconds, share of the median pass)");
            for (String key : list.get(0).keySet()) {
                if (key.equals("total")) {
                    continue;
                }
                double m = median(list, key);
                System.out.printf(Locale.ROOT, "  %-80s %7.2f s  %5.1f %%%n", key, m / 1e9, 100 * m / total);
            }
        }
    }

    private static String passList(List<Map<String, Long>> list) {
        List<String> s = new ArrayList<>();
        for (Map<String, Long> m : list) {
            s.add(String.format(Locale.ROOT, "%.2f", m.get("total") / 1e9));
        }
        return String.join(" ", s);
    }

    private static double median(List<Map<String, Long>> list, String key) {
        List<Long> v = new ArrayList<>();
        for (Map<String, Long> m : list) {
            v.add(m.getOrDefault(key, 0L));
        }
        Collections.sort(v);
        int n = v.size();
        return n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2.0;
    }

    private static double procStatusGiB(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / (1024.0 * 1024.0);
            }
        }
        return Double.NaN;
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
