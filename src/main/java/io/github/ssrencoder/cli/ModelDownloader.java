package io.github.ssrencoder.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads the real weights into the models folder layout ({@code sd/}, {@code image_encoder/}, {@code ssr/})
 * from the Hugging Face hub. Each file's checksum comes from the hub's file listing: the SHA-256 of large
 * (LFS) files, the git blob SHA-1 of small ones. Files are written to {@code <name>.part}, resumed with HTTP
 * range requests after an interruption, verified, and only then renamed to their final name, so a final
 * name always holds a complete, verified file. Files already present and verified are skipped.
 */
public final class ModelDownloader {

    /** Stable Diffusion 1.5 in diffusers format. */
    public static final String DEFAULT_SD_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5";
    /** The CLIP image encoder SSR-Encoder was trained with. */
    public static final String DEFAULT_CLIP_REPO = "openai/clip-vit-large-patch14";
    /** The public hub endpoint. */
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";

    /** Files of the SD1.5 repository the pipeline uses (no full-size .ckpt, no fp16/ema/onnx/flax variants). */
    static final List<String> SD_FILES = List.of(
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json", "text_encoder/model.safetensors",
            "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
            "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
            "vae/config.json", "vae/diffusion_pytorch_model.safetensors");
    static final List<String> CLIP_FILES = List.of("config.json", "model.safetensors", "preprocessor_config.json");
    static final List<String> SSR_FILES = List.of("pytorch_model.bin", "pytorch_model_1.bin");

    /** One repository and the files to take from it. */
    public record Source(String repo, String subfolder, List<String> files, String localFolder) {
    }

    /** Thrown for a failure that stops one file (or a whole repository) from being fetched. */
    static final class DownloadException extends Exception {
        private static final long serialVersionUID = 1L;

        DownloadException(String message) {
            super(message);
        }
    }

    private record Expected(long size, String algorithm, String hex) {
    }

    private final HttpClient http;
    private final URI endpoint;
    private final String token;
    private final PrintStream out;

