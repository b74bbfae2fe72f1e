package io.github.ssrencoder.io;

import io.github.ssrencoder.testing.FileErrors;
import io.github.ssrencoder.testing.SafetensorsWriter;
import io.github.ssrencoder.testing.TorchZipWriter;
import io.github.ssrencoder.testing.TorchZipWriter.Pickle;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Damaged weight files the fuzzer found escaping as other exceptions: each now gets a one-line error naming the file. */
class DamagedWeightFilesTest {

    @TempDir
    Path dir;

    private static WeightFileException openFails(Path file) {
        return FileErrors.assertFileError(file, () -> WeightFiles.open(file).close());
    }

    private Path safetensors(String name, String header, int dataBytes) {
        return SafetensorsWriter.write(dir.resolve(name), SafetensorsWriter.assemble(header, new byte[dataBytes]));
    }

    @Test
    void objectWhereAnOffsetBelongsIsRefused() {
        Path file = safetensors("offsets.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[{},4]}}", 4);
        FileErrors.assertMentions(openFails(file), "tensor 'a' has a malformed shape or data_offsets");
    }

    @Test
    void nullInAShapeIsRefused() {
        Path file = safetensors("shape.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4);
        FileErrors.assertMentions(openFails(file), "tensor 'a' has a malformed shape or data_offsets");
    }

    @Test
    void dtypeThatIsNotAStringIsRefused() {
        Path file = safetensors("dtype.safetensors", "{\"a\":{\"dtype\":[\"F32\"],\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
        FileErrors.assertMentions(openFails(file), "tensor 'a' dtype must be a string");
    }

    @Test
    void shapeWhoseElementCountOverflowsIsRefusedNotReadAsEmpty() {
        // 2^32 × 2^32 elements wrap to 0 in 64-bit arithmetic, which matched the zero bytes stored
        Path file = safetensors("huge.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0);
        FileErrors.assertMentions(openFails(file), "tensor 'a' shape [4294967296, 4294967296] is too large");
    }

    @Test
    void negativeTensorSizeInAPickleIsRefused() {
        Path file = new TorchZipWriter().floatStorage("0", 1, 2, 3, 4, 5, 6)
                .tensor("w", "0", "FloatStorage", 6, 0, new long[] {2, -1}, new long[] {3, 1}).write(dir.resolve("neg.bin"));
        FileErrors.assertMentions(openFails(file), "tensor 'w' has a negative size, stride, offset or storage size");
    }

    @Test
    void strideThatOverflowsTheStorageBoundIsRefused() {
        Path file = new TorchZipWriter().floatStorage("0", 1, 2, 3, 4, 5, 6)
                .tensor("w", "0", "FloatStorage", 6, 0, new long[] {3, 2}, new long[] {Long.MAX_VALUE, 1})
                .write(dir.resolve("stride.bin"));
        FileErrors.assertMentions(openFails(file), "tensor 'w' of size [3, 2]", "is too large");
    }

    @Test
    void broadcastTensorLargerThanTwoGibibytesIsRefused() {
        // stride 0 repeats one element, so the storage bound holds, but the gathered copy would not fit an array
        Path file = new TorchZipWriter().floatStorage("0", 1, 2, 3, 4, 5, 6)
                .tensor("w", "0", "FloatStorage", 6, 0, new long[] {1L << 40}, new long[] {0}).write(dir.resolve("broadcast.bin"));
        FileErrors.assertMentions(openFails(file), "larger than 2 GiB");
    }

    @Test
    void damagedNumberInThePickleIsAMalformedPickle() {
        // INT ('I') reads a decimal line: here the storage type's name
        byte[] pkl = new Pickle().proto2().op('I').global("torch", "FloatStorage").op('.').bytes();
        Path file = TorchZipWriter.writeZip(dir.resolve("int.bin"), pkl, Map.of());
        FileErrors.assertMentions(openFails(file), "not a PyTorch state dict: malformed pickle");
    }

    @Test
    void lengthFieldClaimingGigabytesIsRefusedWithoutAllocatingThem() {
        // BINUNICODE with a 4-byte length of 2^31 - 1: the pickle library would allocate that array before reading
        byte[] pkl = new Pickle().proto2().op('X').op(0xFF).op(0xFF).op(0xFF).op(0x7F).op('a').op('.').bytes();
        Path file = TorchZipWriter.writeZip(dir.resolve("length.bin"), pkl, Map.of());
        FileErrors.assertMentions(openFails(file), "opcode 0x58 claims 2147483647 bytes, but the pickle has 2 left");
    }
}
