package io.github.ssrencoder.io;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.razorvine.pickle.IObjectConstructor;
import net.razorvine.pickle.Opcodes;
import net.razorvine.pickle.PickleException;
import net.razorvine.pickle.PickleUtils;
import net.razorvine.pickle.Unpickler;

/**
 * Reads the {@code data.pkl} of a {@code torch.save} zip as a state dict. Only the globals a state dict of
 * tensors needs are resolved ({@code collections.OrderedDict}, {@code torch._utils._rebuild_tensor_v2},
 * {@code torch._utils._rebuild_parameter} and the {@code torch.*Storage} types). Every other global, and every
 * object a pickle would instantiate, becomes an inert placeholder that only records the global's name: nothing is
 * looked up, called or constructed, so a malicious pickle cannot run code. A training checkpoint
 * ({@code {"state_dict": ..., "optimizer_states": ..., "callbacks": ...}}) therefore still yields its
 * {@code state_dict}, whatever else was pickled beside it; a placeholder where a tensor (or the dict) should be
 * is refused naming the global.
 */
final class StateDictUnpickler extends Unpickler {

    private static final Set<String> ALLOWED_GLOBALS = Set.of(
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor_v2",
            "torch._utils._rebuild_parameter");

    /** The largest {@code data.pkl} read (a state dict's description is kilobytes to a few megabytes). */
    static final int MAX_PICKLE_BYTES = 256 * 1024 * 1024;

    /** The largest tensor read into one Java array. */
    static final long MAX_TENSOR_BYTES = Integer.MAX_VALUE - 16;

    private final Path file;

    /** Where a tensor's data lives in the zip and how to gather it. */
    record TensorRef(TensorInfo info, String storageKey, long storageOffset, long[] stride) {

        /**
         * Bytes of the storage needed to read every element (the storage may be larger); {@link ArithmeticException}
         * when that exceeds a {@code long}.
         */
        long lastByteNeeded() {
            long n = info.numel();
            if (n == 0) {
                return 0;
            }
            long last = storageOffset;
            long[] shape = info.shape();
            for (int i = 0; i < shape.length; i++) {
                last = Math.addExact(last, Math.multiplyExact(shape[i] - 1, stride[i]));
            }
            return Math.multiplyExact(Math.addExact(last, 1), info.dtype().bytes());
        }

        boolean contiguous() {
            long[] shape = info.shape();
            long expected = 1;
            for (int i = shape.length - 1; i >= 0; i--) {
                if (shape[i] != 1 && stride[i] != expected) {
                    return false;
                }
                expected *= shape[i];
            }
            return true;
        }

        /** Copies this tensor's elements out of its storage bytes into a contiguous row-major array. */
        byte[] gather(byte[] storage) {
            int es = info.dtype().bytes();
            long n = info.numel();
            byte[] out = new byte[Math.toIntExact(n * es)];
            if (contiguous()) {
                System.arraycopy(storage, Math.toIntExact(storageOffset * es), out, 0, out.length);
                return out;
            }
            long[] shape = info.shape();
            long[] idx = new long[shape.length];
            for (long i = 0; i < n; i++) {
                long src = storageOffset;
                for (int d = 0; d < shape.length; d++) {
                    src += idx[d] * stride[d];
                }
                System.arraycopy(storage, Math.toIntExact(src * es), out, Math.toIntExact(i * es), es);
                for (int d = shape.length - 1; d >= 0; d--) {
                    if (++idx[d] < shape[d]) {
                        break;
                    }
                    idx[d] = 0;
                }
            }
            return out;
        }
    }

    /** A storage reference as the persistent id describes it. */
    private record StorageRef(String key, DType dtype, long numel) {
    }

    /** Marker pushed for a {@code torch.*Storage} global. */
    private record StorageType(DType dtype) {
    }

    /** The dict built by {@code collections.OrderedDict}; keeps insertion order and ignores {@code _metadata}. */
    private static final class OrderedDict extends LinkedHashMap<Object, Object> {
        private static final long serialVersionUID = 1L;
    }

    /**
     * What a global outside the allow-list, or anything built from one, reads as: its name only. Calling it (REDUCE,
     * NEWOBJ, ...) gives another placeholder, setting its state or items is discarded.
     */
    private record Foreign(String global) implements IObjectConstructor {
        @Override
        public Object construct(Object[] args) {
            return this;
        }
    }

