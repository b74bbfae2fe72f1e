package io.github.ssrencoder.packaging;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Batches as a cluster runs them, through {@code scripts/ssr} in separate processes with SLURM's variables: the tasks
 * of a job array, one killed mid-run and resumed with {@code --skip-existing}, give the same files as one process; two
 * processes writing the same output leave one whole file. Every process runs under a time limit.
 */
class ClusterBatchIT {

    private static final Path PROJECT = Path.of(System.getProperty("ssr.project.dir", ".")).toAbsolutePath();
    private static final Path BUILD = Path.of(System.getProperty("ssr.build.dir", "target")).toAbsolutePath();
    private static final Path TINY = PROJECT.resolve("src/test/resources/golden/tiny-a");
    private static final Path WORK = BUILD.resolve("cluster-it");
    private static final int JOBS = 9;
    private static final int TASKS = 3;
    private static final int LIMIT_S = 300;

    /** Nine jobs: job 4 makes two images, job 7 also saves its latents, job 2 its attention maps. */
    private static Path jobFile(Path dir) throws IOException {
        Files.createDirectories(dir);
        StringBuilder jobs = new StringBuilder();
        for (int i = 0; i < JOBS; i++) {
            jobs.append(i == 0 ? "" : ",\n").append("{\"prompt\": \"a red circle, take ").append(i).append("\", \"seed\": ")
                    .append(100 + i).append(", \"output\": \"out/j").append(i).append(".png\"");
            if (i == 4) {
                jobs.append(", \"images\": 2");
            }
            if (i == 7) {
                jobs.append(", \"save_latents\": \"out/j7.safetensors\"");
            }
            if (i == 2) {
                jobs.append(", \"save_attention\": \"out/attention-2\"");
            }
            jobs.append('}');
        }
        Path file = dir.resolve("jobs.json");
        Files.writeString(file, """
                {"steps": 20, "scheduler": "ddim", "width": 64, "height": 64,
                 "subjects": [{"image": "%s", "query": "red circle"}],
                 "jobs": [%s]}
                """.formatted(TINY.resolve("reference.png").toString().replace("\\", "/"), jobs));
        return file;
    }