    public ModelDownloader(URI endpoint, String token, PrintStream out) {
        String e = endpoint.toString();
        this.endpoint = URI.create(e.endsWith("/") ? e.substring(0, e.length() - 1) : e);
        this.token = token == null || token.isBlank() ? null : token.trim();
        this.out = out;
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).connectTimeout(Duration.ofSeconds(30)).build();
    }

    /** The sources for the full models folder; {@code ssrRepo} may name a subfolder as {@code owner/name:folder}. */
    public static List<Source> defaultSources(String sdRepo, String clipRepo, String ssrRepo) {
        List<Source> s = new ArrayList<>();
        s.add(new Source(sdRepo, "", SD_FILES, "sd"));
        s.add(new Source(clipRepo, "", CLIP_FILES, "image_encoder"));
        if (ssrRepo != null) {
            int colon = ssrRepo.indexOf(':');
            String repo = colon < 0 ? ssrRepo : ssrRepo.substring(0, colon);
            String folder = colon < 0 ? "" : ssrRepo.substring(colon + 1).replaceAll("^/+|/+$", "");
            s.add(new Source(repo, folder, SSR_FILES, "ssr"));
        }
        return s;
    }

    /** Fetches every file of every source into {@code dir}; returns the number of files that failed. */
    public int download(Path dir, List<Source> sources) {
        int failures = 0;
        for (Source src : sources) {
            Map<String, Expected> listing;
            try {
                listing = list(src.repo());
            } catch (DownloadException e) {
                out.println("FAILED " + src.repo() + ": " + e.getMessage());
                failures += src.files().size();
                continue;
            }
            for (String f : src.files()) {
                String remote = src.subfolder().isEmpty() ? f : src.subfolder() + "/" + f;
                Path target = dir.resolve(src.localFolder()).resolve(f);
                String label = src.localFolder() + "/" + f;
                try {
                    Expected exp = listing.get(remote);
                    if (exp == null) {
                        throw new DownloadException("the repository " + src.repo() + " has no file '" + remote + "'");
                    }
                    fetch(src.repo(), remote, target, exp, label);
                } catch (DownloadException e) {
                    out.println("FAILED " + label + ": " + e.getMessage());
                    failures++;
                } catch (IOException e) {
                    out.println("FAILED " + label + ": " + e.getClass().getSimpleName() + ": " + e.getMessage()
                            + " (run again to resume)");
                    failures++;
                }
            }
        }
        return failures;
    }

    /** File path → expected size and checksum, from {@code /api/models/<repo>/tree/main?recursive=true}. */
    private Map<String, Expected> list(String repo) throws DownloadException {
        Map<String, Expected> files = new LinkedHashMap<>();
        URI next = URI.create(endpoint + "/api/models/" + repo + "/tree/main?recursive=true");
        while (next != null) {
            HttpResponse<String> r;
            try {
                r = http.send(request(next).GET().build(), HttpResponse.BodyHandlers.ofString());
            } catch (IOException e) {
                throw new DownloadException("cannot list files at " + next + ": " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DownloadException("interrupted");
            }
            if (r.statusCode() == 401 || r.statusCode() == 403) {
                throw new DownloadException("access refused (HTTP " + r.statusCode() + "): the repository may be gated; accept its terms "
                        + "on the hub and set HF_TOKEN");
            }
            if (r.statusCode() == 404) {
                throw new DownloadException("repository not found at " + endpoint + " (HTTP 404)");
            }
            if (r.statusCode() != 200) {
                throw new DownloadException("file listing failed with HTTP " + r.statusCode());
            }
            try {
                JsonArray arr = JsonParser.parseString(r.body()).getAsJsonArray();
                for (JsonElement el : arr) {
                    JsonObject o = el.getAsJsonObject();
                    if (!"file".equals(o.get("type").getAsString())) {
                        continue;
                    }
                    String path = o.get("path").getAsString();
                    long size = o.get("size").getAsLong();
                    JsonElement lfs = o.get("lfs");
                    if (lfs != null && lfs.isJsonObject()) {
                        files.put(path, new Expected(lfs.getAsJsonObject().get("size").getAsLong(), "SHA-256",
                                lfs.getAsJsonObject().get("oid").getAsString().toLowerCase(Locale.ROOT)));
                    } else {
                        files.put(path, new Expected(size, "git-blob-SHA-1", o.get("oid").getAsString().toLowerCase(Locale.ROOT)));
                    }
                }
            } catch (JsonParseException | IllegalStateException | NullPointerException | UnsupportedOperationException e) {
                throw new DownloadException("unexpected file listing from " + next + ": " + e.getMessage());
            }
            next = nextPage(r);
        }
        return files;
    }

    private static URI nextPage(HttpResponse<?> r) {
        for (String link : r.headers().allValues("Link")) {
            Matcher m = Pattern.compile("<([^>]+)>\\s*;\\s*rel=\"next\"").matcher(link);
            if (m.find()) {
                return URI.create(m.group(1));
            }
        }
        return null;
    }

    private HttpRequest.Builder request(URI uri) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(10)).header("User-Agent", "ssr-encoder-fiji");
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return b;
    }

    private void fetch(String repo, String remote, Path target, Expected exp, String label) throws IOException, DownloadException {
        Files.createDirectories(target.getParent());
        if (Files.isRegularFile(target)) {
            if (Files.size(target) == exp.size() && matches(target, exp)) {
                out.println("ok      " + label + " (already present, " + exp.algorithm() + " verified)");
                return;
            }
            out.println("replace " + label + " (present but does not match the hub's " + exp.algorithm() + ")");
        }
        Path part = target.resolveSibling(target.getFileName() + ".part");
        long have = Files.isRegularFile(part) ? Files.size(part) : 0;
        if (have > exp.size()) {
            Files.delete(part);
            have = 0;
        }
        if (have < exp.size()) {
            URI uri = URI.create(endpoint + "/" + repo + "/resolve/main/" + encodePath(remote));
            HttpRequest.Builder req = request(uri).GET();
            if (have > 0) {
                req.header("Range", "bytes=" + have + "-");
            }
            HttpResponse<InputStream> r;
            try {
                r = http.send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DownloadException("interrupted");
            }
            boolean append;
            try (InputStream in = r.body()) {
                int status = r.statusCode();
                if (status == 404) {
                    throw new DownloadException("not found on the server (HTTP 404 for " + uri + ")");
                }
                if (status == 401 || status == 403) {
                    throw new DownloadException("access refused (HTTP " + status + "); accept the repository's terms on the hub and set HF_TOKEN");
                }
                if (status == 206 && have > 0) {
                    append = true;
                    out.println("resume  " + label + " from byte " + have + " of " + exp.size());
                } else if (status == 200) {
                    append = false;
                    out.println("get     " + label + " (" + human(exp.size()) + ")");
                } else {
                    throw new DownloadException("unexpected HTTP " + status + " for " + uri);
                }
                try (OutputStream os = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
                    in.transferTo(os);
                }
            }
        }
        long got = Files.size(part);
        if (got != exp.size()) {
            throw new DownloadException("transfer incomplete: " + got + " of " + exp.size() + " bytes in " + part.getFileName()
                    + " (run again to resume)");
        }
        if (!matches(part, exp)) {
            Files.delete(part);
            throw new DownloadException("checksum mismatch: the data does not match the hub's " + exp.algorithm() + " " + exp.hex()
                    + "; the partial file was removed, run again to retry");
        }
        Files.move(part, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        out.println("ok      " + label + " (" + human(exp.size()) + ", " + exp.algorithm() + " verified)");
    }

    private static String encodePath(String path) {
        StringBuilder sb = new StringBuilder();
        for (String seg : path.split("/")) {
            if (sb.length() > 0) {
                sb.append('/');
            }
            sb.append(URLEncoder.encode(seg, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return sb.toString();
    }

    private static boolean matches(Path file, Expected exp) throws IOException {
        return digest(file, exp.algorithm()).equals(exp.hex());
    }

    /** Hex digest of a file: {@code SHA-256} of the content or {@code git-blob-SHA-1} ({@code sha1("blob <len>\0" + content)}). */
    static String digest(Path file, String algorithm) throws IOException {
        try {
            MessageDigest md;
            if (algorithm.equals("SHA-256")) {
                md = MessageDigest.getInstance("SHA-256");
            } else {
                md = MessageDigest.getInstance("SHA-1");
                md.update(("blob " + Files.size(file) + "\0").getBytes(StandardCharsets.US_ASCII));
            }
            byte[] buf = new byte[1 << 20];
            try (InputStream in = Files.newInputStream(file)) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String human(long bytes) {
        if (bytes < 1024 * 1024) {
            return bytes + " bytes";
        }
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1048576.0);
    }

    private static final String USAGE = String.join("\n",
            "usage: scripts/download-models.sh [options] DIR",
            "Downloads Stable Diffusion 1.5 (diffusers format), openai/clip-vit-large-patch14 and the SSR-Encoder",
            "checkpoints into DIR/sd, DIR/image_encoder and DIR/ssr.",
            "  --ssr-repo OWNER/NAME[:FOLDER]  hub repository holding pytorch_model.bin and pytorch_model_1.bin",
            "                                  (without it the SSR files are skipped: copy them from the official",
            "                                  Google Drive folder into DIR/ssr/)",
            "  --sd-repo OWNER/NAME            default " + DEFAULT_SD_REPO,
            "  --clip-repo OWNER/NAME          default " + DEFAULT_CLIP_REPO,
            "  --endpoint URL                  default $HF_ENDPOINT or " + DEFAULT_ENDPOINT,
            "Set HF_TOKEN for repositories that require accepting terms.");

    /** Runs the downloader; returns the process exit code (0 all verified, 1 failures, 2 bad usage). */
    public static int run(String[] args, Map<String, String> env, PrintStream out, PrintStream err) {
        String endpoint = env.getOrDefault("HF_ENDPOINT", DEFAULT_ENDPOINT);
        String sd = DEFAULT_SD_REPO;
        String clip = DEFAULT_CLIP_REPO;
        String ssr = null;
        Path dir = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            boolean hasValue = i + 1 < args.length;
            switch (a) {
                case "-h", "--help" -> {
                    out.println(USAGE);
                    return 0;
                }
                case "--endpoint", "--sd-repo", "--clip-repo", "--ssr-repo" -> {
                    if (!hasValue) {
                        err.println("download-models: " + a + " needs a value\n" + USAGE);
                        return 2;
                    }
                    String v = args[++i];
                    switch (a) {
                        case "--endpoint" -> endpoint = v;
                        case "--sd-repo" -> sd = v;
                        case "--clip-repo" -> clip = v;
                        default -> ssr = v;
                    }
                }
                default -> {
                    if (a.startsWith("-") || dir != null) {
                        err.println("download-models: unexpected argument '" + a + "'\n" + USAGE);
                        return 2;
                    }
                    dir = Path.of(a);
                }
            }
        }
        if (dir == null) {
            err.println("download-models: missing DIR\n" + USAGE);
            return 2;
        }
        ModelDownloader d = new ModelDownloader(URI.create(endpoint), env.get("HF_TOKEN"), out);
        List<Source> sources = defaultSources(sd, clip, ssr);
        out.println("download-models: into " + dir.toAbsolutePath() + " from " + endpoint);
        int failures = d.download(dir, sources);
        if (ssr == null) {
            out.println("note: SSR checkpoints not downloaded (no --ssr-repo); place pytorch_model.bin and pytorch_model_1.bin "
                    + "from the official SSR-Encoder Google Drive folder in " + dir.resolve("ssr"));
        }
        if (failures > 0) {
            err.println("download-models: " + failures + " file(s) failed; run the same command again to resume");
            return 1;
        }
        out.println("download-models: all files present and verified");
        return 0;
    }

    public static void main(String[] args) {
        System.exit(run(args, System.getenv(), System.out, System.err));
    }
}
