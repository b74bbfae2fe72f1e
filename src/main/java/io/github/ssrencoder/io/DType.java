package io.github.ssrencoder.io;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Element types that appear in the checkpoints users download, with their on-disk width. */
public enum DType {
    F64(8, "F64", "DoubleStorage"),
    F32(4, "F32", "FloatStorage"),
    F16(2, "F16", "HalfStorage"),
    BF16(2, "BF16", "BFloat16Storage"),
    I64(8, "I64", "LongStorage"),
    I32(4, "I32", "IntStorage"),
    I16(2, "I16", "ShortStorage"),
    I8(1, "I8", "CharStorage"),
    U8(1, "U8", "ByteStorage"),
    BOOL(1, "BOOL", "BoolStorage");

    private final int bytes;
    private final String safetensorsName;
    private final String torchStorageName;

    DType(int bytes, String safetensorsName, String torchStorageName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
        this.torchStorageName = torchStorageName;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** Whether values are floating point (loaded as float32 for computation). */
    public boolean isFloating() {
        return this == F64 || this == F32 || this == F16 || this == BF16;
    }

    /** The dtype for a safetensors header name such as {@code "F16"}, or {@code null} if unknown. */
    public static DType fromSafetensors(String name) {
        for (DType t : values()) {
            if (t.safetensorsName.equals(name)) {
                return t;
            }
        }
        return null;
    }

    /** The dtype for a torch storage class name such as {@code "FloatStorage"}, or {@code null}. */
    public static DType fromTorchStorage(String name) {
        for (DType t : values()) {
            if (t.torchStorageName.equals(name)) {
                return t;
            }
        }
        return null;
    }

    /** Comma-separated list of the supported safetensors dtype names, for error messages. */
    public static String supportedSafetensorsNames() {
        return Arrays.stream(values()).map(t -> t.safetensorsName).collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
