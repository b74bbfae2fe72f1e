package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.model.UNetConfig;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A models folder whose networks do not fit together is refused when it is opened, naming the file. */
class ModelCompatibilityTest {

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                if (from.relativize(p).startsWith("single-file")) {
                    continue;
                }
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }

    @Test
    void unetOfAnotherTextWidthIsRefusedNamingItsConfig(@TempDir Path dir) throws IOException {
        copyTree(Golden.tinyA(), dir);
        Path unetDir = dir.resolve("sd/unet");
        JsonObject config = JsonFiles.readObject(unetDir.resolve("config.json"));
        config.addProperty("cross_attention_dim", 48);
        Files.writeString(unetDir.resolve("config.json"), config.toString());
        UNet2DCondition shapeOnly = new UNet2DCondition(UNetConfig.read(unetDir.resolve("config.json")));
        SafetensorsWriter writer = new SafetensorsWriter();
        for (Map.Entry<String, long[]> e : ModuleWeights.shapes(shapeOnly).entrySet()) {
            long n = 1;
            for (long d : e.getValue()) {
                n *= d;
            }
            writer.addF32(e.getKey(), e.getValue(), new float[(int) n]);
        }
        writer.write(unetDir.resolve("diffusion_pytorch_model.safetensors"));

        WeightFileException e = assertThrows(WeightFileException.class,
                () -> SsrPipeline.open(dir, EngineRuntime.DeviceChoice.CPU, 0).close());
        assertTrue(e.getMessage().contains("unet/config.json") && e.getMessage().contains("cross_attention_dim 48")
                && e.getMessage().contains("hidden size 32"), e.getMessage());
    }
}
