package io.github.ssrencoder.pipeline;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;
import java.io.IOException;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.OptionalLong;

/**
 * The memory a generation may still use: on the CPU the system's available memory ({@code MemAvailable}) or, when
 * lower, what the process's cgroup (a container, a SLURM job) still allows; on a GPU the CUDA free memory. The
 * system property {@code ssr.availableMemory} (e.g. {@code 6g}, {@code 800m}) replaces the measurement, for systems
 * whose limits are not visible to the process.
 */
public final class AvailableMemory {

    /** The property that replaces the measurement. */
    public static final String PROPERTY = "ssr.availableMemory";

    private AvailableMemory() {
    }

    /** Bytes available to a run on {@code device}, or empty when they cannot be determined (no check is then made). */
    public static OptionalLong on(Device device) {
        String override = System.getProperty(PROPERTY);
        if (override != null && !override.isBlank()) {
            return OptionalLong.of(parseSize(override));
        }
        if (device.isGpu()) {
            try {
                MemoryUsage m = CudaUtils.getGpuMemory(device);
                return OptionalLong.of(m.getMax() - m.getCommitted());
            } catch (RuntimeException | UnsatisfiedLinkError e) {
                return OptionalLong.empty();
            }
        }
        OptionalLong system = meminfo("MemAvailable");
        OptionalLong cgroup = cgroupRemaining();
        if (system.isPresent() && cgroup.isPresent()) {
            return OptionalLong.of(Math.min(system.getAsLong(), cgroup.getAsLong()));
        }
        return system.isPresent() ? system : cgroup;
    }

    /** {@code 6g}, {@code 800m}, {@code 123456} (bytes). */
    static long parseSize(String s) {
        String v = s.trim().toLowerCase(Locale.ROOT);
        long unit = 1;
        if (v.endsWith("g") || v.endsWith("m") || v.endsWith("k")) {
            unit = v.endsWith("g") ? 1L << 30 : v.endsWith("m") ? 1L << 20 : 1L << 10;
            v = v.substring(0, v.length() - 1);
        }
        try {
            return (long) (Double.parseDouble(v) * unit);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(PROPERTY + " must be a size such as 6g or 800m, got '" + s + "'");
        }
    }

    private static OptionalLong meminfo(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith(field + ":")) {
                    return OptionalLong.of(Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024);
                }
            }
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
        return OptionalLong.empty();
    }

    /** The cgroup's limit minus its usage (cgroup v2, else v1), when a limit is set. */
    private static OptionalLong cgroupRemaining() {
        OptionalLong v2 = remaining(Path.of("/sys/fs/cgroup/memory.max"), Path.of("/sys/fs/cgroup/memory.current"));
        return v2.isPresent() ? v2 : remaining(Path.of("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
                Path.of("/sys/fs/cgroup/memory/memory.usage_in_bytes"));
    }

    private static OptionalLong remaining(Path limitFile, Path usageFile) {
        try {
            String limit = Files.readString(limitFile).trim();
            if (limit.equals("max") || limit.length() > 18) { // no limit (v1 writes a near-2^63 value)
                return OptionalLong.empty();
            }
            long usage = Long.parseLong(Files.readString(usageFile).trim());
            return OptionalLong.of(Math.max(0, Long.parseLong(limit) - usage));
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
    }
}
