package io.github.ssrencoder.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.Set;

/**
 * A checkpoint as a lazy map from key to tensor: shapes and dtypes are known up front, data is read only
 * when a tensor is loaded. Implemented for safetensors and for {@code torch.save} zip files.
 */
public interface TensorSource extends AutoCloseable {

    /** The file this source reads. */
    Path file();

    /** Every key, in file order. */
    Set<String> keys();

    /** Shape and dtype of {@code key}; throws {@link WeightFileException} naming the file if absent. */
    TensorInfo info(String key);

    /** Whether the key exists. */
    default boolean contains(String key) {
        return keys().contains(key);
    }

    /**
     * Reads one tensor into {@code manager}. Floating-point tensors (F16, BF16, F64) are returned as
     * float32, the type every network computes in; integer tensors keep an integer type (int64 / int32 /
     * uint8 / ...).
     */
    NDArray load(String key, NDManager manager);

    /**
     * Reads one tensor as raw little-endian bytes in its stored dtype (contiguous, row-major), without
     * creating an NDArray. Used by tests that compare readers bit for bit and by tools.
     */
    byte[] readBytes(String key);

    @Override
    void close();
}
