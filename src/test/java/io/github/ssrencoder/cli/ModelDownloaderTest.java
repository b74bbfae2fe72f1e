package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.github.ssrencoder.io.ModelsFolder;
import io.github.ssrencoder.testing.Golden;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the downloader against a hub-like server on loopback that serves the tiny-a model. */
class ModelDownloaderTest {

    /** Files larger than this are listed as LFS files (SHA-256), smaller ones as plain git blobs (SHA-1). */
    private static final long LFS_THRESHOLD = 10_000;

    @TempDir
    Path tmp;

    private HttpServer server;
    private final Map<String, Path> repos = new HashMap<>();
    /** Paths whose next GET is cut off after half the bytes. */
    private final Set<String> cutOnce = ConcurrentHashMap.newKeySet();
    /** Paths served with one byte flipped. */
    private final Set<String> corrupt = ConcurrentHashMap.newKeySet();
    /** Paths listed but answered with 404. */
    private final Set<String> missing = ConcurrentHashMap.newKeySet();
    private final Map<String, Integer> gets = new ConcurrentHashMap<>();
    private final Set<String> rangeRequests = ConcurrentHashMap.newKeySet();

    @BeforeEach
    void start() throws IOException {
        repos.put("test/sd", Golden.tinyA().resolve("sd"));
        repos.put("test/clip", Golden.tinyA().resolve("image_encoder"));
        repos.put("test/ssr", Golden.tinyA().resolve("ssr"));
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            for (Map.Entry<String, Path> repo : repos.entrySet()) {
                if (path.equals("/api/models/" + repo.getKey() + "/tree/main")) {
                    send(ex, 200, listing(repo.getValue()).getBytes(StandardCharsets.UTF_8));
                    return;
                }
                String prefix = "/" + repo.getKey() + "/resolve/main/";
                if (path.startsWith(prefix)) {
                    serveFile(ex, repo.getKey() + "/" + path.substring(prefix.length()), repo.getValue().resolve(path.substring(prefix.length())));
                    return;
                }
            }
            send(ex, 404, "not found".getBytes(StandardCharsets.UTF_8));
        }
    }

    private void serveFile(HttpExchange ex, String key, Path file) throws IOException {
        gets.merge(key, 1, Integer::sum);
        if (missing.contains(key) || !Files.isRegularFile(file)) {
            send(ex, 404, "Entry not found".getBytes(StandardCharsets.UTF_8));
            return;
        }
        byte[] data = Files.readAllBytes(file);
        if (corrupt.contains(key)) {
            data[data.length / 2] ^= 1;
        }
        String range = ex.getRequestHeaders().getFirst("Range");
        int from = 0;
        if (range != null && range.startsWith("bytes=") && range.endsWith("-")) {
            from = Integer.parseInt(range.substring(6, range.length() - 1));
            rangeRequests.add(key);
        }
        int length = data.length - from;
        if (from > 0) {
            ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (data.length - 1) + "/" + data.length);
        }
        ex.sendResponseHeaders(from > 0 ? 206 : 200, length);
        OutputStream os = ex.getResponseBody();
        if (cutOnce.remove(key)) {
            os.write(data, from, length / 2);
            os.flush();
            // failing the exchange drops the connection before the announced length is reached
            throw new IOException("connection cut by the test server");
        }
        os.write(data, from, length);
    }

    private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
        ex.sendResponseHeaders(status, body.length);
        ex.getResponseBody().write(body);
    }

    private static String listing(Path root) throws IOException {
        JsonArray arr = new JsonArray();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted().toList()) {
                JsonObject o = new JsonObject();
                String rel = root.relativize(p).toString().replace('\\', '/');
                if (rel.isEmpty()) {
                    continue;
                }
                if (Files.isDirectory(p)) {
                    o.addProperty("type", "directory");
                    o.addProperty("path", rel);
                    arr.add(o);
                    continue;
                }
                long size = Files.size(p);
                o.addProperty("type", "file");
                o.addProperty("path", rel);
                o.addProperty("size", size);
                o.addProperty("oid", ModelDownloader.digest(p, "git-blob-SHA-1"));
                if (size > LFS_THRESHOLD) {
                    JsonObject lfs = new JsonObject();
                    lfs.addProperty("oid", ModelDownloader.digest(p, "SHA-256"));
                    lfs.addProperty("size", size);
                    lfs.addProperty("pointerSize", 134);
                    o.add("lfs", lfs);
                    o.addProperty("oid", "0000000000000000000000000000000000000000");
                }
                arr.add(o);
            }
        }
        return arr.toString();
    }

    private record Run(int code, String out, String err) {
    }

    private Run run(Path dir, String... extra) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = new java.util.ArrayList<>(List.of("--sd-repo", "test/sd", "--clip-repo", "test/clip", "--ssr-repo", "test/ssr"));
        args.addAll(List.of(extra));
        args.add(dir.toString());
        String endpoint = "http://127.0.0.1:" + server.getAddress().getPort();
        int code = ModelDownloader.run(args.toArray(String[]::new), Map.of("HF_ENDPOINT", endpoint),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static Set<String> partFiles(Path dir) throws IOException {
        Set<String> parts = new HashSet<>();
        try (Stream<Path> s = Files.walk(dir)) {
            s.filter(p -> p.getFileName().toString().endsWith(".part")).forEach(p -> parts.add(dir.relativize(p).toString()));
        }
        return parts;
    }

    @Test
    void downloadsAVerifiedModelsFolderAndSkipsItOnTheSecondRun() throws IOException {
        Path dir = tmp.resolve("models");
        Run first = run(dir);
        assertEquals(0, first.code(), first.out() + first.err());
        assertTrue(first.out().contains("ok      sd/unet/diffusion_pytorch_model.safetensors (6.4 MB, SHA-256 verified)"), first.out());
        assertTrue(first.out().contains("ok      sd/model_index.json (512 bytes, git-blob-SHA-1 verified)"), first.out());
        ModelsFolder folder = ModelsFolder.open(dir);
        assertArrayEquals(Files.readAllBytes(Golden.tinyA().resolve("ssr/pytorch_model_1.bin")), Files.readAllBytes(folder.ssrLayers()));
        assertEquals(Set.of(), partFiles(dir));
        assertFalse(Files.exists(dir.resolve("sd/unet/config.json.part")));

        int before = gets.values().stream().mapToInt(Integer::intValue).sum();
        Run second = run(dir);
        assertEquals(0, second.code(), second.out() + second.err());
        assertTrue(second.out().contains("ok      image_encoder/model.safetensors (already present, SHA-256 verified)"), second.out());
        assertEquals(before, gets.values().stream().mapToInt(Integer::intValue).sum(), "no file is fetched again");
    }

    @Test
    void interruptedTransferResumesOnTheNextRun() throws IOException {
        Path dir = tmp.resolve("models");
        cutOnce.add("test/sd/unet/diffusion_pytorch_model.safetensors");
        Run first = run(dir);
        assertEquals(1, first.code(), first.out());
        assertTrue(first.out().contains("FAILED sd/unet/diffusion_pytorch_model.safetensors: "), first.out());
        assertTrue(first.out().contains("run again to resume"), first.out());
        assertTrue(first.err().contains("1 file(s) failed"), first.err());
        Path unet = dir.resolve("sd/unet/diffusion_pytorch_model.safetensors");
        assertFalse(Files.exists(unet), "no half-written file under the final name");
        Path part = dir.resolve("sd/unet/diffusion_pytorch_model.safetensors.part");
        long kept = Files.size(part);
        assertTrue(kept > 0 && kept < Files.size(Golden.tinyA().resolve("sd/unet/diffusion_pytorch_model.safetensors")), "kept " + kept);

        Run second = run(dir);
        assertEquals(0, second.code(), second.out() + second.err());
        assertTrue(second.out().contains("resume  sd/unet/diffusion_pytorch_model.safetensors from byte " + kept), second.out());
        assertTrue(rangeRequests.contains("test/sd/unet/diffusion_pytorch_model.safetensors"));
        assertArrayEquals(Files.readAllBytes(Golden.tinyA().resolve("sd/unet/diffusion_pytorch_model.safetensors")), Files.readAllBytes(unet));
        assertEquals(Set.of(), partFiles(dir));
    }

    @Test
    void badChecksumIsRejectedAndNeverRenamed() throws IOException {
        Path dir = tmp.resolve("models");
        corrupt.add("test/ssr/pytorch_model.bin");
        corrupt.add("test/sd/tokenizer/tokenizer_config.json");
        Run r = run(dir);
        assertEquals(1, r.code());
        assertTrue(r.out().contains("FAILED ssr/pytorch_model.bin: checksum mismatch: the data does not match the hub's SHA-256"), r.out());
        assertTrue(r.out().contains("FAILED sd/tokenizer/tokenizer_config.json: checksum mismatch: the data does not match the hub's git-blob-SHA-1"), r.out());
        assertFalse(Files.exists(dir.resolve("ssr/pytorch_model.bin")));
        assertFalse(Files.exists(dir.resolve("sd/tokenizer/tokenizer_config.json")));
        assertEquals(Set.of(), partFiles(dir), "rejected data is removed so the next run starts clean");
        assertTrue(Files.exists(dir.resolve("ssr/pytorch_model_1.bin")), "other files still arrive");

        corrupt.clear();
        assertEquals(0, run(dir).code());
        ModelsFolder.open(dir);
    }

    @Test
    void corruptedFinalFileIsReplaced() throws IOException {
        Path dir = tmp.resolve("models");
        assertEquals(0, run(dir).code());
        Path vocab = dir.resolve("sd/tokenizer/vocab.json");
        Files.writeString(vocab, "{}");
        Run r = run(dir);
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().contains("replace sd/tokenizer/vocab.json"), r.out());
        assertArrayEquals(Files.readAllBytes(Golden.tinyA().resolve("sd/tokenizer/vocab.json")), Files.readAllBytes(vocab));
    }

    @Test
    void missingFilesAndRepositoriesAreNamed() {
        Path dir = tmp.resolve("models");
        missing.add("test/clip/preprocessor_config.json");
        Run r = run(dir, "--ssr-repo", "test/nowhere");
        assertEquals(1, r.code());
        assertTrue(r.out().contains("FAILED image_encoder/preprocessor_config.json: not found on the server (HTTP 404 for "), r.out());
        assertTrue(r.out().contains("FAILED test/nowhere: repository not found at http://127.0.0.1:"), r.out());
        assertFalse(Files.exists(dir.resolve("image_encoder/preprocessor_config.json")));
        assertTrue(r.err().contains("3 file(s) failed"), r.err());
    }

    @Test
    void fileAbsentFromTheListingIsNamed() throws IOException {
        Path repo = Files.createDirectories(tmp.resolve("partial-ssr"));
        Files.copy(Golden.tinyA().resolve("ssr/pytorch_model.bin"), repo.resolve("pytorch_model.bin"));
        repos.put("test/partial", repo);
        Run r = run(tmp.resolve("models"), "--ssr-repo", "test/partial");
        assertEquals(1, r.code());
        assertTrue(r.out().contains("FAILED ssr/pytorch_model_1.bin: the repository test/partial has no file 'pytorch_model_1.bin'"), r.out());
    }

    @Test
    void badUsageExitsWithTwo() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        assertEquals(2, ModelDownloader.run(new String[0], Map.of(), System.out, e));
        assertEquals(2, ModelDownloader.run(new String[] {"--bogus", "x"}, Map.of(), System.out, e));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("unexpected argument '--bogus'"));
    }
}
