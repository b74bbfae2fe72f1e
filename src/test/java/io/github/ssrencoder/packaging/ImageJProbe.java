package io.github.ssrencoder.packaging;

import ij.IJ;
import ij.Menus;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.plugin.frame.Recorder;
import java.awt.Checkbox;
import java.awt.Choice;
import java.awt.Component;
import java.awt.Container;
import java.awt.EventQueue;
import java.awt.Label;
import java.awt.Menu;
import java.awt.MenuBar;
import java.awt.MenuItem;
import java.awt.TextField;
import java.awt.Window;
import java.awt.event.ActionEvent;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Called from macros ({@code call("io.github.ssrencoder.packaging.ImageJProbe.…")}) inside a real ImageJ 1.x
 * process started by {@link FijiInstallIT}: reads the menu bar as ImageJ built it, and runs a menu command the
 * way a user does — through the menu's executer thread, its dialog filled in and OK pressed, with the macro
 * recorder open — returning what the recorder wrote. Only this class is put on that process's class path.
 */
public final class ImageJProbe {

    private static final long TIMEOUT_MS = 120_000;

    private ImageJProbe() {
    }

    /** The items of Plugins › SSR-Encoder, in menu order, separated by {@code ;}. */
    public static String ssrMenuEntries() {
        MenuBar bar = Menus.getMenuBar();
        if (bar == null) {
            return "NO-MENU-BAR";
        }
        List<String> items = new ArrayList<>();
        for (int i = 0; i < bar.getMenuCount(); i++) {
            Menu menu = bar.getMenu(i);
            if ("Plugins".equals(menu.getLabel())) {
                collect(menu, false, items);
            }
        }
        return String.join(";", items);
    }

    private static void collect(Menu menu, boolean inside, List<String> items) {
        for (int i = 0; i < menu.getItemCount(); i++) {
            MenuItem item = menu.getItem(i);
            if (item instanceof Menu sub) {
                collect(sub, inside || "SSR-Encoder".equals(sub.getLabel()), items);
            } else if (inside && item != null) {
                items.add(item.getLabel());
            }
        }
    }

    /**
     * Runs menu command {@code command} as a click does (on its own executer thread, with the current image as
     * the active one), with the recorder on; when it opens a dialog, sets the
     * fields named in {@code values} ({@code key=value} separated by {@code |}; the labels are the keys) and
     * presses OK. Returns what the recorder wrote for it.
     */
    public static String recordMenuRun(String command, String values) throws Exception {
        EventQueue.invokeAndWait(() -> {
            if (Recorder.getInstance() == null) {
                new Recorder(false);
            }
        });
        Recorder.record = true;
        int before = Recorder.getInstance().getText().length();
        Map<String, String> wanted = parse(values);
        IJ.doCommand(WindowManager.getCurrentImage(), command);
        if (!wanted.isEmpty()) {
            GenericDialog gd = awaitDialog();
            EventQueue.invokeAndWait(() -> fill(gd, wanted));
            EventQueue.invokeAndWait(() -> gd.actionPerformed(new ActionEvent(gd.getButtons()[0], ActionEvent.ACTION_PERFORMED, "OK")));
        }
        return awaitRecorded(before, command);
    }

    /** The settings the ImageJ 1.x entries use now, as text. */
    public static String storedSettings() throws ReflectiveOperationException {
        Class<?> plugin = Class.forName("io.github.ssrencoder.imagej.ij1.SsrIj1Plugin", true, IJ.getClassLoader());
        Object service = plugin.getMethod("service").invoke(null);
        return String.valueOf(service.getClass().getMethod("settings").invoke(service));
    }

    private static Map<String, String> parse(String values) {
        Map<String, String> map = new LinkedHashMap<>();
        if (values == null || values.isBlank()) {
            return map;
        }
        for (String pair : values.split("\\|")) {
            int eq = pair.indexOf('=');
            map.put(pair.substring(0, eq).trim(), pair.substring(eq + 1));
        }
        return map;
    }

    /** Waits until the recorder wrote the command's line (it does so when the command has finished). */
    private static String awaitRecorded(int before, String command) throws InterruptedException {
        long end = System.currentTimeMillis() + TIMEOUT_MS;
        while (System.currentTimeMillis() < end) {
            String text = Recorder.getInstance().getText();
            String added = text.length() > before ? text.substring(before) : "";
            if (added.contains("run(\"" + command + "\"")) {
                return added.strip();
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("the recorder wrote nothing for '" + command + "' within " + TIMEOUT_MS / 1000 + " s");
    }

    private static GenericDialog awaitDialog() throws InterruptedException {
        long end = System.currentTimeMillis() + TIMEOUT_MS;
        while (System.currentTimeMillis() < end) {
            for (Window w : Window.getWindows()) {
                if (w instanceof GenericDialog gd && gd.isShowing()) {
                    return gd;
                }
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("no dialog appeared within " + TIMEOUT_MS / 1000 + " s");
    }

    private static void fill(GenericDialog gd, Map<String, String> wanted) {
        Map<String, Component> fields = new LinkedHashMap<>();
        index(gd, new String[1], fields);
        for (Map.Entry<String, String> e : wanted.entrySet()) {
            Component c = fields.get(e.getKey());
            if (c == null) {
                throw new IllegalArgumentException("the dialog has no field '" + e.getKey() + "' (fields: " + fields.keySet() + ")");
            }
            if (c instanceof TextField t) {
                t.setText(e.getValue());
            } else if (c instanceof Choice ch) {
                ch.select(e.getValue());
            } else if (c instanceof Checkbox cb) {
                cb.setState(Boolean.parseBoolean(e.getValue()));
            }
        }
    }

    /** Maps each field to its label: a checkbox's own label, else the label just before the field. */
    private static void index(Container parent, String[] lastLabel, Map<String, Component> fields) {
        for (Component c : parent.getComponents()) {
            if (c instanceof Label l) {
                lastLabel[0] = l.getText().trim();
            } else if (c instanceof Checkbox cb) {
                fields.putIfAbsent(cb.getLabel().trim(), cb);
            } else if ((c instanceof TextField || c instanceof Choice) && lastLabel[0] != null) {
                fields.putIfAbsent(lastLabel[0], c);
                lastLabel[0] = null;
            } else if (c instanceof Container sub) {
                index(sub, lastLabel, fields);
            }
        }
    }
}