    /** A tensor as rebuilt from the pickle, before the key is known. */
    private record PendingTensor(StorageRef storage, long offset, long[] shape, long[] stride) {
    }

    StateDictUnpickler(Path file) {
        this.file = file;
    }

    Map<String, TensorRef> readStateDict(InputStream in) throws IOException {
        byte[] pickle = in.readNBytes(MAX_PICKLE_BYTES + 1);
        if (pickle.length > MAX_PICKLE_BYTES) {
            throw WeightFileException.of(file, "data.pkl is larger than " + MAX_PICKLE_BYTES / (1024 * 1024)
                    + " MiB: not the description of a state dict");
        }
        Object root;
        try {
            root = load(new ByteArrayInputStream(pickle));
        } catch (PickleException | WeightFileException e) {
            throw e;
        } catch (RuntimeException e) {
            // the library's unchecked failures on a damaged opcode stream (a bad number, a wrong type on the stack, …)
            throw new PickleException("malformed pickle: " + e);
        } finally {
            close();
        }
        if (root instanceof Foreign f) {
            throw WeightFileException.of(file, "refusing global '" + f.global() + "': the pickle holds such an object, not a "
                    + "dict of tensors (nothing was run)");
        }
        Map<?, ?> dict = root instanceof Map<?, ?> m ? m : null;
        if (dict == null) {
            throw WeightFileException.of(file, "not a state dict: the pickle holds a " + describe(root) + ", not a dict of tensors");
        }
        // A training checkpoint: the weights are its state_dict; global_step, epoch, optimizer states, callbacks... are not.
        if (dict.get("state_dict") instanceof Map<?, ?> inner) {
            dict = inner;
        } else if (dict.get("state_dict") instanceof Foreign f) {
            throw WeightFileException.of(file, "refusing global '" + f.global() + "': 'state_dict' holds such an object, not a "
                    + "dict of tensors (nothing was run)");
        }
        Map<String, TensorRef> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : dict.entrySet()) {
            if (!(e.getKey() instanceof String key)) {
                throw WeightFileException.of(file, "not a state dict: key " + e.getKey() + " is not a string");
            }
            if (e.getValue() instanceof Foreign f) {
                throw WeightFileException.of(file, "refusing global '" + f.global() + "': '" + key + "' holds such an object, "
                        + "not a tensor (nothing was run)");
            }
            if (!(e.getValue() instanceof PendingTensor t)) {
                throw WeightFileException.of(file, "not a state dict of tensors: '" + key + "' holds a " + describe(e.getValue()));
            }
            if (t.shape().length != t.stride().length) {
                throw WeightFileException.of(file, "tensor '" + key + "' has " + t.shape().length + " sizes but " + t.stride().length + " strides");
            }
            out.put(key, checkedRef(key, t));
        }
        return out;
    }

    /** The tensor's reference after checking that its sizes, strides and offset stay inside its storage. */
    private TensorRef checkedRef(String key, PendingTensor t) {
        if (Arrays.stream(t.shape()).anyMatch(d -> d < 0) || Arrays.stream(t.stride()).anyMatch(d -> d < 0)
                || t.offset() < 0 || t.storage().numel() < 0) {
            throw WeightFileException.of(file, "tensor '" + key + "' has a negative size, stride, offset or storage size "
                    + "(size " + Arrays.toString(t.shape()) + ", stride " + Arrays.toString(t.stride()) + ", offset "
                    + t.offset() + ", storage " + t.storage().numel() + ")");
        }
        TensorInfo info = new TensorInfo(key, t.storage().dtype(), t.shape());
        TensorRef ref = new TensorRef(info, t.storage().key(), t.offset(), t.stride());
        long elementBytes = t.storage().dtype().bytes();
        try {
            if (Math.multiplyExact(info.numel(), elementBytes) > MAX_TENSOR_BYTES) {
                throw WeightFileException.of(file, "tensor '" + key + "' of size " + info.shapeString()
                        + " is larger than 2 GiB; convert the checkpoint to safetensors");
            }
            if (info.numel() > 0 && ref.lastByteNeeded() > Math.multiplyExact(t.storage().numel(), elementBytes)) {
                throw WeightFileException.of(file, "tensor '" + key + "' reaches past the end of its storage " + t.storage().key());
            }
        } catch (ArithmeticException e) {
            throw WeightFileException.of(file, "tensor '" + key + "' of size " + info.shapeString() + " and stride "
                    + Arrays.toString(t.stride()) + " is too large");
        }
        return ref;
    }

    private static String describe(Object o) {
        return o == null ? "None" : o.getClass().getSimpleName();
    }

    @Override
    protected Object dispatch(short key) throws PickleException, IOException {
        int lengthBytes = switch (key) {
            case Opcodes.BINSTRING, Opcodes.BINUNICODE, Opcodes.BINBYTES, Opcodes.LONG4 -> 4;
            case Opcodes.BINUNICODE8, Opcodes.BINBYTES8, Opcodes.BYTEARRAY8 -> 8;
            default -> 0;
        };
        if (lengthBytes > 0) {
            checkLength(key, lengthBytes);
        }
        switch (key) {
            case Opcodes.GLOBAL -> {
                String module = PickleUtils.readline(input);
                String name = PickleUtils.readline(input);
                stack.add(resolveGlobal(module, name));
                return NO_RETURN_VALUE;
            }
            case Opcodes.STACK_GLOBAL -> {
                Object name = stack.pop();
                Object module = stack.pop();
                stack.add(resolveGlobal(String.valueOf(module), String.valueOf(name)));
                return NO_RETURN_VALUE;
            }
            case Opcodes.BUILD -> {
                stack.pop();
                Object target = stack.peek();
                if (!(target instanceof OrderedDict) && !(target instanceof Foreign)) {
                    throw new PickleException("refusing to set the state of a " + describe(target));
                }
                return NO_RETURN_VALUE;
            }
            case Opcodes.EMPTY_DICT -> {
                // Python dicts keep insertion order; the library's default HashMap would lose the file's key order
                stack.add(new LinkedHashMap<Object, Object>());
                return NO_RETURN_VALUE;
            }
            case Opcodes.SETITEMS, Opcodes.APPENDS -> {
                List<Object> items = stack.pop_all_since_marker();
                Object target = stack.peek();
                if (target instanceof Foreign) {
                    return NO_RETURN_VALUE;
                }
                if (key == Opcodes.APPENDS) {
                    if (!(target instanceof List<?>)) {
                        throw new PickleException("malformed APPENDS");
                    }
                    @SuppressWarnings("unchecked")
                    List<Object> list = (List<Object>) target;
                    list.addAll(items);
                    return NO_RETURN_VALUE;
                }
                if (items.size() % 2 != 0 || !(target instanceof Map<?, ?>)) {
                    throw new PickleException("malformed SETITEMS");
                }
                @SuppressWarnings("unchecked")
                Map<Object, Object> map = (Map<Object, Object>) target;
                for (int i = 0; i < items.size(); i += 2) {
                    map.put(items.get(i), items.get(i + 1));
                }
                return NO_RETURN_VALUE;
            }
            case Opcodes.SETITEM -> {
                Object value = stack.pop();
                Object k = stack.pop();
                Object target = stack.peek();
                if (target instanceof Map<?, ?>) {
                    @SuppressWarnings("unchecked")
                    Map<Object, Object> map = (Map<Object, Object>) target;
                    map.put(k, value);
                } else if (!(target instanceof Foreign)) {
                    throw new PickleException("malformed SETITEM");
                }
                return NO_RETURN_VALUE;
            }
            case Opcodes.APPEND -> {
                Object value = stack.pop();
                Object target = stack.peek();
                if (target instanceof List<?>) {
                    @SuppressWarnings("unchecked")
                    List<Object> list = (List<Object>) target;
                    list.add(value);
                } else if (!(target instanceof Foreign)) {
                    throw new PickleException("malformed APPEND");
                }
                return NO_RETURN_VALUE;
            }
            case Opcodes.INST -> {
                String module = PickleUtils.readline(input);
                String name = PickleUtils.readline(input);
                stack.pop_all_since_marker();
                stack.add(new Foreign(module + "." + name));
                return NO_RETURN_VALUE;
            }
            case Opcodes.OBJ -> {
                List<Object> items = stack.pop_all_since_marker();
                stack.add(instanceOf(items.isEmpty() ? null : items.get(0)));
                return NO_RETURN_VALUE;
            }
            case Opcodes.NEWOBJ -> {
                stack.pop();
                stack.add(instanceOf(stack.pop()));
                return NO_RETURN_VALUE;
            }
            case Opcodes.NEWOBJ_EX -> {
                stack.pop();
                stack.pop();
                stack.add(instanceOf(stack.pop()));
                return NO_RETURN_VALUE;
            }
            case Opcodes.EXT1, Opcodes.EXT2, Opcodes.EXT4 ->
                    throw new PickleException("refusing pickle opcode " + key + " (refers to Python's extension registry)");
            default -> {
                return super.dispatch(key);
            }
        }
    }

    /**
     * Refuses an opcode whose length field claims more bytes than the pickle has left: the library would allocate
     * that many bytes first (up to 2 GiB from one damaged length).
     */
    private void checkLength(short key, int lengthBytes) throws IOException {
        input.mark(lengthBytes);
        byte[] field = input.readNBytes(lengthBytes);
        input.reset();
        long length = 0;
        for (int i = field.length - 1; i >= 0; i--) {
            length = length << 8 | (field[i] & 0xFF);
        }
        long left = input.available() - (long) lengthBytes;
        if (field.length < lengthBytes || length < 0 || length > left) {
            throw new PickleException("opcode 0x" + Integer.toHexString(key) + " claims " + Long.toUnsignedString(length)
                    + " bytes, but the pickle has " + Math.max(0, left) + " left");
        }
    }

    private Object resolveGlobal(String module, String name) {
        String full = module + "." + name;
        if (module.equals("torch") && name.endsWith("Storage")) {
            DType dtype = DType.fromTorchStorage(name);
            if (dtype == null) {
                throw new PickleException("unsupported storage type " + full);
            }
            return new StorageType(dtype);
        }
        if (!ALLOWED_GLOBALS.contains(full)) {
            return new Foreign(full);
        }
        return switch (full) {
            case "collections.OrderedDict" -> (IObjectConstructor) args -> new OrderedDict();
            case "torch._utils._rebuild_tensor_v2" -> (IObjectConstructor) StateDictUnpickler::rebuildTensor;
            default -> (IObjectConstructor) args -> {
                if (args.length < 1 || !(args[0] instanceof PendingTensor)) {
                    throw new PickleException("_rebuild_parameter expects a tensor");
                }
                return args[0];
            };
        };
    }

    /** The placeholder for an object of class {@code cls} (never instantiated). */
    private static Foreign instanceOf(Object cls) {
        return new Foreign(cls instanceof Foreign f ? f.global() : describe(cls));
    }

    private static Object rebuildTensor(Object[] args) {
        if (args.length < 4 || !(args[0] instanceof StorageRef storage)) {
            throw new PickleException("_rebuild_tensor_v2 expects (storage, offset, size, stride, ...)");
        }
        long offset = ((Number) args[1]).longValue();
        return new PendingTensor(storage, offset, longs(args[2]), longs(args[3]));
    }

    private static long[] longs(Object tuple) {
        if (!(tuple instanceof Object[] arr)) {
            throw new PickleException("expected a tuple of ints, got " + describe(tuple));
        }
        long[] out = new long[arr.length];
        for (int i = 0; i < arr.length; i++) {
            if (!(arr[i] instanceof Number n)) {
                throw new PickleException("expected an int, got " + describe(arr[i]));
            }
            out[i] = n.longValue();
        }
        return out;
    }

    @Override
    protected Object persistentLoad(Object pid) {
        Object[] t = pid instanceof Object[] arr ? arr : pid instanceof List<?> l ? l.toArray() : null;
        if (t == null || t.length < 5 || !"storage".equals(t[0]) || !(t[1] instanceof StorageType type)) {
            throw new PickleException("unsupported persistent id (expected ('storage', torch.*Storage, key, location, numel))");
        }
        return new StorageRef(String.valueOf(t[2]), type.dtype(), ((Number) t[4]).longValue());
    }
}
