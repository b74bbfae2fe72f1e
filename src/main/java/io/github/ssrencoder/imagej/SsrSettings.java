package io.github.ssrencoder.imagej;

import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The user's SSR-Encoder settings: where the models are (and optionally a single-file checkpoint that supplies
 * the Stable Diffusion weights), which device computes, how many threads, and which libtorch the engine loads.
 *
 * @param models   the models folder (DESIGN §3 layout), or {@code null} when none is configured yet
 * @param device   the compute device
 * @param threads  intra-op threads, 0 for the engine's default
 * @param libtorch a folder holding an installed libtorch (e.g. a CUDA build), or {@code null} for the bundled
 *                 CPU libtorch; used from the engine's next start
 * @param checkpoint a single-file SD1.x checkpoint ({@code .safetensors}/{@code .ckpt}) whose weights replace
 *                   {@code sd/}'s, or {@code null} for the models folder's own
 * @param ema        take the checkpoint's EMA weights ({@code model_ema.*}) instead of the regular ones
 * @param motionAdapter an AnimateDiff motion adapter folder for clips ({@code frames} &gt; 0), or {@code null}
 * @param lowMemory  release the image encoder between runs ({@link io.github.ssrencoder.pipeline.SsrPipeline#setLowMemory})
 */
public record SsrSettings(Path models, DeviceChoice device, int threads, Path libtorch, Path checkpoint, boolean ema,
                          Path motionAdapter, boolean lowMemory) {

    public SsrSettings {
        device = Objects.requireNonNullElse(device, DeviceChoice.CPU);
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be 0 (engine default) or more, got " + threads);
        }
    }

    /** Settings with the image encoder kept loaded between runs. */
    public SsrSettings(Path models, DeviceChoice device, int threads, Path libtorch, Path checkpoint, boolean ema,
                       Path motionAdapter) {
        this(models, device, threads, libtorch, checkpoint, ema, motionAdapter, false);
    }

    /** Settings without a motion adapter. */
    public SsrSettings(Path models, DeviceChoice device, int threads, Path libtorch, Path checkpoint, boolean ema) {
        this(models, device, threads, libtorch, checkpoint, ema, null);
    }

    /** Settings with the bundled libtorch and the models folder's own weights. */
    public SsrSettings(Path models, DeviceChoice device, int threads) {
        this(models, device, threads, null);
    }

    /** Settings with the models folder's own weights. */
    public SsrSettings(Path models, DeviceChoice device, int threads, Path libtorch) {
        this(models, device, threads, libtorch, null, false);
    }

    /** Nothing configured: no models folder, CPU, default threads, bundled libtorch, no checkpoint. */
    public static SsrSettings defaults() {
        return new SsrSettings(null, DeviceChoice.CPU, 0, null, null, false, null, false);
    }

    public SsrSettings withModels(Path m) {
        return new SsrSettings(m, device, threads, libtorch, checkpoint, ema, motionAdapter, lowMemory);
    }

    public SsrSettings withLibtorch(Path folder) {
        return new SsrSettings(models, device, threads, folder, checkpoint, ema, motionAdapter, lowMemory);
    }

    public SsrSettings withCheckpoint(Path file, boolean useEma) {
        return new SsrSettings(models, device, threads, libtorch, file, useEma, motionAdapter, lowMemory);
    }

    public SsrSettings withMotionAdapter(Path folder) {
        return new SsrSettings(models, device, threads, libtorch, checkpoint, ema, folder, lowMemory);
    }

    public SsrSettings withLowMemory(boolean on) {
        return new SsrSettings(models, device, threads, libtorch, checkpoint, ema, motionAdapter, on);
    }
}
