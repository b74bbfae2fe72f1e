package io.github.ssrencoder.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import net.razorvine.pickle.PickleException;

/**
 * A {@code torch.save} state dict in PyTorch's zip format ({@code pytorch_model.bin}): {@code <stem>/data.pkl}
 * describes the tensors, {@code <stem>/data/<key>} holds each storage. The pickle is read by
 * {@link StateDictUnpickler}, which accepts only the handful of globals a state dict of tensors uses.
 */
public final class TorchCheckpoint implements TensorSource {

    private final Path file;
    private final ZipFile zip;
    private final String prefix;
    private final Map<String, StateDictUnpickler.TensorRef> tensors;

    private TorchCheckpoint(Path file, ZipFile zip, String prefix, Map<String, StateDictUnpickler.TensorRef> tensors) {
        this.file = file;
        this.zip = zip;
        this.prefix = prefix;
        this.tensors = tensors;
    }

    /** Opens and parses {@code file}; every problem is a {@link WeightFileException} naming the file. */
    public static TorchCheckpoint open(Path file) {
        if (!Files.exists(file)) {
            throw WeightFileException.of(file, "file not found");
        }
        ZipFile zip;
        try {
            zip = new ZipFile(file.toFile());
        } catch (ZipException e) {
            throw WeightFileException.of(file, notZipMessage(file), e);
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot open: " + e.getMessage(), e);
        }
        try {
            String pkl = findDataPkl(file, zip);
            String prefix = pkl.substring(0, pkl.length() - "data.pkl".length());
            Map<String, StateDictUnpickler.TensorRef> refs;
            try (InputStream in = zip.getInputStream(zip.getEntry(pkl))) {
                refs = new StateDictUnpickler(file).readStateDict(in);
            }
            TorchCheckpoint ckpt = new TorchCheckpoint(file, zip, prefix, Collections.unmodifiableMap(refs));
            ckpt.validateStorages();
            return ckpt;
        } catch (IOException e) {
            closeQuietly(zip);
            throw WeightFileException.of(file, "cannot read: " + e.getMessage(), e);
        } catch (PickleException e) {
            closeQuietly(zip);
            throw WeightFileException.of(file, "not a PyTorch state dict: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(zip);
            throw e;
        }
    }

    private static String notZipMessage(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            int first = in.read();
            if (first == 0x80) {
                return "legacy (pre-1.6) torch.save format is not supported: re-save it with a recent PyTorch "
                        + "(torch.save(torch.load(f), f)) or convert it to safetensors";
            }
            if (first == 'P' && in.read() == 'K') {
                return "truncated or damaged zip archive (its table of contents cannot be read)";
            }
        } catch (IOException ignored) {
            // fall through to the generic message
        }
        return "not a PyTorch checkpoint: the file is not a zip archive";
    }

    private static String findDataPkl(Path file, ZipFile zip) {
        String found = null;
        Enumeration<? extends ZipEntry> en = zip.entries();
        while (en.hasMoreElements()) {
            String name = en.nextElement().getName();
            if (name.endsWith("/data.pkl") && name.indexOf('/') == name.length() - "/data.pkl".length()) {
                if (found != null) {
                    throw WeightFileException.of(file, "not a PyTorch checkpoint: several data.pkl entries (" + found + ", " + name + ")");
                }
                found = name;
            }
        }
        if (found == null) {
            throw WeightFileException.of(file, "not a PyTorch checkpoint: the zip holds no <name>/data.pkl entry");
        }
        return found;
    }

    private void validateStorages() {
        for (StateDictUnpickler.TensorRef ref : tensors.values()) {
            ZipEntry entry = zip.getEntry(prefix + "data/" + ref.storageKey());
            if (entry == null) {
                throw WeightFileException.of(file, "tensor '" + ref.info().name() + "' refers to missing storage data/" + ref.storageKey());
            }
            long storageBytes = entry.getSize();
            long needed = ref.lastByteNeeded();
            if (storageBytes >= 0 && needed > storageBytes) {
                throw WeightFileException.of(file, "tensor '" + ref.info().name() + "' needs " + needed + " bytes of storage data/"
                        + ref.storageKey() + ", which holds " + storageBytes);
            }
        }
    }

    @Override
    public Path file() {
        return file;
    }

    @Override
    public Set<String> keys() {
        return tensors.keySet();
    }

    @Override
    public TensorInfo info(String key) {
        return ref(key).info();
    }

    private StateDictUnpickler.TensorRef ref(String key) {
        StateDictUnpickler.TensorRef r = tensors.get(key);
        if (r == null) {
            throw WeightFileException.of(file, "no tensor named '" + key + "'");
        }
        return r;
    }

    @Override
    public NDArray load(String key, NDManager manager) {
        StateDictUnpickler.TensorRef r = ref(key);
        byte[] bytes = readBytes(key);
        ByteBuffer data = ByteBuffer.allocateDirect(bytes.length);
        data.put(bytes).flip();
        return TensorBuffers.toNDArray(data.order(ByteOrder.LITTLE_ENDIAN), r.info().dtype(), r.info().shape(), manager);
    }

    @Override
    public byte[] readBytes(String key) {
        StateDictUnpickler.TensorRef r = ref(key);
        byte[] storage = readStorage(r);
        return r.gather(storage);
    }

    private byte[] readStorage(StateDictUnpickler.TensorRef r) {
        ZipEntry entry = zip.getEntry(prefix + "data/" + r.storageKey());
        try (InputStream in = zip.getInputStream(entry)) {
            long n = r.lastByteNeeded();
            if (n > Integer.MAX_VALUE - 16) {
                throw WeightFileException.of(file, "tensor '" + r.info().name() + "' is larger than 2 GiB; convert the checkpoint to safetensors");
            }
            byte[] out = in.readNBytes((int) n);
            if (out.length < n) {
                throw WeightFileException.of(file, "truncated storage data/" + r.storageKey() + " for tensor '" + r.info().name() + "'");
            }
            return out;
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot read storage data/" + r.storageKey() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        closeQuietly(zip);
    }

    private static void closeQuietly(ZipFile zip) {
        try {
            zip.close();
        } catch (IOException ignored) {
            // read-only archive: nothing to recover
        }
    }

    /** Keys and infos in file order, for reports. */
    public Map<String, TensorInfo> infos() {
        Map<String, TensorInfo> out = new LinkedHashMap<>();
        tensors.forEach((k, v) -> out.put(k, v.info()));
        return out;
    }
}
