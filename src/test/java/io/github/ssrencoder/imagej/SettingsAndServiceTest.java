package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.testing.Golden;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.scijava.command.CommandModule;
import org.scijava.prefs.PrefService;

class SettingsAndServiceTest {

    private final SsrTestContext ctx = new SsrTestContext();

    @AfterEach
    void close() {
        ctx.close();
    }

    @Test
    void settingsAreValidatedAndStored() {
        ctx.service.saveSettings(SsrSettings.defaults());
        CommandModule m = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "device", "GPU", "threads", 3);
        assertFalse(m.isCanceled(), m.getCancelReason());
        SsrSettings s = ctx.service.settings();
        assertEquals(Golden.tinyA().toAbsolutePath().normalize(), s.models());
        assertEquals(DeviceChoice.GPU, s.device());
        assertEquals(3, s.threads());
    }

    @Test
    void libtorchFolderIsValidatedStoredKeptAndCleared(@TempDir Path dir) throws IOException {
        Path lib = Files.createDirectories(dir.resolve("torch").resolve("lib"));
        Files.createFile(lib.resolve(System.mapLibraryName("torch"))); // never loaded: the engine is not pointed here
        CommandModule m = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "device", "MPS", "threads", 0,
                "libtorch", lib.toFile());
        assertFalse(m.isCanceled(), m.getCancelReason());
        SsrSettings s = ctx.service.settings();
        assertEquals(lib.toAbsolutePath().normalize(), s.libtorch());
        assertEquals(DeviceChoice.MPS, s.device());
        PrefService prefs = ctx.context.service(PrefService.class);
        assertEquals("mps", prefs.get(SsrService.class, "device", ""));
        assertEquals(lib.toAbsolutePath().normalize().toString(), prefs.get(SsrService.class, "libtorch", ""));

        CommandModule again = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "threads", 2);
        assertFalse(again.isCanceled(), again.getCancelReason());
        assertEquals(new SsrSettings(s.models(), DeviceChoice.MPS, 2, s.libtorch()), ctx.service.settings(),
                "device and libtorch not given: the stored ones stay");

        CommandModule bad = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "libtorch", dir.toFile());
        assertTrue(bad.isCanceled());
        assertTrue(bad.getCancelReason().contains("no libtorch in " + dir.toAbsolutePath().normalize() + ": expected "
                + System.mapLibraryName("torch")), bad.getCancelReason());
        assertEquals(s.libtorch(), ctx.service.settings().libtorch(), "the previous libtorch folder stays");

        CommandModule cleared = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "libtorch", "");
        assertFalse(cleared.isCanceled(), cleared.getCancelReason());
        assertNull(ctx.service.settings().libtorch(), "an empty folder name means the bundled libtorch");
        assertEquals("", prefs.get(SsrService.class, "libtorch", "x"));
    }

    @Test
    void changingOnlyTheLibtorchFolderKeepsTheLoadedModels(@TempDir Path dir) throws IOException {
        Path models = ctx.service.modelsFor("");
        ctx.service.withGenerator(models, g -> null);
        SsrSettings s = ctx.service.settings();
        ctx.service.saveSettings(s.withLibtorch(dir));
        ctx.service.withGenerator(models, g -> null);
        assertEquals(1, ctx.opened.get(), "libtorch changes only when the engine next starts: no reload");
        assertNull(System.getProperty("PYTORCH_LIBRARY_PATH"), "a fake generator leaves the engine alone");
    }

    @Test
    void lowMemoryIsStoredAndSwitchedOnTheLoadedModelsWithoutReloading() {
        Path models = ctx.service.modelsFor("");
        ctx.service.withGenerator(models, g -> null);
        CommandModule on = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "low_memory", true);
        assertFalse(on.isCanceled(), on.getCancelReason());
        assertTrue(ctx.service.settings().lowMemory());
        assertTrue(ctx.context.service(PrefService.class).getBoolean(SsrService.class, "low_memory", false));
        ctx.service.withGenerator(models, g -> null);
        assertEquals(Boolean.TRUE, ctx.fake.lowMemory);
        CommandModule kept = ctx.run(SettingsCommand.class, "models", Golden.tinyA().toFile(), "threads", 0);
        assertFalse(kept.isCanceled(), kept.getCancelReason());
        assertTrue(ctx.service.settings().lowMemory(), "not given: the stored value stays");
        ctx.service.saveSettings(ctx.service.settings().withLowMemory(false));
        ctx.service.withGenerator(models, g -> null);
        assertEquals(Boolean.FALSE, ctx.fake.lowMemory);
        assertEquals(1, ctx.opened.get(), "switched on the loaded models, no reload");
    }

    @Test
    void invalidModelsFolderIsNotStoredAndTheMessageListsWhatIsMissing(@TempDir Path dir) {
        CommandModule m = ctx.run(SettingsCommand.class, "models", dir.toFile(), "device", "CPU", "threads", 0);
        assertTrue(m.isCanceled());
        assertTrue(m.getCancelReason().contains("missing sd/ (Stable Diffusion 1.5"), m.getCancelReason());
        assertTrue(m.getCancelReason().contains("pytorch_model_1.bin"), m.getCancelReason());
        assertEquals(Golden.tinyA(), ctx.service.settings().models(), "the previous folder stays");
        CommandModule absent = ctx.run(SettingsCommand.class, "models", new File(dir.toFile(), "nope"), "device", "CPU",
                "threads", 0);
        assertTrue(absent.getCancelReason().contains("folder not found"), absent.getCancelReason());
    }

    @Test
    void modelsAreLoadedOnceKeptAcrossRunsReloadedOnChangeAndUnloaded() {
        Path models = ctx.service.modelsFor("");
        GenerationRequest request = GenerationRequest.of(null, "x", 1);
        ctx.service.withGenerator(models, g -> g.generate(request, ProgressListener.NONE));
        ctx.service.withGenerator(models, g -> g.generate(request, ProgressListener.NONE));
        assertEquals(1, ctx.opened.get(), "loaded once");
        assertTrue(ctx.service.isLoaded());

        SsrSettings s = ctx.service.settings();
        ctx.service.saveSettings(new SsrSettings(s.models(), s.device(), 2));
        ctx.service.withGenerator(models, g -> null);
        assertEquals(2, ctx.opened.get(), "reloaded after the settings changed");
        assertEquals(1, ctx.fake.closed.get(), "the old models were closed");

        CommandModule m = ctx.run(UnloadModelsCommand.class);
        assertFalse(m.isCanceled());
        assertFalse(ctx.service.isLoaded());
        assertEquals(2, ctx.fake.closed.get());
    }

    @Test
    void concurrentRunsAreSerialised() throws Exception {
        ctx.fake.stepMillis = 5;
        Path models = ctx.service.modelsFor("");
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<Object>> runs = List.of(1, 2, 3).stream().map(i -> pool.submit(() -> (Object) ctx.service.withGenerator(
                    models, g -> g.generate(new GenerationRequest(List.of(), "p", "", 1, 7.5, 4, "unipc", 16, 16, (long) i,
                            null, 1), ProgressListener.NONE)))).toList();
            for (Future<Object> f : runs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(3, ctx.fake.requests.size());
        assertEquals(1, ctx.fake.maxRunning.get(), "never two generations at once");
        assertEquals(1, ctx.opened.get());
    }

    @Test
    void contextDisposalUnloads() {
        ctx.service.withGenerator(ctx.service.modelsFor(""), g -> null);
        ctx.context.dispose();
        assertEquals(1, ctx.fake.closed.get());
    }

    @Test
    void placeholderOrMissingPipelineIsAClearMessage() {
        ctx.service.setGeneratorFactory((root, settings) -> {
            throw new IllegalStateException("cannot start the PyTorch engine");
        });
        CommandModule m = ctx.run(ShowQueryAttentionCommand.class, "input", GenerateFromSubjectCommandTest.reference(8, 8),
                "query", "dog", "use_roi", false, "mask_weight", 1.0, "framing", "center-crop", "overlay", false, "models", "");
        assertEquals("SSR-Encoder: cannot start the PyTorch engine", m.getCancelReason());
        assertNull(m.getOutput("attention"));
    }
}
