package io.github.ssrencoder.imagej;

import org.scijava.command.Command;
import org.scijava.plugin.Plugin;

/** Frees the native memory of the loaded models; the next run loads them again. */
@Plugin(type = Command.class, label = "Unload Models", headless = true)
public class UnloadModelsCommand extends SsrCommand {

    @Override
    protected void execute(StatusProgress progress) {
        boolean was = ssr.unload(progress);
        logInfo(was ? "SSR-Encoder: models unloaded" : "SSR-Encoder: no models were loaded");
    }
}
