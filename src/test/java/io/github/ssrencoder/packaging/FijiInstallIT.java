package io.github.ssrencoder.packaging;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.OvalRoi;
import ij.process.ByteProcessor;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The user's path into Fiji: the bundle installed by {@code scripts/install-into-fiji.sh} into a Fiji-like folder
 * that holds only Fiji's own library versions ({@code target/fiji-provided/}: the pom's provided scope, versions
 * from pom-scijava), then a real ImageJ 1.x process started as Fiji's launcher does (class path {@code jars/*.jar}
 * and {@code jars/<platform>/*.jar}, {@code -Dplugins.dir}, {@code ij.ImageJ -batch}) under Xvfb, which finds the
 * plugin by its own scan of {@code plugins/}. Every process runs under a time limit and is killed past it.
 */
class FijiInstallIT {

    private static final Path PROJECT = Path.of(System.getProperty("ssr.project.dir", ".")).toAbsolutePath();
    private static final Path BUILD = Path.of(System.getProperty("ssr.build.dir", "target")).toAbsolutePath();
    private static final Path TINY = PROJECT.resolve("src/test/resources/golden/tiny-a");
    private static final Path WORK = BUILD.resolve("fiji-it");
    private static final Path FIJI = WORK.resolve("Fiji.app");
    /** Where the example macros write (they take the repository root as their argument). */
    private static final Path EXAMPLES = PROJECT.resolve("target/examples");
    private static final List<String> COMMANDS = List.of("Generate from Subject", "Multi-Subject Generate",
            "Show Query Attention", "Train SSR-Encoder...", "SSR-Encoder Settings...", "Unload Models");
    private static final Pattern RECORDED = Pattern.compile("^SSR-RECORDED (\\w+) (.*)$", Pattern.MULTILINE);

    /** What a process printed and how it ended. */
    record Run(int exit, String output) {
    }

    @BeforeAll
    static void installIntoFijiLikeFolder() throws Exception {
        assertTrue(Files.isExecutable(Path.of("/usr/bin/xvfb-run")),
                "xvfb-run is missing: the real ImageJ process needs an X server (apt-get install xvfb; .ci/run installs it)");
        deleteTree(WORK);
        Files.createDirectories(FIJI.resolve("jars"));
        Files.createDirectories(FIJI.resolve("plugins"));
        try (Stream<Path> jars = Files.list(BUILD.resolve("fiji-provided"))) {
            for (Path jar : jars.collect(Collectors.toList())) {
                Files.copy(jar, FIJI.resolve("jars").resolve(jar.getFileName()));
            }
        }
        Run install = run(List.of("bash", PROJECT.resolve("scripts/install-into-fiji.sh").toString(), "--all-platforms",
                FIJI.toString()), Map.of(), 180);
        assertEquals(0, install.exit(), install.output());
    }

    @Test
    void installScriptPutsOnlyThisMachinesLibtorchByDefault() throws Exception {
        assumeTrue(onLinuxX64());
        Path other = WORK.resolve("Default.app");
        Files.createDirectories(other.resolve("jars"));
        Files.createDirectories(other.resolve("plugins"));
        Run install = run(List.of("bash", PROJECT.resolve("scripts/install-into-fiji.sh").toString(), other.toString()), Map.of(), 180);
        assertEquals(0, install.exit(), install.output());
        assertEquals(List.of("linux64"), list(other.resolve("jars")).stream().filter(n -> !n.endsWith(".jar")).collect(Collectors.toList()));
        assertEquals(1, list(other.resolve("jars/linux64")).size());
        assertTrue(list(other.resolve("plugins")).stream().allMatch(n -> n.matches("SSR_Encoder-.+\\.jar")), list(other.resolve("plugins")).toString());
        Run bad = run(List.of("bash", PROJECT.resolve("scripts/install-into-fiji.sh").toString(), WORK.resolve("nope").toString()), Map.of(), 60);
        assertEquals(2, bad.exit(), bad.output());
        assertTrue(bad.output().contains("does not look like a Fiji installation"), bad.output());
    }

    @Test
    void exampleMacroInRealImageJGivesTheCommandLinesPixels() throws Exception {
        Run ij = runExample("generate.ijm", "generated-1.png");
        assertTrue(ij.output().contains("SSR-Encoder example done"), ij.output());
        // The same generation through scripts/ssr: the macro's oval selection as a mask file.
        Path dir = WORK.resolve("cli");
        Files.createDirectories(dir);
        ByteProcessor mask = new ByteProcessor(64, 64);
        mask.setValue(255);
        mask.fill(new OvalRoi(7, 9, 26, 26));
        BufferedImage png = new BufferedImage(64, 64, BufferedImage.TYPE_BYTE_GRAY);
        png.getRaster().setDataElements(0, 0, 64, 64, mask.getPixels());
        ImageIO.write(png, "png", dir.resolve("mask.png").toFile());
        Path cliOut = dir.resolve("cli.png");
        Files.deleteIfExists(cliOut);
        Run cli = run(List.of(PROJECT.resolve("scripts/ssr").toString(), "generate", "--models", TINY.toString(),
                "--image", TINY.resolve("reference.png").toString(), "--query", "red circle", "--mask", dir.resolve("mask.png").toString(),
                "--mask-weight", "1", "--prompt", "a red circle on a table", "--negative-prompt", "", "--scale", "1",
                "--guidance", "7.5", "--steps", "4", "--scheduler", "unipc", "--width", "64", "--height", "64", "--seed", "42",
                "--output", cliOut.toString()), Map.of("DJL_CACHE_DIR", BUILD.resolve("djl-cache").toString()), 300);
        assertEquals(0, cli.exit(), cli.output());
        assertSamePixels(IJ.openImage(cliOut.toString()), IJ.openImage(EXAMPLES.resolve("generated-1.png").toString()));
        if (onLinuxX64()) {
            assertTrue(ij.output().contains("libtorch from " + FIJI.resolve("jars/linux64") + File.separator + "pytorch-native-cpu-"),
                    "the engine must load libtorch from jars/linux64/ although all platforms are on the class path:\n" + ij.output());
        }
    }

    @Test
    void controlNetExampleMacroRunsInRealImageJ() throws Exception {
        Run ij = runExample("generate-control.ijm", "control-generated.png");
        assertTrue(ij.output().contains("control used: labels, scale 0.8"), ij.output());
        assertTrue(ij.output().contains("SSR-Encoder ControlNet example done"), ij.output());
        ImagePlus generated = IJ.openImage(EXAMPLES.resolve("control-generated.png").toString());
        assertNotNull(generated, ij.output());
        assertEquals(64, generated.getWidth());
    }

    @Test
    void menuEntriesAreFoundOnceAndRecordedDialogRunsReplayToTheSameResult() throws Exception {
        Path out = WORK.resolve("recorded");
        deleteTree(out);
        Files.createDirectories(out);
        String models = TINY.toString();
        String generate = "query=red circle|prompt=a red circle on a table|steps=2|width=64|height=64|seed=42|images=2|models=" + models;
        String macro = """
                List.setCommands;
                cmds = newArray(%s);
                missing = 0;
                for (i = 0; i < cmds.length; i++) {
                    print("SSR-COMMAND " + cmds[i] + " -> " + List.get(cmds[i]));
                    if (List.get(cmds[i]) == "") missing++;
                }
                if (missing > 0) { print("SSR-MISSING-COMMANDS " + missing); exit; }
                print("SSR-MENU " + call("io.github.ssrencoder.packaging.ImageJProbe.ssrMenuEntries"));
                out = "%s/";
                open("%s/reference.png");
                ref = getTitle();
                makeOval(7, 9, 26, 26);

                function keep(title, file) {
                    if (!isOpen(title)) { print("SSR-MISSING-WINDOW " + title + " among " + String.join(getList("image.titles")) + " batch " + is("Batch Mode")); exit; }
                    selectImage(title); saveAs("Tiff", out + file); close();
                }

                rec = call("io.github.ssrencoder.packaging.ImageJProbe.recordMenuRun", "Generate from Subject", "%s");
                print("SSR-RECORDED generate " + rec);
                keep("SSR - a red circle on a table", "generate-dialog.tif");
                keep("SSR attention - red circle", "attention-dialog.tif");
                selectImage(ref);
                eval(rec);
                keep("SSR - a red circle on a table", "generate-replay.tif");
                keep("SSR attention - red circle", "attention-replay.tif");

                selectImage(ref);
                rec = call("io.github.ssrencoder.packaging.ImageJProbe.recordMenuRun", "Show Query Attention", "query=red circle|models=%s");
                print("SSR-RECORDED attention " + rec);
                keep("SSR attention - red circle", "query-dialog.tif");
                keep("SSR attention overlay - red circle", "overlay-dialog.tif");
                selectImage(ref);
                eval(rec);
                keep("SSR attention - red circle", "query-replay.tif");
                keep("SSR attention overlay - red circle", "overlay-replay.tif");

                selectImage(ref);
                rec = call("io.github.ssrencoder.packaging.ImageJProbe.recordMenuRun", "Multi-Subject Generate",
                    "queries=" + ref + "=red circle|scales=0.8|prompt=a red circle|steps=2|width=64|height=64|seed=7|models=%s");
                print("SSR-RECORDED multi " + rec);
                keep("SSR - a red circle", "multi-dialog.tif");
                selectImage(ref);
                eval(rec);
                keep("SSR - a red circle", "multi-replay.tif");

                rec = call("io.github.ssrencoder.packaging.ImageJProbe.recordMenuRun", "SSR-Encoder Settings...", "models=%s|threads=1");
                print("SSR-RECORDED settings " + rec);
                dialog = call("io.github.ssrencoder.packaging.ImageJProbe.storedSettings");
                run("SSR-Encoder Settings...", "models=[%s] device=CPU threads=0");
                eval(rec);
                print("SSR-SETTINGS-DIALOG " + dialog);
                print("SSR-SETTINGS-REPLAY " + call("io.github.ssrencoder.packaging.ImageJProbe.storedSettings"));

                rec = call("io.github.ssrencoder.packaging.ImageJProbe.recordMenuRun", "Unload Models", "");
                print("SSR-RECORDED unload " + rec);
                eval(rec);
                print("SSR-IMAGES-LEFT " + nImages);
                print("SSR-PROBE-DONE");
                """.formatted(COMMANDS.stream().map(c -> "\"" + c + "\"").collect(Collectors.joining(", ")), out, TINY, generate,
                models, models, models, models);
        Path file = WORK.resolve("probe.ijm");
        Files.writeString(file, macro);
        Run ij = imageJ(file, "", true);
        String text = ij.output();
        assertTrue(!text.contains("SSR-MISSING-COMMANDS"), "ImageJ did not find every SSR-Encoder command:\n" + text);
        for (String c : COMMANDS) {
            assertTrue(text.contains("SSR-COMMAND " + c + " -> io.github.ssrencoder.imagej.ij1.SsrIj1Plugin("), text);
        }
        assertTrue(text.contains("SSR-MENU " + String.join(";", COMMANDS) + "\n"), "each entry once, in plugins.config order:\n" + text);
        assertTrue(text.contains("SSR-PROBE-DONE"), text);

        Matcher m = RECORDED.matcher(text);
        Map<String, String> recorded = new java.util.HashMap<>();
        while (m.find()) {
            recorded.put(m.group(1), m.group(2));
        }
        assertTrue(recorded.get("generate").startsWith("run(\"Generate from Subject\", \"query=[red circle] prompt=[a red circle on a table] "),
                recorded.toString());
        assertTrue(recorded.get("generate").contains(" seed=42 images=2 lora=[] cache_interval=1 control=none controlnet=[] control_scale=1 control_start=0 control_end=1 frames=0 motion_adapter=[] frame_interval=0.125 use_roi mask_weight=1"), recorded.toString());
        assertEquals("run(\"Unload Models\");", recorded.get("unload"));
        for (String pair : List.of("generate", "attention", "query", "overlay", "multi")) {
            ImagePlus a = IJ.openImage(out.resolve(pair + "-dialog.tif").toString());
            ImagePlus b = IJ.openImage(out.resolve(pair + "-replay.tif").toString());
            assertNotNull(a, pair + " dialog result missing:\n" + text);
            assertNotNull(b, pair + " replay result missing:\n" + text);
            assertSamePixels(a, b);
        }
        assertEquals(2, IJ.openImage(out.resolve("generate-dialog.tif").toString()).getStackSize());
        String dialogSettings = line(text, "SSR-SETTINGS-DIALOG ");
        assertTrue(dialogSettings.contains("threads=1"), dialogSettings);
        assertEquals(dialogSettings, line(text, "SSR-SETTINGS-REPLAY "));
        assertTrue(text.contains("SSR-IMAGES-LEFT 1\n"), "only the reference stays open:\n" + text);
    }

    private static boolean onLinuxX64() {
        return System.getProperty("os.name").startsWith("Linux") && "amd64".equals(System.getProperty("os.arch"));
    }

    /** Runs {@code scripts/examples/<macro>} on the repository in the real ImageJ, its output file removed first. */
    private static Run runExample(String macro, String output) throws Exception {
        Files.createDirectories(EXAMPLES);
        Files.deleteIfExists(EXAMPLES.resolve(output));
        return imageJ(PROJECT.resolve("scripts/examples").resolve(macro), PROJECT.toString(), false);
    }

    private static String line(String text, String prefix) {
        return text.lines().filter(l -> l.startsWith(prefix)).findFirst().map(l -> l.substring(prefix.length()))
                .orElseThrow(() -> new AssertionError("no line " + prefix + " in\n" + text));
    }

    private static void assertSamePixels(ImagePlus expected, ImagePlus actual) {
        assertNotNull(expected);
        assertNotNull(actual);
        assertEquals(expected.getWidth(), actual.getWidth());
        assertEquals(expected.getHeight(), actual.getHeight());
        assertEquals(expected.getStackSize(), actual.getStackSize());
        ImageStack a = expected.getStack();
        ImageStack b = actual.getStack();
        for (int i = 1; i <= a.getSize(); i++) {
            Object pa = a.getProcessor(i).getPixels();
            Object pb = b.getProcessor(i).getPixels();
            if (pa instanceof int[] ia) {
                assertArrayEquals(ia, (int[]) pb, "slice " + i);
            } else if (pa instanceof float[] fa) {
                assertArrayEquals(fa, (float[]) pb, "slice " + i);
            } else if (pa instanceof byte[] ba) {
                assertArrayEquals(ba, (byte[]) pb, "slice " + i);
            } else {
                assertArrayEquals((short[]) pa, (short[]) pb, "slice " + i);
            }
        }
    }

    /** Runs ImageJ 1.x on {@code macro} as Fiji's launcher would, under Xvfb, with its own preferences and cache. */
    private static Run imageJ(Path macro, String argument, boolean probe) throws Exception {
        Path home = Files.createTempDirectory(WORK, "home");
        List<String> cp = new ArrayList<>();
        cp.add(FIJI.resolve("jars") + File.separator + "*");
        for (String sub : list(FIJI.resolve("jars"))) {
            if (Files.isDirectory(FIJI.resolve("jars").resolve(sub))) {
                cp.add(FIJI.resolve("jars").resolve(sub) + File.separator + "*");
            }
        }
        if (probe) {
            cp.add(probeClasses().toString());
        }
        List<String> cmd = new ArrayList<>(List.of("xvfb-run", "-a", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx2g", "-Dplugins.dir=" + FIJI, "-Duser.home=" + home, "-Djava.util.prefs.userRoot=" + home.resolve("prefs"),
                "-cp", String.join(File.pathSeparator, cp), "ij.ImageJ", "-batch", macro.toString()));
        if (!argument.isEmpty()) {
            cmd.add(argument);
        }
        Run r = run(cmd, Map.of("DJL_CACHE_DIR", home.resolve("djl").toString()), 300);
        assertEquals(0, r.exit(), r.output());
        return r;
    }

    /** A folder with the probe's classes alone (the test classes hold other SciJava plugins). */
    private static Path probeClasses() throws IOException {
        Path dir = WORK.resolve("probe-classes");
        Path pkg = dir.resolve("io/github/ssrencoder/packaging");
        Files.createDirectories(pkg);
        Path classes = BUILD.resolve("test-classes/io/github/ssrencoder/packaging");
        for (String name : list(classes)) {
            if (name.startsWith("ImageJProbe")) {
                Files.copy(classes.resolve(name), pkg.resolve(name), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return dir;
    }

    /** Runs {@code cmd} with a time limit; past it the process and its children are killed and the test fails. */
    static Run run(List<String> cmd, Map<String, String> env, int seconds) throws IOException, InterruptedException {
        Path log = Files.createTempFile(WORK, "process", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("no exit within " + seconds + " s (an unknown command or a dialog waiting?): "
                    + String.join(" ", cmd) + "\n" + Files.readString(log, StandardCharsets.UTF_8));
        }
        return new Run(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
    }

    private static List<String> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).collect(Collectors.toList())) {
                Files.delete(p);
            }
        }
    }
}
