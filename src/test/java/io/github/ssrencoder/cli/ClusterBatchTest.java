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

    /** Plain text-to-image jobs (the fastest): the manifest and shard logic do not depend on the subjects. */
    private Path jobFile(int jobs) throws Exception {
        Path file = tmp.resolve("jobs.json");
        StringBuilder list = new StringBuilder();
        for (int i = 0; i < jobs; i++) {
            list.append(i == 0 ? "" : ", ").append("{\"prompt\": \"take ").append(i).append("\", \"seed\": ").append(i + 1)
                    .append(", \"output\": \"out/j").append(i).append(".png\"")
                    .append(i == 0 ? ", \"save_latents\": \"out/j0.safetensors\"}" : "}");
        }
        Files.writeString(file, "{\"steps\": 1, \"scheduler\": \"ddim\", \"width\": 64, \"height\": 64, \"jobs\": ["
                + list + "]}");
        return file;
    }

    private static List<JsonObject> done(Path manifest) {
        return new RunManifest(manifest).entries().stream().filter(e -> e.get("status").getAsString().equals("done")).toList();
    }

    @Test
    void shardAutoRunsTheTaskItsArrayVariablesName() throws Exception {
        Path jobs = jobFile(3);
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
        assertEquals("take 1", e.getAsJsonObject("parameters").get("prompt").getAsString());
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
                jobFile(3).toString(), "--shard", "auto");
        assertEquals(SsrCli.EXIT_BAD_INPUT, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("--shard auto needs SLURM_ARRAY_TASK_ID"), r.err());
        assertFalse(Files.exists(tmp.resolve("out")), "nothing written");
    }

    @Test
    void skipExistingSkipsVerifiedOutputsAndRedoesChangedOnes() throws Exception {
        Path jobs = jobFile(2);
        Path manifest = tmp.resolve("elsewhere/run.jsonl");
        String[] args = {"generate", "--models", Golden.tinyA().toString(), "--job", jobs.toString(), "--manifest",
                manifest.toString(), "--skip-existing"};
        GenerateCommandTest.Run first = run(Map.of(), args);
        assertEquals(0, first.code(), first.err());
        assertFalse(Files.exists(tmp.resolve("jobs.manifest.jsonl")), "--manifest puts it elsewhere");
        assertEquals(2, done(manifest).size());
        byte[] latents = Files.readAllBytes(tmp.resolve("out/j0.safetensors"));
        byte[] j1 = Files.readAllBytes(tmp.resolve("out/j1.png"));

        GenerateCommandTest.Run again = run(Map.of(), args);
        assertEquals(0, again.code(), again.err());
        assertEquals(2, again.err().lines().filter(l -> l.endsWith("skipped")).count(), again.err());
        assertFalse(again.err().contains("Loading UNet"), "nothing to run: no models loaded");
        assertEquals(2, done(manifest).size());

        // a cut image and a changed latents file (same size) are not done
        Files.write(tmp.resolve("out/j1.png"), java.util.Arrays.copyOf(j1, j1.length - 20));
        byte[] changed = latents.clone();
        changed[changed.length - 1] ^= 1;
        Files.write(tmp.resolve("out/j0.safetensors"), changed);
        GenerateCommandTest.Run third = run(Map.of(), args);
        assertEquals(0, third.code(), third.err());
        assertEquals(0, third.err().lines().filter(l -> l.endsWith("skipped")).count(), third.err());
        assertEquals(4, done(manifest).size());
        assertArrayEquals(latents, Files.readAllBytes(tmp.resolve("out/j0.safetensors")));
        assertArrayEquals(j1, Files.readAllBytes(tmp.resolve("out/j1.png")), "the redone output equals the first one");
    }

    @Test
    void aJobThatFailsIsRecordedAsFailed() throws Exception {
        Path jobs = jobFile(1);
        Files.createDirectories(tmp.resolve("out/j0.png")); // a folder, not empty, where the image should go
        Files.writeString(tmp.resolve("out/j0.png/keep.txt"), "keep");
        GenerateCommandTest.Run r = run(Map.of(), "generate", "--models", Golden.tinyA().toString(), "--job", jobs.toString());
        assertEquals(SsrCli.EXIT_BAD_INPUT, r.code(), r.err());
        List<JsonObject> entries = new RunManifest(tmp.resolve("jobs.manifest.jsonl")).entries();
        assertEquals(1, entries.size());
        JsonObject e = entries.get(0);
        assertEquals("failed", e.get("status").getAsString());
        assertEquals(0, e.getAsJsonArray("outputs").size());
        assertTrue(e.get("error").getAsString().contains("j0.png"), e.toString());
        assertTrue(r.err().contains("j0.png: cannot write"), r.err());
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
                Golden.tinyA().toString(), "--job", jobFile(1).toString());
        assertEquals(SsrCli.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().contains("SLURM_CPUS_PER_TASK must be a whole number of at least 1, got 'many'"), r.err());
    }
}
