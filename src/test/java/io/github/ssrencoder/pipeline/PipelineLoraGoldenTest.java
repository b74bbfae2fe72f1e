package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code pipeline_lora_ddim}: the official SSR {@code generate} after {@code load_lora_weights} +
 * {@code fuse_lora(0.7)} of LoRA a, and {@code pipeline_lcm}: LoRA a fused at 1.0 with the LCM scheduler, through
 * the Java API. Tolerances of the golden README: {@code latents_final} abs 5e-04 (observed float32-vs-float64
 * 1.6e-05 for both; for LCM, whose latents reach 42, that is a relative 1.2e-05), the PNG within ±1 per channel.
 */
class PipelineLoraGoldenTest {

    private static final Path LORA_A = Golden.tinyA().resolve("lora/lora_a_kohya.safetensors");

    private static SsrPipeline pipeline;

    @BeforeAll
    static void open() {
        pipeline = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0);
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    private static GenerationRequest request(String caseName, List<Lora> loras) {
        SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
        return PipelineGoldenTest.request(caseName, List.of(q), "a red circle on a table", 0.5, "ddim").withLoras(loras);
    }

    /** Records the stages a run reports. */
    private static final class Stages implements ProgressListener {
        final List<String> seen = new ArrayList<>();

        @Override
        public void stage(String message) {
            seen.add(message);
        }
    }

    @Test
    void fusedKohyaLoraMatchesOfficialGenerateAndIsRemovedAfterwards() {
        List<Lora> loras = List.of(new Lora(LORA_A, 0.7));
        GenerationResult result = pipeline.generate(request("pipeline_lora_ddim", loras), ProgressListener.NONE);
        PipelineGoldenTest.assertMatches("pipeline_lora_ddim", result);
        assertEquals(LORA_A.toAbsolutePath().normalize() + ":0.7", result.parameters().get("loras"));

        Stages again = new Stages();
        PipelineGoldenTest.assertMatches("pipeline_lora_ddim", pipeline.generate(request("pipeline_lora_ddim", loras), again));
        assertTrue(again.seen.stream().noneMatch(s -> s.contains("LoRA")), "the same LoRAs are not fused again: " + again.seen);

        long fused = pipeline.liveModelArrays();
        GenerationResult plain = pipeline.generate(request("pipeline_t2i_ddim", List.of()), ProgressListener.NONE);
        PipelineGoldenTest.assertMatches("pipeline_t2i_ddim", plain);
        assertTrue(!plain.parameters().containsKey("loras"));
        pipeline.generate(request("pipeline_lora_ddim", loras), ProgressListener.NONE);
        assertEquals(fused, pipeline.liveModelArrays(), "switching LoRAs leaves no arrays behind");
    }

    @Test
    void lcmWithTheLoraFusedAtOneMatchesOfficialGenerate() {
        SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
        GenerationRequest r = new GenerationRequest(List.of(q), "a red circle on a table", "", 0.5, 1.5, 4, "lcm", 64, 64,
                1304L, PipelineGoldenTest.latentsInit("pipeline_lcm"), 1, List.of(new Lora(LORA_A, 1.0)));
        PipelineGoldenTest.assertMatches("pipeline_lcm", pipeline.generate(r, ProgressListener.NONE));
    }

    @Test
    void aLoraForOtherModelsIsRefusedAndNothingChanges() {
        Path sdxlLike = Golden.tinyA().resolve("sd/unet/diffusion_pytorch_model.safetensors");
        WeightFileException e = assertThrows(WeightFileException.class, () -> pipeline.generate(
                request("pipeline_t2i_ddim", List.of(new Lora(LORA_A, 0.7), new Lora(sdxlLike, 1.0))), ProgressListener.NONE));
        assertTrue(e.getMessage().startsWith(sdxlLike.toString()), e.getMessage());
        PipelineGoldenTest.assertMatches("pipeline_t2i_ddim",
                pipeline.generate(request("pipeline_t2i_ddim", List.of()), ProgressListener.NONE));
    }
}
