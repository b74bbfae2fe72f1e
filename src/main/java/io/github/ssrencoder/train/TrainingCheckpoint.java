package io.github.ssrencoder.train;

import ai.djl.ndarray.NDArray;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.AtomicFiles;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.SafetensorsWriter;
import io.github.ssrencoder.io.TorchSaveWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training checkpoint folder as the official {@code train.py} writes it with accelerate's {@code save_state}:
 * {@code pytorch_model.bin} (the aligner's state dict) and {@code pytorch_model_1.bin} (the SSR layers'), with the
 * official keys and order, so that the official code and this plugin's inference load them; {@code optimizer.bin}
 * and {@code scheduler.bin} in torch's {@code AdamW} / {@code LambdaLR} state layouts. Beside them: the SSR
 * {@code config.json} (the aligner's head split), {@code optimizer_state.safetensors} (the AdamW moments, which a
 * resume reads back) and {@code training_state.json} (steps taken, examples consumed). The RNG-state file
 * {@code random_states_0.pkl} of accelerate is not written.
 */
public final class TrainingCheckpoint {

    /** The optimizer moments file read by {@link #restoreOptimizer}. */
    public static final String OPTIMIZER_STATE = "optimizer_state.safetensors";
    /** The progress file. */
    public static final String TRAINING_STATE = "training_state.json";

    /**
     * Progress stored with a checkpoint.
     *
     * @param step           training steps taken
     * @param examplesSeen   examples consumed (the position in the data order)
     * @param seed           the run's seed
     * @param generatorState the random generator's state after the step, or null
     */
    public record Progress(long step, long examplesSeen, long seed, long[] generatorState) {
        public Progress(long step, long examplesSeen, long seed) {
            this(step, examplesSeen, seed, null);
        }
    }

    private TrainingCheckpoint() {
    }

