package io.github.ssrencoder.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/** Writes small safetensors files (F32 / F16 arrays) for tests that need variants of the golden weights. */
public final class NDArraySafetensors {

    private NDArraySafetensors() {
    }

    /** Writes {@code tensors} (in map order) to {@code file}. */
    public static void write(Path file, Map<String, NDArray> tensors) throws IOException {
        JsonObject header = new JsonObject();
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
            NDArray a = e.getValue();
            String dtype = switch (a.getDataType()) {
                case FLOAT32 -> "F32";
                case FLOAT16 -> "F16";
                default -> throw new IllegalArgumentException("unsupported dtype " + a.getDataType());
            };
            byte[] bytes = a.toByteArray();
            JsonObject entry = new JsonObject();
            entry.addProperty("dtype", dtype);
            JsonArray shape = new JsonArray();
            for (long d : a.getShape().getShape()) {
                shape.add(d);
            }
            entry.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(data.size());
            offsets.add(data.size() + bytes.length);
            entry.add("data_offsets", offsets);
            header.add(e.getKey(), entry);
            data.write(bytes);
        }
        JsonObject meta = new JsonObject();
        meta.addProperty("format", "pt");
        header.add("__metadata__", meta);
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = new byte[padded];
        Arrays.fill(headerBytes, (byte) ' ');
        System.arraycopy(json, 0, headerBytes, 0, json.length);
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
            out.write(headerBytes);
            data.writeTo(out);
        }
    }
}
