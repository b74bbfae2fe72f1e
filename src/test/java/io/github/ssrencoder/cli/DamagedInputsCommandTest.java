package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Damaged job files and models folders the fuzzer found ending in internal errors: now exit 2 naming the file. */
class DamagedInputsCommandTest {

    @TempDir
    Path tmp;

    private static String lastLine(GenerateCommandTest.Run r) {
        return r.err().strip().lines().reduce((x, y) -> y).orElse("");
    }

    private GenerateCommandTest.Run runJob(String json) throws IOException {
        Path job = Files.writeString(tmp.resolve("job.json"), json);
        return GenerateCommandTest.run("generate", "--models", tmp.resolve("no-models").toString(), "--job", job.toString());
    }

    private void assertBadInputNaming(GenerateCommandTest.Run r, String... parts) {
        assertEquals(2, r.code(), r.err());
        String last = lastLine(r);
        assertFalse(r.err().contains("\tat "), r.err());
        for (String p : parts) {
            assertTrue(last.contains(p), "'" + last + "' should mention '" + p + "'");
        }
    }

    @Test
    void seedThatIsNotAWholeNumberIsNamed() throws Exception {
        Path job = tmp.resolve("job.json");
        assertBadInputNaming(runJob("{\"prompt\": \"p\", \"output\": \"o.png\", \"seed\": {}}"), job + ": 'seed' must be a whole number");
        assertBadInputNaming(runJob("{\"prompt\": \"p\", \"output\": \"o.png\", \"seed\": 1.5}"), job + ": 'seed' must be a whole number");
    }

    @Test
    void pathWithANulCharacterIsNamed() throws Exception {
        Path job = tmp.resolve("job.json");
        assertBadInputNaming(runJob("{\"prompt\": \"p\", \"output\": \"o.png\", \"save_latents\": \"\\u0000\"}"),
                job + ": 'save_latents' is not a valid path");
        assertBadInputNaming(runJob("{\"prompt\": \"p\", \"output\": \"o.png\", \"subjects\": [{\"image\": \"a\\u0000b\"}]}"),
                job + ": subjects[0].image is not a valid path");
    }

    @Test
    void emptyJobListIsRefusedRatherThanDoingNothing() throws Exception {
        assertBadInputNaming(runJob("{\"prompt\": \"p\", \"output\": \"o.png\", \"jobs\": []}"),
                tmp.resolve("job.json") + ": 'jobs' is empty");
    }

    @Test
    void initialLatentsOfAnotherRankNameTheirFile() {
        Path latents = new io.github.ssrencoder.testing.SafetensorsWriter()
                .addF32("latents", new long[] {4, 2, 2}, new float[16]).write(tmp.resolve("init.safetensors"));
        assertBadInputNaming(GenerateCommandTest.run("generate", "--models", tmp.resolve("no-models").toString(), "--prompt", "p",
                "--init-latents", latents.toString(), "--output", tmp.resolve("o.png").toString()),
                latents + ": 'latents' must have shape [1, C, H/8, W/8], got [4, 2, 2]");
    }

    @Test
    void valueTheRequestRefusesNamesTheJobFileAndTheJob() throws Exception {
        Path job = tmp.resolve("job.json");
        assertBadInputNaming(runJob("{\"prompt\": \"p\", \"output\": \"o.png\", \"scheduler\": \"true\"}"),
                job + ": unknown scheduler 'true'");
        assertBadInputNaming(runJob("{\"prompt\": \"p\", \"width\": 64, \"height\": 64, "
                + "\"jobs\": [{\"output\": \"a.png\"}, {\"output\": \"b.png\", \"guidance\": -1e300, \"steps\": -3}]}"),
                job + " (jobs[1]): ");
    }

