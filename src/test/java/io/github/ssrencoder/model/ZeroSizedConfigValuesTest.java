package io.github.ssrencoder.model;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.testing.FileErrors;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Zero group or head counts, which the fuzzer found dividing by zero, are refused naming the config and the key. */
class ZeroSizedConfigValuesTest {

    private static JsonObject config(String rel) {
        return JsonFiles.readObject(Golden.tinyA().resolve(rel));
    }

    @Test
    void unetWithZeroNormGroupsIsRefused() {
        Path file = Golden.tinyA().resolve("sd/unet/config.json");
        JsonObject o = config("sd/unet/config.json");
        o.addProperty("norm_num_groups", 0);
        FileErrors.assertMentions(FileErrors.assertFileError(file, () -> UNetConfig.fromJson(file, o)),
                "'norm_num_groups' must be at least 1, got 0");
    }

    @Test
    void unetWithZeroAttentionHeadsIsRefused() {
        Path file = Golden.tinyA().resolve("sd/unet/config.json");
        JsonObject o = config("sd/unet/config.json");
        o.add("attention_head_dim", JsonParser.parseString("0"));
        FileErrors.assertMentions(FileErrors.assertFileError(file, () -> UNetConfig.fromJson(file, o)),
                "block 0: channels (32) and attention heads (0) must be at least 1");
    }

    @Test
    void vaeWithZeroNormGroupsIsRefused() {
        Path file = Golden.tinyA().resolve("sd/vae/config.json");
        JsonObject o = config("sd/vae/config.json");
        o.addProperty("norm_num_groups", 0);
        FileErrors.assertMentions(FileErrors.assertFileError(file, () -> VaeConfig.fromJson(file, o)),
                "'norm_num_groups' must be at least 1, got 0");
    }
}
