package io.github.ssrencoder.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;

/**
 * Every weight file of the tiny-a model set loads bit for bit: the readers' NDArrays are compared with an
 * independent parse of the raw file, and the files themselves with the sizes, checksums and shapes the
 * golden data records.
 */
class GoldenWeightFilesTest {

    private static final Path TINY = Golden.tinyA();

    private static List<Path> files(String glob) throws IOException {
        try (Stream<Path> s = Files.walk(TINY)) {
            var matcher = TINY.getFileSystem().getPathMatcher("glob:" + glob);
            return s.filter(p -> matcher.matches(TINY.relativize(p))).sorted().toList();
        }
    }

    @Test
    void everySafetensorsFileMatchesAnIndependentParse() throws IOException {
        // Half-precision files are widened on loading and covered elsewhere: the single-file checkpoint by
        // SingleFileCheckpointTest, the LoRA files in lora/ by the fused weights they give (model.LoraGoldenTest).
        List<Path> all = files("**.safetensors").stream()
                .filter(p -> !TINY.relativize(p).startsWith("single-file") && !TINY.relativize(p).startsWith("lora")).toList();
        assertTrue(all.size() >= 16, "found " + all);
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            for (Path file : all) {
                byte[] raw = Files.readAllBytes(file);
                ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
                int headerLen = Math.toIntExact(b.getLong(0));
                JsonObject header = JsonParser.parseString(new String(raw, 8, headerLen, StandardCharsets.UTF_8)).getAsJsonObject();
                int dataStart = 8 + headerLen;
                try (SafetensorsFile f = SafetensorsFile.open(file)) {
                    assertEquals(header.keySet().stream().filter(k -> !k.equals("__metadata__")).count(), f.keys().size(), file.toString());
                    for (Map.Entry<String, JsonElement> e : header.entrySet()) {
                        if (e.getKey().equals("__metadata__")) {
                            continue;
                        }
                        JsonObject o = e.getValue().getAsJsonObject();
                        JsonArray off = o.getAsJsonArray("data_offsets");
                        byte[] expected = java.util.Arrays.copyOfRange(raw, dataStart + off.get(0).getAsInt(), dataStart + off.get(1).getAsInt());
                        String dtype = o.get("dtype").getAsString();
                        long[] shape = longs(o.getAsJsonArray("shape"));
                        String what = TINY.relativize(file) + " " + e.getKey();
                        assertArrayEquals(shape, f.info(e.getKey()).shape(), what);
                        try (NDArray a = f.load(e.getKey(), m)) {
                            assertArrayEquals(shape, a.getShape().getShape(), what);
                            // F32, I64 and U8 keep their width, so the engine's bytes equal the file's
                            assertTrue(List.of("F32", "I64", "U8").contains(dtype), what + " has dtype " + dtype);
                            assertArrayEquals(expected, a.toByteArray(), what);
                        }
                    }
                }
            }
        }
    }

    @Test
    void bothSsrCheckpointsMatchTheirRawStorages() throws IOException {
        JsonObject info = Golden.caseJson("model_info").getAsJsonObject();
        Map<String, String> manifests = Map.of(
                "ssr/pytorch_model.bin", "ssr_aligner_state_dict",
                "ssr/pytorch_model_1.bin", "ssr_layers_state_dict");
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            for (var entry : manifests.entrySet()) {
                Path file = TINY.resolve(entry.getKey());
                JsonObject shapes = info.getAsJsonObject(entry.getValue());
                assertNotNull(shapes, entry.getValue());
                try (TorchCheckpoint ckpt = TorchCheckpoint.open(file); ZipFile zip = new ZipFile(file.toFile())) {
                    assertEquals(List.copyOf(shapes.keySet()), List.copyOf(ckpt.keys()), file + " keys in file order");
                    String prefix = zip.stream().map(ZipEntry::getName).filter(n -> n.endsWith("/data.pkl")).findFirst()
                            .orElseThrow().replace("data.pkl", "");
                    // torch.save numbers storages in the order it first meets them; each tensor here owns one contiguous storage
                    int i = 0;
                    for (String key : ckpt.keys()) {
                        String what = entry.getKey() + " " + key;
                        assertArrayEquals(longs(shapes.getAsJsonArray(key)), ckpt.info(key).shape(), what);
                        ZipEntry storage = zip.getEntry(prefix + "data/" + i++);
                        assertNotNull(storage, what);
                        byte[] expected = zip.getInputStream(storage).readAllBytes();
                        try (NDArray a = ckpt.load(key, m)) {
                            assertArrayEquals(longs(shapes.getAsJsonArray(key)), a.getShape().getShape(), what);
                            assertArrayEquals(expected, a.toByteArray(), what);
                        }
                    }
                }
            }
        }
    }

    @Test
    void modelFilesMatchTheRecordedSizesAndChecksums() throws Exception {
        JsonObject files = Golden.caseJson("model_files").getAsJsonObject();
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : files.entrySet()) {
            Path file = TINY.resolve(e.getKey());
            JsonObject rec = e.getValue().getAsJsonObject();
            byte[] data = Files.readAllBytes(file);
            String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
            if (data.length != rec.get("bytes").getAsLong() || !sha.equals(rec.get("sha256").getAsString())) {
                problems.add(e.getKey());
            }
        }
        assertEquals(List.of(), problems, "files differing from cases/model_files.json");
        assertTrue(files.has("ssr/pytorch_model_1.bin") && files.has("sd/unet/diffusion_pytorch_model.safetensors"));
    }

    @Test
    void weightFilesOpensEachComponentByContent() {
        for (String[] c : new String[][] {{"sd/unet", "diffusion_pytorch_model"}, {"sd/vae", "diffusion_pytorch_model"},
                {"sd/text_encoder", "model"}, {"image_encoder", "model"}}) {
            try (TensorSource src = WeightFiles.openIn(TINY.resolve(c[0]), c[1])) {
                assertTrue(src instanceof SafetensorsFile, c[0]);
                assertTrue(!src.keys().isEmpty(), c[0]);
            }
        }
        try (TensorSource src = WeightFiles.open(TINY.resolve("ssr/pytorch_model_1.bin"))) {
            assertTrue(src instanceof TorchCheckpoint);
        }
    }

    private static long[] longs(JsonArray a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsLong();
        }
        return out;
    }
}