    @Test
    void arrayTasksKilledAndResumedGiveTheFilesOfOneProcess() throws Exception {
        deleteTree(WORK.resolve("array"));
        deleteTree(WORK.resolve("single"));
        Path single = jobFile(WORK.resolve("single"));
        Path array = jobFile(WORK.resolve("array"));
        List<String> args = List.of("generate", "--models", TINY.toString(), "--job", array.toString(), "--shard", "auto");

        List<Process> tasks = new ArrayList<>();
        for (int t = 0; t < TASKS; t++) {
            tasks.add(start(args, slurm(t), WORK.resolve("array/task-" + t + ".log")));
        }
        // Task 1 (jobs 1, 4, 7) is killed once its first output is written and recorded, in the middle of job 4.
        Process killed = tasks.get(1);
        Path firstOutput = WORK.resolve("array/out/j1.png");
        Path manifest = WORK.resolve("array/jobs.manifest.jsonl");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(LIMIT_S);
        while (!(Files.exists(firstOutput) && recordedDone(manifest, 1)) && killed.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        boolean aliveAtKill = killed.isAlive();
        killed.descendants().forEach(ProcessHandle::destroyForcibly);
        killed.destroyForcibly();
        assertTrue(killed.waitFor(30, TimeUnit.SECONDS));
        assertTrue(Files.exists(firstOutput), "task 1 wrote its first output before it was killed:\n" + log("array/task-1.log"));
        assertTrue(aliveAtKill, "task 1 was still running (jobs 4 and 7 to go) when killed");
        assertFalse(Files.exists(WORK.resolve("array/out/j7.png")), "task 1 was killed before its last job");
        for (int t : List.of(0, 2)) {
            assertEquals(0, finish(tasks.get(t)), log("array/task-" + t + ".log"));
        }

        // One process for the whole list, on the same threads, while nothing else runs.
        Process whole = start(List.of("generate", "--models", TINY.toString(), "--job", single.toString()),
                Map.of("SLURM_CPUS_PER_TASK", "1"), WORK.resolve("single/run.log"));
        assertEquals(0, finish(whole), log("single/run.log"));

        List<String> resume = new ArrayList<>(args);
        resume.add("--skip-existing");
        assertEquals(0, finish(start(resume, slurm(1), WORK.resolve("array/task-1-again.log"))), log("array/task-1-again.log"));
        String again = log("array/task-1-again.log");
        assertTrue(again.contains("ssr: job 2 of 9 is done"), again);
        assertTrue(again.contains("ssr: shard 1/3: 3 of 9 jobs, 2 to run"), again);
        assertTrue(again.contains("threads 1"), "threads from SLURM_CPUS_PER_TASK:\n" + again);
        // A task whose jobs are all done loads nothing.
        assertEquals(0, finish(start(resume, slurm(0), WORK.resolve("array/task-0-again.log"))));
        String none = log("array/task-0-again.log");
        assertTrue(none.contains("ssr: shard 0/3: 3 of 9 jobs, 0 to run"), none);
        assertFalse(none.contains("Loading UNet"), none);
        // The example sbatch script, run as SLURM runs task 2 (whose jobs are done by now).
        assertEquals(0, finish(startCommand(List.of("bash", PROJECT.resolve("scripts/examples/slurm/ssr-array-cpu.sbatch").toString(),
                TINY.toString(), array.toString()), slurm(2), WORK.resolve("array/sbatch-2.log"))), log("array/sbatch-2.log"));
        assertTrue(log("array/sbatch-2.log").contains("ssr: shard 2/3: 3 of 9 jobs, 0 to run"), log("array/sbatch-2.log"));

        Map<String, byte[]> expected = outputs(WORK.resolve("single/out"));
        Map<String, byte[]> got = outputs(WORK.resolve("array/out"));
        assertEquals(expected.keySet(), got.keySet(), "the same files, none missing or extra");
        // j4 makes two images (j4-1, j4-2), j7 adds its latents, j2 five attention files (two tokens, mean, overlay, tensors)
        assertEquals(JOBS + 1 + 1 + 5, expected.size(), expected.keySet().toString());
        for (Map.Entry<String, byte[]> e : expected.entrySet()) {
            assertArrayEquals(e.getValue(), got.get(e.getKey()), e.getKey() + " differs from the one-process run");
        }

        Map<Integer, List<JsonObject>> doneByJob = new TreeMap<>();
        for (JsonObject e : entries(manifest)) {
            if (done(e)) {
                doneByJob.computeIfAbsent(e.get("job").getAsInt(), k -> new ArrayList<>()).add(e);
            }
        }
        assertEquals(JOBS, doneByJob.size(), "every job recorded: " + doneByJob.keySet());
        for (Map.Entry<Integer, List<JsonObject>> d : doneByJob.entrySet()) {
            int job = d.getKey();
            assertEquals(1, d.getValue().size(), "job " + job + " done exactly once");
            JsonObject e = d.getValue().get(0);
            assertEquals(100 + job, e.get("seed").getAsLong());
            assertEquals(100 + job, e.getAsJsonObject("parameters").get("seed").getAsLong());
            assertEquals(job % TASKS + "/" + TASKS, e.get("shard").getAsString());
            assertEquals("4242_" + job % TASKS, e.get("slurm_job").getAsString());
            assertEquals("node" + job % TASKS, e.get("host").getAsString());
            assertTrue(e.get("seconds").getAsDouble() > 0);
            for (JsonElement o : e.getAsJsonArray("outputs")) {
                Path f = Path.of(o.getAsJsonObject().get("file").getAsString());
                assertEquals(o.getAsJsonObject().get("sha256").getAsString(), sha256(Files.readAllBytes(f)), f.toString());
            }
        }
        assertEquals(JOBS, entries(WORK.resolve("single/jobs.manifest.jsonl")).stream().filter(ClusterBatchIT::done).count());
    }

    @Test
    void twoProcessesWritingTheSameOutputsLeaveWholeFiles() throws Exception {
        Path dir = WORK.resolve("same");
        deleteTree(dir);
        Files.createDirectories(dir);
        List<Process> runs = new ArrayList<>();
        for (String name : List.of("a", "b")) {
            // Each process writes its outputs under its own names, then the same settings again to the shared names.
            String own = "{\"output\": \"" + name + "/image.png\", \"save_latents\": \"" + name + "/latents.safetensors\", "
                    + "\"save_attention\": \"" + name + "/attention\"}";
            String shared = "{\"output\": \"shared/image.png\", \"save_latents\": \"shared/latents.safetensors\", "
                    + "\"save_attention\": \"shared/attention\"}";
            Files.writeString(dir.resolve(name + ".json"), """
                    {"prompt": "a red circle on a table", "seed": %d, "steps": 4, "scheduler": "ddim", "width": 64, "height": 64,
                     "subjects": [{"image": "%s", "query": "red circle"}], "jobs": [%s, %s]}
                    """.formatted(name.equals("a") ? 1 : 2, TINY.resolve("reference.png").toString().replace("\\", "/"), own, shared));
            runs.add(start(List.of("generate", "--models", TINY.toString(), "--job", dir.resolve(name + ".json").toString()),
                    Map.of("SLURM_CPUS_PER_TASK", "1"), dir.resolve(name + ".log")));
        }
        assertEquals(0, finish(runs.get(0)), Files.readString(dir.resolve("a.log")));
        assertEquals(0, finish(runs.get(1)), Files.readString(dir.resolve("b.log")));
        Map<String, byte[]> a = outputs(dir.resolve("a"));
        Map<String, byte[]> b = outputs(dir.resolve("b"));
        Map<String, byte[]> shared = outputs(dir.resolve("shared"));
        assertEquals(a.keySet(), shared.keySet());
        assertFalse(java.util.Arrays.equals(a.get("image.png"), b.get("image.png")), "the two processes make different images");
        for (String name : shared.keySet()) {
            byte[] s = shared.get(name);
            assertTrue(java.util.Arrays.equals(s, a.get(name)) || java.util.Arrays.equals(s, b.get(name)),
                    name + " is neither process's whole file");
        }
        try (Stream<Path> files = Files.walk(dir.resolve("shared"))) {
            assertEquals(List.of(), files.filter(p -> p.getFileName().toString().endsWith(".part")).toList(),
                    "no temporary files left");
        }
    }

    /** SLURM's variables for task {@code t} of array job 4242 ({@code sbatch --array=0-2 --cpus-per-task=1}). */
    private static Map<String, String> slurm(int t) {
        return Map.of("SLURM_ARRAY_JOB_ID", "4242", "SLURM_ARRAY_TASK_ID", Integer.toString(t), "SLURM_ARRAY_TASK_COUNT",
                Integer.toString(TASKS), "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_MAX", Integer.toString(TASKS - 1),
                "SLURM_CPUS_PER_TASK", "1", "SLURMD_NODENAME", "node" + t);
    }

    /** Starts {@code scripts/ssr ARGS} with only the given SLURM variables, output to {@code log}. */
    private static Process start(List<String> args, Map<String, String> env, Path log) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(PROJECT.resolve("scripts/ssr").toString());
        cmd.addAll(args);
        return startCommand(cmd, env, log);
    }

