package io.github.ssrencoder.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.train.StepResult;
import io.github.ssrencoder.train.SsrTrainer;
import io.github.ssrencoder.train.TrainingBatch;
import io.github.ssrencoder.train.TrainingData;
import io.github.ssrencoder.train.TrainingExample;
import io.github.ssrencoder.train.TrainingOptions;
import io.github.ssrencoder.train.TrainingRandom;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Seconds per training step (batch 1, the official defaults) of the full-size SSR-Encoder on random weights at
 * the resolutions given (default 256), one warm-up step then {@code repeats} timed ones, with the process's peak
 * resident memory, without and with gradient checkpointing. Not a test:
 * {@code java … BenchTraining [--work DIR] [--repeats N] [--threads N] [RES …]}.
 */
public final class BenchTraining {

    private BenchTraining() {
    }

    public static void main(String[] args) throws IOException {
        Path work = Path.of("target", "bench-models");
        int repeats = 2;
        int threads = 0;
        List<Integer> sizes = new java.util.ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--work" -> work = Path.of(args[++i]);
                case "--repeats" -> repeats = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                default -> sizes.add(Integer.parseInt(args[i]));
            }
        }
        if (sizes.isEmpty()) {
            sizes.add(256);
        }
        EngineRuntime.configureOffline(threads);
        BenchModels models = new BenchModels(work);
        if (!models.isComplete(1)) {
            System.out.println("writing the full-size random models folder into " + models.root() + " ...");
            models.write(1);
        }
        Path data = work.resolve("train-data");
        Files.createDirectories(data);
        BufferedImage img = new BufferedImage(640, 512, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                img.setRGB(x, y, (x * 255 / 640) << 16 | (y * 255 / 512) << 8 | ((x + y) & 255));
            }
        }
        ImageFiles.writePng(img, data.resolve("image.png"), java.util.Map.of());
        Files.writeString(data.resolve("train.jsonl"), "{\"file_name\": \"image.png\", \"text\": [\"a dog on a beach\", \"dog\"]}\n");
        List<TrainingExample> batch = TrainingData.read(data).examples();
        System.out.println("CPU: " + cpu() + ", threads " + (threads == 0 ? "default" : threads) + ", libtorch "
                + EngineRuntime.bundledVersion());
        for (int size : sizes) {
            for (boolean checkpointing : new boolean[] {false, true}) {
                time(models, batch, size, checkpointing, repeats);
            }
        }
    }

    private static void time(BenchModels models, List<TrainingExample> batch, int size, boolean checkpointing, int repeats) {
        ProcMemory.releaseFreedMemory();
        ProcMemory.resetPeak();
        TrainingOptions options = TrainingOptions.TRAIN_PY.withResolution(size).withGradientCheckpointing(checkpointing);
        try (SsrTrainer trainer = SsrTrainer.load(models.root(), null, Device.cpu(), options)) {
            TrainingRandom random = TrainingRandom.seeded(1);
            double total = 0;
            for (int i = 0; i <= repeats; i++) {
                StepResult r;
                try (NDManager m = EngineRuntime.newManager(Device.cpu()); TrainingBatch b = trainer.prepare(batch, random, m)) {
                    r = trainer.step(b, random);
                }
                System.out.printf(Locale.ROOT, "  %d²: step %d %.1f s (loss %.4f)%n", size, i, r.seconds(), r.loss());
                if (i > 0) {
                    total += r.seconds();
                }
            }
            System.out.printf(Locale.ROOT, "training step %d²%s (batch 1, %,d trainable weights): %.1f s/step, peak RSS %.0f MiB%n",
                    size, checkpointing ? " with gradient checkpointing" : "", trainer.trainableCount(), total / repeats,
                    ProcMemory.peakMiB());
        }
    }

    private static String cpu() {
        String model = System.getProperty("os.arch");
        String isa = "";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name") && model.equals(System.getProperty("os.arch"))) {
                    model = line.substring(line.indexOf(':') + 1).trim();
                }
                if (line.startsWith("flags") && isa.isEmpty()) {
                    isa = line.contains("avx512f") ? "AVX-512" : line.contains("avx2") ? "AVX2" : "SSE";
                }
            }
        } catch (IOException e) {
            return model;
        }
        return model + " (" + isa + ")";
    }
}
