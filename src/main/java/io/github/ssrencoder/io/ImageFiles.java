package io.github.ssrencoder.io;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOInvalidTreeException;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import net.imglib2.Cursor;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.img.basictypeaccess.array.FloatArray;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.type.numeric.real.FloatType;
import net.imglib2.view.Views;

/**
 * Reads reference images and masks from PNG/JPEG/TIFF files into imglib2 images, and writes generated
 * images as PNG with their parameters in text chunks — atomically, so a failed run never leaves a
 * half-written file under the final name.
 */
public final class ImageFiles {

    /** The most pixels an input image may have (8192²: its decoded raster and copies stay well under 1 GB). */
    public static final long MAX_PIXELS = 8192L * 8192L;

    private ImageFiles() {
    }

    /** Reads an image as RGB (alpha dropped, greyscale replicated), like PIL's {@code convert("RGB")}. */
    public static ArrayImg<ARGBType, IntArray> readRgb(Path file) {
        BufferedImage img = read(file);
        int w = img.getWidth();
        int h = img.getHeight();
        int[] argb = new int[w * h];
        if (img.getColorModel().getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY) {
            // Grey values are taken as stored (PIL's convert("RGB") replicates them); getRGB would apply a
            // linear-to-sRGB conversion and change them.
            var raster = img.getRaster();
            int bits = img.getColorModel().getComponentSize(0);
            int max = (1 << bits) - 1;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int s = raster.getSample(x, y, 0);
                    int v = bits == 8 ? s : Math.round(s * 255f / max);
                    argb[y * w + x] = 0xFF000000 | v << 16 | v << 8 | v;
                }
            }
        } else {
            img.getRGB(0, 0, w, h, argb, 0, w);
            for (int i = 0; i < argb.length; i++) {
                argb[i] |= 0xFF000000;
            }
        }
        return ArrayImgs.argbs(argb, w, h);
    }

    /**
     * Reads a mask: the first channel (red, or the grey value) as a float in [0, 1], as
     * {@code ToTensor()} of the RGB-converted image gives it.
     */
    public static ArrayImg<FloatType, FloatArray> readMask(Path file) {
        ArrayImg<ARGBType, IntArray> rgb = readRgb(file);
        int[] argb = rgb.update(null).getCurrentStorageArray();
        float[] out = new float[argb.length];
        for (int i = 0; i < argb.length; i++) {
            out[i] = ((argb[i] >> 16) & 0xFF) / 255f;
        }
        return ArrayImgs.floats(out, rgb.dimension(0), rgb.dimension(1));
    }

    private static BufferedImage read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw WeightFileException.of(file, "image file not found");
        }
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) {
                throw WeightFileException.of(file, "not a readable image (PNG, JPEG, BMP, GIF or TIFF expected)");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                checkSize(file, reader.getWidth(0), reader.getHeight(0));
                return reader.read(0, reader.getDefaultReadParam());
            } finally {
                reader.dispose();
            }
        } catch (IOException e) {
            String reason = e.getMessage() != null ? e.getMessage()
                    : e.getCause() != null ? String.valueOf(e.getCause()) : "damaged image data";
            throw WeightFileException.of(file, "cannot read image: " + reason, e);
        } catch (WeightFileException e) {
            throw e;
        } catch (RuntimeException e) {
            // the decoders' unchecked failures on damaged data (bad tables, impossible sample layouts, …)
            throw WeightFileException.of(file, "cannot read image (damaged or unsupported): " + e, e);
        }
    }

    /**
     * Refuses, before anything is decoded, an image whose header declares no pixels or more than {@link #MAX_PIXELS}:
     * decoding would allocate its full raster (and a damaged header can claim billions of pixels).
     */
    static void checkSize(Path file, long width, long height) {
        if (width <= 0 || height <= 0) {
            throw WeightFileException.of(file, "image header declares " + width + " × " + height + " pixels");
        }
        long pixels = width * height;
        if (pixels > MAX_PIXELS) {
            throw WeightFileException.of(file, "image is " + width + " × " + height + " = " + pixels + " pixels, more than the "
                    + MAX_PIXELS + " (8192 × 8192) an input image may have; scale it down first");
        }
    }

    /** Converts an RGB imglib2 image to an opaque {@link BufferedImage}. */
    public static BufferedImage toBufferedImage(RandomAccessibleInterval<ARGBType> image) {
        int w = (int) image.dimension(0);
        int h = (int) image.dimension(1);
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] row = new int[w * h];
        Cursor<ARGBType> c = Views.flatIterable(image).cursor();
        int i = 0;
        while (c.hasNext()) {
            row[i++] = c.next().get();
        }
        out.setRGB(0, 0, w, h, row, 0, w);
        return out;
    }

    /** Writes {@code image} as PNG with {@code text} as tEXt chunks, atomically. */
    public static void writePng(RandomAccessibleInterval<ARGBType> image, Path file, Map<String, String> text) {
        writePng(toBufferedImage(image), file, text);
    }

    /** Writes a {@link BufferedImage} as PNG with {@code text} as tEXt chunks, atomically. */
    public static void writePng(BufferedImage image, Path file, Map<String, String> text) {
        AtomicFiles.write(file, out -> writePngTo(image, out, text));
    }

    private static void writePngTo(BufferedImage image, OutputStream out, Map<String, String> text) throws IOException {
        Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName("png");
        ImageWriter writer = writers.next();
        try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
            writer.setOutput(ios);
            ImageWriteParam param = writer.getDefaultWriteParam();
            IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(image), param);
            if (!text.isEmpty()) {
                IIOMetadataNode root = new IIOMetadataNode("javax_imageio_png_1.0");
                IIOMetadataNode tEXt = new IIOMetadataNode("tEXt");
                for (Map.Entry<String, String> e : text.entrySet()) {
                    IIOMetadataNode entry = new IIOMetadataNode("tEXtEntry");
                    entry.setAttribute("keyword", e.getKey());
                    entry.setAttribute("value", latin1(e.getValue()));
                    tEXt.appendChild(entry);
                }
                root.appendChild(tEXt);
                try {
                    meta.mergeTree("javax_imageio_png_1.0", root);
                } catch (IIOInvalidTreeException e) {
                    throw new IOException("cannot add PNG text: " + e.getMessage(), e);
                }
            }
            writer.write(null, new IIOImage(image, null, meta), param);
        } finally {
            writer.dispose();
        }
    }

    private static String latin1(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            b.append(c < 256 ? c : '?');
        }
        return b.toString();
    }
}
