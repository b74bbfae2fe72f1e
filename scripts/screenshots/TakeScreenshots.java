import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.gui.ImageCanvas;
import ij.gui.ImageWindow;
import ij.gui.OvalRoi;
import java.awt.AWTException;
import java.awt.Button;
import java.awt.Color;
import java.awt.EventQueue;
import java.awt.Frame;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.Robot;
import java.awt.TextField;
import java.awt.Window;
import java.awt.event.ActionEvent;
import java.awt.geom.Area;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.util.List;
import java.util.Vector;
import java.util.function.Supplier;
import javax.imageio.ImageIO;

/**
 * Takes the README screenshots of the SSR-Encoder plugin in a real ImageJ 1.x session (meant for a virtual X
 * display, see {@code take-screenshots.sh}): the "Generate from Subject" dialog opened from the menu next to
 * the reference image with its oval ROI, and the windows of a real run with the bundled tiny model.
 *
 * <p>Arguments: the tiny model folder (holding {@code reference.png}) and the output folder for the PNGs.
 */
public final class TakeScreenshots {

    private static final String QUERY = "red circle";
    private static final String PROMPT = "a red circle on a table";
    private static final long TIMEOUT_MS = 120_000;

    private TakeScreenshots() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: TakeScreenshots <tiny model folder> <output folder>");
            System.exit(2);
        }
        File model = new File(args[0]).getAbsoluteFile();
        File out = new File(args[1]).getAbsoluteFile();
        if (!out.isDirectory() && !out.mkdirs()) {
            throw new IOException("cannot create " + out);
        }
        int status = 1;
        try {
            take(model, out);
            status = 0;
        } catch (Throwable t) {
            t.printStackTrace();
            String log = IJ.getLog();
            if (log != null) {
                System.err.println("ImageJ log:\n" + log);
            }
        }
        System.exit(status);
    }

    private static void take(File model, File out) throws Exception {
        Robot robot = new Robot();
        ImageJ ij = new ImageJ();
        waitFor("the ImageJ window", () -> ij.isShowing() ? ij : null);
        EventQueue.invokeAndWait(() -> ij.setLocation(0, 0));

        ImagePlus reference = IJ.openImage(new File(model, "reference.png").getPath());
        if (reference == null) {
            throw new IOException("cannot open " + new File(model, "reference.png"));
        }
        reference.show();
        ImageWindow referenceWindow = waitFor("the reference window", () -> showing(reference.getWindow()));
        zoom(reference, 600);
        reference.setRoi(new OvalRoi(7, 9, 26, 26));
        place(referenceWindow, 10, ij.getHeight() + 20);

        // From the menu entry registered by plugins.config, without macro options, so the dialog shows.
        IJ.doCommand("Generate from Subject");
        GenericDialog dialog = waitFor("the SSR-Encoder dialog", TakeScreenshots::ssrDialog);
        EventQueue.invokeAndWait(() -> fill(dialog, model));
        Rectangle refBounds = referenceWindow.getBounds();
        place(dialog, refBounds.x + refBounds.width + 10, refBounds.y);
        settle(robot);
        // The dialog selects the text of the focused field; the screenshot shows it unselected.
        EventQueue.invokeAndWait(() -> {
            for (Object field : dialog.getStringFields()) {
                TextField text = (TextField) field;
                text.select(text.getText().length(), text.getText().length());
            }
        });
        settle(robot);
        save(robot, new File(out, "generate-dialog.png"), referenceWindow, dialog);
        Button cancel = dialog.getButtons()[1];
        EventQueue.invokeAndWait(() -> dialog.actionPerformed(new ActionEvent(cancel, ActionEvent.ACTION_PERFORMED, "Cancel")));
        waitFor("the dialog to close", () -> dialog.isShowing() ? null : dialog);
        // The cancelled command's thread flags the cancel to ImageJ's macro state when it reads the dialog;
        // a run started before that would be aborted.
        waitFor("the cancelled command to end", () -> commandThreadAlive() ? null : Boolean.TRUE);

        WindowManager.setCurrentWindow(referenceWindow);
        IJ.run("Generate from Subject", "query=[" + QUERY + "] prompt=[" + PROMPT + "] steps=4 width=64 height=64"
                + " seed=42 images=2 use_roi mask_weight=1 models=[" + model.getPath() + "]");
        ImagePlus result = waitFor("the generated stack", () -> titled("SSR - " + PROMPT));
        ImagePlus attention = waitFor("the attention heat maps", () -> titled("SSR attention - " + QUERY));
        ImageWindow resultWindow = waitFor("the result window", () -> showing(result.getWindow()));
        ImageWindow attentionWindow = waitFor("the attention window", () -> showing(attention.getWindow()));
        // Large enough that the window titles are not shortened.
        zoom(result, 600);
        zoom(attention, Math.max(100, 100 * 384 / Math.max(attention.getWidth(), attention.getHeight())));
        if (attention.getStackSize() > 1) {
            attention.setSlice(attention.getStackSize());
        }
        int top = refBounds.y;
        place(referenceWindow, refBounds.x, top);
        refBounds = referenceWindow.getBounds();
        settle(robot);
        place(resultWindow, refBounds.x + refBounds.width + 10, top);
        settle(robot);
        Rectangle resultBounds = resultWindow.getBounds();
        place(attentionWindow, resultBounds.x + resultBounds.width + 10, top);
        EventQueue.invokeAndWait(() -> {
            for (Window w : Window.getWindows()) {
                if (w.isShowing() && w != referenceWindow && w != resultWindow && w != attentionWindow
                        && w instanceof Frame && !(w instanceof ImageJ)) {
                    w.toBack();
                }
            }
        });
        settle(robot);
        save(robot, new File(out, "result.png"), referenceWindow, resultWindow, attentionWindow);
    }

    private static boolean commandThreadAlive() {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.isAlive() && t.getName().contains("Generate from Subject"));
    }

    private static GenericDialog ssrDialog() {
        for (Window w : Window.getWindows()) {
            if (w instanceof GenericDialog gd && w.isShowing() && "SSR-Encoder".equals(gd.getTitle())) {
                return gd;
            }
        }
        return null;
    }

    /** Types the values of the real run into the dialog, so the screenshot shows a meaningful call. */
    private static void fill(GenericDialog dialog, File model) {
        Vector<?> strings = dialog.getStringFields();
        ((TextField) strings.get(0)).setText(QUERY);
        ((TextField) strings.get(1)).setText(PROMPT);
        ((TextField) strings.get(strings.size() - 1)).setText(model.getPath());
        Vector<?> numbers = dialog.getNumericFields();
        // scale, guidance, steps, width, height, seed, images, mask_weight
        String[] values = {null, null, "4", "64", "64", "42", "2", null};
        for (int i = 0; i < values.length && i < numbers.size(); i++) {
            if (values[i] != null) {
                ((TextField) numbers.get(i)).setText(values[i]);
            }
        }
    }

    private static ImagePlus titled(String title) {
        for (int id : idList()) {
            ImagePlus imp = WindowManager.getImage(id);
            if (imp != null && title.equals(imp.getTitle())) {
                return imp;
            }
        }
        return null;
    }

    private static int[] idList() {
        int[] ids = WindowManager.getIDList();
        return ids == null ? new int[0] : ids;
    }

    private static ImageWindow showing(ImageWindow w) {
        return w != null && w.isShowing() ? w : null;
    }

    /** Shows the whole image at {@code percent} and fits the window to it. */
    private static void zoom(ImagePlus imp, int percent) throws Exception {
        ImageWindow w = imp.getWindow();
        double magnification = percent / 100.0;
        EventQueue.invokeAndWait(() -> {
            ImageCanvas canvas = w.getCanvas();
            canvas.setSourceRect(new Rectangle(0, 0, imp.getWidth(), imp.getHeight()));
            canvas.setMagnification(magnification);
            canvas.setDrawingSize((int) Math.round(imp.getWidth() * magnification),
                    (int) Math.round(imp.getHeight() * magnification));
            w.pack();
            w.repaint();
        });
    }

    private static void place(Window w, int x, int y) throws Exception {
        EventQueue.invokeAndWait(() -> {
            w.setLocation(x, y);
            w.toFront();
        });
    }

    private static void settle(Robot robot) throws Exception {
        EventQueue.invokeAndWait(() -> { });
        robot.waitForIdle();
        Thread.sleep(1500);
        robot.waitForIdle();
    }

    private static Rectangle union(Window... windows) {
        Rectangle r = null;
        for (Window w : List.of(windows)) {
            Rectangle b = w.getBounds();
            r = r == null ? b : r.union(b);
        }
        return r;
    }

    /** Captures the bounding box of {@code windows}, with the desktop between them painted a plain grey. */
    private static void save(Robot robot, File file, Window... windows) throws IOException, AWTException {
        Rectangle screen = new Rectangle(java.awt.Toolkit.getDefaultToolkit().getScreenSize());
        Rectangle region = union(windows).intersection(screen);
        BufferedImage shot = robot.createScreenCapture(region);
        Area desktop = new Area(new Rectangle(0, 0, region.width, region.height));
        for (Window w : windows) {
            Rectangle b = w.getBounds();
            b.translate(-region.x, -region.y);
            desktop.subtract(new Area(b));
        }
        Graphics2D g = shot.createGraphics();
        g.setColor(new Color(0xE8, 0xE8, 0xE8));
        g.fill(desktop);
        g.dispose();
        if (!ImageIO.write(shot, "png", file)) {
            throw new IOException("no PNG writer for " + file);
        }
        System.out.println("wrote " + file + " (" + shot.getWidth() + "x" + shot.getHeight() + ", "
                + file.length() + " bytes)");
    }

    private static <T> T waitFor(String what, Supplier<T> probe) throws InterruptedException {
        long end = System.currentTimeMillis() + TIMEOUT_MS;
        while (System.currentTimeMillis() < end) {
            T value = probe.get();
            if (value != null) {
                return value;
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("timed out waiting for " + what);
    }
}
