package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.TorchCheckpoint;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ssr train} from the user's side: with the golden run's seed, batch and order, the seeded generator
 * draws what the official run drew, so the loss curve of two steps and, after a resume, of the third step are the
 * golden losses (abs 1e-5), and the weights after step 3 are the official ones (abs 5e-6, see TrainingGoldenTest);
 * the checkpoint then drives {@code ssr generate}. Bad input exits with code 2 and one line.
 */
class TrainCommandTest {

    @TempDir
    Path tmp;

    private String[] train(Path out, String steps, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("train", "--models", Golden.tinyA().toString(),
                "--data", Golden.tinyA().resolve("train").toString(), "--output", out.toString(), "--steps", steps,
                "--batch", "2", "--resolution", "48", "--seed", "4341", "--no-shuffle", "--save-every", "1"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    @Test
    void trainsResumesAndTheCheckpointGenerates() throws IOException {
        Path out = tmp.resolve("run");
        GenerateCommandTest.Run r = GenerateCommandTest.run(train(out, "2"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("step 2/2"), r.err());
        r = GenerateCommandTest.run(train(out, "3", "--resume", out.resolve("checkpoint-2").toString()));
        assertEquals(0, r.code(), r.err());
        assertEquals(out.resolve("checkpoint-3").toString(), r.out().strip());
        List<String> csv = Files.readAllLines(out.resolve("loss.csv"));
        assertEquals("step,loss,loss_mse,loss_reg,lr,seconds", csv.get(0));
        assertEquals(4, csv.size(), String.join("\n", csv));
        JsonObject losses = Golden.caseJson("train_3steps").getAsJsonObject().getAsJsonObject("losses_per_step");
        for (int step = 1; step <= 3; step++) {
            String[] cells = csv.get(step).split(",");
            assertEquals(Integer.toString(step), cells[0]);
            JsonObject l = losses.getAsJsonObject(Integer.toString(step));
            assertEquals(l.get("loss").getAsDouble(), Double.parseDouble(cells[1]), 1e-5, "loss of step " + step);
            assertEquals(l.get("loss_mse").getAsDouble(), Double.parseDouble(cells[2]), 1e-5, "L_LDM of step " + step);
            assertEquals(l.get("loss_reg").getAsDouble(), Double.parseDouble(cells[3]), 1e-5, "L_reg of step " + step);
        }
        Path ckpt = out.resolve("checkpoint-3");
        try (NDManager m = NDManager.newBaseManager(); SafetensorsFile g = Golden.caseTensors("train_3steps")) {
            for (String file : List.of("pytorch_model", "pytorch_model_1")) {
                try (TorchCheckpoint c = TorchCheckpoint.open(ckpt.resolve(file + ".bin"))) {
                    for (String key : c.keys()) {
                        Golden.assertClose(file + " " + key, g.load("param_after." + file + "." + key, m), c.load(key, m), 5e-6);
                    }
                }
            }
        }
        Path models = tmp.resolve("models");
        Files.createDirectories(models);
        Files.createSymbolicLink(models.resolve("sd"), Golden.tinyA().resolve("sd").toAbsolutePath());
        Files.createSymbolicLink(models.resolve("image_encoder"), Golden.tinyA().resolve("image_encoder").toAbsolutePath());
        Files.createSymbolicLink(models.resolve("ssr"), ckpt.toAbsolutePath());
        Path image = tmp.resolve("generated.png");
        r = GenerateCommandTest.run("generate", "--models", models.toString(), "--image",
                Golden.tinyA().resolve("reference.png").toString(), "--query", "red circle", "--prompt", "a red circle",
                "--steps", "2", "--scheduler", "ddim", "--width", "64", "--height", "64", "--output", image.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.size(image) > 0);
    }

    @Test
    void badInputExitsWithOneLine() {
        GenerateCommandTest.Run r = GenerateCommandTest.run("train", "--models", Golden.tinyA().toString(), "--data",
                tmp.resolve("nowhere").toString(), "--output", tmp.resolve("out").toString());
        assertEquals(SsrCli.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().startsWith("ssr: training data not found"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        r = GenerateCommandTest.run(train(tmp.resolve("o"), "2", "--restart-optimizer"));
        assertEquals(SsrCli.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().contains("--restart-optimizer needs --resume"), r.err());
    }
}
