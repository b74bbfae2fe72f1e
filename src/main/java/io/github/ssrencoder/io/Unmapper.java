package io.github.ssrencoder.io;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;

/**
 * Releases a memory-mapped region as soon as its tensor has been copied into the engine, instead of when the
 * garbage collector gets to the buffer: mapped file pages count as resident memory, and a multi-gigabyte
 * checkpoint would otherwise stay resident beside its converted copy. Uses the JDK's unmapping hook
 * ({@code sun.misc.Unsafe.invokeCleaner}); where it is missing the region is left to the collector.
 */
final class Unmapper {

    private static final Object UNSAFE;
    private static final Method INVOKE_CLEANER;

    static {
        Object unsafe = null;
        Method cleaner = null;
        try {
            Class<?> type = Class.forName("sun.misc.Unsafe");
            Field field = type.getDeclaredField("theUnsafe");
            field.setAccessible(true);
            unsafe = field.get(null);
            cleaner = type.getMethod("invokeCleaner", ByteBuffer.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            unsafe = null;
            cleaner = null;
        }
        UNSAFE = unsafe;
        INVOKE_CLEANER = cleaner;
    }

    private Unmapper() {
    }

    /** Unmaps {@code buffer} if it is a mapped region (not a slice of one); no-op otherwise. */
    static void unmap(ByteBuffer buffer) {
        if (INVOKE_CLEANER == null || !(buffer instanceof MappedByteBuffer) || !buffer.isDirect()) {
            return;
        }
        try {
            INVOKE_CLEANER.invoke(UNSAFE, buffer);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // a slice or duplicate cannot be unmapped explicitly: the collector releases it
        }
    }
}
