package io.github.ssrencoder.imagej.legacy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ij.IJ;
import ij.ImagePlus;
import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import io.github.ssrencoder.pipeline.SsrPipeline;
import io.github.ssrencoder.testing.Golden;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs macros in a separate, headless ImageJ 1.x process (patched as Fiji's headless mode is) that finds the
 * SSR-Encoder entries through {@code plugins.config}, and checks what the macros produced.
 */
class LegacyImageJMacroTest {

    @TempDir
    Path dir;

    /** Runs {@code macro} in a fresh ImageJ 1.x process; returns everything it printed. */
    private String runMacro(String macro) throws IOException, InterruptedException {
        Path file = dir.resolve("test.ijm");
        Files.writeString(file, macro);
        return runMacroFile(file, "");
    }

    /** Runs the macro file with {@code argument} in a fresh ImageJ 1.x process; returns everything it printed. */
    private String runMacroFile(Path file, String argument) throws IOException, InterruptedException {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> system = new ArrayList<>();
        List<String> plugin = new ArrayList<>();
        for (String entry : cp.split(File.pathSeparator)) {
            String name = new File(entry).getName();
            if (name.startsWith("ij-") || name.startsWith("ij1-patcher") || name.startsWith("javassist")
                    || name.startsWith("classgraph") || entry.endsWith("test-classes")) {
                system.add(entry);
            } else if (!name.startsWith("junit") && !name.startsWith("opentest4j") && !name.startsWith("apiguardian")) {
                plugin.add(entry);
            }
        }
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx3g", "--add-opens=java.base/java.lang=ALL-UNNAMED", "-Djava.awt.headless=true",
                "-Dai.djl.offline=true", "-DOPT_OUT_TRACKING=true", "-Djava.util.prefs.userRoot=" + dir.resolve("prefs"),
                "-cp", String.join(File.pathSeparator, system), LegacyMacroRunner.class.getName(), file.toString(), argument));
        cmd.addAll(plugin);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "ImageJ process timed out");
        String text = new String(out, StandardCharsets.UTF_8);
        assertTrue(text.contains("LEGACY-MACRO-DONE"), "the macro did not finish:\n" + text);
        return text;
    }

    @Test
    void macroErrorsAreOneLineMessagesAndOpenNoWindow() throws Exception {
        String out = runMacro("""
                run("Generate from Subject", "query=[red disc] prompt=[x] models=[/nonexistent/models]");
                print("images open: " + nImages);
                newImage("ref", "RGB ramp", 64, 48, 1);
                makeLine(3, 3, 40, 30);
                run("Generate from Subject", "query=[red disc] prompt=[x] use_roi steps=2 models=[/nonexistent/models]");
                run("Show Query Attention", "query=[red disc] models=[/nonexistent/models]");
                print("images open: " + nImages);
                """);
        assertTrue(out.contains("SSR-Encoder: no image open: open the reference image first"), out);
        assertTrue(out.contains("SSR-Encoder: a straight line selection cannot be a mask query"), out);
        assertTrue(out.contains("SSR-Encoder: models folder /nonexistent/models: folder not found"), out);
        assertTrue(out.contains("images open: 0") && out.contains("images open: 1"), out);
        assertTrue(!out.contains("\tat io.github.ssrencoder"), "no stack trace:\n" + out);
    }

    private static boolean realPipelineAvailable() {
        try {
            SsrPipeline.open(Golden.tinyA(), DeviceChoice.CPU, 0).close();
            return true;
        } catch (IllegalStateException e) {
            if (String.valueOf(e.getMessage()).contains("not merged")) {
                return false;
            }
            throw e;
        }
    }

    @Test
    void exampleMacroGeneratesImagesAndAttentionOnTheTinyModel() throws Exception {
        assumeTrue(realPipelineAvailable(), "the SSR pipeline is not part of this build yet");
        Path models = Golden.tinyA();
        String out = runMacro("""
                setBatchMode(true);
                open("%s");
                makeOval(8, 8, 24, 24);
                run("Generate from Subject", "query=[red circle] prompt=[a red circle on a table] negative_prompt=[] \
                scale=1 guidance=7.5 steps=2 scheduler=unipc width=64 height=64 seed=42 images=2 use_roi \
                mask_weight=1 framing=center-crop models=[%s]");
                selectImage("SSR - a red circle on a table");
                saveAs("Tiff", "%s");
                selectImage("SSR attention - red circle");
                saveAs("Tiff", "%s");
                """.formatted(models.resolve("reference.png"), models, dir.resolve("generated.tif"), dir.resolve("attention.tif")));
        ImagePlus generated = IJ.openImage(dir.resolve("generated.tif").toString());
        assertTrue(generated != null, "no generated image:\n" + out);
        assertEquals(64, generated.getWidth());
        assertEquals(64, generated.getHeight());
        assertEquals(2, generated.getStackSize());
        assertEquals(ImagePlus.COLOR_RGB, generated.getType());
        assertTrue(generated.getInfoProperty().contains("seed = 42"), generated.getInfoProperty());
        ImagePlus attention = IJ.openImage(dir.resolve("attention.tif").toString());
        assertTrue(attention != null, "no attention image:\n" + out);
        assertEquals(ImagePlus.GRAY32, attention.getType());
        assertEquals("mean", attention.getStack().getSliceLabel(attention.getStackSize()));
    }

    @Test
    void exampleScriptRunsOnTheTinyModel() throws Exception {
        assumeTrue(realPipelineAvailable(), "the SSR pipeline is not part of this build yet");
        Path root = Path.of(System.getProperty("ssr.project.dir", "."));
        Path out = root.resolve("target/examples");
        for (String name : List.of("generated.tif", "attention.tif", "attention-overlay.tif")) {
            Files.deleteIfExists(out.resolve(name));
        }
        String log = runMacroFile(root.resolve("scripts/examples/generate.ijm"), root.toString());
        assertTrue(log.contains("SSR-Encoder example done"), log);
        ImagePlus generated = IJ.openImage(out.resolve("generated.tif").toString());
        assertEquals(64, generated.getWidth());
        assertTrue(generated.getInfoProperty().contains("seed = 42"), generated.getInfoProperty());
        assertEquals("mean", IJ.openImage(out.resolve("attention.tif").toString()).getStack().getSliceLabel(3));
        assertTrue(Files.exists(out.resolve("attention-overlay.tif")));
    }
}