    private static Process startCommand(List<String> cmd, Map<String, String> env, Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("SLURM"));
        pb.environment().put("DJL_CACHE_DIR", BUILD.resolve("djl-cache").toString());
        pb.environment().putAll(env);
        return pb.start();
    }

    /** Waits for {@code p} within the time limit (killing it past that) and returns its exit code. */
    private static int finish(Process p) throws InterruptedException {
        if (!p.waitFor(LIMIT_S, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("scripts/ssr did not end within " + LIMIT_S + " s");
        }
        return p.exitValue();
    }

    private static String log(String name) throws IOException {
        return Files.readString(WORK.resolve(name), StandardCharsets.UTF_8);
    }

    private static boolean recordedDone(Path manifest, int job) throws IOException {
        return Files.exists(manifest) && entries(manifest).stream().anyMatch(e -> e.get("job").getAsInt() == job && done(e));
    }

    private static boolean done(JsonObject e) {
        return "done".equals(e.get("status").getAsString());
    }

    /** The manifest's entries; each line must be one whole JSON object except a torn last line of a killed task. */
    private static List<JsonObject> entries(Path manifest) throws IOException {
        List<JsonObject> out = new ArrayList<>();
        int torn = 0;
        for (String line : Files.readAllLines(manifest, StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            try {
                out.add(JsonParser.parseString(line).getAsJsonObject());
            } catch (RuntimeException e) {
                torn++;
            }
        }
        assertTrue(torn <= 1, torn + " broken lines in " + manifest);
        return out;
    }

    /** The files under {@code dir} by relative path, without the hidden temporary file a killed write may leave. */
    private static Map<String, byte[]> outputs(Path dir) throws IOException {
        Map<String, byte[]> out = new HashMap<>();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(Files::isRegularFile).collect(Collectors.toList())) {
                String name = f.getFileName().toString();
                if (!(name.startsWith(".") && name.endsWith(".part"))) {
                    out.put(dir.relativize(f).toString().replace('\\', '/'), Files.readAllBytes(f));
                }
            }
        }
        return out;
    }

    private static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).collect(Collectors.toList())) {
                Files.delete(p);
            }
        }
    }
}
