package io.github.ssrencoder.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.cli.SsrCli;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.io.SafetensorsFile;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's first command, run through the CLI in this JVM with its outputs redirected to a temporary folder,
 * writes a picture in the queried subject's colour and an attention map that lies on that subject of the demo
 * reference. (QuickStartScriptIT runs the same line through {@code scripts/ssr}.)
 */
class QuickStartCommandTest {

    @TempDir
    Path tmp;

    @Test
    void readmeFirstCommandShowsTheSelectionOfTheDemoModel() throws Exception {
        Path project = DemoModelSelectionTest.PROJECT;
        List<String> words = QuickStartCommand.words(project);
        assertEquals("demo/shapes", QuickStartCommand.option(words, "--models"), "the quick start runs the demo model");
        List<String> args = new ArrayList<>();
        for (int i = 1; i < words.size(); i++) {
            String w = words.get(i);
            String previous = words.get(i - 1);
            if (previous.equals("--output") || previous.equals("--save-attention")) {
                args.add(tmp.resolve(w).toString());
            } else if (previous.equals("--models") || previous.equals("--image")) {
                args.add(project.resolve(w).toString());
            } else {
                args.add(w);
            }
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = SsrCli.execute(args.toArray(String[]::new), new PrintWriter(out, true), new PrintWriter(err, true));
        assertEquals(0, code, "exit code; stderr:\n" + err);
        checkOutputs(words, tmp);
    }

    /**
     * The README command wrote under {@code dir} a picture in its query's colour and an attention map that selects its
     * query's shape.
     */
    static void checkOutputs(List<String> words, Path dir) throws Exception {
        String query = QuickStartCommand.option(words, "--query");
        ShapeScenes.Shape own = null;
        ShapeScenes.Shape other = null;
        for (ShapeScenes.Shape s : ShapeScenes.reference().shapes()) {
            if (s.name().equals(query)) {
                own = s;
            } else {
                other = s;
            }
        }
        assertTrue(own != null, "the README's query '" + query + "' names a shape of the demo reference");
        Path picture = dir.resolve(QuickStartCommand.option(words, "--output"));
        Path attention = dir.resolve(QuickStartCommand.option(words, "--save-attention"));
        assertTrue(Files.isRegularFile(picture), "picture " + picture);
        assertTrue(Files.isRegularFile(attention.resolve("subject1-overlay.png")), "attention overlay in " + attention);
        assertEquals(ShapeScenes.SIZE, ImageFiles.readRgb(picture).dimension(0), "picture width");
        DemoModelSelectionTest.assertDominant(ImageFiles.readRgb(picture), own.colour(), other.colour(), "README command's picture");
        try (SafetensorsFile raw = SafetensorsFile.open(attention.resolve("attention.safetensors"))) {
            long[] shape = raw.info("subject1.A_t2p").shape();
            ByteBuffer bytes = ByteBuffer.wrap(raw.readBytes("subject1.A_t2p")).order(ByteOrder.LITTLE_ENDIAN);
            int heads = (int) shape[0];
            int length = (int) shape[1];
            int tokens = (int) shape[2];
            int words2 = query.split(" ").length;
            float[] map = new float[tokens - 1];
            for (int h = 0; h < heads; h++) {
                for (int position = 1; position <= words2; position++) {
                    for (int p = 1; p < tokens; p++) {
                        map[p - 1] += bytes.getFloat(4 * ((h * length + position) * tokens + p));
                    }
                }
            }
            DemoModelSelectionTest.assertSelects(map, own, other, "README command's attention map");
        }
    }
}
