package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import ij.process.ByteProcessor;
import ij.process.LUT;
import io.github.ssrencoder.cli.SsrCli;
import io.github.ssrencoder.imagej.ij1.MacroOptions;
import io.github.ssrencoder.imagej.ij1.SsrIj1Plugin;
import io.github.ssrencoder.pipeline.Control;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.SsrPipeline;
import io.github.ssrencoder.testing.Golden;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import net.imglib2.Cursor;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.view.Views;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.scijava.command.CommandModule;

/** A control image from ImageJ (any open image, as displayed) guiding a ControlNet, from the Fiji commands. */
class ControlNetInFijiTest {

    private final SsrTestContext ctx = new SsrTestContext();

    @AfterEach
    void close() {
        ctx.close();
    }

    @Test
    void controlImageFolderAndScaleReachTheRequestAndTheInfo() {
        ImagePlus ref = GenerateFromSubjectCommandTest.reference(32, 32);
        ImagePlus labels = new ImagePlus("labels", new ByteProcessor(40, 24));
        labels.getProcessor().setColor(3);
        labels.getProcessor().fillRect(5, 5, 10, 10);
        labels.setLut(LUT.createLutFromColor(java.awt.Color.GREEN));
        labels.setDisplayRange(0, 3);
        Path net = Golden.tinyA().resolve("controlnet");
        CommandModule m = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red disc", "prompt", "x",
                "steps", 2, "width", 32, "height", 32, "seed", 3L, "images", 1, "use_roi", false, "framing", "center-crop",
                "control", labels, "controlnet", net.toString(), "control_scale", 0.6);
        assertFalse(m.isCanceled(), m.getCancelReason());
        GenerationRequest request = ctx.fake.requests.get(0);
        assertEquals(1, request.controls().size());
        Control c = request.controls().get(0);
        assertEquals(net.toAbsolutePath().normalize(), c.controlnet());
        assertEquals(0.6, c.scale());
        assertArrayEquals(new long[] {40, 24}, c.image().dimensionsAsLongArray());
        int inside = pixel(c, 7, 7);
        assertEquals(0xff00ff00, inside, "the label image as displayed: value 3 at the top of the green LUT");
        assertEquals(0xff000000, pixel(c, 30, 20));
        ImagePlus result = (ImagePlus) m.getOutput("result");
        assertEquals("labels", result.getProp("control"));
        assertEquals(net.toString(), result.getProp("controlnet"));
        assertEquals("0.6", result.getProp("control_scale"));

