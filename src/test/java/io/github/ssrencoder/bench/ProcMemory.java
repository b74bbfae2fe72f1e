package io.github.ssrencoder.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process's resident memory from {@code /proc/self/status}; the peak (VmHWM) can be reset to the current
 * RSS by writing 5 to {@code /proc/self/clear_refs} (Linux ≥ 4.0), so each figure gets its own peak.
 */
final class ProcMemory {

    private ProcMemory() {
    }

    /** Resets the peak; false where the kernel does not allow it (the peak then counts from process start). */
    static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Peak resident memory since the last reset, MiB. */
    static double peakMiB() {
        return fieldMiB("VmHWM");
    }

    /** Current resident memory, MiB. */
    static double rssMiB() {
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
