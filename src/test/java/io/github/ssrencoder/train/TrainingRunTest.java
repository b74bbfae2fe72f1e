package io.github.ssrencoder.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import ai.djl.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import io.github.ssrencoder.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The data order of a run: every example once per epoch, a partial last batch, the same order for the same seed. */
class TrainingRunTest {

    @TempDir
    Path tmp;

    private TrainingData data(int n) throws IOException {
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < n; i++) {
            Files.copy(Golden.tinyA().resolve("reference.png"), tmp.resolve(i + ".png"));
            lines.append("{\"file_name\": \"").append(i).append(".png\", \"text\": \"example ").append(i).append("\"}\n");
        }
        Files.writeString(tmp.resolve("train.jsonl"), lines);
        return TrainingData.read(tmp);
    }

    private TrainingRun.Settings settings(int batch, long seed, boolean shuffle) {
        return new TrainingRun.Settings(tmp, tmp, tmp.resolve("out"), 10, batch, TrainingOptions.TRAIN_PY, null, false, 0, seed,
                shuffle, Device.cpu());
    }

    private static List<String> order(TrainingData d, TrainingRun.Settings s, int epochs) {
        List<String> out = new ArrayList<>();
        long seen = 0;
        while (seen < (long) epochs * d.size()) {
            List<TrainingExample> b = TrainingRun.nextBatch(d, s, seen);
            b.forEach(e -> out.add(e.captions().get(0)));
            seen += b.size();
        }
        return out;
    }

    @Test
    void everyExampleOncePerEpochWithAPartialLastBatch() throws IOException {
        TrainingData d = data(5);
        TrainingRun.Settings s = settings(2, 3, true);
        assertEquals(1, TrainingRun.nextBatch(d, s, 4).size());
        List<String> two = order(d, s, 2);
        assertEquals(Set.copyOf(two.subList(0, 5)), new HashSet<>(two.subList(5, 10)));
        assertEquals(5, Set.copyOf(two.subList(0, 5)).size());
        assertEquals(two, order(d, settings(2, 3, true), 2), "same seed, same order");
        assertNotEquals(two.subList(0, 5), two.subList(5, 10), "a new permutation every epoch");
        assertEquals(List.of("example 0", "example 1", "example 2", "example 3", "example 4"), order(d, settings(2, 3, false), 1));
    }

    @Test
    void officialCheckpointNamesGiveTheirStep() {
        assertEquals(3, TrainingRun.stepFromName(Path.of("runs/checkpoint-3")));
        assertEquals(0, TrainingRun.stepFromName(Path.of("runs/final")));
    }
}