    /** The tiny models folder as links, with {@code rel} replaced by {@code content}. */
    private Path modelsWith(String rel, String content) throws IOException {
        Path models = Files.createTempDirectory(tmp, "models");
        Path from = Golden.tinyA();
        for (String top : List.of("sd", "image_encoder", "ssr")) {
            try (Stream<Path> files = Files.walk(from.resolve(top))) {
                for (Path p : (Iterable<Path>) files::iterator) {
                    Path target = models.resolve(from.relativize(p).toString());
                    if (Files.isDirectory(p)) {
                        Files.createDirectories(target);
                    } else {
                        Files.createSymbolicLink(target, p.toAbsolutePath());
                    }
                }
            }
        }
        Files.delete(models.resolve(rel));
        Files.writeString(models.resolve(rel), content);
        return models;
    }

    private GenerateCommandTest.Run generate(Path models) {
        return GenerateCommandTest.run("generate", "--models", models.toString(), "--prompt", "p", "--steps", "1",
                "--width", "64", "--height", "64", "--output", tmp.resolve("out.png").toString());
    }

    @Test
    void modelIndexComponentThatIsNotAClassNameIsNamed() throws Exception {
        String index = Files.readString(Golden.tinyA().resolve("sd/model_index.json"))
                .replaceFirst("\"CLIPTextModel\"", "[]");
        Path models = modelsWith("sd/model_index.json", index);
        assertBadInputNaming(generate(models), models.resolve("sd/model_index.json") + ": component 'text_encoder' must be");
        assertFalse(Files.exists(tmp.resolve("out.png")));
    }

    @Test
    void addedTokenWhoseContentIsNotAStringIsNamed() throws Exception {
        Path models = modelsWith("sd/tokenizer/tokenizer_config.json", "{\"bos_token\": {\"content\": []}}");
        assertBadInputNaming(generate(models), models.resolve("sd/tokenizer/tokenizer_config.json") + ": 'bos_token' must be");
    }

    @Test
    void tokenIdFarBeyondTheVocabularyIsRefusedWithoutSizingATableByIt() throws Exception {
        // 1e30 used to size the id-to-token table (OutOfMemoryError)
        String vocab = Files.readString(Golden.tinyA().resolve("sd/tokenizer/vocab.json")).replace("\"pcm</w>\": 47436", "\"pcm</w>\":1e30");
        Path models = modelsWith("sd/tokenizer/vocab.json", vocab);
        assertBadInputNaming(generate(models), models.resolve("sd/tokenizer/vocab.json") + ": token 'pcm</w>' must map to an integer id");
        vocab = Files.readString(Golden.tinyA().resolve("sd/tokenizer/vocab.json")).replace("\"pcm</w>\": 47436", "\"pcm</w>\":2000000000");
        models = modelsWith("sd/tokenizer/vocab.json", vocab);
        assertBadInputNaming(generate(models), models.resolve("sd/tokenizer/vocab.json") + ": token 'pcm</w>' has id 2000000000, outside 0..");
    }

    @Test
    void schedulerConfigTheChosenSchedulerCannotUseIsNamed() throws Exception {
        String config = Files.readString(Golden.tinyA().resolve("sd/scheduler/scheduler_config.json"))
                .replace("\"skip_prk_steps\": true", "\"skip_prk_steps\": false");
        Path models = modelsWith("sd/scheduler/scheduler_config.json", config);
        GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--models", models.toString(), "--prompt", "p",
                "--steps", "2", "--scheduler", "pndm", "--width", "64", "--height", "64",
                "--output", tmp.resolve("out.png").toString());
        assertBadInputNaming(r, models.resolve("sd/scheduler/scheduler_config.json") + ": pndm supports only skip_prk_steps = true");
        assertFalse(Files.exists(tmp.resolve("out.png")));
    }

    @Test
    void tokenizerLongerThanTheTextEncoderIsNamed() throws Exception {
        String config = Files.readString(Golden.tinyA().resolve("sd/tokenizer/tokenizer_config.json"))
                .replace("\"model_max_length\": 77", "\"model_max_length\": 77000");
        Path models = modelsWith("sd/tokenizer/tokenizer_config.json", config);
        assertBadInputNaming(generate(models), models.resolve("sd/tokenizer/tokenizer_config.json")
                + ": model_max_length 77000 is more than the text encoder's 77 positions");
    }
}
