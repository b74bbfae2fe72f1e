package io.github.ssrencoder.imagej;

import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import java.io.File;
import java.nio.file.Path;
import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

/**
 * Chooses the models folder (DESIGN §3 layout, checked before it is stored, with a message naming what is
 * missing), the device, the thread count, low-memory mode and optionally an installed libtorch folder (e.g. a CUDA
 * build; empty = the bundled CPU libtorch); stored in the SciJava preferences. Models loaded with other settings are
 * reloaded on the next run; another libtorch is used from the engine's next start (a restart once it runs).
 */
@Plugin(type = Command.class, label = "SSR-Encoder Settings...", headless = true,
        initializer = "loadStored")
public class SettingsCommand extends SsrCommand {

    @Parameter(label = "Models folder (sd/, image_encoder/, ssr/)", style = "directory", persist = false)
    private File models;

    @Parameter(label = "Device", choices = {"CPU", "GPU", "MPS"}, persist = false)
    private String device;

    @Parameter(label = "Threads (0 = default)", min = "0", persist = false)
    private Integer threads;

    @Parameter(label = "libtorch folder (empty = bundled CPU libtorch)", style = "directory", required = false,
            persist = false)
    private File libtorch;

    @Parameter(label = "Checkpoint file (.safetensors/.ckpt; empty = the models folder's sd/)", style = "file",
            required = false, persist = false)
    private File checkpoint;

    @Parameter(label = "Use the checkpoint's EMA weights", required = false, persist = false)
    private Boolean ema;

    @Parameter(label = "Motion adapter folder for clips (AnimateDiff; empty = none)", style = "directory", required = false,
            persist = false)
    private File motion_adapter;

    @Parameter(label = "Low memory (load the image encoder for each run, 1.2 GB less between runs)", required = false,
            persist = false)
    private Boolean low_memory;

    /** Fills what the caller did not give with the stored settings. */
    protected void loadStored() {
        SsrSettings s = ssr.settings();
        if (models == null && s.models() != null) {
            models = s.models().toFile();
        }
        if (device == null) {
            device = switch (s.device()) {
                case GPU -> "GPU";
                case MPS -> "MPS";
                case CPU, AUTO -> "CPU";
            };
        }
        if (threads == null) {
            threads = s.threads();
        }
        if (libtorch == null && s.libtorch() != null) {
            libtorch = s.libtorch().toFile();
        }
        if (checkpoint == null && s.checkpoint() != null) {
            checkpoint = s.checkpoint().toFile();
        }
        if (ema == null) {
            ema = s.ema();
        }
        if (motion_adapter == null && s.motionAdapter() != null) {
            motion_adapter = s.motionAdapter().toFile();
        }
        if (low_memory == null) {
            low_memory = s.lowMemory();
        }
    }

    @Override
    protected void execute(StatusProgress progress) {
        if (models == null || models.getPath().isBlank()) {
            throw new IllegalArgumentException("choose the models folder (with sd/, image_encoder/ and ssr/)");
        }
        Path file = checkpoint == null || checkpoint.getPath().isBlank() ? null : checkpoint.toPath().toAbsolutePath().normalize();
        Path root = ModelsFolderCheck.validate(models.toPath(), file);
        int n = threads == null ? 0 : threads;
        boolean useEma = Boolean.TRUE.equals(ema);
        if (useEma && file == null) {
            throw new IllegalArgumentException("EMA weights need a checkpoint file: choose one, or turn EMA off");
        }
        Path torch = libtorch == null || libtorch.getPath().isBlank() ? null : EngineRuntime.validateLibtorch(libtorch.toPath());
        Path adapter = motion_adapter == null || motion_adapter.getPath().isBlank() ? null
                : ClipInput.checkAdapterFolder(motion_adapter.toPath());
        boolean lowMemory = Boolean.TRUE.equals(low_memory);
        ssr.saveSettings(new SsrSettings(root, DeviceChoice.parse(device == null ? "cpu" : device), n, torch, file, useEma,
                adapter, lowMemory));
        logInfo("SSR-Encoder: models folder " + root + ", " + device + ", threads " + (n == 0 ? "default" : n)
                + ", libtorch " + (torch == null ? "bundled" : torch)
                + (file == null ? "" : ", checkpoint " + file + (useEma ? " (EMA weights)" : ""))
                + (adapter == null ? "" : ", motion adapter " + adapter) + (lowMemory ? ", low memory" : ""));
        EngineRuntime.restartNote(torch).ifPresent(this::logWarning);
    }
}
