package io.github.ssrencoder.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes files in {@code torch.save}'s zip format (torch 1.13): {@code <name>/data.pkl} (pickle protocol 2),
 * one uncompressed {@code <name>/data/<i>} entry per tensor storage and {@code <name>/version}. The values that
 * can be pickled are those of model and optimizer state: {@link StateDict} ({@code collections.OrderedDict}),
 * maps (plain dicts), lists, {@link Tuple}s, strings, integers, doubles, booleans, {@code null} and float32
 * {@link Tensor}s (rebuilt by {@code torch._utils._rebuild_tensor_v2}). The file is written atomically.
 */
public final class TorchSaveWriter {

    /** A float32 tensor: row-major values and shape. */
    public record Tensor(float[] values, long[] shape) {
    }

    /** An ordered state dict, pickled as {@code collections.OrderedDict}. */
    public record StateDict(Map<String, ?> entries) {
    }

    /** A Python tuple. */
    public record Tuple(List<?> items) {
        public static Tuple of(Object... items) {
            return new Tuple(java.util.Arrays.asList(items));
        }
    }

    private final ByteArrayOutputStream pkl = new ByteArrayOutputStream();
    private final List<float[]> storages = new ArrayList<>();

    private TorchSaveWriter() {
    }

    /** Writes {@code value} to {@code file} as {@code torch.save(value, file)} would. */
    public static void save(Path file, Object value) {
        TorchSaveWriter w = new TorchSaveWriter();
        w.pkl.write(0x80);
        w.pkl.write(2);
        w.value(value);
        w.pkl.write('.');
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String archive = dot > 0 ? name.substring(0, dot) : name;
        AtomicFiles.write(file, out -> w.writeZip(out, archive));
    }

    private void writeZip(OutputStream out, String archive) throws IOException {
        ZipOutputStream zip = new ZipOutputStream(out);
        store(zip, archive + "/data.pkl", pkl.toByteArray());
        for (int i = 0; i < storages.size(); i++) {
            float[] v = storages.get(i);
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(v);
            store(zip, archive + "/data/" + i, b.array());
        }
        store(zip, archive + "/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        zip.finish();
    }

    private static void store(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }

    private void value(Object v) {
        if (v == null) {
            pkl.write('N');
        } else if (v instanceof Boolean b) {
            pkl.write(b ? 0x88 : 0x89);
        } else if (v instanceof Integer || v instanceof Long) {
            integer(((Number) v).longValue());
        } else if (v instanceof Double || v instanceof Float) {
            pkl.write('G');
            pkl.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.BIG_ENDIAN).putDouble(((Number) v).doubleValue()).array());
        } else if (v instanceof String s) {
            string(s);
        } else if (v instanceof Tensor t) {
            tensor(t);
        } else if (v instanceof StateDict d) {
            global("collections", "OrderedDict");
            pkl.write(')');
            pkl.write('R');
            items(d.entries());
        } else if (v instanceof Map<?, ?> m) {
            pkl.write('}');
            items(m);
        } else if (v instanceof List<?> l) {
            pkl.write(']');
            if (!l.isEmpty()) {
                pkl.write('(');
                l.forEach(this::value);
                pkl.write('e');
            }
        } else if (v instanceof Tuple t) {
            pkl.write('(');
            t.items().forEach(this::value);
            pkl.write('t');
        } else {
            throw new IllegalArgumentException("cannot pickle a " + v.getClass().getName());
        }
    }

    private void items(Map<?, ?> m) {
        if (m.isEmpty()) {
            return;
        }
        pkl.write('(');
        for (Map.Entry<?, ?> e : m.entrySet()) {
            value(e.getKey());
            value(e.getValue());
        }
        pkl.write('u');
    }

    private void tensor(Tensor t) {
        long numel = 1;
        for (long d : t.shape()) {
            numel *= d;
        }
        if (numel != t.values().length) {
            throw new IllegalArgumentException("tensor of shape " + java.util.Arrays.toString(t.shape()) + " needs " + numel
                    + " values, got " + t.values().length);
        }
        String key = Integer.toString(storages.size());
        storages.add(t.values());
        long[] stride = new long[t.shape().length];
        long s = 1;
        for (int i = stride.length - 1; i >= 0; i--) {
            stride[i] = s;
            s *= t.shape()[i];
        }
        global("torch._utils", "_rebuild_tensor_v2");
        pkl.write('(');
        pkl.write('(');
        string("storage");
        global("torch", "FloatStorage");
        string(key);
        string("cpu");
        integer(numel);
        pkl.write('t');
        pkl.write('Q');
        integer(0);
        longTuple(t.shape());
        longTuple(stride);
        pkl.write(0x89);
        global("collections", "OrderedDict");
        pkl.write(')');
        pkl.write('R');
        pkl.write('t');
        pkl.write('R');
    }

    private void longTuple(long[] values) {
        pkl.write('(');
        for (long v : values) {
            integer(v);
        }
        pkl.write('t');
    }

    private void global(String module, String name) {
        pkl.write('c');
        pkl.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
    }

    private void string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        pkl.write('X');
        pkl.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
        pkl.writeBytes(b);
    }

    private void integer(long v) {
        if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            pkl.write('J');
            pkl.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
        } else {
            pkl.write(0x8a);
            pkl.write(8);
            pkl.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        }
    }

    /** A state dict of the given tensors, in the map's order. */
    public static StateDict stateDict(Map<String, Tensor> tensors) {
        return new StateDict(new LinkedHashMap<>(tensors));
    }
}
