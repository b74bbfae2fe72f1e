package io.github.ssrencoder.io;

import ij.ImagePlus;
import ij.ImageStack;
import ij.io.FileSaver;
import ij.measure.Calibration;
import ij.process.ColorProcessor;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageOutputStream;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;

/**
 * Writes the frames of a generated clip: an ImageJ TIFF hyperstack (frames on the time axis, calibrated frame
 * interval, parameters in its Info), an animated GIF, or a folder of numbered PNGs. Every file is written
 * atomically.
 */
public final class ClipFiles {

    private ClipFiles() {
    }

    /** How a clip is written, from the output name: {@code .tif}/{@code .tiff}, {@code .gif}, anything else a folder. */
    public enum Format {
        TIFF, GIF, PNG_FOLDER;

        public static Format of(Path output) {
            String name = output.getFileName().toString().toLowerCase(Locale.ROOT);
            if (name.endsWith(".tif") || name.endsWith(".tiff")) {
                return TIFF;
            }
            if (name.endsWith(".gif")) {
                return GIF;
            }
            if (name.endsWith(".png")) {
                throw new IllegalArgumentException(output + ": a clip is written as .tif (ImageJ stack), .gif or a folder of PNGs, "
                        + "not one PNG");
            }
            return PNG_FOLDER;
        }
    }

    /** The frames as an RGB ImageJ hyperstack: one channel, one slice, {@code frames.size()} time points. */
    public static ImagePlus hyperstack(String title, List<RandomAccessibleInterval<ARGBType>> frames, double frameInterval,
                                       String info) {
        if (frames.isEmpty()) {
            throw new IllegalArgumentException("a clip needs at least one frame");
        }
        int w = (int) frames.get(0).dimension(0);
        int h = (int) frames.get(0).dimension(1);
        ImageStack stack = new ImageStack(w, h);
        for (int k = 0; k < frames.size(); k++) {
            BufferedImage img = ImageFiles.toBufferedImage(frames.get(k));
            stack.addSlice("frame " + (k + 1), new ColorProcessor(img));
        }
        ImagePlus imp = new ImagePlus(title, stack);
        imp.setDimensions(1, 1, frames.size());
        imp.setOpenAsHyperStack(true);
        Calibration cal = imp.getCalibration();
        cal.frameInterval = frameInterval;
        cal.setTimeUnit("sec");
        cal.fps = 1.0 / frameInterval;
        if (info != null) {
            imp.setProperty("Info", info);
        }
        return imp;
    }

    /** Writes the frames as an ImageJ TIFF hyperstack (readable by ImageJ/Fiji with its time calibration). */
    public static void writeTiff(List<RandomAccessibleInterval<ARGBType>> frames, Path file, double frameInterval, String info) {
        ImagePlus imp = hyperstack(file.getFileName().toString(), frames, frameInterval, info);
        byte[] bytes = new FileSaver(imp).serialize();
        if (bytes == null) {
            throw WeightFileException.of(file, "ImageJ could not encode the clip as TIFF");
        }
        AtomicFiles.write(file, out -> out.write(bytes));
    }

    /** Writes the frames as an endlessly looping animated GIF, {@code frameInterval} seconds per frame. */
    public static void writeGif(List<RandomAccessibleInterval<ARGBType>> frames, Path file, double frameInterval) {
        AtomicFiles.write(file, out -> {
            Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName("gif");
            ImageWriter writer = writers.next();
            try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
                writer.setOutput(ios);
                writer.prepareWriteSequence(null);
                int delay = (int) Math.max(1, Math.round(frameInterval * 100));
                for (int k = 0; k < frames.size(); k++) {
                    BufferedImage img = ImageFiles.toBufferedImage(frames.get(k));
                    IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(img), null);
                    String format = meta.getNativeMetadataFormatName();
                    IIOMetadataNode root = (IIOMetadataNode) meta.getAsTree(format);
                    IIOMetadataNode control = child(root, "GraphicControlExtension");
                    control.setAttribute("disposalMethod", "none");
                    control.setAttribute("userInputFlag", "FALSE");
                    control.setAttribute("transparentColorFlag", "FALSE");
                    control.setAttribute("delayTime", Integer.toString(delay));
                    control.setAttribute("transparentColorIndex", "0");
                    if (k == 0) {
                        IIOMetadataNode apps = child(root, "ApplicationExtensions");
                        IIOMetadataNode app = new IIOMetadataNode("ApplicationExtension");
                        app.setAttribute("applicationID", "NETSCAPE");
                        app.setAttribute("authenticationCode", "2.0");
                        app.setUserObject(new byte[] {1, 0, 0});
                        apps.appendChild(app);
                    }
                    meta.setFromTree(format, root);
                    writer.writeToSequence(new IIOImage(img, null, meta), null);
                }
                writer.endWriteSequence();
            } finally {
                writer.dispose();
            }
        });
    }

    /** Writes {@code frame-001.png}, {@code frame-002.png}, … into {@code dir} (created); returns the files. */
    public static List<Path> writePngFolder(List<RandomAccessibleInterval<ARGBType>> frames, Path dir, Map<String, String> text) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw WeightFileException.of(dir, "cannot create the output folder: " + e.getMessage(), e);
        }
        List<Path> files = new ArrayList<>();
        int digits = Math.max(3, Integer.toString(frames.size()).length());
        for (int k = 0; k < frames.size(); k++) {
            Path f = dir.resolve(String.format(Locale.ROOT, "frame-%0" + digits + "d.png", k + 1));
            ImageFiles.writePng(frames.get(k), f, text);
            files.add(f);
        }
        return files;
    }

    private static IIOMetadataNode child(IIOMetadataNode root, String name) {
        for (int i = 0; i < root.getLength(); i++) {
            if (root.item(i).getNodeName().equalsIgnoreCase(name)) {
                return (IIOMetadataNode) root.item(i);
            }
        }
        IIOMetadataNode node = new IIOMetadataNode(name);
        root.appendChild(node);
        return node;
    }
}
