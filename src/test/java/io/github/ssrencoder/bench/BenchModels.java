package io.github.ssrencoder.bench;

import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.TorchZipWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Writes a complete full-size models folder in the DESIGN layout with seeded random weights: configs and
 * tensor shapes from the full-size key manifests, the SD1.5 networks and the image encoder as float16
 * safetensors ({@code *.fp16.safetensors}, as the hub's fp16 variants), the SSR files as float32
 * {@code torch.save} zips (as released), tokenizer and scheduler from the tiny-a set (they are the real SD1.5
 * ones). A marker written last makes later runs reuse a complete folder.
 */
final class BenchModels {

    /** Bumped whenever the folder's content changes, so that an older folder is rewritten. */
    private static final String FORMAT = "bench-models 1";
    private static final String MARKER = ".bench-complete";
    private static final double SIGMA = 0.02;

    private final Path root;

    BenchModels(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    Path root() {
        return root;
    }

    /** Whether a complete folder written with {@code seed} is present. */
    boolean isComplete(long seed) {
        Path marker = root.resolve(MARKER);
        try {
            return Files.isRegularFile(marker) && Files.readString(marker, StandardCharsets.UTF_8).equals(markerText(seed));
        } catch (IOException e) {
            return false;
        }
    }

    /** Writes every file (after removing the marker, so that an interrupted write is never reused). */
    void write(long seed) {
        try {
            Files.createDirectories(root);
            Files.deleteIfExists(root.resolve(MARKER));
            RandomValues random = new RandomValues(seed, SIGMA);
            Path tinyA = Golden.tinyA();
            Path sd = root.resolve("sd");
            copyFolder(tinyA.resolve("sd/tokenizer"), sd.resolve("tokenizer"));
            copyFolder(tinyA.resolve("sd/scheduler"), sd.resolve("scheduler"));
            Files.copy(tinyA.resolve("sd/model_index.json"), sd.resolve("model_index.json"), StandardCopyOption.REPLACE_EXISTING);
            component(Manifest.read("sd15_unet.json"), sd.resolve("unet"), "diffusion_pytorch_model.fp16.safetensors", random);
            component(Manifest.read("sd15_vae.json"), sd.resolve("vae"), "diffusion_pytorch_model.fp16.safetensors", random);
            component(Manifest.read("sd15_text_encoder.json"), sd.resolve("text_encoder"), "model.fp16.safetensors", random);
            Path image = root.resolve("image_encoder");
            component(Manifest.read("clip_vit_large_patch14_vision.json"), image, "model.fp16.safetensors", random);
            Files.copy(tinyA.resolve("image_encoder/preprocessor_config.json"), image.resolve("preprocessor_config.json"),
                    StandardCopyOption.REPLACE_EXISTING);
            torchZip(Manifest.read("ssr_aligner.json"), root.resolve("ssr/pytorch_model.bin"), random);
            torchZip(Manifest.read("ssr_layers.json"), root.resolve("ssr/pytorch_model_1.bin"), random);
            Files.writeString(root.resolve(MARKER), markerText(seed), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every weight file the pipeline reads. */
    List<Path> weightFiles() {
        return List.of(
                root.resolve("sd/unet/diffusion_pytorch_model.fp16.safetensors"),
                root.resolve("sd/vae/diffusion_pytorch_model.fp16.safetensors"),
                root.resolve("sd/text_encoder/model.fp16.safetensors"),
                root.resolve("image_encoder/model.fp16.safetensors"),
                root.resolve("ssr/pytorch_model.bin"),
                root.resolve("ssr/pytorch_model_1.bin"));
    }

    private static String markerText(long seed) {
        return FORMAT + ", seed " + seed + ", sigma " + SIGMA + "\n";
    }

    private static void component(Manifest m, Path folder, String weightsName, RandomValues random) throws IOException {
        m.writeConfig(folder.resolve("config.json"));
        writeHalfSafetensors(folder.resolve(weightsName), m.tensors(), random);
    }

    /** Streams a float16 safetensors file: header first, then each tensor generated chunk by chunk. */
    static void writeHalfSafetensors(Path file, Map<String, long[]> tensors, RandomValues random) throws IOException {
        Path part = file.resolveSibling(file.getFileName() + ".part");
        Files.createDirectories(file.toAbsolutePath().getParent());
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 23).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            writeFully(ch, ByteBuffer.wrap(io.github.ssrencoder.io.SafetensorsWriter.header(tensors, "F16", 2)));
            for (Map.Entry<String, long[]> e : tensors.entrySet()) {
                boolean gains = RandomValues.isGain(e.getKey(), e.getValue());
                long left = Manifest.elements(e.getValue());
                while (left > 0) {
                    int n = (int) Math.min(left, buf.capacity() / 2);
                    buf.clear();
                    random.putHalves(buf, n, gains);
                    writeFully(ch, buf.flip());
                    left -= n;
                }
            }
        }
        Files.move(part, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    private static void torchZip(Manifest m, Path file, RandomValues random) {
        TorchZipWriter w = new TorchZipWriter();
        m.tensors().forEach((k, s) -> w.contiguous(k, s, random.floats(Math.toIntExact(Manifest.elements(s)), RandomValues.isGain(k, s))));
        w.write(file);
    }

    private static void copyFolder(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(from)) {
            s.filter(Files::isRegularFile).forEach(files::add);
        }
        for (Path f : files) {
            Files.copy(f, to.resolve(f.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
