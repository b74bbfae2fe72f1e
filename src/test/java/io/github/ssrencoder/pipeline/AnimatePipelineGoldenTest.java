package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.model.MotionAdapter;
import io.github.ssrencoder.model.SsrLayers;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.schedule.Scheduler;
import io.github.ssrencoder.schedule.SchedulerConfig;
import io.github.ssrencoder.schedule.Schedulers;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The official {@code generate_animate} (AnimateDiff with SSR, DDIM) through {@link SsrPipeline} and step by step. */
class AnimatePipelineGoldenTest {

    private static final String CASE = "pipeline_animate_ddim";
    private static SsrPipeline pipeline;

    @BeforeAll
    static void open() {
        pipeline = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0);
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    static Path adapter() {
        return Golden.tinyA().resolve("motion_adapter");
    }

    /** The case's request: its subject, prompt, scale 0.5, guidance 7.5, DDIM 4 steps, 64×64, its initial latents. */
    static GenerationRequest request(int frames) {
        SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
        return new GenerationRequest(List.of(q), "a red circle on a table", "", 0.5, 7.5, 4, "ddim", 64, 64, null, null, 1)
                .withAnimation(new Animation(adapter(), frames))
                .withInitLatents(PipelineGoldenTest.latentsInit(CASE));
    }

    /** Final latents within §8's pipeline tolerance (abs 5e-4) and every frame within ±1 of its golden PNG. */
    static void assertMatchesGolden(GenerationResult result) {
        try (SafetensorsFile f = Golden.caseTensors(CASE); NDManager m = NDManager.newBaseManager()) {
            NDArray expected = f.load("latents_final", m);
            Latents got = result.latents().get(0);
            NDArray actual = m.create(got.data(), new Shape(got.shape()));
            System.out.printf("%s latents_final max abs error %.3g%n", CASE, Golden.maxAbsDiff(expected.toFloatArray(), got.data()));
            Golden.assertClose(CASE + " latents_final", expected, actual, 5e-4);
        }
        int frames = (int) result.latents().get(0).shape()[2];
        assertEquals(frames, result.images().size());
        for (int k = 0; k < frames; k++) {
            PipelineGoldenTest.assertImageWithinOne(CASE + " frame " + k,
                    Golden.tinyA().resolve("cases").resolve(CASE + "_frame" + k + ".png"), result.images().get(k));
        }
    }

    @Test
    void clipMatchesOfficialGenerateAnimate() {
        List<int[]> steps = new ArrayList<>();
        GenerationResult result = pipeline.generate(request(6), new ProgressListener() {
            @Override
            public void step(int step, int total) {
                steps.add(new int[] {step, total});
            }
        });
        assertMatchesGolden(result);
        assertEquals(4, steps.size());
        assertEquals("6", result.parameters().get("frames"));
        assertEquals(adapter().toAbsolutePath().normalize().toString(), result.parameters().get("motion_adapter"));
    }

