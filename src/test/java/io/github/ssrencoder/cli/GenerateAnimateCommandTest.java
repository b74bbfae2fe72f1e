package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.io.Opener;
import io.github.ssrencoder.pipeline.PipelineGoldenTest;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import net.imglib2.img.array.ArrayImgs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ssr generate --motion-adapter … --frames N}: the AnimateDiff golden clip from the command line, and its outputs. */
class GenerateAnimateCommandTest {

    private static final String CASE = "pipeline_animate_ddim";

    @TempDir
    Path tmp;

    private List<String> clipArgs(Path output) {
        Path a = Golden.tinyA();
        return new ArrayList<>(List.of("generate", "--models", a.toString(), "--image", a.resolve("reference.png").toString(),
                "--query", "red circle", "--prompt", "a red circle on a table", "--scale", "0.5", "--steps", "4",
                "--scheduler", "ddim", "--width", "64", "--height", "64",
                "--init-latents", GenerateCommandTest.initLatents(tmp, CASE).toString(),
                "--motion-adapter", a.resolve("motion_adapter").toString(), "--frames", "6", "--output", output.toString()));
    }

    /** Frame {@code k} of an RGB ImageJ stack as an imglib2 image. */
    private static net.imglib2.img.array.ArrayImg<net.imglib2.type.numeric.ARGBType, ?> frame(ImagePlus imp, int k) {
        int[] pixels = (int[]) imp.getStack().getProcessor(k + 1).getPixels();
        return ArrayImgs.argbs(pixels.clone(), imp.getWidth(), imp.getHeight());
    }

    @Test
    void clipFromFlagsIsAnImageJStackWithTheGoldenFrames() throws Exception {
        Path tif = tmp.resolve("clip.tif");
        Path latents = tmp.resolve("clip.safetensors");
        List<String> args = clipArgs(tif);
        args.addAll(List.of("--gif", "--frame-interval", "0.25", "--save-latents", latents.toString()));
        GenerateCommandTest.Run r = GenerateCommandTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        GenerateCommandTest.assertLatents(CASE, latents);
        ImagePlus imp = new Opener().openImage(tif.toString());
        assertEquals(6, imp.getNFrames());
        assertEquals(1, imp.getNSlices());
        assertEquals(0.25, imp.getCalibration().frameInterval, 1e-9);
        assertEquals("sec", imp.getCalibration().getTimeUnit());
        String info = (String) imp.getProperty("Info");
        assertTrue(info.contains("frames = 6") && info.contains("motion_adapter = "), info);
        for (int k = 0; k < 6; k++) {
            PipelineGoldenTest.assertImageWithinOne("CLI frame " + k,
                    Golden.tinyA().resolve("cases").resolve(CASE + "_frame" + k + ".png"), frame(imp, k));
        }
        Path gif = tmp.resolve("clip.gif");
        assertTrue(r.out().contains(gif.toString()), r.out());
        try (ImageInputStream in = ImageIO.createImageInputStream(gif.toFile())) {
            ImageReader reader = ImageIO.getImageReaders(in).next();
            reader.setInput(in);
            assertEquals(6, reader.getNumImages(true));
        }
    }

    @Test
    void jobFileTakesMotionAdapterAndFramesAndWritesAPngFolder() throws Exception {
        Path a = Golden.tinyA();
        Path job = tmp.resolve("job.json");
        Files.writeString(job, "{\"prompt\": \"a red circle\", \"steps\": 1, \"scheduler\": \"ddim\", \"width\": 32, \"height\": 32,"
                + " \"seed\": 3, \"motion_adapter\": \"" + a.resolve("motion_adapter").toAbsolutePath() + "\", \"frames\": 2,"
                + " \"output\": \"frames\"}");
        GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--models", a.toString(), "--job", job.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(tmp.resolve("frames/frame-001.png")));
        assertTrue(Files.isRegularFile(tmp.resolve("frames/frame-002.png")));
        assertFalse(Files.exists(tmp.resolve("frames/frame-003.png")));
    }

    @Test
    void tooManyFramesAndBadAdapterFoldersAreOneLineErrors() {
        Path out = tmp.resolve("clip.tif");
        List<String> args = clipArgs(out);
        args.set(args.indexOf("--init-latents"), "--seed");
        args.set(args.indexOf("--seed") + 1, "1");
        args.set(args.indexOf("--frames") + 1, "9");
        GenerateCommandTest.Run r = GenerateCommandTest.run(args.toArray(String[]::new));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("9 frames") && r.err().contains("at most 8"), r.err());
        assertFalse(Files.exists(out));

        args.set(args.indexOf("--motion-adapter") + 1, tmp.resolve("missing").toString());
        r = GenerateCommandTest.run(args.toArray(String[]::new));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("missing") && r.err().contains("motion adapter"), r.err());

        args.set(args.indexOf("--output") + 1, tmp.resolve("clip.png").toString());
        args.set(args.indexOf("--motion-adapter") + 1, Golden.tinyA().resolve("motion_adapter").toString());
        r = GenerateCommandTest.run(args.toArray(String[]::new));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains(".tif") && r.err().contains(".gif"), r.err());
    }
}
