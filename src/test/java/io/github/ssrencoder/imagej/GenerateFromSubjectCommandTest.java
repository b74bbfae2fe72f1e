package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.Line;
import ij.gui.OvalRoi;
import ij.gui.PointRoi;
import ij.gui.PolygonRoi;
import ij.gui.Roi;
import ij.gui.ShapeRoi;
import ij.process.ColorProcessor;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import io.github.ssrencoder.pipeline.SubjectQuery;
import java.awt.event.KeyEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.imglib2.Cursor;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.RealType;
import net.imglib2.view.Views;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.scijava.command.CommandModule;

public class GenerateFromSubjectCommandTest {

    private final SsrTestContext ctx = new SsrTestContext();

    @AfterEach
    void close() {
        IJ.resetEscape();
        ctx.close();
    }

    public static ImagePlus reference(int w, int h) {
        int[] px = new int[w * h];
        for (int i = 0; i < px.length; i++) {
            px[i] = (i * 2654435761L & 0xffffff) == 0 ? 1 : (int) (i * 2654435761L & 0xffffff);
        }
        return new ImagePlus("ref.png", new ColorProcessor(w, h, px));
    }

    private CommandModule generate(ImagePlus imp, Object... overrides) {
        Map<String, Object> in = new LinkedHashMap<>();
        in.put("input", imp);
        in.put("query", "red disc");
        in.put("prompt", "a red disc on a beach");
        in.put("negative_prompt", "blurry");
        in.put("scale", 0.5);
        in.put("guidance", 5.0);
        in.put("steps", 3);
        in.put("scheduler", "ddim");
        in.put("width", 64);
        in.put("height", 48);
        in.put("seed", 42L);
        in.put("images", 2);
        in.put("use_roi", true);
        in.put("mask_weight", 2.0);
        in.put("framing", "center-crop");
        in.put("models", "");
        for (int i = 0; i < overrides.length; i += 2) {
            in.put((String) overrides[i], overrides[i + 1]);
        }
        List<Object> flat = new ArrayList<>();
        in.forEach((k, v) -> {
            flat.add(k);
            flat.add(v);
        });
        return ctx.run(GenerateFromSubjectCommand.class, flat.toArray());
    }

    public static void assertMaskEquals(Roi roi, int w, int h, RandomAccessibleInterval<? extends RealType<?>> mask) {
        assertEquals(w, mask.dimension(0));
        assertEquals(h, mask.dimension(1));
        Cursor<? extends RealType<?>> c = Views.flatIterable(mask).localizingCursor();
        while (c.hasNext()) {
            double v = c.next().getRealDouble();
            int x = c.getIntPosition(0);
            int y = c.getIntPosition(1);
            assertEquals(roi.contains(x, y) ? 1.0 : 0.0, v, "mask at (" + x + ", " + y + ")");
        }
    }

