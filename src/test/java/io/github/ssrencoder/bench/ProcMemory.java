package io.github.ssrencoder.bench;

import com.sun.jna.NativeLibrary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process's resident memory from {@code /proc/self/status}; the peak (VmHWM) can be reset to the current
 * RSS by writing 5 to {@code /proc/self/clear_refs} (Linux ≥ 4.0), so each figure gets its own peak.
 */
public final class ProcMemory {

    private ProcMemory() {
    }

    /** Resets the peak; false where the kernel does not allow it (the peak then counts from process start). */
    public static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Lets go of what earlier figures released, so that a figure's memory does not start from it: a garbage
     * collection unmaps weight files whose readers are gone (their mapped pages count as resident until then),
     * and glibc's {@code malloc_trim} hands freed native heap back to the system (a no-op without glibc).
     */
    public static void releaseFreedMemory() {
        System.gc();
        try {
            NativeLibrary.getInstance("c").getFunction("malloc_trim").invokeInt(new Object[] {0});
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            // Another C library: its retained memory stays counted.
        }
    }

    /** Peak resident memory since the last reset, MiB. */
    public static double peakMiB() {
        return fieldMiB("VmHWM");
    }

    /** Resident pages mapped from files (such as memory-mapped weight files), MiB. */
    public static double fileBackedMiB() {
        return fieldMiB("RssFile");
    }

    /** Current resident memory, MiB. */
    public static double rssMiB() {
        return fieldMiB("VmRSS");
    }

    private static double fieldMiB(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }
}