        CommandModule plain = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red disc", "prompt", "x",
                "steps", 2, "width", 32, "height", 32, "seed", 3L, "images", 1, "use_roi", false, "framing", "center-crop");
        assertFalse(plain.isCanceled(), plain.getCancelReason());
        assertTrue(ctx.fake.requests.get(1).controls().isEmpty());
        assertNull(((ImagePlus) plain.getOutput("result")).getProp("control"));
    }

    @Test
    void controlStartAndEndReachTheRequestAndTheInfoFromBothCommands() {
        ImagePlus ref = GenerateFromSubjectCommandTest.reference(32, 32);
        ImagePlus edges = new ImagePlus("edges", new ByteProcessor(32, 32));
        Path net = Golden.tinyA().resolve("controlnet");
        CommandModule single = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red disc", "prompt", "x",
                "steps", 2, "width", 32, "height", 32, "seed", 3L, "images", 1, "use_roi", false, "framing", "center-crop",
                "control", edges, "controlnet", net.toString(), "control_start", 0.25, "control_end", 0.75);
        assertFalse(single.isCanceled(), single.getCancelReason());
        Control c = ctx.fake.requests.get(0).controls().get(0);
        assertEquals(0.25, c.start());
        assertEquals(0.75, c.end());
        ImagePlus result = (ImagePlus) single.getOutput("result");
        assertEquals("0.25", result.getProp("control_start"));
        assertEquals("0.75", result.getProp("control_end"));

        ij.gui.Roi disc = new ij.gui.OvalRoi(4, 4, 12, 12);
        disc.setName("red disc");
        ref.setOverlay(new ij.gui.Overlay(disc));
        CommandModule multi = ctx.run(MultiSubjectGenerateCommand.class, "input", ref, "queries", "", "scales", "",
                "prompt", "x", "steps", 2, "width", 32, "height", 32, "seed", 3L, "images", 1, "use_roi", true,
                "framing", "center-crop",
                "control", edges, "controlnet", net.toString(), "control_start", 0.0, "control_end", 0.5);
        assertFalse(multi.isCanceled(), multi.getCancelReason());
        Control m = ctx.fake.requests.get(1).controls().get(0);
        assertEquals(0.0, m.start());
        assertEquals(0.5, m.end());
        assertEquals("0.5", ((ImagePlus) multi.getOutput("result")).getProp("control_end"));

        CommandModule backwards = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red disc", "prompt", "x",
                "steps", 2, "width", 32, "height", 32, "seed", 3L, "images", 1, "use_roi", false, "framing", "center-crop",
                "control", edges, "controlnet", net.toString(), "control_start", 0.8, "control_end", 0.2);
        assertTrue(backwards.isCanceled(), "a window that ends before it starts is refused");
        assertEquals(2, ctx.fake.requests.size(), "nothing ran");
    }

    @Test
    void macroKeysNameTheControlImageByTitle() {
        var none = ControlInput.of("none", "", 1.0, t -> null);
        assertNull(none);
        var unknown = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> SsrIj1Plugin.control(MacroOptions.parse("control=[no such image] controlnet=[/x]")));
        assertTrue(unknown.getMessage().startsWith("no open image titled 'no such image' for control=[…]"), unknown.getMessage());
        ImagePlus imp = new ImagePlus("edges", new ByteProcessor(8, 8));
        ControlInput c = ControlInput.of("edges", " /nets/canny ", 0.5, t -> t.equals("edges") ? imp : null);
        assertEquals(new ControlInput(imp, "/nets/canny", 0.5), c);
        assertEquals(new ControlInput(imp, "", 1.0, 0.1, 0.6),
                ControlInput.of("edges", "", 1.0, 0.1, 0.6, t -> t.equals("edges") ? imp : null));
        var window = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> ControlInput.of(imp, "", 1.0, 0.6, 0.6));
        assertTrue(window.getMessage().startsWith("control_start and control_end must satisfy 0 ≤ control_start < control_end ≤ 1"),
                window.getMessage());
        var noNet = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> ControlInput.of(imp, "", 1.0).toControl(Golden.tinyA().resolve("sd")));
        assertTrue(noNet.getMessage().contains("give controlnet=[folder]"), noNet.getMessage());
    }

    @Test
    void fijiCommandWithAControlImageGivesTheCommandLinesPixels(@TempDir Path tmp) {
        Path a = Golden.tinyA();
        ctx.service.setGeneratorFactory((root, s) -> SsrPipeline.open(root, s.checkpoint(), s.ema(), s.device(), s.threads(),
                ProgressListener.NONE));
        ImagePlus ref = IJ.openImage(a.resolve("reference.png").toString());
        ImagePlus control = IJ.openImage(a.resolve("control.png").toString());
        CommandModule m = ctx.run(GenerateFromSubjectCommand.class, "input", ref, "query", "red circle",
                "prompt", "a red circle on a table", "negative_prompt", "", "scale", 0.5, "guidance", 7.5, "steps", 3,
                "scheduler", "ddim", "width", 64, "height", 64, "seed", 42L, "images", 1, "use_roi", false,
                "mask_weight", 1.0, "framing", "center-crop", "control", control, "controlnet", a.resolve("controlnet").toString(),
                "control_scale", 0.8);
        assertFalse(m.isCanceled(), m.getCancelReason());
        int[] fiji = (int[]) ((ImagePlus) m.getOutput("result")).getProcessor().getPixels();

        Path out = tmp.resolve("cli.png");
        StringWriter err = new StringWriter();
        int code = SsrCli.execute(new String[] {"generate", "--models", a.toString(), "--image", a.resolve("reference.png").toString(),
                "--query", "red circle", "--prompt", "a red circle on a table", "--negative-prompt", "", "--scale", "0.5",
                "--guidance", "7.5", "--steps", "3", "--scheduler", "ddim", "--width", "64", "--height", "64", "--seed", "42",
                "--control", a.resolve("control.png").toString(), "--controlnet", a.resolve("controlnet").toString(),
                "--control-scale", "0.8", "--output", out.toString()}, new PrintWriter(new StringWriter(), true),
                new PrintWriter(err, true));
        assertEquals(0, code, err.toString());
        int[] cli = (int[]) IJ.openImage(out.toString()).getProcessor().convertToRGB().getPixels();
        assertArrayEquals(rgb(cli), rgb(fiji), "same seed, same control: the Fiji command and the CLI give the same pixels");
    }

    private static int[] rgb(int[] argb) {
        int[] out = new int[argb.length];
        for (int i = 0; i < argb.length; i++) {
            out[i] = argb[i] & 0xffffff;
        }
        return out;
    }

    private static int pixel(Control c, int x, int y) {
        List<Integer> found = new ArrayList<>();
        Cursor<ARGBType> cur = Views.flatIterable(c.image()).localizingCursor();
        while (cur.hasNext()) {
            cur.fwd();
            if (cur.getIntPosition(0) == x && cur.getIntPosition(1) == y) {
                found.add(cur.get().get());
            }
        }
        return found.get(0);
    }
}