    @Test
    void ovalRoiBecomesMaskQueryAndResultCarriesEveryParameter() {
        ImagePlus imp = reference(80, 60);
        OvalRoi oval = new OvalRoi(10, 12, 25, 19);
        imp.setRoi(oval);
        int[] before = ((int[]) imp.getProcessor().getPixels()).clone();

        CommandModule m = generate(imp);

        assertFalse(m.isCanceled(), m.getCancelReason());
        GenerationRequest r = ctx.fake.requests.get(0);
        assertEquals("a red disc on a beach", r.prompt());
        assertEquals("blurry", r.negativePrompt());
        assertEquals(0.5, r.scale());
        assertEquals(5.0, r.guidance());
        assertEquals(3, r.steps());
        assertEquals("ddim", r.scheduler());
        assertEquals(64, r.width());
        assertEquals(48, r.height());
        assertEquals(42L, r.seed());
        assertEquals(2, r.numImages());
        SubjectQuery q = r.subjects().get(0);
        assertEquals("red disc", q.text());
        assertTrue(q.hasMask());
        assertEquals(2.0, q.maskWeight());
        assertEquals(ReferenceFraming.CENTER_CROP, q.framing());
        assertMaskEquals(oval, 80, 60, q.mask());
        assertEquals(80, q.image().dimension(0));
        assertEquals(60, q.image().dimension(1));

        ImagePlus result = (ImagePlus) m.getOutput("result");
        assertEquals("SSR - a red disc on a beach", result.getTitle());
        assertEquals(ImagePlus.COLOR_RGB, result.getType());
        assertEquals(2, result.getStackSize());
        assertEquals(64, result.getWidth());
        assertEquals(48, result.getHeight());
        int[] first = (int[]) result.getStack().getProcessor(1).getPixels();
        assertEquals((5 << 16) | (7 << 8) | 42, first[7 * 64 + 5] & 0xffffff, "pixel (5, 7) of image 1");
        int[] second = (int[]) result.getStack().getProcessor(2).getPixels();
        assertEquals(43, second[0] & 0xff, "image 2 uses the next draw");
        String info = result.getInfoProperty();
        for (String line : List.of("query = red disc", "prompt = a red disc on a beach", "negative_prompt = blurry",
                "scale = 0.5", "guidance = 5.0", "steps = 3", "scheduler = ddim", "seed = 42", "mask_weight = 2.0",
                "use_roi = true", "framing = center-crop", "models = ", "generator = fake")) {
            assertTrue(info.contains(line), "Info lacks '" + line + "':\n" + info);
        }
        assertEquals("42", result.getProp("seed"));
        assertEquals("red disc", result.getProp("query"));

        ImagePlus attention = (ImagePlus) m.getOutput("attention");
        assertEquals("SSR attention - red disc", attention.getTitle());
        assertEquals(3, attention.getStackSize());
        assertEquals("red", attention.getStack().getSliceLabel(1));
        assertEquals("disc", attention.getStack().getSliceLabel(2));
        assertEquals("mean", attention.getStack().getSliceLabel(3));
        assertEquals(60, attention.getWidth(), "center-crop of 80×60 shows a 60×60 square");

        assertSame(oval, imp.getRoi(), "the user's selection stays");
        assertEquals(new java.awt.Rectangle(10, 12, 25, 19), imp.getRoi().getBounds());
        assertArrayEquals(before, (int[]) imp.getProcessor().getPixels(), "the user's image is not modified");
        assertFalse(imp.changes);
    }

    @Test
    void withoutRoiOrWithUseRoiOffTheQueryIsText() {
        ImagePlus imp = reference(32, 32);
        assertFalse(generate(imp).isCanceled());
        imp.setRoi(new Roi(2, 2, 10, 10));
        assertFalse(generate(imp, "use_roi", false).isCanceled());
        assertNull(ctx.fake.requests.get(0).subjects().get(0).mask());
        assertNull(ctx.fake.requests.get(1).subjects().get(0).mask());
    }

    @Test
    void polygonFreehandAndCompositeRoisAreMasksToo() {
        ImagePlus imp = reference(40, 30);
        List<Roi> rois = List.of(
                new PolygonRoi(new int[] {3, 30, 12}, new int[] {2, 8, 25}, 3, Roi.POLYGON),
                new PolygonRoi(new int[] {5, 9, 20, 18, 6}, new int[] {5, 3, 9, 20, 14}, 5, Roi.FREEROI),
                new ShapeRoi(new Roi(2, 2, 10, 10)).or(new ShapeRoi(new OvalRoi(20, 10, 15, 15))));
        for (Roi roi : rois) {
            imp.setRoi(roi);
            assertFalse(generate(imp).isCanceled(), roi.getTypeAsString());
        }
        for (int i = 0; i < rois.size(); i++) {
            assertMaskEquals(rois.get(i), 40, 30, ctx.fake.requests.get(i).subjects().get(0).mask());
        }
    }

