package io.github.ssrencoder.imagej;

import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The user's SSR-Encoder settings: where the models are, which device computes, how many threads, and which
 * libtorch the engine loads.
 *
 * @param models   the models folder (DESIGN §3 layout), or {@code null} when none is configured yet
 * @param device   the compute device
 * @param threads  intra-op threads, 0 for the engine's default
 * @param libtorch a folder holding an installed libtorch (e.g. a CUDA build), or {@code null} for the bundled
 *                 CPU libtorch; used from the engine's next start
 */
public record SsrSettings(Path models, DeviceChoice device, int threads, Path libtorch) {

    public SsrSettings {
        device = Objects.requireNonNullElse(device, DeviceChoice.CPU);
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be 0 (engine default) or more, got " + threads);
        }
    }

    /** Settings with the bundled libtorch. */
    public SsrSettings(Path models, DeviceChoice device, int threads) {
        this(models, device, threads, null);
    }

    /** Nothing configured: no models folder, CPU, default threads, bundled libtorch. */
    public static SsrSettings defaults() {
        return new SsrSettings(null, DeviceChoice.CPU, 0, null);
    }

    public SsrSettings withModels(Path m) {
        return new SsrSettings(m, device, threads, libtorch);
    }

    public SsrSettings withLibtorch(Path folder) {
        return new SsrSettings(models, device, threads, folder);
    }
}
