package io.github.ssrencoder.imagej.ij1;

import static io.github.ssrencoder.imagej.GenerateFromSubjectCommandTest.assertMaskEquals;
import static io.github.ssrencoder.imagej.GenerateFromSubjectCommandTest.reference;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.gui.OvalRoi;
import io.github.ssrencoder.imagej.SsrRuns;
import io.github.ssrencoder.imagej.SsrTestContext;
import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.SubjectQuery;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SsrIj1PluginTest {

    private final SsrTestContext ctx = new SsrTestContext();

    @AfterEach
    void close() {
        ctx.close();
    }

    @Test
    void optionsParseBracketsBareFlagsAndPlainValues() {
        MacroOptions o = MacroOptions.parse("query=[red mug] prompt=[a red mug on a beach] negative_prompt=[] scale=0.5 "
                + "use_roi mask_weight=2 overlay=false models=[/data/my models]");
        assertEquals("red mug", o.string("query", ""));
        assertEquals("a red mug on a beach", o.string("prompt", ""));
        assertEquals("", o.string("negative_prompt", "x"));
        assertEquals(0.5, o.number("scale", 1));
        assertEquals(2.0, o.number("mask_weight", 1), "mask_weight is not confused with another key");
        assertTrue(o.flag("use_roi"));
        assertFalse(o.flag("overlay"));
        assertFalse(o.flag("absent"));
        assertEquals("/data/my models", o.string("models", ""));
        var bad = assertThrows(IllegalArgumentException.class, () -> MacroOptions.parse("steps=many").integer("steps", 1));
        assertEquals("steps must be a number, got 'many'", bad.getMessage());
        var open = assertThrows(IllegalArgumentException.class, () -> MacroOptions.parse("query=[red mug"));
        assertTrue(open.getMessage().contains("without a closing ']'"));
    }

    @Test
    void designMacroCallBecomesTheSameRequestAsTheCommand() {
        ImagePlus imp = reference(40, 30);
        OvalRoi oval = new OvalRoi(5, 5, 20, 14);
        imp.setRoi(oval);
        String options = "query=[red mug] prompt=[a red mug on a beach] negative_prompt=[] scale=0.5 guidance=7.5 "
                + "steps=30 scheduler=unipc width=512 height=512 seed=42 images=1 use_roi=true mask_weight=1 models=["
                + Golden.tinyA() + "]";
        SsrRuns.Outputs out = SsrIj1Plugin.run("generate", MacroOptions.parse(options), ctx.service, imp);

        GenerationRequest r = ctx.fake.requests.get(0);
        assertEquals("a red mug on a beach", r.prompt());
        assertEquals("", r.negativePrompt());
        assertEquals(0.5, r.scale());
        assertEquals(30, r.steps());
        assertEquals(512, r.width());
        assertEquals(42L, r.seed());
        SubjectQuery q = r.subjects().get(0);
        assertEquals("red mug", q.text());
        assertMaskEquals(oval, 40, 30, q.mask());
        assertEquals("SSR - a red mug on a beach", out.result().getTitle());
        assertEquals("SSR attention - red mug", out.attention().getTitle());
        assertEquals(1, r.cacheInterval(), "no feature caching unless asked");
        assertNull(out.result().getProp("cache_interval"));
    }

    @Test
    void cacheIntervalKeyReachesTheRequestAndTheInfo() {
        ImagePlus imp = reference(16, 16);
        SsrRuns.Outputs out = SsrIj1Plugin.run("generate", MacroOptions.parse("query=[mug] prompt=[a mug] steps=6 width=16 "
                + "height=16 seed=1 cache_interval=3 models=[" + Golden.tinyA() + "]"), ctx.service, imp);
        assertEquals(3, ctx.fake.requests.get(0).cacheInterval());
        assertEquals("3", out.result().getProp("cache_interval"));
        var bad = assertThrows(IllegalArgumentException.class, () -> SsrIj1Plugin.parameters(MacroOptions.parse("cache_interval=0")));
        assertTrue(bad.getMessage().startsWith("cache_interval must be between 1 (off) and 1000"), bad.getMessage());
    }

    @Test
    void attentionMultiSettingsAndUnloadEntriesWork() {
        ImagePlus imp = reference(16, 16);
        SsrRuns.Outputs att = SsrIj1Plugin.run("attention", MacroOptions.parse("query=[a cat] overlay"), ctx.service, imp);
        assertEquals(3, att.attention().getStackSize());
        assertEquals("SSR attention overlay - a cat", att.overlay().getTitle());
        assertNull(ctx.fake.attentionQueries.get(0).mask(), "use_roi absent = off, as an unchecked ImageJ checkbox");

        OvalRoi dog = new OvalRoi(1, 1, 8, 8);
        dog.setName("dog");
        imp.setOverlay(new ij.gui.Overlay(dog));
        SsrRuns.Outputs multi = SsrIj1Plugin.run("multi", MacroOptions.parse("prompt=[two] steps=2 width=16 height=16 "
                + "seed=3 scales=[0.7]"), ctx.service, imp);
        assertEquals(0.7, ctx.fake.requests.get(0).subjects().get(0).weight());
        assertEquals(1, multi.result().getStackSize());

        SsrIj1Plugin.run("settings", MacroOptions.parse("models=[" + Golden.tinyA() + "] device=GPU threads=4"), ctx.service, null);
        assertEquals(DeviceChoice.GPU, ctx.service.settings().device());
        assertEquals(4, ctx.service.settings().threads());
        assertFalse(ctx.service.settings().lowMemory(), "an unticked checkbox is left out of the options");
        SsrIj1Plugin.run("settings", MacroOptions.parse("models=[" + Golden.tinyA() + "] low_memory"), ctx.service, null);
        assertTrue(ctx.service.settings().lowMemory());
        SsrIj1Plugin.run("unload", MacroOptions.parse(""), ctx.service, null);
        assertFalse(ctx.service.isLoaded());
    }

    @Test
    void settingsTakeMpsAndALibtorchFolder(@TempDir Path dir) throws IOException {
        Path lib = Files.createDirectories(dir.resolve("libtorch").resolve("lib"));
        Files.createFile(lib.resolve(System.mapLibraryName("torch"))); // never loaded: only stored
        SsrIj1Plugin.run("settings", MacroOptions.parse("models=[" + Golden.tinyA() + "] device=mps threads=0 libtorch=["
                + lib + "]"), ctx.service, null);
        assertEquals(DeviceChoice.MPS, ctx.service.settings().device());
        assertEquals(lib.toAbsolutePath().normalize(), ctx.service.settings().libtorch());
        var bad = assertThrows(IllegalArgumentException.class, () -> SsrIj1Plugin.run("settings",
                MacroOptions.parse("libtorch=[" + dir + "]"), ctx.service, null));
        assertTrue(bad.getMessage().startsWith("no libtorch in " + dir.toAbsolutePath().normalize()), bad.getMessage());
        SsrIj1Plugin.run("settings", MacroOptions.parse("threads=1"), ctx.service, null);
        assertEquals(lib.toAbsolutePath().normalize(), ctx.service.settings().libtorch(), "kept when not given");
        SsrIj1Plugin.run("settings", MacroOptions.parse("libtorch=[]"), ctx.service, null);
        assertNull(ctx.service.settings().libtorch());
    }

    @Test
    void settingsTakeACheckpointWithItsEmaChoice() {
        Path ckpt = Golden.tinyA().resolve("single-file/model-ema.ckpt");
        SsrIj1Plugin.run("settings", MacroOptions.parse("models=[" + Golden.tinyA() + "] checkpoint=[" + ckpt + "] ema"),
                ctx.service, null);
        assertEquals(ckpt.toAbsolutePath().normalize(), ctx.service.settings().checkpoint());
        assertTrue(ctx.service.settings().ema());
        SsrIj1Plugin.run("settings", MacroOptions.parse("threads=0"), ctx.service, null);
        assertEquals(ckpt.toAbsolutePath().normalize(), ctx.service.settings().checkpoint(), "kept when not given");
        assertFalse(ctx.service.settings().ema(), "a checkbox key left out is off, as ImageJ records it");
        var bad = assertThrows(IllegalArgumentException.class, () -> SsrIj1Plugin.run("settings",
                MacroOptions.parse("checkpoint=[] ema"), ctx.service, null));
        assertTrue(bad.getMessage().startsWith("EMA weights need a checkpoint file"), bad.getMessage());
        SsrIj1Plugin.run("settings", MacroOptions.parse("checkpoint=[]"), ctx.service, null);
        assertNull(ctx.service.settings().checkpoint());
    }

    @Test
    void noImageAndUnknownEntryGiveMessages() {
        var none = assertThrows(IllegalArgumentException.class,
                () -> SsrIj1Plugin.run("generate", MacroOptions.parse("query=dog"), ctx.service, null));
        assertEquals("no image open: open the reference image first", none.getMessage());
        var unknown = assertThrows(IllegalArgumentException.class,
                () -> SsrIj1Plugin.run("paint", MacroOptions.parse(""), ctx.service, null));
        assertTrue(unknown.getMessage().startsWith("unknown SSR-Encoder entry 'paint'"));
    }
}
