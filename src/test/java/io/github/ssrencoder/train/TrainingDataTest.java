package io.github.ssrencoder.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The JSONL reader accepts the official format and names the file and line of anything it cannot use. */
class TrainingDataTest {

    @TempDir
    Path tmp;

    private Path withImage() throws IOException {
        Files.copy(Golden.tinyA().resolve("reference.png"), tmp.resolve("a.png"));
        return tmp;
    }

    @Test
    void readsTheOfficialExampleFormat() {
        TrainingData d = TrainingData.read(Golden.tinyA().resolve("train"));
        assertEquals(2, d.size());
        TrainingExample first = d.examples().get(0);
        assertEquals(List.of("a red circle and a blue square", "red circle"), first.captions());
        assertTrue(first.captionList() && first.queryList());
        assertEquals(Golden.tinyA().resolve("train/reference.png").toAbsolutePath().normalize(), first.image());
    }

    @Test
    void plainStringsAndOtherKeys() throws IOException {
        Path dir = withImage();
        Files.writeString(dir.resolve("data.jsonl"), "{\"img\": \"a.png\", \"caption\": \"a cell\", \"tag\": [\"nucleus\"]}\n\n");
        TrainingExample e = TrainingData.read(dir.resolve("data.jsonl"), "img", "caption", "tag").examples().get(0);
        assertEquals(List.of("a cell"), e.captions());
        assertFalse(e.captionList());
        assertTrue(e.queryList());
    }

    @Test
    void errorsNameTheFileAndLine() throws IOException {
        Path dir = withImage();
        Path f = dir.resolve("train.jsonl");
        Files.writeString(f, "{\"file_name\": \"a.png\", \"text\": \"ok\"}\n{\"file_name\": \"b.png\", \"text\": \"x\"}\n");
        String m = assertThrows(IllegalArgumentException.class, () -> TrainingData.read(dir)).getMessage();
        assertTrue(m.contains(f + " line 2") && m.contains("image not found") && m.contains("b.png"), m);
        Files.writeString(f, "{\"file_name\": \"a.png\", \"text\": []}\n");
        m = assertThrows(IllegalArgumentException.class, () -> TrainingData.read(dir)).getMessage();
        assertTrue(m.contains("line 1") && m.contains("empty list"), m);
        Files.writeString(f, "{\"file_name\": \"a.png\", \"text\": \"x\"\n");
        m = assertThrows(IllegalArgumentException.class, () -> TrainingData.read(dir)).getMessage();
        assertTrue(m.contains("line 1") && m.contains("not valid JSON"), m);
        Files.delete(f);
        Files.writeString(dir.resolve("one.jsonl"), "");
        Files.writeString(dir.resolve("two.jsonl"), "");
        m = assertThrows(IllegalArgumentException.class, () -> TrainingData.read(dir)).getMessage();
        assertTrue(m.contains("must hold one .jsonl file"), m);
    }
}
