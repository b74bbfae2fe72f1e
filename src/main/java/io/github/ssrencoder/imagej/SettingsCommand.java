package io.github.ssrencoder.imagej;

import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import java.io.File;
import java.nio.file.Path;
import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

/**
 * Chooses the models folder (DESIGN §3 layout, checked before it is stored, with a message naming what is
 * missing), the device and the thread count; stored in the SciJava preferences. Models loaded with other
 * settings are reloaded on the next run.
 */
@Plugin(type = Command.class, label = "SSR-Encoder Settings...", headless = true,
        initializer = "loadStored")
public class SettingsCommand extends SsrCommand {

    @Parameter(label = "Models folder (sd/, image_encoder/, ssr/)", style = "directory", persist = false)
    private File models;

    @Parameter(label = "Device", choices = {"CPU", "GPU"}, persist = false)
    private String device;

    @Parameter(label = "Threads (0 = default)", min = "0", persist = false)
    private Integer threads;

    /** Fills what the caller did not give with the stored settings. */
    protected void loadStored() {
        SsrSettings s = ssr.settings();
        if (models == null && s.models() != null) {
            models = s.models().toFile();
        }
        if (device == null) {
            device = s.device() == DeviceChoice.GPU ? "GPU" : "CPU";
        }
        if (threads == null) {
            threads = s.threads();
        }
    }

    @Override
    protected void execute(StatusProgress progress) {
        if (models == null || models.getPath().isBlank()) {
            throw new IllegalArgumentException("choose the models folder (with sd/, image_encoder/ and ssr/)");
        }
        Path root = ModelsFolderCheck.validate(models.toPath());
        int n = threads == null ? 0 : threads;
        ssr.saveSettings(new SsrSettings(root, DeviceChoice.parse(device == null ? "cpu" : device), n));
        logInfo("SSR-Encoder: models folder " + root + ", " + device + ", threads " + (n == 0 ? "default" : n));
    }
}
