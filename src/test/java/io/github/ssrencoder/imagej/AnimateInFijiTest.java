package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import ij.io.Opener;
import io.github.ssrencoder.cli.SsrCli;
import io.github.ssrencoder.imagej.ij1.MacroOptions;
import io.github.ssrencoder.imagej.ij1.SsrIj1Plugin;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.SsrPipeline;
import io.github.ssrencoder.testing.Golden;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.scijava.command.CommandModule;

/** Clips (AnimateDiff) from the Fiji commands: a hyperstack on the time axis, the same frames as the command line. */
class AnimateInFijiTest {

    private final SsrTestContext ctx = new SsrTestContext();

    @AfterEach
    void close() {
        ctx.close();
    }

    private static Path adapter() {
        return Golden.tinyA().resolve("motion_adapter").toAbsolutePath().normalize();
    }

    @Test
    void fijiClipIsAHyperstackWithTheCommandLinesFrames(@TempDir Path tmp) {
        Path a = Golden.tinyA();
        ctx.service.setGeneratorFactory((root, s) -> SsrPipeline.open(root, s.checkpoint(), s.ema(), s.device(), s.threads(),
                ProgressListener.NONE));
        ImagePlus ref = IJ.openImage(a.resolve("reference.png").toString());
        CommandModule m = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red circle",
                "prompt", "a red circle on a table", "negative_prompt", "", "scale", 0.5, "guidance", 7.5, "steps", 2,
                "scheduler", "ddim", "width", 64, "height", 48, "seed", 42L, "images", 1, "use_roi", false,
                "mask_weight", 1.0, "framing", "center-crop", "frames", 3, "motion_adapter", adapter().toString(),
                "frame_interval", 0.2);
        assertFalse(m.isCanceled(), m.getCancelReason());
        ImagePlus fiji = (ImagePlus) m.getOutput("result");
        assertEquals(3, fiji.getNFrames());
        assertEquals(1, fiji.getNSlices());
        assertEquals(1, fiji.getNChannels());
        assertEquals(0.2, fiji.getCalibration().frameInterval, 1e-12);
        assertEquals("sec", fiji.getCalibration().getTimeUnit());
        String info = (String) fiji.getProperty("Info");
        assertTrue(info.contains("frames = 3") && info.contains("motion_adapter = " + adapter()) && info.contains("seed = 42"), info);

        Path out = tmp.resolve("clip.tif");
        StringWriter err = new StringWriter();
        int code = SsrCli.execute(new String[] {"generate", "--models", a.toString(), "--image", a.resolve("reference.png").toString(),
                "--query", "red circle", "--prompt", "a red circle on a table", "--negative-prompt", "", "--scale", "0.5",
                "--guidance", "7.5", "--steps", "2", "--scheduler", "ddim", "--width", "64", "--height", "48", "--seed", "42",
                "--motion-adapter", adapter().toString(), "--frames", "3", "--output", out.toString()},
                new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
        assertEquals(0, code, err.toString());
        ImagePlus cli = new Opener().openImage(out.toString());
        assertEquals(3, cli.getNFrames());
        for (int k = 1; k <= 3; k++) {
            assertArrayEquals(rgb((int[]) cli.getStack().getProcessor(k).getPixels()), rgb((int[]) fiji.getStack().getProcessor(k).getPixels()),
                    "frame " + k + ": same seed, the Fiji command and the CLI give the same pixels");
        }
    }

    @Test
    void settingsMotionAdapterServesClipsAndFramesZeroMeansImages() {
        ImagePlus ref = GenerateFromSubjectCommandTest.reference(32, 32);
        CommandModule missing = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red disc", "prompt", "x",
                "steps", 1, "width", 32, "height", 32, "seed", 3L, "images", 1, "use_roi", false, "framing", "center-crop",
                "frames", 4);
        assertTrue(missing.isCanceled());
        assertTrue(missing.getCancelReason().contains("motion adapter") && missing.getCancelReason().contains("Settings"),
                missing.getCancelReason());
        assertTrue(ctx.fake.requests.isEmpty());

        ctx.service.saveSettings(ctx.service.settings().withMotionAdapter(adapter()));
        CommandModule clip = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red disc", "prompt", "x",
                "steps", 1, "width", 32, "height", 32, "seed", 3L, "images", 1, "use_roi", false, "framing", "center-crop",
                "frames", 4);
        assertFalse(clip.isCanceled(), clip.getCancelReason());
        GenerationRequest request = ctx.fake.requests.get(0);
        assertEquals(4, request.animation().frames());
        assertEquals(adapter(), request.animation().motionAdapter());

        CommandModule images = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red disc", "prompt", "x",
                "steps", 1, "width", 32, "height", 32, "seed", 3L, "images", 1, "use_roi", false, "framing", "center-crop",
                "frames", 0);
        assertFalse(images.isCanceled(), images.getCancelReason());
        assertNull(ctx.fake.requests.get(1).animation());
    }

    @Test
    void macroKeysNameFramesAndTheMotionAdapter() {
        ClipInput c = SsrIj1Plugin.clip(MacroOptions.parse("frames=8 motion_adapter=[" + adapter() + "] frame_interval=0.5"));
        assertEquals(new ClipInput(8, adapter().toString(), 0.5), c);
        assertNull(SsrIj1Plugin.clip(MacroOptions.parse("prompt=x")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipInput.of(2, "/no/such/adapter", 0.1).toAnimation(SsrSettings.defaults()));
        assertTrue(e.getMessage().contains("/no/such/adapter"), e.getMessage());
    }

    private static int[] rgb(int[] argb) {
        int[] out = new int[argb.length];
        for (int i = 0; i < argb.length; i++) {
            out[i] = argb[i] & 0xffffff;
        }
        return out;
    }
}
