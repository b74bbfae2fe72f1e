package io.github.ssrencoder.imagej;

import static io.github.ssrencoder.imagej.GenerateFromSubjectCommandTest.assertMaskEquals;
import static io.github.ssrencoder.imagej.GenerateFromSubjectCommandTest.reference;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.ImageRoi;
import ij.gui.OvalRoi;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.measure.Calibration;
import ij.process.ByteProcessor;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import io.github.ssrencoder.pipeline.SubjectQuery;
import java.util.List;
import java.util.Map;
import net.imglib2.type.numeric.ARGBType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.scijava.command.CommandModule;

class MultiSubjectAndAttentionTest {

    private final SsrTestContext ctx = new SsrTestContext();

    @AfterEach
    void close() {
        ctx.close();
    }

    private CommandModule multi(ImagePlus imp, String queries, String scales) {
        return ctx.run(MultiSubjectGenerateCommand.class, "input", imp, "queries", queries, "scales", scales,
                "prompt", "a man holding a dog", "negative_prompt", "", "scale", 1.0, "guidance", 7.5, "steps", 2,
                "scheduler", "unipc", "width", 32, "height", 32, "seed", 7L, "images", 1, "use_roi", true,
                "mask_weight", 1.5, "framing", "center-crop", "models", "");
    }

    @Test
    void everyNamedOverlaySelectionIsASubjectWithItsMaskAndWeight() {
        ImagePlus imp = reference(40, 30);
        Roi dog = new OvalRoi(2, 3, 15, 12);
        dog.setName("dog");
        Roi man = new Roi(20, 5, 10, 20);
        man.setName("man");
        man.setProperty(MultiSubjects.SCALE_PROPERTY, "0.5");
        imp.setOverlay(new Overlay());
        imp.getOverlay().add(dog);
        imp.getOverlay().add(man);

        CommandModule m = multi(imp, "", "0.8,1.2");

        assertFalse(m.isCanceled(), m.getCancelReason());
        GenerationRequest r = ctx.fake.requests.get(0);
        assertEquals(2, r.subjects().size());
        SubjectQuery first = r.subjects().get(0);
        SubjectQuery second = r.subjects().get(1);
        assertEquals("dog", first.text());
        assertEquals(0.8, first.weight());
        assertEquals(1.5, first.maskWeight());
        assertMaskEquals(dog, 40, 30, first.mask());
        assertEquals("man", second.text());
        assertEquals(0.5, second.weight(), "the ssr_scale property wins over the list");
        assertMaskEquals(man, 40, 30, second.mask());
        ImagePlus result = (ImagePlus) m.getOutput("result");
        assertEquals("SSR - a man holding a dog", result.getTitle());
        assertEquals("ref.png=dog;ref.png=man", result.getProp("queries"));
        assertEquals("0.8,0.5", result.getProp("scales"));
        assertEquals(2, imp.getOverlay().size(), "the user's overlay stays");
    }

    @Test
    void selectionsMayBelongToOtherImagesAndPlanes() {
        ImagePlus current = reference(20, 20);
        ImagePlus attached = reference(24, 16);
        ImageStack stack = new ImageStack(10, 10);
        for (int z = 1; z <= 3; z++) {
            ByteProcessor bp = new ByteProcessor(10, 10);
            bp.setValue(50 * z);
            bp.fill();
            stack.addSlice(bp);
        }
        ImagePlus named = new ImagePlus("cells.tif", stack);
        Roi a = new Roi(1, 1, 5, 5);
        a.setName("mug");
        a.setImage(attached);
        Roi b = new OvalRoi(2, 2, 6, 6);
        b.setName("cell");
        b.setProperty(MultiSubjects.IMAGE_PROPERTY, "cells.tif");
        b.setPosition(3);
        Roi c = new Roi(0, 0, 4, 4);
        c.setName("corner");

        List<SubjectQueries.Framed> subjects = MultiSubjects.fromRois(new Roi[] {a, b, c}, current,
                Map.of("cells.tif", named)::get, "", 1.0, ReferenceFraming.CENTER_CROP);

        assertSame(attached, subjects.get(0).source());
        assertEquals(24, subjects.get(0).query().image().dimension(0));
        assertSame(named, subjects.get(1).source());
        assertEquals(150, ARGBType.blue(subjects.get(1).query().image().firstElement().get()), "slice 3 is rendered");
        assertSame(current, subjects.get(2).source());
        var missing = assertThrows(IllegalArgumentException.class, () -> MultiSubjects.fromRois(new Roi[] {b}, current,
                t -> null, "", 1.0, ReferenceFraming.CENTER_CROP));
        assertTrue(missing.getMessage().contains("names image 'cells.tif', which is not open"), missing.getMessage());
    }

    @Test
    void queriesListNamesOpenImagesWithTheirQueries() {
        ImagePlus dog = reference(16, 16);
        ImagePlus man = reference(16, 24);
        man.setRoi(new Roi(2, 2, 5, 5));
        List<SubjectQueries.Framed> s = MultiSubjects.fromQueries("dog.png=a dog; man.png=the man", Map.of("dog.png", dog,
                "man.png", man)::get, "1,2", true, 1.0, ReferenceFraming.PAD_TO_SQUARE);
        assertEquals("a dog", s.get(0).query().text());
        assertNull(s.get(0).query().mask());
        assertEquals("the man", s.get(1).query().text());
        assertEquals(2.0, s.get(1).query().weight());
        assertTrue(s.get(1).query().hasMask());
        assertEquals(ReferenceFraming.PAD_TO_SQUARE, s.get(1).query().framing());
        var bad = assertThrows(IllegalArgumentException.class,
                () -> MultiSubjects.fromQueries("nothing-here", t -> dog, "", true, 1, ReferenceFraming.CENTER_CROP));
        assertTrue(bad.getMessage().contains("must be image title=query"), bad.getMessage());
        var absent = assertThrows(IllegalArgumentException.class,
                () -> MultiSubjects.fromQueries("x.png=cat", t -> null, "", true, 1, ReferenceFraming.CENTER_CROP));
        assertTrue(absent.getMessage().contains("no open image titled 'x.png'"), absent.getMessage());
        var count = assertThrows(IllegalArgumentException.class, () -> MultiSubjects.weights("1,2,3", 2));
        assertEquals("scales lists 3 value(s) for 2 subject(s)", count.getMessage());
    }

