package io.github.ssrencoder.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@code .safetensors} file, read lazily: the JSON header is parsed and validated when opened, and each
 * tensor's bytes are memory-mapped only when it is loaded, so multi-gigabyte UNet files never pass through
 * the Java heap.
 */
public final class SafetensorsFile implements TensorSource {

    /** Headers larger than this are refused as corrupt (real headers are well under 1 MB). */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private record Entry(TensorInfo info, long begin, long end) {
    }

    private SafetensorsFile(Path file, FileChannel channel, long dataStart, Map<String, Entry> entries,
                            Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Opens and validates {@code file}; every problem is a {@link WeightFileException} naming the file. */
    public static SafetensorsFile open(Path file) {
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw WeightFileException.of(file, "file not found");
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot open: " + e.getMessage(), e);
        }
        try {
            return parse(file, ch);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    private static SafetensorsFile parse(Path file, FileChannel ch) {
        long size;
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        try {
            size = ch.size();
            if (size < 8) {
                throw WeightFileException.of(file, "not a safetensors file: " + size + " bytes, shorter than the 8-byte header length");
            }
            readFully(ch, lenBuf, 0);
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot read: " + e.getMessage(), e);
        }
        long headerLen = lenBuf.getLong(0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
            throw WeightFileException.of(file, "not a safetensors file: header length " + Long.toUnsignedString(headerLen)
                    + " is not between 2 and " + MAX_HEADER_BYTES + " bytes");
        }
        if (8 + headerLen > size) {
            throw WeightFileException.of(file, "truncated or corrupt safetensors file: header length " + headerLen
                    + " is larger than the " + (size - 8) + " bytes after the length field");
        }
        ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
        try {
            readFully(ch, headerBuf, 8);
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot read header: " + e.getMessage(), e);
        }
        String json = new String(headerBuf.array(), StandardCharsets.UTF_8);
        JsonObject header;
        try {
            JsonElement el = JsonParser.parseString(json);
            if (!el.isJsonObject()) {
                throw WeightFileException.of(file, "safetensors header is not a JSON object");
            }
            header = el.getAsJsonObject();
        } catch (JsonParseException e) {
            throw WeightFileException.of(file, "safetensors header is not valid JSON: " + e.getMessage(), e);
        }
        long dataStart = 8 + headerLen;
        long dataSize = size - dataStart;
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : header.entrySet()) {
            String key = e.getKey();
            if (key.equals("__metadata__")) {
                if (e.getValue().isJsonObject()) {
                    for (Map.Entry<String, JsonElement> m : e.getValue().getAsJsonObject().entrySet()) {
                        metadata.put(m.getKey(), m.getValue().isJsonPrimitive() ? m.getValue().getAsString() : m.getValue().toString());
                    }
                }
                continue;
            }
            entries.put(key, parseEntry(file, key, e.getValue(), dataSize));
        }
        checkOverlaps(file, entries);
        return new SafetensorsFile(file, ch, dataStart, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(metadata));
    }

    private static Entry parseEntry(Path file, String key, JsonElement value, long dataSize) {
        if (!value.isJsonObject()) {
            throw WeightFileException.of(file, "header entry '" + key + "' is not an object");
        }
        JsonObject o = value.getAsJsonObject();
        if (!o.has("dtype") || !o.has("shape") || !o.has("data_offsets")) {
            throw WeightFileException.of(file, "header entry '" + key + "' needs dtype, shape and data_offsets");
        }
        JsonElement dtypeValue = o.get("dtype");
        if (!dtypeValue.isJsonPrimitive() || !dtypeValue.getAsJsonPrimitive().isString()) {
            throw WeightFileException.of(file, "tensor '" + key + "' dtype must be a string such as \"F32\", got " + dtypeValue);
        }
        String dtypeName = dtypeValue.getAsString();
        DType dtype = DType.fromSafetensors(dtypeName);
        if (dtype == null) {
            throw WeightFileException.of(file, "tensor '" + key + "' has unknown dtype '" + dtypeName
                    + "' (supported: " + DType.supportedSafetensorsNames() + ")");
        }
        long[] shape;
        long begin;
        long end;
        try {
            var shapeArr = o.getAsJsonArray("shape");
            shape = new long[shapeArr.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeArr.get(i).getAsLong();
                if (shape[i] < 0) {
                    throw WeightFileException.of(file, "tensor '" + key + "' has a negative dimension in shape " + shapeArr);
                }
            }
            var off = o.getAsJsonArray("data_offsets");
            if (off.size() != 2) {
                throw WeightFileException.of(file, "tensor '" + key + "' data_offsets must hold two numbers, got " + off);
            }
            begin = off.get(0).getAsLong();
            end = off.get(1).getAsLong();
        } catch (ClassCastException | IllegalStateException | UnsupportedOperationException | NumberFormatException e) {
            // a list, object or null where a number belongs
            throw WeightFileException.of(file, "tensor '" + key + "' has a malformed shape or data_offsets: " + o, e);
        }
        if (begin < 0 || end < begin) {
            throw WeightFileException.of(file, "tensor '" + key + "' has invalid data_offsets [" + begin + ", " + end + "]");
        }
        if (end > dataSize) {
            throw WeightFileException.of(file, "truncated or corrupt file: tensor '" + key + "' ends at byte " + end
                    + " of the data section, which holds only " + dataSize + " bytes");
        }
        TensorInfo info = new TensorInfo(key, dtype, shape);
        long expected;
        try {
            expected = Math.multiplyExact(info.numel(), (long) dtype.bytes());
        } catch (ArithmeticException ex) {
            throw WeightFileException.of(file, "tensor '" + key + "' shape " + info.shapeString() + " is too large");
        }
        if (end - begin != expected) {
            throw WeightFileException.of(file, "tensor '" + key + "' is " + (end - begin) + " bytes, but " + dtypeName + " "
                    + info.shapeString() + " needs " + expected);
        }
        return new Entry(info, begin, end);
    }

    private static void checkOverlaps(Path file, Map<String, Entry> entries) {
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < sorted.size(); i++) {
            Entry prev = sorted.get(i - 1);
            Entry cur = sorted.get(i);
            if (cur.begin() < prev.end() && cur.end() > cur.begin()) {
                throw WeightFileException.of(file, "tensors '" + prev.info().name() + "' and '" + cur.info().name()
                        + "' overlap in the data section");
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            pos += n;
        }
    }

    @Override
    public Path file() {
        return file;
    }

    @Override
    public Set<String> keys() {
        return entries.keySet();
    }

    /** The header's {@code __metadata__} map (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public TensorInfo info(String key) {
        return entry(key).info();
    }

    private Entry entry(String key) {
        Entry e = entries.get(key);
        if (e == null) {
            throw WeightFileException.of(file, "no tensor named '" + key + "'");
        }
        return e;
    }

    private ByteBuffer map(Entry e) {
        long length = e.end() - e.begin();
        if (length == 0) {
            return ByteBuffer.allocateDirect(0);
        }
        try {
            MappedByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), length);
            return mapped.order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException ex) {
            throw WeightFileException.of(file, "cannot map tensor '" + e.info().name() + "': " + ex.getMessage(), ex);
        }
    }

    @Override
    public NDArray load(String key, NDManager manager) {
        Entry e = entry(key);
        ByteBuffer mapped = map(e);
        try {
            return TensorBuffers.toNDArray(mapped, e.info().dtype(), e.info().shape(), manager);
        } finally {
            Unmapper.unmap(mapped);
        }
    }

    @Override
    public byte[] readBytes(String key) {
        Entry e = entry(key);
        ByteBuffer b = map(e);
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing useful can be done about a failing close of a read-only channel
        }
    }
}
