package io.github.ssrencoder.imagej;

import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The user's SSR-Encoder settings: where the models are, which device computes, how many threads.
 *
 * @param models  the models folder (DESIGN §3 layout), or {@code null} when none is configured yet
 * @param device  the compute device
 * @param threads intra-op threads, 0 for the engine's default
 */
public record SsrSettings(Path models, DeviceChoice device, int threads) {

    public SsrSettings {
        device = Objects.requireNonNullElse(device, DeviceChoice.CPU);
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be 0 (engine default) or more, got " + threads);
        }
    }

    /** Nothing configured: no models folder, CPU, default threads. */
    public static SsrSettings defaults() {
        return new SsrSettings(null, DeviceChoice.CPU, 0);
    }

    public SsrSettings withModels(Path m) {
        return new SsrSettings(m, device, threads);
    }
}
