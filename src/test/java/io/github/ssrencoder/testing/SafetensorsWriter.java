package io.github.ssrencoder.testing;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes small {@code .safetensors} files for tests: tensors are added in order with their dtype name,
 * shape and raw little-endian bytes; {@link #headerJson()} and {@link #assemble(String, byte[])} let tests
 * build deliberately broken files.
 */
public final class SafetensorsWriter {

    private record Tensor(String name, String dtype, long[] shape, byte[] data) {
    }

    private final List<Tensor> tensors = new ArrayList<>();

    /** Adds a tensor with raw bytes in its stored dtype ({@code "F32"}, {@code "F16"}, {@code "BF16"}, {@code "I64"}, ...). */
    public SafetensorsWriter add(String name, String dtype, long[] shape, byte[] data) {
        tensors.add(new Tensor(name, dtype, shape.clone(), data.clone()));
        return this;
    }

    /** Adds a float32 tensor. */
    public SafetensorsWriter addF32(String name, long[] shape, float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return add(name, "F32", shape, b.array());
    }

    /** Adds an int64 tensor. */
    public SafetensorsWriter addI64(String name, long[] shape, long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return add(name, "I64", shape, b.array());
    }

    /** Adds a tensor of 16-bit elements (F16 or BF16 bit patterns). */
    public SafetensorsWriter addShorts(String name, String dtype, long[] shape, int... bits) {
        ByteBuffer b = ByteBuffer.allocate(bits.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : bits) {
            b.putShort((short) v);
        }
        return add(name, dtype, shape, b.array());
    }

    /** The header JSON the tensors added so far produce (offsets packed in order). */
    public String headerJson() {
        JsonObject header = new JsonObject();
        long offset = 0;
        for (Tensor t : tensors) {
            JsonObject o = new JsonObject();
            o.addProperty("dtype", t.dtype());
            JsonArray shape = new JsonArray();
            for (long d : t.shape()) {
                shape.add(d);
            }
            o.add("shape", shape);
            JsonArray off = new JsonArray();
            off.add(offset);
            off.add(offset + t.data().length);
            o.add("data_offsets", off);
            header.add(t.name(), o);
            offset += t.data().length;
        }
        return header.toString();
    }

    /** The concatenated tensor data. */
    public byte[] data() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Tensor t : tensors) {
            out.writeBytes(t.data());
        }
        return out.toByteArray();
    }

    /** The complete file content. */
    public byte[] toBytes() {
        return assemble(headerJson(), data());
    }

    /** Writes the file and returns its path. */
    public Path write(Path file) {
        return write(file, toBytes());
    }

    /** A file made of an arbitrary header string (padded with spaces to 8 bytes, as the format allows) and data. */
    public static byte[] assemble(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded);
        b.put(h);
        for (int i = h.length; i < padded; i++) {
            b.put((byte) ' ');
        }
        b.put(data);
        return b.array();
    }

    /** Writes {@code bytes} to {@code file}. */
    public static Path write(Path file, byte[] bytes) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.write(file, bytes);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
