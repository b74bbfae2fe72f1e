package io.github.ssrencoder.io;

import io.github.ssrencoder.testing.FileErrors;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Input images are checked by their header before decoding: absurd sizes and damaged data give one-line errors. */
class ImageFilesLimitsTest {

    @TempDir
    Path dir;

    /** A valid 4×4 PNG whose IHDR then claims {@code width} × {@code height} (CRC recomputed). */
    private Path pngClaiming(String name, int width, int height) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB), "png", out);
        byte[] b = out.toByteArray();
        ByteBuffer buf = ByteBuffer.wrap(b);
        buf.putInt(16, width).putInt(20, height);
        CRC32 crc = new CRC32();
        crc.update(b, 12, 17);
        buf.putInt(29, (int) crc.getValue());
        return Files.write(dir.resolve(name), b);
    }

    @Test
    void pngClaimingTenGigapixelsIsRefusedBeforeDecoding() throws Exception {
        Path file = pngClaiming("huge.png", 100_000, 100_000);
        WeightFileException e = FileErrors.assertFileError(file, () -> ImageFiles.readRgb(file));
        FileErrors.assertMentions(e, "100000 × 100000 = 10000000000 pixels", "more than the 67108864");
    }

    @Test
    void imageJustOverTheLimitIsRefusedAsMask() throws Exception {
        // 8193² would decode into a 256 MiB raster and more copies: refused from the header alone
        Path file = pngClaiming("mask.png", 8193, 8193);
        FileErrors.assertMentions(FileErrors.assertFileError(file, () -> ImageFiles.readMask(file)),
                "8193 × 8193 = 67125249 pixels");
    }

    @Test
    void tiffWhoseDecoderThrowsAnUncheckedExceptionIsReported() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB), "tiff", out);
        byte[] b = out.toByteArray();
        ByteBuffer buf = ByteBuffer.wrap(b).order(b[0] == 'I' ? java.nio.ByteOrder.LITTLE_ENDIAN : java.nio.ByteOrder.BIG_ENDIAN);
        int ifd = buf.getInt(4);
        int count = buf.getShort(ifd);
        for (int i = 0; i < count; i++) {
            int entry = ifd + 2 + 12 * i;
            if (buf.getShort(entry) == 256) { // ImageWidth: 0 makes the decoder throw IllegalArgumentException
                buf.putShort(entry + 2, (short) 4).putInt(entry + 4, 1).putInt(entry + 8, 0);
            }
        }
        Path file = Files.write(dir.resolve("zero.tif"), b);
        FileErrors.assertFileError(file, () -> ImageFiles.readRgb(file));
    }

    @Test
    void truncatedJpegIsRefused() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB), "jpeg", out);
        byte[] b = out.toByteArray();
        Path file = Files.write(dir.resolve("cut.jpg"), java.util.Arrays.copyOf(b, 40));
        FileErrors.assertFileError(file, () -> ImageFiles.readRgb(file));
    }
}
