package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code --shard I/N} and {@code --shard auto} from SLURM's job array variables. */
class ShardTest {

    @Test
    void explicitShardPicksEveryNthJob() {
        Shard s = Shard.parse("1/3", Map.of());
        assertEquals(new Shard(1, 3), s);
        assertEquals(List.of(1, 4, 7), s.select(List.of(0, 1, 2, 3, 4, 5, 6, 7)));
        assertEquals(List.of(), new Shard(2, 3).select(List.of(0, 1)));
    }

    @Test
    void autoTakesTheTaskIdAndCount() {
        assertEquals(new Shard(2, 4), Shard.parse("auto", Map.of("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_COUNT", "4")));
    }

    @Test
    void autoCountsFromTheArrayMinimumAndMaximum() {
        // sbatch --array=1-10: ids 1..10, the first task is shard 0
        assertEquals(new Shard(0, 10), Shard.parse("auto", Map.of("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_MIN", "1",
                "SLURM_ARRAY_TASK_MAX", "10")));
        assertEquals(new Shard(9, 10), Shard.parse("auto", Map.of("SLURM_ARRAY_TASK_ID", "10", "SLURM_ARRAY_TASK_MIN", "1",
                "SLURM_ARRAY_TASK_MAX", "10", "SLURM_ARRAY_TASK_COUNT", "10")));
        // sbatch --array=0-15:4: ids 0, 4, 8, 12
        assertEquals(new Shard(2, 4), Shard.parse("auto", Map.of("SLURM_ARRAY_TASK_ID", "8", "SLURM_ARRAY_TASK_MIN", "0",
                "SLURM_ARRAY_TASK_MAX", "12", "SLURM_ARRAY_TASK_STEP", "4", "SLURM_ARRAY_TASK_COUNT", "4")));
    }

    @Test
    void autoOutsideAnArrayNamesTheMissingVariable() {
        String m = assertThrows(IllegalArgumentException.class, () -> Shard.parse("auto", Map.of())).getMessage();
        assertTrue(m.contains("SLURM_ARRAY_TASK_ID") && m.contains("--shard I/N"), m);
        m = assertThrows(IllegalArgumentException.class, () -> Shard.parse("auto", Map.of("SLURM_ARRAY_TASK_ID", "3")))
                .getMessage();
        assertTrue(m.contains("SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MAX"), m);
    }

    @Test
    void inconsistentVariablesAreRefusedWithTheirValues() {
        List<Map<String, String>> bad = List.of(
                Map.of("SLURM_ARRAY_TASK_ID", "4", "SLURM_ARRAY_TASK_COUNT", "4"),
                Map.of("SLURM_ARRAY_TASK_ID", "0", "SLURM_ARRAY_TASK_MIN", "1", "SLURM_ARRAY_TASK_MAX", "3"),
                Map.of("SLURM_ARRAY_TASK_ID", "4", "SLURM_ARRAY_TASK_MIN", "1", "SLURM_ARRAY_TASK_MAX", "9",
                        "SLURM_ARRAY_TASK_COUNT", "3"),
                Map.of("SLURM_ARRAY_TASK_ID", "5", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_MAX", "12",
                        "SLURM_ARRAY_TASK_STEP", "4"),
                Map.of("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_MIN", "5", "SLURM_ARRAY_TASK_MAX", "3"));
        for (Map<String, String> env : bad) {
            String m = assertThrows(IllegalArgumentException.class, () -> Shard.parse("auto", env), env.toString()).getMessage();
            assertTrue(m.startsWith("--shard auto: inconsistent SLURM array variables (SLURM_ARRAY_TASK_ID="), m);
        }
        String list = assertThrows(IllegalArgumentException.class, () -> Shard.parse("auto", bad.get(2))).getMessage();
        assertTrue(list.contains("--array=1,4,9"), list);
        String word = assertThrows(IllegalArgumentException.class, () -> Shard.parse("auto",
                Map.of("SLURM_ARRAY_TASK_ID", "x", "SLURM_ARRAY_TASK_COUNT", "2"))).getMessage();
        assertTrue(word.contains("SLURM_ARRAY_TASK_ID must be a whole number, got 'x'"), word);
    }

    @Test
    void malformedExplicitShardsAreRefused() {
        for (String s : List.of("3/3", "-1/2", "1", "a/b", "1/2/3", "0/0")) {
            String m = assertThrows(IllegalArgumentException.class, () -> Shard.parse(s, Map.of()), s).getMessage();
            assertTrue(m.startsWith("--shard must be I/N with 0 ≤ I < N"), m);
        }
    }

    @Test
    void threadsDefaultToTheCpusSlurmGaveTheTask() {
        assertEquals(0, GenerateCommand.threads(null, Map.of()));
        assertEquals(6, GenerateCommand.threads(null, Map.of("SLURM_CPUS_PER_TASK", "6")));
        assertEquals(2, GenerateCommand.threads(2, Map.of("SLURM_CPUS_PER_TASK", "6")), "--threads wins");
        String m = assertThrows(IllegalArgumentException.class,
                () -> GenerateCommand.threads(null, Map.of("SLURM_CPUS_PER_TASK", "0"))).getMessage();
        assertTrue(m.contains("SLURM_CPUS_PER_TASK must be a whole number of at least 1, got '0'"), m);
    }
}
