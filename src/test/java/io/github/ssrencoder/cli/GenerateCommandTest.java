package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.SafetensorsWriter;
import io.github.ssrencoder.testing.Golden;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ssr generate} reproduces the golden pipeline cases and reports bad input with exit code 2. */
class GenerateCommandTest {

    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = SsrCli.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(code, out.toString(), err.toString());
    }

    private Path initLatents(String caseName) {
        return initLatents(tmp, caseName);
    }

    /** The golden case's initial latents as a file for {@code --init-latents}, written into {@code dir}. */
    static Path initLatents(Path dir, String caseName) {
        Path file = dir.resolve(caseName + "-init.safetensors");
        try (SafetensorsFile f = Golden.caseTensors(caseName); NDManager m = NDManager.newBaseManager()) {
            NDArray a = f.load("latents_init", m);
            new SafetensorsWriter().add("latents", a.getShape().getShape(), a.toFloatArray()).write(file);
        }
        return file;
    }

    /** The latents saved by {@code --save-latents} against the golden case's final latents (abs 5e-4). */
    static void assertLatents(String caseName, Path saved) {
        try (SafetensorsFile f = Golden.caseTensors(caseName); SafetensorsFile s = SafetensorsFile.open(saved);
             NDManager m = NDManager.newBaseManager()) {
            Golden.assertClose(caseName + " latents via CLI", f.load("latents_final", m), s.load("latents", m), 5e-4);
        }
    }

    @Test
    void textQueryCaseIsReproducedFromTheCommandLine() {
        Path a = Golden.tinyA();
        Path out = tmp.resolve("out.png");
        Path lat = tmp.resolve("final.safetensors");
        Path att = tmp.resolve("attention");
        Run r = run("generate", "--models", a.toString(), "--image", a.resolve("reference.png").toString(), "--query", "red circle",
                "--prompt", "a red circle on a table", "--negative-prompt", "", "--scale", "0.5", "--guidance", "7.5",
                "--steps", "4", "--scheduler", "ddim", "--width", "64", "--height", "64",
                "--init-latents", initLatents("pipeline_t2i_ddim").toString(), "--output", out.toString(),
                "--save-latents", lat.toString(), "--save-attention", att.toString());
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_t2i_ddim", lat);
        io.github.ssrencoder.pipeline.PipelineGoldenTest.assertImageWithinOne("CLI png",
                a.resolve("cases/pipeline_t2i_ddim.png"), ImageFiles.readRgb(out));
        assertTrue(Files.exists(att.resolve("subject1-overlay.png")));
        assertTrue(Files.exists(att.resolve("subject1-map-mean.png")));
        assertTrue(Files.exists(att.resolve("attention.safetensors")));
    }

    @Test
    void maskQueryCaseIsReproducedFromTheCommandLine() {
        Path a = Golden.tinyA();
        Path lat = tmp.resolve("final.safetensors");
        Run r = run("generate", "--models", a.toString(), "--image", a.resolve("reference.png").toString(),
                "--query", "a red circle and a blue square", "--mask", a.resolve("mask.png").toString(), "--mask-weight", "1",
                "--prompt", "a red circle on a table", "--scale", "0.5", "--steps", "4", "--scheduler", "ddim",
                "--width", "64", "--height", "64", "--init-latents", initLatents("pipeline_mask_ddim").toString(),
                "--output", tmp.resolve("mask.png").toString(), "--save-latents", lat.toString());
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_mask_ddim", lat);
    }

    @Test
    void multiSubjectJobFileReproducesTheOfficialMultiCase() throws Exception {
        Path a = Golden.tinyA();
        Files.copy(a.resolve("reference.png"), tmp.resolve("reference.png"));
        Files.copy(a.resolve("reference2.png"), tmp.resolve("reference2.png"));
        initLatents("pipeline_multi_ddim");
        Files.writeString(tmp.resolve("job.json"), """
                {"subjects": [{"image": "reference.png", "query": "red circle", "weight": 0.8},
                              {"image": "reference2.png", "query": "yellow ellipse", "weight": 0.8}],
                 "prompt": "a red circle next to a yellow ellipse", "negative_prompt": "", "scale": 1.0,
                 "guidance": 7.5, "steps": 4, "scheduler": "ddim", "width": 64, "height": 64,
                 "init_latents": "pipeline_multi_ddim-init.safetensors", "output": "multi.png",
                 "save_latents": "multi.safetensors"}
                """);
        Run r = run("generate", "--models", a.toString(), "--job", tmp.resolve("job.json").toString());
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_multi_ddim", tmp.resolve("multi.safetensors"));
    }

    @Test
    void plainStableDiffusionCaseRunsWithoutSubject() {
        Path a = Golden.tinyA();
        Path lat = tmp.resolve("sd.safetensors");
        Run r = run("generate", "--models", a.toString(), "--prompt", "a red circle on a table", "--steps", "4",
                "--scheduler", "ddim", "--width", "64", "--height", "64",
                "--init-latents", initLatents("pipeline_sd_ddim").toString(), "--output", tmp.resolve("sd.png").toString(),
                "--save-latents", lat.toString());
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_sd_ddim", lat);
    }

    @Test
    void cacheIntervalFromTheFlagOrTheJobFileCachesAndIsRecorded() throws Exception {
        Path a = Golden.tinyA();
        List<String> common = List.of("generate", "--models", a.toString(), "--prompt", "a red circle on a table",
                "--steps", "4", "--scheduler", "ddim", "--width", "64", "--height", "64",
                "--init-latents", initLatents("pipeline_sd_ddim").toString());
        java.util.function.BiFunction<String, List<String>, Run> generate = (name, extra) -> {
            List<String> args = new java.util.ArrayList<>(common);
            args.addAll(extra);
            args.addAll(List.of("--output", tmp.resolve(name + ".png").toString(),
                    "--save-latents", tmp.resolve(name + ".safetensors").toString()));
            return run(args.toArray(String[]::new));
        };
        Run flag = generate.apply("flag", List.of("--cache-interval", "2"));
        assertEquals(0, flag.code(), flag.err());
        Files.writeString(tmp.resolve("job.json"), "{\"cache_interval\": 2}");
        Run job = generate.apply("job", List.of("--job", tmp.resolve("job.json").toString()));
        assertEquals(0, job.code(), job.err());
        try (SafetensorsFile f = SafetensorsFile.open(tmp.resolve("flag.safetensors"));
             SafetensorsFile j = SafetensorsFile.open(tmp.resolve("job.safetensors"));
             SafetensorsFile g = Golden.caseTensors("pipeline_sd_ddim"); NDManager m = NDManager.newBaseManager()) {
            float[] cached = f.load("latents", m).toFloatArray();
            assertArrayEquals(cached, j.load("latents", m).toFloatArray(), "flag and job key give the same run");
            assertTrue(Golden.maxAbsDiff(g.load("latents_final", m).toFloatArray(), cached) > 1e-3, "interval 2 reuses features");
        }
        assertTrue(Files.readString(tmp.resolve("flag.png"), java.nio.charset.StandardCharsets.ISO_8859_1)
                .contains("\"cache_interval\":\"2\""), "the PNG records the interval");
        Run bad = generate.apply("bad", List.of("--cache-interval", "0"));
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("cache interval must be between 1 (off) and 1000"), bad.err());
    }

    @Test
    void lowMemoryFromTheFlagOrTheJobFileKeepsTheResultsAndLoadsTheEncoderPerRun() throws Exception {
        Path a = Golden.tinyA();
        Files.copy(a.resolve("reference.png"), tmp.resolve("reference.png"));
        Path init = initLatents("pipeline_t2i_ddim");
        Run flag = run("generate", "--models", a.toString(), "--image", a.resolve("reference.png").toString(), "--query",
                "red circle", "--prompt", "a red circle on a table", "--negative-prompt", "", "--scale", "0.5",
                "--steps", "4", "--scheduler", "ddim", "--width", "64", "--height", "64", "--init-latents", init.toString(),
                "--output", tmp.resolve("flag.png").toString(), "--save-latents", tmp.resolve("flag.safetensors").toString(),
                "--low-memory");
        assertEquals(0, flag.code(), flag.err());
        assertLatents("pipeline_t2i_ddim", tmp.resolve("flag.safetensors"));
        assertEquals(1, flag.err().lines().filter(l -> l.equals("ssr: Loading image encoder")).count(), flag.err());
        Files.writeString(tmp.resolve("job.json"), """
                {"subjects": [{"image": "reference.png", "query": "red circle"}],
                 "prompt": "a red circle on a table", "negative_prompt": "", "scale": 0.5, "guidance": 7.5, "steps": 4,
                 "scheduler": "ddim", "width": 64, "height": 64, "init_latents": "pipeline_t2i_ddim-init.safetensors",
                 "low_memory": true,
                 "jobs": [{"output": "j1.png", "save_latents": "j1.safetensors"},
                          {"output": "j2.png", "save_latents": "j2.safetensors"}]}
                """);
        Run job = run("generate", "--models", a.toString(), "--job", tmp.resolve("job.json").toString());
        assertEquals(0, job.code(), job.err());
        assertLatents("pipeline_t2i_ddim", tmp.resolve("j1.safetensors"));
        assertLatents("pipeline_t2i_ddim", tmp.resolve("j2.safetensors"));
        assertEquals(2, job.err().lines().filter(l -> l.equals("ssr: Loading image encoder")).count(),
                "released after each job and loaded again: " + job.err());
    }

    @Test
    void checkpointSuppliesTheWeightsOfSd() {
        Path a = Golden.tinyA();
        Path lat = tmp.resolve("sd.safetensors");
        Run r = run("generate", "--models", a.toString(), "--checkpoint", a.resolve("single-file/model.ckpt").toString(),
                "--prompt", "a red circle on a table", "--steps", "4", "--scheduler", "ddim", "--width", "64", "--height", "64",
                "--init-latents", initLatents("pipeline_sd_ddim").toString(), "--output", tmp.resolve("sd.png").toString(),
                "--save-latents", lat.toString());
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_sd_ddim", lat);
    }

    @Test
    void jobsNameTheirCheckpointAndEmaChoice() throws Exception {
        Path a = Golden.tinyA();
        Files.copy(a.resolve("single-file/model-ema.ckpt"), tmp.resolve("model-ema.ckpt"));
        Files.copy(a.resolve("single-file/model-ema.yaml"), tmp.resolve("model-ema.yaml"));
        Files.writeString(tmp.resolve("jobs.json"), """
                {"steps": 1, "scheduler": "ddim", "width": 64, "height": 64, "seed": 7, "prompt": "one",
                 "checkpoint": "model-ema.ckpt",
                 "jobs": [{"output": "regular.png", "save_latents": "regular.safetensors"},
                          {"output": "ema.png", "save_latents": "ema.safetensors", "ema": true}]}
                """);
        Run r = run("generate", "--models", a.toString(), "--job", tmp.resolve("jobs.json").toString());
        assertEquals(0, r.code(), r.err());
        try (SafetensorsFile regular = SafetensorsFile.open(tmp.resolve("regular.safetensors"));
             SafetensorsFile ema = SafetensorsFile.open(tmp.resolve("ema.safetensors"));
             NDManager m = NDManager.newBaseManager()) {
            float diff = regular.load("latents", m).sub(ema.load("latents", m)).abs().max().getFloat();
            assertTrue(diff > 1e-4, "the EMA weights give other latents: " + diff);
        }
    }

    @Test
    void jobBatchesAreShardedAcrossArrayTasks() throws Exception {
        Path a = Golden.tinyA();
        Files.writeString(tmp.resolve("jobs.json"), """
                {"steps": 1, "scheduler": "ddim", "width": 64, "height": 64, "seed": 7,
                 "jobs": [{"prompt": "one", "output": "j0.png"}, {"prompt": "two", "output": "j1.png"},
                          {"prompt": "three", "output": "j2.png"}]}
                """);
        Run r = run("generate", "--models", a.toString(), "--job", tmp.resolve("jobs.json").toString(), "--shard", "1/2");
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(tmp.resolve("j0.png")));
        assertTrue(Files.exists(tmp.resolve("j1.png")));
        assertFalse(Files.exists(tmp.resolve("j2.png")));
    }

    @Test
    void loraCaseIsReproducedWithTheFlagAndBothJobFileForms() throws Exception {
        Path a = Golden.tinyA();
        Path lora = a.resolve("lora/lora_a_kohya.safetensors");
        Path lat = tmp.resolve("lora.safetensors");
        Path png = tmp.resolve("lora.png");
        Run r = run("generate", "--models", a.toString(), "--image", a.resolve("reference.png").toString(), "--query", "red circle",
                "--prompt", "a red circle on a table", "--scale", "0.5", "--steps", "4", "--scheduler", "ddim",
                "--width", "64", "--height", "64", "--init-latents", initLatents("pipeline_lora_ddim").toString(),
                "--lora", lora + ":0.7", "--output", png.toString(), "--save-latents", lat.toString());
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_lora_ddim", lat);
        String pngText = new String(Files.readAllBytes(png), java.nio.charset.StandardCharsets.ISO_8859_1);
        assertTrue(pngText.contains("\"loras\":\"" + lora.toAbsolutePath().normalize() + ":0.7\""), "parameters name the LoRA");

        Files.createDirectories(tmp.resolve("loras"));
        Files.copy(lora, tmp.resolve("loras/a.safetensors"));
        Files.copy(a.resolve("reference.png"), tmp.resolve("reference.png"));
        Files.writeString(tmp.resolve("job.json"), """
                {"subjects": [{"image": "reference.png", "query": "red circle"}], "prompt": "a red circle on a table",
                 "scale": 0.5, "steps": 4, "scheduler": "ddim", "width": 64, "height": 64,
                 "init_latents": "pipeline_lora_ddim-init.safetensors",
                 "jobs": [{"loras": ["loras/a.safetensors:0.7"], "output": "s.png", "save_latents": "s.safetensors"},
                          {"loras": [{"file": "loras/a.safetensors", "weight": 0.7}], "output": "o.png", "save_latents": "o.safetensors"}]}
                """);
        r = run("generate", "--models", a.toString(), "--job", tmp.resolve("job.json").toString());
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_lora_ddim", tmp.resolve("s.safetensors"));
        assertLatents("pipeline_lora_ddim", tmp.resolve("o.safetensors"));
    }

    @Test
    void lcmCaseIsReproducedWithSeedInitialLatentsAndTheLcmLora() {
        Path a = Golden.tinyA();
        Path lat = tmp.resolve("lcm.safetensors");
        Path png = tmp.resolve("lcm.png");
        Run r = run("generate", "--models", a.toString(), "--image", a.resolve("reference.png").toString(), "--query", "red circle",
                "--prompt", "a red circle on a table", "--negative-prompt", "", "--scale", "0.5", "--guidance", "1.5",
                "--steps", "4", "--scheduler", "lcm", "--width", "64", "--height", "64", "--seed", "1304",
                "--init-latents", initLatents("pipeline_lcm").toString(), "--lora", a.resolve("lora/lora_a_kohya.safetensors") + ":1",
                "--output", png.toString(), "--save-latents", lat.toString());
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_lcm", lat);
        io.github.ssrencoder.pipeline.PipelineGoldenTest.assertImageWithinOne("CLI lcm png",
                a.resolve("cases/pipeline_lcm.png"), ImageFiles.readRgb(png));
    }

    @Test
    void badLorasExitWithTwoNamingTheFile() throws Exception {
        Path a = Golden.tinyA();
        Path notLora = a.resolve("sd/unet/diffusion_pytorch_model.safetensors");
        Files.writeString(tmp.resolve("job.json"), "{\"prompt\": \"p\", \"output\": \"x.png\", \"loras\": [5]}");
        Files.writeString(tmp.resolve("batch.json"), "{\"prompt\": \"p\", \"steps\": 1, \"width\": 64, \"height\": 64, "
                + "\"jobs\": [{\"output\": \"x.png\"}, {\"output\": \"y.png\", \"loras\": [\"" + notLora + ":0.5\"]}]}");
        List<String> common = List.of("generate", "--models", a.toString(), "--prompt", "p", "--steps", "1", "--width", "64",
                "--height", "64", "--output", tmp.resolve("x.png").toString());
        Map<List<String>, String> cases = Map.of(
                List.of("--lora", tmp.resolve("missing.safetensors").toString()), "missing.safetensors: LoRA file not found",
                List.of("--lora", notLora + ":20"), "LoRA weight must be between",
                List.of("--lora", notLora + ":0.5"), notLora + ": not a LoRA for these Stable Diffusion 1.x models",
                List.of("--job", tmp.resolve("job.json").toString()), "loras[0] must be",
                List.of("--job", tmp.resolve("batch.json").toString()), notLora + ": not a LoRA");
        cases.forEach((extra, expected) -> {
            List<String> args = new java.util.ArrayList<>(common);
            args.addAll(extra);
            Run r = run(args.toArray(String[]::new));
            assertEquals(2, r.code(), args + " → " + r.err());
            String last = r.err().strip().lines().reduce((x, y) -> y).orElse("");
            assertTrue(last.startsWith("ssr: ") && last.contains(expected), args + " → " + r.err());
            assertFalse(Files.exists(tmp.resolve("x.png")), "no output on bad input");
        });
    }

    @Test
    void badInputExitsWithTwoAndOneLineReason() {
        Path a = Golden.tinyA();
        for (List<String> args : List.of(
                List.of("generate", "--models", a.toString(), "--prompt", "p", "--width", "65", "--output", tmp.resolve("x.png").toString()),
                List.of("generate", "--models", tmp.resolve("nope").toString(), "--prompt", "p", "--output", tmp.resolve("x.png").toString()),
                List.of("generate", "--models", a.toString(), "--prompt", "p", "--scheduler", "magic", "--steps", "1",
                        "--width", "64", "--height", "64", "--output", tmp.resolve("x.png").toString()),
                List.of("generate", "--models", a.toString(), "--image", tmp.resolve("missing.png").toString(), "--query", "q",
                        "--prompt", "p", "--output", tmp.resolve("x.png").toString()),
                List.of("generate", "--models", a.toString(), "--prompt", "p", "--steps", "0", "--output", tmp.resolve("x.png").toString()),
                List.of("generate", "--models", a.toString(), "--prompt", "p", "--ema", "--steps", "1", "--width", "64",
                        "--height", "64", "--output", tmp.resolve("x.png").toString()),
                List.of("generate", "--models", a.toString(), "--checkpoint", tmp.resolve("missing.ckpt").toString(),
                        "--prompt", "p", "--steps", "1", "--width", "64", "--height", "64", "--output", tmp.resolve("x.png").toString()),
                List.of("generate", "--models", a.toString(), "--prompt", "p", "--vae-tiling", "sometimes", "--steps", "1",
                        "--width", "64", "--height", "64", "--output", tmp.resolve("x.png").toString()),
                List.of("generate", "--bogus"))) {
            Run r = run(args.toArray(String[]::new));
            assertEquals(2, r.code(), args + " → " + r.err());
            assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
            String last = r.err().strip().lines().reduce((x, y) -> y).orElse("");
            assertTrue(last.startsWith("ssr: ") && !last.contains("internal error"), args + " → " + r.err());
            assertFalse(Files.exists(tmp.resolve("x.png")), "no output on bad input");
        }
    }

    @Test
    void libtorchFolderWithoutLibtorchIsBadInput() {
        Run r = run("generate", "--models", Golden.tinyA().toString(), "--prompt", "p", "--libtorch", tmp.toString(),
                "--output", tmp.resolve("x.png").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().strip().startsWith("ssr: no libtorch in " + tmp.toAbsolutePath().normalize() + ": expected "
                + System.mapLibraryName("torch") + " there"), r.err());
        assertNull(System.getProperty("PYTORCH_LIBRARY_PATH"), "nothing is set for a refused folder");
    }
}