    @Test
    void randomSeedIsDrawnAndReported() {
        CommandModule m = generate(reference(16, 16), "seed", -1L, "images", 1);
        long used = ctx.fake.requests.get(0).seed();
        assertTrue(used >= 0);
        assertEquals(Long.toString(used), ((ImagePlus) m.getOutput("result")).getProp("seed"));
    }

    @Test
    void padAndCropFramingsAreForwarded() {
        ImagePlus imp = reference(50, 20);
        imp.setRoi(new Roi(30, 5, 40, 10));
        CommandModule pad = generate(imp, "framing", "pad-to-square");
        CommandModule crop = generate(imp, "framing", "crop-to-roi-bounds", "use_roi", false);
        assertEquals(ReferenceFraming.PAD_TO_SQUARE, ctx.fake.requests.get(0).subjects().get(0).framing());
        assertEquals(50, ((ImagePlus) pad.getOutput("attention")).getWidth());
        SubjectQuery q = ctx.fake.requests.get(1).subjects().get(0);
        assertEquals(ReferenceFraming.CROP_TO_BOX, q.framing());
        assertEquals(new io.github.ssrencoder.pipeline.Box(30, 5, 20, 10), q.cropBox(), "clipped to the image");
        assertEquals(10, ((ImagePlus) crop.getOutput("attention")).getWidth());
    }

    private void assertRejected(CommandModule m, String expected) {
        assertTrue(m.isCanceled(), "expected a cancelled run");
        assertTrue(m.getCancelReason().contains(expected), m.getCancelReason());
        assertNull(m.getOutput("result"));
        assertNull(m.getOutput("attention"));
    }

    @Test
    void lineAndPointSelectionsAreRejectedWithAMessage() {
        ImagePlus imp = reference(20, 20);
        imp.setRoi(new Line(1, 1, 15, 12));
        assertRejected(generate(imp), "line selection cannot be a mask query");
        imp.setRoi(new PointRoi(5, 5));
        assertRejected(generate(imp), "cannot be a mask query");
        assertTrue(ctx.fake.requests.isEmpty());
    }

    @Test
    void roiOutsideTheImageIsRejected() {
        ImagePlus imp = reference(20, 20);
        imp.setRoi(new Roi(25, 3, 10, 10));
        assertRejected(generate(imp), "lies outside the 20×20 image");
    }

    @Test
    void noImageIsAClearMessage() {
        CommandModule m = ctx.run(GenerateFromSubjectCommand.class, "query", "dog", "prompt", "x");
        assertRejected(m, "no image open: open the reference image first");
        CommandModule a = ctx.run(ShowQueryAttentionCommand.class, "query", "dog");
        assertTrue(a.getCancelReason().contains("no image open"), a.getCancelReason());
    }

    @Test
    void emptyQueryIsRejected() {
        assertRejected(generate(reference(8, 8), "query", " "), "the query is empty");
    }

    @Test
    void missingModelsFolderIsReportedBeforeLoading() {
        ctx.service.saveSettings(SsrSettings.defaults());
        assertRejected(generate(reference(8, 8)), "no models folder configured");
        assertEquals(0, ctx.opened.get());
    }