    /** Writes the checkpoint of {@code trainer}'s current state into {@code dir} (created; files replaced atomically). */
    public static void write(Path dir, SsrTrainer trainer, Progress progress) {
        Map<String, TorchSaveWriter.Tensor> aligner = new LinkedHashMap<>();
        Map<String, TorchSaveWriter.Tensor> layers = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : trainer.trainableParameters().entrySet()) {
            String name = e.getKey();
            TorchSaveWriter.Tensor t = tensor(e.getValue());
            if (name.startsWith(SsrTrainer.LAYERS + ".")) {
                layers.put(name.substring(SsrTrainer.LAYERS.length() + 1), t);
            } else {
                aligner.put(name.substring(SsrTrainer.ALIGNER.length() + 1), t);
            }
        }
        TorchSaveWriter.save(dir.resolve("pytorch_model.bin"), TorchSaveWriter.stateDict(aligner));
        TorchSaveWriter.save(dir.resolve("pytorch_model_1.bin"), TorchSaveWriter.stateDict(layers));
        Path config = trainer.ssrConfig();
        if (config != null && !config.toAbsolutePath().normalize().equals(dir.resolve("config.json").toAbsolutePath().normalize())) {
            try {
                byte[] bytes = Files.readAllBytes(config);
                AtomicFiles.write(dir.resolve("config.json"), out -> out.write(bytes));
            } catch (IOException e) {
                throw new IllegalStateException("cannot copy the SSR config " + config + ": " + e.getMessage(), e);
            }
        }
        AdamW opt = trainer.optimizer();
        AdamW.Settings s = opt.settings();
        Map<Object, Object> state = new LinkedHashMap<>();
        SafetensorsWriter moments = new SafetensorsWriter();
        List<Object> indices = new ArrayList<>();
        int i = 0;
        for (String name : opt.names()) {
            if (opt.step() > 0) {
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("step", new TorchSaveWriter.Tensor(new float[] {opt.step()}, new long[0]));
                entry.put("exp_avg", tensor(opt.expAvg(name)));
                entry.put("exp_avg_sq", tensor(opt.expAvgSq(name)));
                state.put(i, entry);
            }
            moments.add("exp_avg." + name, opt.expAvg(name).getShape().getShape(), opt.expAvg(name).toFloatArray());
            moments.add("exp_avg_sq." + name, opt.expAvgSq(name).getShape().getShape(), opt.expAvgSq(name).toFloatArray());
            indices.add(i++);
        }
        Map<String, Object> group = new LinkedHashMap<>();
        group.put("lr", s.lr());
        group.put("betas", TorchSaveWriter.Tuple.of(s.beta1(), s.beta2()));
        group.put("eps", s.eps());
        group.put("weight_decay", s.weightDecay());
        group.put("amsgrad", false);
        group.put("foreach", null);
        group.put("maximize", false);
        group.put("capturable", false);
        group.put("initial_lr", s.lr());
        group.put("params", indices);
        Map<String, Object> optimizer = new LinkedHashMap<>();
        optimizer.put("state", state);
        optimizer.put("param_groups", List.of(group));
        TorchSaveWriter.save(dir.resolve("optimizer.bin"), optimizer);
        Map<String, Object> scheduler = new LinkedHashMap<>();
        scheduler.put("base_lrs", List.of(s.lr()));
        scheduler.put("last_epoch", opt.step());
        scheduler.put("verbose", false);
        scheduler.put("_step_count", opt.step() + 1);
        scheduler.put("_get_lr_called_within_step", false);
        scheduler.put("_last_lr", List.of(s.lr()));
        scheduler.put("lr_lambdas", java.util.Arrays.asList((Object) null));
        TorchSaveWriter.save(dir.resolve("scheduler.bin"), scheduler);
        moments.write(dir.resolve(OPTIMIZER_STATE));
        JsonObject json = new JsonObject();
        json.addProperty("step", progress.step());
        json.addProperty("examples_seen", progress.examplesSeen());
        json.addProperty("seed", progress.seed());
        json.addProperty("optimizer_step", opt.step());
        if (progress.generatorState() != null) {
            com.google.gson.JsonArray g = new com.google.gson.JsonArray();
            for (long v : progress.generatorState()) {
                g.add(v);
            }
            json.add("generator_state", g);
        }
        byte[] text = (json + "\n").getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(dir.resolve(TRAINING_STATE), out -> out.write(text));
    }

    private static TorchSaveWriter.Tensor tensor(NDArray a) {
        return new TorchSaveWriter.Tensor(a.toFloatArray(), a.getShape().getShape());
    }

    /** Whether {@code dir} holds the optimizer state a full resume needs. */
    public static boolean hasOptimizerState(Path dir) {
        return Files.isRegularFile(dir.resolve(OPTIMIZER_STATE)) && Files.isRegularFile(dir.resolve(TRAINING_STATE));
    }

    /** The progress stored in {@code dir}, or zero progress when it has none (an official checkpoint). */
    public static Progress progress(Path dir) {
        Path file = dir.resolve(TRAINING_STATE);
        if (!Files.isRegularFile(file)) {
            return new Progress(0, 0, 0);
        }
        JsonObject o = JsonFiles.readObject(file);
        long[] generator = null;
        if (o.has("generator_state") && o.get("generator_state").isJsonArray()) {
            com.google.gson.JsonArray a = o.getAsJsonArray("generator_state");
            generator = new long[a.size()];
            for (int i = 0; i < generator.length; i++) {
                generator[i] = a.get(i).getAsLong();
            }
        }
        return new Progress(JsonFiles.getInt(file, o, "step", 0), o.has("examples_seen") ? o.get("examples_seen").getAsLong() : 0,
                o.has("seed") ? o.get("seed").getAsLong() : 0, generator);
    }

    /** Restores {@code trainer}'s AdamW moments and step count from {@code dir}. */
    public static void restoreOptimizer(Path dir, SsrTrainer trainer) {
        if (!hasOptimizerState(dir)) {
            throw new IllegalArgumentException("no optimizer state in " + dir + " (" + OPTIMIZER_STATE + ", " + TRAINING_STATE
                    + "); resume with the official behaviour (restart the optimizer) instead");
        }
        Path file = dir.resolve(TRAINING_STATE);
        JsonObject o = JsonFiles.readObject(file);
        long step = JsonFiles.getInt(file, o, "optimizer_step", 0);
        Map<String, float[]> m = new HashMap<>();
        Map<String, float[]> v = new HashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(OPTIMIZER_STATE));
             ai.djl.ndarray.NDManager tmp = trainer.trainableParameters().values().iterator().next().getManager().newSubManager()) {
            for (String name : trainer.optimizer().names()) {
                for (String kind : List.of("exp_avg", "exp_avg_sq")) {
                    String key = kind + "." + name;
                    if (!f.contains(key)) {
                        throw new IllegalArgumentException(dir.resolve(OPTIMIZER_STATE) + " has no '" + key
                                + "': it was written for other SSR weights");
                    }
                    (kind.equals("exp_avg") ? m : v).put(name, f.load(key, tmp).toFloatArray());
                }
            }
        }
        trainer.optimizer().restore(step, m, v);
    }
}
