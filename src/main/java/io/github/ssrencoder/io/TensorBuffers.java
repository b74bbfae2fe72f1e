package io.github.ssrencoder.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;

/** Turns raw little-endian tensor bytes into NDArrays owned by the engine, widening where the engine cannot compute. */
final class TensorBuffers {

    private TensorBuffers() {
    }

    /**
     * Creates an NDArray from {@code data} (little-endian, row-major, {@code dtype} elements). The result owns
     * its memory (the buffer may be a memory-mapped region that is unmapped later). Floating types come back
     * as float32; BF16 is widened in Java because the native engine aborts on BF16 arrays.
     */
    static NDArray toNDArray(ByteBuffer data, DType dtype, long[] shape, NDManager manager) {
        Shape s = new Shape(shape);
        ByteBuffer src = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case BF16 -> {
                return fromOwnedBuffer(widenBf16(src), DataType.FLOAT32, s, manager);
            }
            case F16, F64 -> {
                NDArray raw = fromBorrowedBuffer(src, dtype == DType.F16 ? DataType.FLOAT16 : DataType.FLOAT64, s, manager);
                try {
                    return raw.toType(DataType.FLOAT32, true);
                } finally {
                    raw.close();
                }
            }
            default -> {
                return fromOwnedCopy(src, djlType(dtype), s, manager);
            }
        }
    }

    static DataType djlType(DType dtype) {
        return switch (dtype) {
            case F64 -> DataType.FLOAT64;
            case F32 -> DataType.FLOAT32;
            case F16 -> DataType.FLOAT16;
            case BF16 -> DataType.BFLOAT16;
            case I64 -> DataType.INT64;
            case I32 -> DataType.INT32;
            case I16 -> DataType.INT16;
            case I8 -> DataType.INT8;
            case U8 -> DataType.UINT8;
            case BOOL -> DataType.BOOLEAN;
        };
    }

    private static ByteBuffer widenBf16(ByteBuffer src) {
        ShortBuffer in = src.asShortBuffer();
        int n = in.remaining();
        ByteBuffer out = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder());
        for (int i = 0; i < n; i++) {
            out.putInt((in.get(i) & 0xFFFF) << 16);
        }
        out.flip();
        return out;
    }

    /** Wraps the buffer without copying, then lets the engine copy it into memory it owns. */
    private static NDArray fromBorrowedBuffer(ByteBuffer src, DataType type, Shape s, NDManager manager) {
        ByteBuffer direct = src.isDirect() ? src.slice().order(ByteOrder.nativeOrder()) : copyToDirect(src);
        return manager.create(direct, s, type);
    }

    private static NDArray fromOwnedCopy(ByteBuffer src, DataType type, Shape s, NDManager manager) {
        NDArray borrowed = fromBorrowedBuffer(src, type, s, manager);
        try {
            return borrowed.duplicate();
        } finally {
            borrowed.close();
        }
    }

    private static NDArray fromOwnedBuffer(ByteBuffer direct, DataType type, Shape s, NDManager manager) {
        NDArray borrowed = manager.create(direct, s, type);
        try {
            return borrowed.duplicate();
        } finally {
            borrowed.close();
        }
    }

    private static ByteBuffer copyToDirect(ByteBuffer src) {
        ByteBuffer out = ByteBuffer.allocateDirect(src.remaining()).order(ByteOrder.nativeOrder());
        out.put(src.duplicate());
        out.flip();
        return out;
    }
}
