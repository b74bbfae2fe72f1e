package io.github.ssrencoder.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One part of a job list for a job array: task {@code index} (0-based) of {@code count} runs jobs
 * {@code index, index + count, index + 2·count, …}. Given as {@code I/N}, or {@code auto}: read from the variables
 * SLURM sets in each task of an {@code sbatch --array} job.
 *
 * @param index 0-based position of this task among the array's tasks
 * @param count number of tasks in the array
 */
record Shard(int index, int count) {

    static final String TASK_ID = "SLURM_ARRAY_TASK_ID";
    static final String TASK_COUNT = "SLURM_ARRAY_TASK_COUNT";
    static final String TASK_MIN = "SLURM_ARRAY_TASK_MIN";
    static final String TASK_MAX = "SLURM_ARRAY_TASK_MAX";
    static final String TASK_STEP = "SLURM_ARRAY_TASK_STEP";

    Shard {
        if (count < 1 || index < 0 || index >= count) {
            throw new IllegalArgumentException("--shard must be I/N with 0 ≤ I < N, got '" + index + "/" + count + "'");
        }
    }

    /** {@code I/N} or {@code auto} (SLURM's array variables in {@code env}). */
    static Shard parse(String spec, Map<String, String> env) {
        String s = spec.trim();
        if (s.equalsIgnoreCase("auto")) {
            return fromSlurm(env);
        }
        String[] parts = s.split("/", -1);
        try {
            if (parts.length == 2) {
                return new Shard(Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim()));
            }
        } catch (NumberFormatException e) {
            // reported below with the expected forms
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--shard must be I/N with 0 ≤ I < N, got '" + spec + "'");
        }
        throw new IllegalArgumentException("--shard must be I/N with 0 ≤ I < N, or auto, got '" + spec + "'");
    }

    /**
     * The task's place in its array: {@code SLURM_ARRAY_TASK_ID} relative to {@code SLURM_ARRAY_TASK_MIN} (0 when
     * absent) in steps of {@code SLURM_ARRAY_TASK_STEP} (1 when absent), among {@code SLURM_ARRAY_TASK_COUNT} tasks or,
     * without it, those from {@code _MIN} to {@code _MAX}. Arrays given as a list of unevenly spaced ids
     * ({@code --array=1,4,9}) have no such place and are refused, as are variables that contradict each other.
     */
    static Shard fromSlurm(Map<String, String> env) {
        Integer id = number(env, TASK_ID);
        if (id == null) {
            throw new IllegalArgumentException("--shard auto needs " + TASK_ID + ", which SLURM sets in the tasks of a job array "
                    + "(sbatch --array=0-N); outside one give --shard I/N");
        }
        Integer count = number(env, TASK_COUNT);
        Integer min = number(env, TASK_MIN);
        Integer max = number(env, TASK_MAX);
        Integer step = number(env, TASK_STEP);
        int first = min == null ? 0 : min;
        int stride = step == null ? 1 : step;
        if (stride < 1) {
            throw inconsistent(env, TASK_STEP + " must be at least 1");
        }
        if (count == null && max == null) {
            throw new IllegalArgumentException("--shard auto needs " + TASK_COUNT + " or " + TASK_MAX + " besides " + TASK_ID
                    + " (both set by SLURM in job array tasks); outside one give --shard I/N");
        }
        if (max != null && max < first) {
            throw inconsistent(env, TASK_MAX + " is below " + TASK_MIN);
        }
        if (id < first || max != null && id > max) {
            throw inconsistent(env, TASK_ID + " lies outside " + TASK_MIN + ".." + TASK_MAX);
        }
        if ((id - first) % stride != 0) {
            throw inconsistent(env, TASK_ID + " is not " + TASK_MIN + " plus a multiple of " + TASK_STEP);
        }
        if (max != null) {
            if ((max - first) % stride != 0) {
                throw inconsistent(env, TASK_MAX + " is not " + TASK_MIN + " plus a multiple of " + TASK_STEP);
            }
            int span = (max - first) / stride + 1;
            if (count != null && count != span) {
                throw inconsistent(env, TASK_COUNT + " differs from the number of ids from " + TASK_MIN + " to " + TASK_MAX
                        + " (" + span + "): an array given as a list of ids (--array=1,4,9) cannot be split by its ids; "
                        + "use a range (--array=0-N) or --shard I/N");
            }
            count = span;
        }
        int index = (id - first) / stride;
        if (index >= count) {
            throw inconsistent(env, TASK_ID + " gives task " + index + " of only " + count + " (set " + TASK_MIN
                    + " when the array does not start at 0)");
        }
        return new Shard(index, count);
    }

    /** The jobs of this shard, in their order. */
    <T> List<T> select(List<T> all) {
        List<T> out = new ArrayList<>();
        for (int i = index; i < all.size(); i += count) {
            out.add(all.get(i));
        }
        return out;
    }

    @Override
    public String toString() {
        return index + "/" + count;
    }

    private static Integer number(Map<String, String> env, String name) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            return null;
        }
        try {
            return Integer.valueOf(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--shard auto: " + name + " must be a whole number, got '" + v + "'");
        }
    }

    private static IllegalArgumentException inconsistent(Map<String, String> env, String what) {
        StringBuilder seen = new StringBuilder();
        for (String name : List.of(TASK_ID, TASK_COUNT, TASK_MIN, TASK_MAX, TASK_STEP)) {
            if (env.get(name) != null) {
                seen.append(seen.length() == 0 ? "" : ", ").append(name).append('=').append(env.get(name));
            }
        }
        return new IllegalArgumentException("--shard auto: inconsistent SLURM array variables (" + seen + "): " + what);
    }
}