    @Test
    void multiWithoutSelectionsOrNamesSaysWhatToDo() {
        CommandModule none = multi(reference(8, 8), "", "");
        assertTrue(none.getCancelReason().contains("no selections"), none.getCancelReason());
        ImagePlus imp = reference(8, 8);
        imp.setOverlay(new Overlay(new Roi(1, 1, 3, 3)));
        CommandModule unnamed = multi(imp, "", "");
        assertTrue(unnamed.getCancelReason().contains("selection 1 has no name"), unnamed.getCancelReason());
        CommandModule noImage = ctx.run(MultiSubjectGenerateCommand.class, "prompt", "x");
        assertTrue(noImage.getCancelReason().contains("no selections"), noImage.getCancelReason());
        assertTrue(ctx.fake.requests.isEmpty());
    }

    @Test
    void attentionIsAHeatMapStackWithLabelsLutCalibrationAndOverlayCopy() {
        ImagePlus imp = reference(48, 32);
        Calibration cal = new Calibration();
        cal.pixelWidth = 0.25;
        cal.pixelHeight = 0.25;
        cal.setUnit("µm");
        imp.setCalibration(cal);
        imp.setRoi(new OvalRoi(4, 4, 20, 20));

        CommandModule m = ctx.run(ShowQueryAttentionCommand.class, "input", imp, "query", "red mug", "use_roi", true,
                "mask_weight", 3.0, "framing", "center-crop", "overlay", true, "models", "");

        assertFalse(m.isCanceled(), m.getCancelReason());
        SubjectQuery q = ctx.fake.attentionQueries.get(0);
        assertTrue(q.hasMask());
        assertEquals(3.0, q.maskWeight());
        ImagePlus heat = (ImagePlus) m.getOutput("attention");
        assertEquals("SSR attention - red mug", heat.getTitle());
        assertEquals(ImagePlus.GRAY32, heat.getType());
        assertEquals(32, heat.getWidth());
        assertEquals(3, heat.getStackSize());
        assertEquals(List.of("red", "mug", "mean"), List.of(heat.getStack().getSliceLabel(1), heat.getStack().getSliceLabel(2),
                heat.getStack().getSliceLabel(3)));
        float[] red = (float[]) heat.getStack().getProcessor(1).getPixels();
        float peak = 0.5f / 16 + 0.5f;
        assertEquals(peak, red[0], 1e-6, "token 0 peaks in patch 0 (top-left), clamped at the edge");
        assertEquals(0.5f / 16, red[31 * 32 + 31], 1e-6, "far corner has the background probability");
        assertEquals(peak, heat.getDisplayRangeMax(), 1e-6);
        assertEquals(0, heat.getDisplayRangeMin());
        assertEquals("µm", heat.getCalibration().getUnit());
        assertEquals(0.25, heat.getCalibration().pixelWidth);
        assertEquals(-8, heat.getCalibration().xOrigin, "framed square starts at x = 8 of the reference");
        assertEquals(255, heat.getProcessor().getLut().getRed(255), "Fire LUT");

        ImagePlus copy = (ImagePlus) m.getOutput("attention_overlay");
        assertEquals("SSR attention overlay - red mug", copy.getTitle());
        assertEquals(48, copy.getWidth());
        assertTrue(copy.getOverlay().get(0) instanceof ImageRoi);
        assertEquals(8, copy.getOverlay().get(0).getBounds().x);
        assertNull(imp.getOverlay(), "the reference itself gets no overlay");
    }

    @Test
    void upsamplingIsBilinearWithCentredPixels() {
        float[] grid = {0, 1, 2, 3};
        float[] up = (float[]) AttentionImages.upsample(grid, 2, 2, 4, 4).getPixels();
        assertEquals(0f, up[0], 1e-6);
        assertEquals(0.25f, up[1], 1e-6);
        assertEquals(0.75f, up[2], 1e-6);
        assertEquals(1f, up[3], 1e-6);
        assertEquals(2.25f, up[3 * 4 + 1], 1e-6);
    }

    @Test
    void largeReferencesGetAReducedMapWithScaledPixelSize() {
        ImagePlus imp = new ImagePlus("big", new ij.process.ByteProcessor(3000, 2100));
        Calibration cal = imp.getCalibration();
        cal.pixelWidth = 0.1;
        cal.pixelHeight = 0.1;
        CommandModule m = ctx.run(ShowQueryAttentionCommand.class, "input", imp, "query", "nucleus", "use_roi", false,
                "mask_weight", 1.0, "framing", "pad-to-square", "overlay", false, "models", "");
        ImagePlus heat = (ImagePlus) m.getOutput("attention");
        assertEquals(AttentionImages.MAX_SIDE, heat.getWidth());
        assertEquals(0.1 * 3000 / AttentionImages.MAX_SIDE, heat.getCalibration().pixelWidth, 1e-12);
        assertEquals(450.0 / (3000.0 / AttentionImages.MAX_SIDE), heat.getCalibration().yOrigin, 1e-9,
                "the padded square starts 450 px above the image");
        assertNull(m.getOutput("attention_overlay"));
    }
}