    @Test
    void everyDenoisingStepMatchesTheOfficialLoop() {
        try (NDManager weights = EngineRuntime.newManager(Device.cpu());
             SafetensorsFile f = Golden.caseTensors(CASE)) {
            UNet2DCondition unet = UNet2DCondition.load(Golden.tinyA().resolve("sd/unet"), weights);
            SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, weights);
            unet.setSsr(layers, 0.5f, 77);
            try (MotionAdapter motion = MotionAdapter.load(adapter(), unet.config(),
                    Golden.tinyA().resolve("sd/unet/config.json"), weights);
                 Scheduler ddim = Schedulers.create("ddim",
                         SchedulerConfig.read(Golden.tinyA().resolve("sd/scheduler/scheduler_config.json")))) {
                NDArray context = NDArrays.concat(new NDList(f.load("negative_prompt_embeds", weights), f.load("prompt_embeds", weights)), 0);
                ddim.setTimesteps(4);
                long[] expectedTimesteps = f.load("timesteps", weights).toLongArray();
                for (int i = 0; i < 4; i++) {
                    String step = "step" + i + ".";
                    assertEquals(expectedTimesteps[i], (long) ddim.timesteps()[i]);
                    NDArray eps = unet.forwardVideo(f.load(step + "unet_input", weights), ddim.timesteps()[i], context, motion, null);
                    Golden.assertClose(step + "noise_pred_uncond", f.load(step + "noise_pred_uncond", weights), eps.get("0:1"), 2e-5);
                    Golden.assertClose(step + "noise_pred_text", f.load(step + "noise_pred_text", weights), eps.get("1:2"), 2e-5);
                    NDArray guided = f.load(step + "noise_pred_guided", weights);
                    NDArray next = ddim.step(guided, i, f.load(step + "latents_in", weights), null);
                    Golden.assertClose(step + "latents_out", f.load(step + "latents_out", weights), next, 1e-4);
                }
            }
        }
    }

    @Test
    void moreFramesThanTheAdapterAllowsAreRefusedWithBothNumbers() {
        GenerationRequest tooLong = request(6).withInitLatents(null).withAnimation(new Animation(adapter(), 9));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> pipeline.generate(tooLong, ProgressListener.NONE));
        assertTrue(e.getMessage().contains("9 frames") && e.getMessage().contains("at most 8"), e.getMessage());
    }

    @Test
    void seededClipIsReproducibleAndItsFramesDiffer() {
        GenerationRequest seeded = new GenerationRequest(List.of(), "a red circle", "", 1, 7.5, 1, "ddim", 48, 40, 7L, null, 1)
                .withAnimation(new Animation(adapter(), 3));
        GenerationResult a = pipeline.generate(seeded, ProgressListener.NONE);
        GenerationResult b = pipeline.generate(seeded, ProgressListener.NONE);
        assertEquals(3, a.images().size());
        assertEquals(48, a.images().get(0).dimension(0));
        assertEquals(40, a.images().get(0).dimension(1));
        assertEquals(0, Golden.maxAbsDiff(a.latents().get(0).data(), b.latents().get(0).data()));
        long[] shape = a.latents().get(0).shape();
        assertEquals(List.of(1L, 4L, 3L, 5L, 6L), List.of(shape[0], shape[1], shape[2], shape[3], shape[4]));
        GenerationResult image = pipeline.generate(seeded.withAnimation(null), ProgressListener.NONE);
        assertEquals(1, image.images().size(), "the image path is unchanged after a clip");
    }

    @Test
    void cancellingAClipFreesEveryArrayOfTheRun() {
        GenerationRequest small = new GenerationRequest(List.of(), "a red circle", "", 1, 7.5, 1, "ddim", 32, 32, 5L, null, 1)
                .withAnimation(new Animation(adapter(), 2));
        pipeline.generate(small, ProgressListener.NONE);
        long loaded = pipeline.liveModelArrays();
        GenerationRequest longer = new GenerationRequest(List.of(), "a red circle", "", 1, 7.5, 3, "ddim", 32, 32, 5L, null, 1)
                .withAnimation(new Animation(adapter(), 2));
        java.util.concurrent.atomic.AtomicBoolean cancelled = new java.util.concurrent.atomic.AtomicBoolean();
        assertThrows(CancelledException.class, () -> pipeline.generate(longer, new ProgressListener() {
            @Override
            public void step(int step, int total) {
                cancelled.set(true);
            }

            @Override
            public boolean isCancelled() {
                return cancelled.get();
            }
        }));
        assertEquals(loaded, pipeline.liveModelArrays(), "arrays left after a cancelled clip");
    }

    @Test
    void clipRequestsAreValidated() {
        GenerationRequest r = request(6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> r.withAnimation(new Animation(adapter(), 5)));
        assertTrue(e.getMessage().contains("[1, C, 5, h, w]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Animation(adapter(), 0));
        assertThrows(IllegalArgumentException.class, () -> new GenerationRequest(List.of(), "x", "", 1, 7.5, 2, "ddim", 64, 64, 1L,
                null, 2).withAnimation(new Animation(adapter(), 4)));
    }
}
