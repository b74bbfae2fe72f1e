package io.github.ssrencoder.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes {@code torch.save}-style zip checkpoints for tests: {@code archive/data.pkl} holds an
 * {@code OrderedDict} of {@code _rebuild_tensor_v2} calls (protocol 2, the structure PyTorch writes) and
 * {@code archive/data/<key>} the storages. Tensors may view a storage with any offset and strides.
 */
public final class TorchZipWriter {

    private record Tensor(String name, String storageKey, String storageType, long storageNumel, long offset,
                          long[] shape, long[] stride) {
    }

    private final List<Tensor> tensors = new ArrayList<>();
    private final Map<String, byte[]> storages = new LinkedHashMap<>();

    /** Adds a storage (raw little-endian bytes) under {@code key}. */
    public TorchZipWriter storage(String key, byte[] data) {
        storages.put(key, data.clone());
        return this;
    }

    /** Adds a float32 storage. */
    public TorchZipWriter floatStorage(String key, float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return storage(key, b.array());
    }

    /**
     * Adds a tensor viewing storage {@code storageKey} (of {@code storageNumel} elements of
     * {@code storageType}, e.g. {@code FloatStorage}) at element {@code offset} with {@code shape} and {@code stride}.
     */
    public TorchZipWriter tensor(String name, String storageKey, String storageType, long storageNumel, long offset,
                                 long[] shape, long[] stride) {
        tensors.add(new Tensor(name, storageKey, storageType, storageNumel, offset, shape.clone(), stride.clone()));
        return this;
    }

    /** Adds a contiguous float32 tensor with its own storage. */
    public TorchZipWriter contiguous(String name, long[] shape, float... values) {
        String key = Integer.toString(storages.size());
        floatStorage(key, values);
        long[] stride = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            stride[i] = s;
            s *= shape[i];
        }
        return tensor(name, key, "FloatStorage", values.length, 0, shape, stride);
    }

    /** The {@code data.pkl} bytes for the tensors added so far. */
    public byte[] pickle() {
        Pickle p = new Pickle();
        p.proto2();
        stateDict(p);
        p.op('.');
        return p.bytes();
    }

    /** Emits the {@code OrderedDict} of the tensors added so far (one pickle value, e.g. inside a larger dict). */
    public Pickle stateDict(Pickle p) {
        p.global("collections", "OrderedDict");
        p.op(')');
        p.op('R');
        p.op('(');
        for (Tensor t : tensors) {
            p.string(t.name());
            p.global("torch._utils", "_rebuild_tensor_v2");
            p.op('(');
            p.op('(');
            p.string("storage");
            p.global("torch", t.storageType());
            p.string(t.storageKey());
            p.string("cpu");
            p.integer(t.storageNumel());
            p.op('t');
            p.op('Q');
            p.integer(t.offset());
            p.tuple(t.shape());
            p.tuple(t.stride());
            p.op(0x89);
            p.global("collections", "OrderedDict");
            p.op(')');
            p.op('R');
            p.op('t');
            p.op('R');
        }
        p.op('u');
        return p;
    }

    /** Writes the zip with {@code dataPkl} (e.g. a training checkpoint around {@link #stateDict}) and the storages. */
    public Path write(Path file, byte[] dataPkl) {
        return writeZip(file, dataPkl, storages);
    }

    /** Writes the zip with the generated pickle. */
    public Path write(Path file) {
        return writeZip(file, pickle(), storages);
    }

    /** Writes a zip with an arbitrary {@code archive/data.pkl} and storages. */
    public static Path writeZip(Path file, byte[] dataPkl, Map<String, byte[]> storages) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            try (OutputStream os = Files.newOutputStream(file); ZipOutputStream zip = new ZipOutputStream(os)) {
                zip.putNextEntry(new ZipEntry("archive/data.pkl"));
                zip.write(dataPkl);
                zip.closeEntry();
                for (Map.Entry<String, byte[]> e : storages.entrySet()) {
                    zip.putNextEntry(new ZipEntry("archive/data/" + e.getKey()));
                    zip.write(e.getValue());
                    zip.closeEntry();
                }
                zip.putNextEntry(new ZipEntry("archive/version"));
                zip.write("3\n".getBytes(StandardCharsets.US_ASCII));
                zip.closeEntry();
            }
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A minimal pickle (protocol 2) emitter for the opcodes a state dict uses. */
    public static final class Pickle {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        /** Emits the PROTO 2 header. */
        public Pickle proto2() {
            out.write(0x80);
            out.write(2);
            return this;
        }

        /** Emits one opcode byte. */
        public Pickle op(int opcode) {
            out.write(opcode);
            return this;
        }

        /** GLOBAL {@code module\nname\n}. */
        public Pickle global(String module, String name) {
            out.write('c');
            out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
            return this;
        }

        /** INST {@code module\nname\n}: instantiate a class with the arguments since the last MARK. */
        public Pickle inst(String module, String name) {
            out.write('i');
            out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
            return this;
        }

        /** BINUNICODE. */
        public Pickle string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            out.write('X');
            out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
            out.writeBytes(b);
            return this;
        }

        /** BININT (signed 32-bit), or LONG1 (8 bytes, two's complement) for a value outside 32 bits. */
        public Pickle integer(long v) {
            if (v != (int) v) {
                out.write(0x8a);
                out.write(8);
                out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
                return this;
            }
            out.write('J');
            out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
            return this;
        }

        /** A tuple of ints. */
        public Pickle tuple(long[] values) {
            out.write('(');
            for (long v : values) {
                integer(v);
            }
            out.write('t');
            return this;
        }

        /** The bytes written so far. */
        public byte[] bytes() {
            return out.toByteArray();
        }
    }
}
