package io.github.ssrencoder.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.SafetensorsWriter;
import java.nio.file.Path;
import java.util.Arrays;
import io.github.ssrencoder.testing.FileErrors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {

    @TempDir
    Path dir;

    private static final long[] TWO = {2};

    private static WeightFileException openFails(Path file) {
        return FileErrors.assertFileError(file, () -> SafetensorsFile.open(file).close());
    }

    @Test
    void missingFileIsNamed() {
        Path file = dir.resolve("absent.safetensors");
        FileErrors.assertMentions(openFails(file), "file not found");
    }

    @Test
    void missingFolderIsNamed() {
        Path folder = dir.resolve("no-such-folder");
        WeightFileException e = assertThrows(WeightFileException.class, () -> WeightFiles.find(folder, "model"));
        assertEquals(folder + ": folder not found", e.getMessage());
        Path empty = dir;
        e = assertThrows(WeightFileException.class, () -> WeightFiles.find(empty, "diffusion_pytorch_model"));
        FileErrors.assertMentions(e, empty.toString(), "no weight file found", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin");
    }

    @Test
    void truncatedDataIsRefused() {
        byte[] full = new SafetensorsWriter().addF32("a", new long[] {4}, 1, 2, 3, 4).toBytes();
        Path file = SafetensorsWriter.write(dir.resolve("cut.safetensors"), Arrays.copyOf(full, full.length - 3));
        FileErrors.assertMentions(openFails(file), "truncated", "'a'", "ends at byte 16", "holds only 13 bytes");
    }

    @Test
    void headerLengthLargerThanFileIsRefused() {
        byte[] full = new SafetensorsWriter().addF32("a", TWO, 1, 2).toBytes();
        Path file = SafetensorsWriter.write(dir.resolve("short.safetensors"), Arrays.copyOf(full, 20));
        FileErrors.assertMentions(openFails(file), "header length", "larger than the 12 bytes");
    }

    @Test
    void tinyFileIsRefused() {
        Path file = SafetensorsWriter.write(dir.resolve("tiny.safetensors"), new byte[] {1, 2, 3});
        FileErrors.assertMentions(openFails(file), "not a safetensors file", "3 bytes");
    }

    @Test
    void absurdHeaderLengthIsRefused() {
        byte[] bytes = new byte[64];
        Arrays.fill(bytes, 0, 8, (byte) 0x7f);
        Path file = SafetensorsWriter.write(dir.resolve("garbage.safetensors"), bytes);
        FileErrors.assertMentions(openFails(file), "not a safetensors file", "header length");
    }

    @Test
    void offsetsOutOfRangeAreRefused() {
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
        Path file = SafetensorsWriter.write(dir.resolve("range.safetensors"), SafetensorsWriter.assemble(header, new byte[8]));
        FileErrors.assertMentions(openFails(file), "'a'", "ends at byte 16", "holds only 8 bytes");

        header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}";
        file = SafetensorsWriter.write(dir.resolve("reversed.safetensors"), SafetensorsWriter.assemble(header, new byte[8]));
        FileErrors.assertMentions(openFails(file), "'a'", "invalid data_offsets [8, 4]");
    }

    @Test
    void overlappingTensorsAreRefused() {
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        Path file = SafetensorsWriter.write(dir.resolve("overlap.safetensors"), SafetensorsWriter.assemble(header, new byte[12]));
        FileErrors.assertMentions(openFails(file), "'a' and 'b' overlap");
    }

    @Test
    void byteCountDisagreeingWithShapeIsRefused() {
        String header = "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
        Path file = SafetensorsWriter.write(dir.resolve("count.safetensors"), SafetensorsWriter.assemble(header, new byte[24]));
        FileErrors.assertMentions(openFails(file), "'w' is 24 bytes", "F16 [2, 3] needs 12");
    }

    @Test
    void unknownDtypeIsRefused() {
        String header = "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}";
        Path file = SafetensorsWriter.write(dir.resolve("fp8.safetensors"), SafetensorsWriter.assemble(header, new byte[2]));
        FileErrors.assertMentions(openFails(file), "'w' has unknown dtype 'F8_E4M3'", "supported:");
    }

    @Test
    void malformedJsonHeaderIsRefused() {
        Path file = SafetensorsWriter.write(dir.resolve("json.safetensors"), SafetensorsWriter.assemble("{\"a\": [1, 2", new byte[4]));
        FileErrors.assertMentions(openFails(file), "header is not valid JSON");

        file = SafetensorsWriter.write(dir.resolve("array.safetensors"), SafetensorsWriter.assemble("[1, 2]", new byte[0]));
        FileErrors.assertMentions(openFails(file), "header is not a JSON object");

        file = SafetensorsWriter.write(dir.resolve("fields.safetensors"), SafetensorsWriter.assemble("{\"a\":{\"dtype\":\"F32\"}}", new byte[0]));
        FileErrors.assertMentions(openFails(file), "'a' needs dtype, shape and data_offsets");
    }

    @Test
    void unknownKeyIsNamed() {
        Path file = new SafetensorsWriter().addF32("a", TWO, 1, 2).write(dir.resolve("one.safetensors"));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            WeightFileException e = assertThrows(WeightFileException.class, () -> f.info("b"));
            assertEquals(file + ": no tensor named 'b'", e.getMessage());
        }
    }

    @Test
    void halfPrecisionLoadsAsExactFloat32() {
        Path file = new SafetensorsWriter()
                .addShorts("h", "F16", new long[] {2, 3}, 0x3C00, 0xC000, 0x3E00, 0x0001, 0x0000, 0x7BFF)
                .write(dir.resolve("f16.safetensors"));
        try (SafetensorsFile f = SafetensorsFile.open(file); NDManager m = EngineRuntime.newManager(Device.cpu())) {
            assertEquals(DType.F16, f.info("h").dtype());
            NDArray a = f.load("h", m);
            assertEquals(DataType.FLOAT32, a.getDataType());
            assertArrayEquals(new long[] {2, 3}, a.getShape().getShape());
            assertArrayEquals(new float[] {1.0f, -2.0f, 1.5f, (float) Math.scalb(1.0, -24), 0f, 65504f}, a.toFloatArray());
        }
    }

    @Test
    void bfloat16LoadsAsTheUpperHalfOfFloat32() {
        float[] values = {1.0f, -2.5f, 3.140625f, 1e-3f, -65536f, 0f};
        int[] bits = new int[values.length];
        float[] expected = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]) >>> 16;
            expected[i] = Float.intBitsToFloat(bits[i] << 16);
        }
        Path file = new SafetensorsWriter().addShorts("b", "BF16", new long[] {3, 2}, bits).write(dir.resolve("bf16.safetensors"));
        try (SafetensorsFile f = SafetensorsFile.open(file); NDManager m = EngineRuntime.newManager(Device.cpu())) {
            NDArray a = f.load("b", m);
            assertEquals(DataType.FLOAT32, a.getDataType());
            assertArrayEquals(new long[] {3, 2}, a.getShape().getShape());
            assertArrayEquals(expected, a.toFloatArray());
            assertEquals(1.0f, a.toFloatArray()[0]);
        }
    }

    @Test
    void int64PositionIdsLoadAsInt64() {
        long[] ids = {0, 1, 2, 3, 4, 5, 6, 76};
        Path file = new SafetensorsWriter().addI64("position_ids", new long[] {1, 8}, ids).write(dir.resolve("ids.safetensors"));
        try (SafetensorsFile f = SafetensorsFile.open(file); NDManager m = EngineRuntime.newManager(Device.cpu())) {
            NDArray a = f.load("position_ids", m);
            assertEquals(DataType.INT64, a.getDataType());
            assertArrayEquals(new long[] {1, 8}, a.getShape().getShape());
            assertArrayEquals(ids, a.toLongArray());
        }
    }

    @Test
    void metadataAndEmptyTensorsAreAccepted() {
        String header = "{\"__metadata__\":{\"format\":\"pt\"},\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
        Path file = SafetensorsWriter.write(dir.resolve("meta.safetensors"), SafetensorsWriter.assemble(header, new byte[4]));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals("pt", f.metadata().get("format"));
            assertEquals(2, f.keys().size());
            assertEquals(0, f.readBytes("e").length);
            assertEquals(1, f.info("a").numel());
        }
    }
}
