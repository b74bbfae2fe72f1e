package io.github.ssrencoder.io;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.DataOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes float32 tensors held in Java memory as a {@code .safetensors} file (atomically). */
public final class SafetensorsWriter {

    private final Map<String, long[]> shapes = new LinkedHashMap<>();
    private final Map<String, float[]> data = new LinkedHashMap<>();

    /** Adds a float32 tensor. */
    public SafetensorsWriter add(String name, long[] shape, float[] values) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != values.length) {
            throw new IllegalArgumentException("tensor '" + name + "' needs " + n + " values, got " + values.length);
        }
        shapes.put(name, shape.clone());
        data.put(name, values);
        return this;
    }

    /** Writes the file. */
    public void write(Path file) {
        byte[] head = header(shapes, "F32", 4);
        AtomicFiles.write(file, out -> {
            DataOutputStream dos = new DataOutputStream(out);
            dos.write(head);
            for (float[] values : data.values()) {
                ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                buf.asFloatBuffer().put(values);
                dos.write(buf.array());
            }
            dos.flush();
        });
    }

    /**
     * The start of a safetensors file holding {@code shapes} (in order, contiguous, each element
     * {@code elementBytes} long, of dtype {@code dtype}): the little-endian header length, then the JSON header
     * padded with spaces to a multiple of 8 bytes. Tensor data follows it.
     */
    public static byte[] header(Map<String, long[]> shapes, String dtype, int elementBytes) {
        JsonObject header = new JsonObject();
        JsonObject meta = new JsonObject();
        meta.addProperty("format", "pt");
        header.add("__metadata__", meta);
        long offset = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            JsonObject t = new JsonObject();
            t.addProperty("dtype", dtype);
            JsonArray shape = new JsonArray();
            long n = 1;
            for (long d : e.getValue()) {
                shape.add(d);
                n *= d;
            }
            t.add("shape", shape);
            JsonArray off = new JsonArray();
            off.add(offset);
            off.add(offset + n * elementBytes);
            t.add("data_offsets", off);
            header.add(e.getKey(), t);
            offset += n * elementBytes;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        return head.array();
    }
}