    @Test
    void invalidModelsFolderNamesWhatIsMissing(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("sd"));
        assertRejected(generate(reference(8, 8), "models", dir.toString()),
                "missing sd/model_index.json, missing sd/unet/");
        assertEquals(0, ctx.opened.get());
    }

    @Test
    void badParametersAreRejectedWithTheRequestMessage() {
        assertRejected(generate(reference(8, 8), "width", 30), "width must be a multiple of 8");
        assertRejected(generate(reference(8, 8), "scheduler", "lms"), "unknown scheduler 'lms'");
    }

    @Test
    void escapeCancelsTheRunAndNoWindowIsProduced() {
        ctx.fake.hookAtStep = 2;
        ctx.fake.beforeStep = () -> IJ.setKeyDown(KeyEvent.VK_ESCAPE);
        CommandModule m = generate(reference(16, 16), "steps", 10);
        assertTrue(m.isCanceled());
        assertEquals("SSR-Encoder: cancelled", m.getCancelReason());
        assertNull(m.getOutput("result"));
        assertNull(m.getOutput("attention"));
        assertEquals(0, ij.WindowManager.getImageCount());
        IJ.resetEscape();
        ctx.fake.hookAtStep = 0;
        assertFalse(generate(reference(16, 16)).isCanceled(), "the next run is not cancelled");
    }

    @Test
    void interruptingTheCommandThreadCancelsTheRun() {
        ctx.fake.hookAtStep = 2;
        ctx.fake.beforeStep = () -> Thread.currentThread().interrupt();
        CommandModule m = generate(reference(16, 16), "steps", 5);
        assertTrue(m.isCanceled());
        assertEquals("SSR-Encoder: cancelled", m.getCancelReason());
        assertNull(m.getOutput("result"));
    }

    @Test
    void greyscaleReferenceIsRenderedWithItsDisplayRange() {
        ij.process.ShortProcessor sp = new ij.process.ShortProcessor(4, 1);
        sp.set(0, 0, 100);
        sp.set(1, 0, 200);
        sp.set(2, 0, 300);
        sp.set(3, 0, 1000);
        ImagePlus imp = new ImagePlus("grey", sp);
        imp.setDisplayRange(100, 355);
        generate(imp);
        RandomAccessibleInterval<net.imglib2.type.numeric.ARGBType> image = ctx.fake.requests.get(0).subjects().get(0).image();
        Cursor<net.imglib2.type.numeric.ARGBType> c = Views.flatIterable(image).cursor();
        int[] grey = new int[4];
        for (int i = 0; i < 4; i++) {
            grey[i] = net.imglib2.type.numeric.ARGBType.blue(c.next().get());
        }
        assertArrayEquals(new int[] {0, 100, 200, 255}, grey);
        assertEquals(100, imp.getDisplayRangeMin());
        assertEquals(355, imp.getDisplayRangeMax());
        assertNotNull(imp.getProcessor());
    }

    /** Collects the status bar messages and progress of a run. */
    public static final class StatusRecorder {
        final List<String> messages = new java.util.concurrent.CopyOnWriteArrayList<>();
        final List<String> progress = new java.util.concurrent.CopyOnWriteArrayList<>();

        @org.scijava.event.EventHandler
        public void onStatus(org.scijava.app.event.StatusEvent e) {
            if (e.getStatusMessage() != null && !e.getStatusMessage().isEmpty()) {
                messages.add(e.getStatusMessage());
            }
            if (e.getProgressMaximum() > 0) {
                progress.add(e.getProgressValue() + "/" + e.getProgressMaximum());
            }
        }
    }

    /** Status events are delivered asynchronously and not necessarily in order, so the test waits for all of them. */
    @Test
    void progressShowsEachStepInTheStatusBar() throws InterruptedException {
        StatusRecorder recorder = new StatusRecorder();
        ctx.context.service(org.scijava.event.EventService.class).subscribe(recorder);
        assertFalse(generate(reference(16, 16), "steps", 3).isCanceled());
        List<String> expected = List.of("SSR: Encoding subjects", "SSR step 1/3", "SSR step 2/3", "SSR step 3/3");
        long deadline = System.nanoTime() + 10_000_000_000L;
        List<String> steps = List.of("1/3", "2/3", "3/3");
        while (!(recorder.messages.containsAll(expected) && recorder.progress.containsAll(steps)) && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertTrue(recorder.messages.containsAll(List.of("SSR: Encoding subjects", "SSR step 1/3", "SSR step 2/3",
                "SSR step 3/3")), recorder.messages.toString());
        assertTrue(recorder.progress.containsAll(steps), recorder.progress.toString());
    }
}
