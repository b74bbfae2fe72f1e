package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.Lora;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.scijava.command.CommandModule;

/**
 * The single-file checkpoint (with its EMA choice) as a setting, and LoRAs per run ({@code lora=[file:weight;…]}),
 * from the Fiji commands to what the generator is opened with and asked for.
 */
class CheckpointAndLoraInFijiTest {

    private static final Path CHECKPOINT = Golden.tinyA().resolve("single-file/model-ema.ckpt");
    private static final Path LORA_A = Golden.tinyA().resolve("lora/lora_a_kohya.safetensors");
    private static final Path LORA_B = Golden.tinyA().resolve("lora/lora_b_diffusers.safetensors");

    private final SsrTestContext ctx = new SsrTestContext();
    private final List<SsrSettings> opened = new CopyOnWriteArrayList<>();

    CheckpointAndLoraInFijiTest() {
        ctx.service.setGeneratorFactory((root, settings) -> {
            opened.add(settings);
            return ctx.fake;
        });
    }

    @AfterEach
    void close() {
        ctx.close();
    }

    @Test
    void checkpointAndEmaAreStoredAndTheModelsReopenWithThem() {
        CommandModule m = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "checkpoint", CHECKPOINT.toFile(),
                "ema", true);
        assertFalse(m.isCanceled(), m.getCancelReason());
        SsrSettings s = ctx.service.settings();
        assertEquals(CHECKPOINT.toAbsolutePath().normalize(), s.checkpoint());
        assertTrue(s.ema());

        Path models = ctx.service.modelsFor("");
        ctx.service.withGenerator(models, g -> null);
        assertEquals(CHECKPOINT.toAbsolutePath().normalize(), opened.get(0).checkpoint());
        assertTrue(opened.get(0).ema());

        CommandModule regular = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "ema", false);
        assertFalse(regular.isCanceled(), regular.getCancelReason());
        assertEquals(CHECKPOINT.toAbsolutePath().normalize(), ctx.service.settings().checkpoint(), "checkpoint not given: kept");
        ctx.service.withGenerator(models, g -> null);
        assertEquals(2, opened.size(), "other weights: the models are reopened");
        assertFalse(opened.get(1).ema());

        CommandModule none = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "checkpoint", "");
        assertFalse(none.isCanceled(), none.getCancelReason());
        assertNull(ctx.service.settings().checkpoint(), "an empty file name means the models folder's own sd/");
    }

    @Test
    void emaWithoutCheckpointAndAMissingCheckpointAreRefusedAndNothingIsStored() {
        CommandModule ema = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "ema", true);
        assertTrue(ema.isCanceled());
        assertTrue(ema.getCancelReason().contains("EMA weights need a checkpoint file"), ema.getCancelReason());

        Path missing = Golden.tinyA().resolve("single-file/nope.safetensors");
        CommandModule absent = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "checkpoint", missing.toFile());
        assertTrue(absent.isCanceled());
        assertTrue(absent.getCancelReason().contains("nope.safetensors"), absent.getCancelReason());
        assertNull(ctx.service.settings().checkpoint());
        assertFalse(ctx.service.settings().ema());
    }

    @Test
    void loraKeyReachesTheRequestAndTheResultsParameters() {
        ImagePlus ref = GenerateFromSubjectCommandTest.reference(32, 32);
        String lora = LORA_A + ":0.8;" + LORA_B;
        CommandModule m = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red disc", "prompt", "x",
                "steps", 2, "width", 32, "height", 32, "seed", 3L, "images", 1, "use_roi", false, "framing", "center-crop",
                "lora", lora);
        assertFalse(m.isCanceled(), m.getCancelReason());
        GenerationRequest request = ctx.fake.requests.get(0);
        assertEquals(List.of(new Lora(LORA_A, 0.8), new Lora(LORA_B, 1.0)), request.loras());
        ImagePlus result = (ImagePlus) m.getOutput("result");
        assertEquals(lora, result.getProp("lora"));
        assertTrue(result.getInfoProperty().contains(lora), result.getInfoProperty());

        CommandModule missing = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red disc", "prompt", "x",
                "steps", 2, "width", 32, "height", 32, "use_roi", false, "lora", LORA_A.resolveSibling("none.safetensors") + ":0.5");
        assertTrue(missing.isCanceled());
        assertTrue(missing.getCancelReason().contains("LoRA file " + LORA_A.resolveSibling("none.safetensors").toAbsolutePath().normalize()
                + " not found"), missing.getCancelReason());
        assertEquals(1, ctx.fake.requests.size(), "nothing generated for the bad request");
    }
}
