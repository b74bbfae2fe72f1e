package io.github.ssrencoder.imagej.legacy;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import net.imagej.patcher.LegacyEnvironment;

/**
 * Runs one macro in a headless, patched ImageJ 1.x (the same patching Fiji's headless mode uses), with the
 * plugin and its dependencies on the plugin class path only, so the plugin sees the patched ImageJ classes.
 * Arguments: the macro file, the macro's argument, then the plugin class path entries.
 */
public final class LegacyMacroRunner {

    private LegacyMacroRunner() {
    }

    public static void main(String[] args) throws Exception {
        LegacyEnvironment ij = new LegacyEnvironment(null, true);
        File[] plugins = new File[args.length - 2];
        for (int i = 2; i < args.length; i++) {
            plugins[i - 2] = new File(args[i]);
        }
        ij.addPluginClasspath(plugins);
        ij.runMacro(Files.readString(Path.of(args[0])), args[1]);
        System.out.println("LEGACY-MACRO-DONE");
        System.exit(0);
    }
}
