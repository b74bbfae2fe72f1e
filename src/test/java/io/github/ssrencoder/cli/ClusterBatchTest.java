package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import io.github.ssrencoder.testing.Golden;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Job arrays on a cluster: {@code --shard auto}, the run manifest and {@code --skip-existing}, in process with a given environment. */
class ClusterBatchTest {

    @TempDir
    Path tmp;

    private static GenerateCommandTest.Run run(Map<String, String> env, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = SsrCli.execute(args, new PrintWriter(out, true), new PrintWriter(err, true), env);
        return new GenerateCommandTest.Run(code, out.toString(), err.toString());
    }

    private Path jobFile() throws Exception {
        Path a = Golden.tinyA();
        Path file = tmp.resolve("jobs.json");
        Files.writeString(file, """
                {"steps": 1, "scheduler": "ddim", "width": 64, "height": 64,
                 "subjects": [{"image": "%s", "query": "red circle"}],
                 "jobs": [{"prompt": "one", "seed": 1, "output": "out/j0.png", "save_latents": "out/j0.safetensors"},
                          {"prompt": "two", "seed": 2, "output": "out/j1.png"},
                          {"prompt": "three", "seed": 3, "output": "out/j2.png"}]}
                """.formatted(a.resolve("reference.png").toString().replace("\\", "/")));
        return file;
    }

    private static List<JsonObject> done(Path manifest) {
        return new RunManifest(manifest).entries().stream().filter(e -> e.get("status").getAsString().equals("done")).toList();
    }

    @Test
    void shardAutoRunsTheTaskItsArrayVariablesName() throws Exception {
        Path jobs = jobFile();
        GenerateCommandTest.Run r = run(Map.of("SLURM_ARRAY_TASK_ID", "5", "SLURM_ARRAY_TASK_MIN", "4",
                "SLURM_ARRAY_TASK_MAX", "6", "SLURM_ARRAY_JOB_ID", "77", "SLURMD_NODENAME", "node7"),
                "generate", "--models", Golden.tinyA().toString(), "--job", jobs.toString(), "--shard", "auto");
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(tmp.resolve("out/j0.png")));
        assertTrue(Files.exists(tmp.resolve("out/j1.png")));
        assertFalse(Files.exists(tmp.resolve("out/j2.png")));
        List<JsonObject> entries = new RunManifest(tmp.resolve("jobs.manifest.jsonl")).entries();
        assertEquals(1, entries.size());
        JsonObject e = entries.get(0);
        assertEquals(1, e.get("job").getAsInt());
        assertEquals("done", e.get("status").getAsString());
        assertEquals(2, e.get("seed").getAsLong());
        assertEquals("two", e.getAsJsonObject("parameters").get("prompt").getAsString());
        assertEquals("node7", e.get("host").getAsString());
        assertEquals("1/3", e.get("shard").getAsString());
        assertEquals("77_5", e.get("slurm_job").getAsString());
        assertTrue(e.get("seconds").getAsDouble() > 0);
        assertEquals(tmp.resolve("out/j1.png").toAbsolutePath().normalize().toString(),
                e.getAsJsonArray("outputs").get(0).getAsJsonObject().get("file").getAsString());
    }

    @Test
    void shardAutoOutsideAnArrayIsBadInput() throws Exception {
        GenerateCommandTest.Run r = run(Map.of(), "generate", "--models", Golden.tinyA().toString(), "--job",
                jobFile().toString(), "--shard", "auto");
        assertEquals(SsrCli.EXIT_BAD_INPUT, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("--shard auto needs SLURM_ARRAY_TASK_ID"), r.err());
        assertFalse(Files.exists(tmp.resolve("out")), "nothing written");
    }

    @Test
    void skipExistingSkipsVerifiedOutputsAndRedoesChangedOnes() throws Exception {
        Path jobs = jobFile();
        Path manifest = tmp.resolve("elsewhere/run.jsonl");
        String[] args = {"generate", "--models", Golden.tinyA().toString(), "--job", jobs.toString(), "--manifest",
                manifest.toString(), "--skip-existing"};
        GenerateCommandTest.Run first = run(Map.of(), args);
        assertEquals(0, first.code(), first.err());
        assertFalse(Files.exists(tmp.resolve("jobs.manifest.jsonl")), "--manifest puts it elsewhere");
        assertEquals(3, done(manifest).size());
        byte[] j0 = Files.readAllBytes(tmp.resolve("out/j0.png"));
        byte[] j1 = Files.readAllBytes(tmp.resolve("out/j1.png"));

        GenerateCommandTest.Run again = run(Map.of(), args);
        assertEquals(0, again.code(), again.err());
        assertEquals(3, again.err().lines().filter(l -> l.endsWith("skipped")).count(), again.err());
        assertFalse(again.err().contains("Loading UNet"), "nothing to run: no models loaded");
        assertEquals(3, done(manifest).size());

        // a cut output, a changed latents file and a changed job are not done
        byte[] cut = java.util.Arrays.copyOf(j1, j1.length - 20);
        Files.write(tmp.resolve("out/j1.png"), cut);
        Files.write(tmp.resolve("out/j0.safetensors"), new byte[] {1, 2, 3}, java.nio.file.StandardOpenOption.APPEND);
        Files.writeString(jobs, Files.readString(jobs).replace("\"three\"", "\"three, again\""));
        GenerateCommandTest.Run third = run(Map.of(), args);
        assertEquals(0, third.code(), third.err());
        assertEquals(0, third.err().lines().filter(l -> l.endsWith("skipped")).count(), third.err());
        assertEquals(6, done(manifest).size());
        assertArrayEquals(j0, Files.readAllBytes(tmp.resolve("out/j0.png")));
        assertArrayEquals(j1, Files.readAllBytes(tmp.resolve("out/j1.png")), "the redone output equals the first one");
    }

    @Test
    void skipExistingWithoutAManifestIsBadInput() {
        Path a = Golden.tinyA();
        GenerateCommandTest.Run r = run(Map.of(), "generate", "--models", a.toString(), "--prompt", "p", "--steps", "1",
                "--width", "64", "--height", "64", "--output", tmp.resolve("o.png").toString(), "--skip-existing");
        assertEquals(SsrCli.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().contains("--skip-existing checks outputs against a manifest: give --manifest FILE"), r.err());
    }

    @Test
    void badSlurmCpusPerTaskIsBadInput() throws Exception {
        GenerateCommandTest.Run r = run(Map.of("SLURM_CPUS_PER_TASK", "many"), "generate", "--models",
                Golden.tinyA().toString(), "--job", jobFile().toString());
        assertEquals(SsrCli.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().contains("SLURM_CPUS_PER_TASK must be a whole number of at least 1, got 'many'"), r.err());
    }
}
