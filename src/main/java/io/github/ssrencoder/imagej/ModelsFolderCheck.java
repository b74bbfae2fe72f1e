package io.github.ssrencoder.imagej;

import io.github.ssrencoder.io.WeightFileException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks that a folder has the models layout of DESIGN §3 ({@code sd/}, {@code image_encoder/}, {@code ssr/})
 * before anything slow is loaded, so that the Settings dialog can say at once what is missing. The one place
 * the Fiji layer validates a models folder.
 */
public final class ModelsFolderCheck {

    private static final String[] REQUIRED = {
        "sd/model_index.json", "sd/unet", "sd/vae", "sd/text_encoder", "sd/tokenizer", "sd/scheduler",
        "image_encoder/config.json", "ssr/pytorch_model.bin", "ssr/pytorch_model_1.bin",
    };

    private ModelsFolderCheck() {
    }

    /** Returns the folder as an absolute path, or throws naming every missing entry. */
    public static Path validate(Path folder) {
        if (folder == null) {
            throw new IllegalArgumentException("no models folder configured: choose one in Plugins > SSR-Encoder > "
                    + "SSR-Encoder Settings… or pass models=[/path/to/models]");
        }
        Path root = folder.toAbsolutePath().normalize();
        if (!Files.isDirectory(root)) {
            throw WeightFileException.of(root, "models folder does not exist or is not a folder");
        }
        List<String> missing = new ArrayList<>();
        for (String entry : REQUIRED) {
            if (!Files.exists(root.resolve(entry))) {
                missing.add(entry);
            }
        }
        if (!missing.isEmpty()) {
            throw WeightFileException.of(root, "not a models folder (expected sd/, image_encoder/ and ssr/); missing: "
                    + String.join(", ", missing));
        }
        return root;
    }
}
