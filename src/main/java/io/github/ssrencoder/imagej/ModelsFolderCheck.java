package io.github.ssrencoder.imagej;

import io.github.ssrencoder.io.ModelsFolder;
import java.nio.file.Path;

/**
 * Checks a models folder (DESIGN §3: {@code sd/}, {@code image_encoder/}, {@code ssr/}) before anything slow is
 * loaded, so that the Settings dialog can say at once everything that is missing. The one place the Fiji layer
 * validates a models folder; the checks themselves are {@link ModelsFolder#open(Path)}'s.
 */
public final class ModelsFolderCheck {

    private ModelsFolderCheck() {
    }

    /** Returns the folder as an absolute path, or throws naming every missing entry. */
    public static Path validate(Path folder) {
        return validate(folder, null);
    }

    /**
     * As {@link #validate(Path)}, for a folder whose Stable Diffusion weights come from the single-file
     * {@code checkpoint} ({@code null}: from {@code sd/}); the checkpoint must exist.
     */
    public static Path validate(Path folder, Path checkpoint) {
        if (folder == null) {
            throw new IllegalArgumentException("no models folder configured: choose one in Plugins > SSR-Encoder > "
                    + "SSR-Encoder Settings… or pass models=[/path/to/models]");
        }
        return ModelsFolder.open(folder.toAbsolutePath().normalize(),
                checkpoint == null ? null : checkpoint.toAbsolutePath().normalize()).root();
    }
}
