package io.github.ssrencoder.pipeline;

import java.util.Locale;

/**
 * Hands native memory that was just freed back to the operating system. glibc keeps freed heap memory in its
 * arenas, and once large blocks have been freed it serves even multi-megabyte weights from those arenas instead of
 * fresh mappings; weights released between runs would then stay resident, since the arenas of libtorch's worker
 * threads do not reuse what the loading thread freed. {@code malloc_trim(0)} returns every free page of every arena.
 * Called through JNA (shipped with Fiji and copied beside the command-line jar); where there is no glibc or no JNA it
 * does nothing.
 */
final class FreedMemory {

    private static final boolean GLIBC = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux");
    private static volatile boolean unavailable = !GLIBC;

    private FreedMemory() {
    }

    /** Returns freed native heap to the system (glibc {@code malloc_trim(0)}); whether it could be called. */
    static boolean release() {
        if (unavailable) {
            return false;
        }
        try {
            com.sun.jna.NativeLibrary.getInstance("c").getFunction("malloc_trim").invokeInt(new Object[] {0});
            return true;
        } catch (LinkageError | RuntimeException e) {
            unavailable = true; // no JNA, or a C library without malloc_trim (musl)
            return false;
        }
    }
}
