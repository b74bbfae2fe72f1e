package io.github.ssrencoder.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.model.MotionAdapter;
import io.github.ssrencoder.model.MotionAdapterConfig;
import io.github.ssrencoder.model.SsrLayers;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.KeyValueCache;
import java.util.List;
import java.util.Locale;

/**
 * AnimateDiff figures: one guided, SSR-conditioned UNet step on a 16-frame 256² clip with the full-size motion
 * adapter (random weights), interleaved with 256² and 512² image steps so that the clip cost can be scaled to
 * 512² from ratios measured in the same run.
 */
final class BenchAnimate {

    /**
     * The {@code guoyww/animatediff-motion-adapter-v1-5-2} config as published for diffusers (SD1.5's channels, 2 motion
     * layers per block, a motion mid block, 8 heads, 32 groups, 32 frames); no manifest of it is stored with the golden
     * data, so these values are written out here rather than read from a file.
     */
    static final MotionAdapterConfig V1_5_2 = new MotionAdapterConfig(List.of(320, 640, 1280, 1280), 2, 1, 8, 32, 32, true);

    private static final int FRAMES = 16;
    private static final float TIMESTEP = 500f;

    private final BenchOptions opt;
    private final BenchReport report;
    private final Device device;

    BenchAnimate(BenchOptions opt, BenchReport report, Device device) {
        this.opt = opt;
        this.report = report;
        this.device = device;
    }

    void run() {
        try (NDManager weights = EngineRuntime.newManager(device)) {
            weights.getEngine().setRandomSeed(Long.hashCode(opt.seed()));
            long t0 = System.nanoTime();
            UNet2DCondition unet = RandomModules.unet(weights, opt.seed());
            SsrLayers ssr = RandomModules.ssrLayers(unet, weights, opt.seed() + 1);
            MotionAdapter motion = RandomModules.fill(new MotionAdapter(V1_5_2, unet.config(), unet.config().headsPerBlock(), false),
                    weights, opt.seed() + 2);
            motion.modules().values().forEach(m -> m.computePositions(weights));
            long motionParams = motion.namedParameters().values().stream().mapToLong(p -> Manifest.elements(p.shape())).sum();
            report.line(String.format(Locale.ROOT, "(UNet, SSR layers and motion adapter (%.0f M parameters): random float32 weights "
                    + "in %.1f s, RSS %.0f MiB)", motionParams / 1e6, (System.nanoTime() - t0) / 1e9, ProcMemory.rssMiB()));
            int textTokens = Manifest.read("sd15_text_encoder.json").config().get("max_position_embeddings").getAsInt();
            int tokens = textTokens + Bench.alignerScales() * textTokens;
            int f = Bench.vaeScaleFactor();
            unet.setSsr(ssr, 1f, textTokens);
            try (NDManager io = weights.newSubManager(); KeyValueCache cache = new KeyValueCache()) {
                long c = unet.config().inChannels();
                NDArray states = io.randomNormal(new Shape(2, tokens, unet.config().crossAttentionDim()));
                NDArray clip = io.randomNormal(new Shape(2, c, FRAMES, 256 / f, 256 / f));
                NDArray image256 = io.randomNormal(new Shape(2, c, 256 / f, 256 / f));
                NDArray image512 = io.randomNormal(new Shape(2, c, 512 / f, 512 / f));
                unet.setKeyValueCache(cache);
                boolean[] checked = {false};
                Runnable clipStep = () -> {
                    try (NDArray eps = unet.forwardVideo(clip, TIMESTEP, states, motion, null)) {
                        if (!checked[0]) {
                            checked[0] = true;
                            Bench.requireFinite("clip UNet output", eps);
                        }
                    }
                };
                Runnable step256 = () -> unet.forward(image256, TIMESTEP, states).close();
                Runnable step512 = () -> unet.forward(image512, TIMESTEP, states).close();
                List<Measurement> m = Measurement.interleaved(opt.warmup(), opt.repeats(), List.of(clipStep, step256, step512));
                unet.setKeyValueCache(null);
                report.figure("animate_step_16x256", String.format(Locale.ROOT,
                        "AnimateDiff step %d frames 256² CFG + SSR", FRAMES), m.get(0));
                report.figure("animate_image_step_256", "image step 256² CFG + SSR (same run)", m.get(1));
                report.figure("animate_image_step_512", "image step 512² CFG + SSR (same run)", m.get(2));
                double perFrame = m.get(0).median() / FRAMES / m.get(1).median();
                double scale512 = m.get(2).median() / m.get(1).median();
                double clip512 = m.get(0).median() * scale512;
                report.put("animate_frame_cost_vs_image_256", perFrame);
                report.put("animate_512_scale", scale512);
                report.put("animate_step_16x512_extrapolated_s", clip512);
                report.line(String.format(Locale.ROOT, "%-46s %9.3f", "clip step per frame / image step, 256²", perFrame));
                report.line(String.format(Locale.ROOT, "%-46s %9.3f", "image step 512² / 256²", scale512));
                report.line(String.format(Locale.ROOT, "%-46s %9.1f s per step, %.0f s for 30 steps (extrapolated, "
                        + "clip 256² × image 512²/256²)", "AnimateDiff 16 frames 512²", clip512, 30 * clip512));
            } finally {
                unet.clearSsr();
            }
        }
    }
}
