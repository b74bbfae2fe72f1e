package io.github.ssrencoder.fuzz;

import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.SafetensorsWriter;
import io.github.ssrencoder.testing.TorchZipWriter;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import javax.imageio.ImageIO;

/**
 * The deterministic fuzz corpus: case {@code index} of a kind under a seed is always the same mutated input. Seeds
 * of each kind are small valid files (written here, or taken from the tiny test models); each case applies a few
 * byte-level or structure-aware mutations to one of them and writes the result into its own folder.
 */
final class FuzzCorpus {

    /** One generated case: the mutated file, the mutation applied, and (for the CLI layers) the arguments. */
    record FuzzInput(FuzzKind kind, int index, String mutation, Path file, Path dir, List<String> cliArgs, String text) {
    }

    private final long seed;
    private final Map<String, byte[]> seeds = new LinkedHashMap<>();

    FuzzCorpus(long seed) {
        this.seed = seed;
    }

    private SplittableRandom random(FuzzKind kind, int index) {
        return new SplittableRandom(seed * 1_000_003L + kind.ordinal() * 7_919L + index * 104_729L);
    }

    /** Writes case {@code index} of {@code kind} into {@code dir} (created). */
    FuzzInput make(FuzzKind kind, int index, Path dir) {
        try {
            Files.createDirectories(dir);
            SplittableRandom r = random(kind, index);
            return switch (kind) {
                case SAFETENSORS -> safetensors(kind, index, dir, r, "weights.safetensors");
                case INIT_LATENTS -> latents(index, dir, r);
                case TORCH_ZIP -> torchZip(index, dir, r);
                case PICKLE -> pickle(index, dir, r);
                case MODEL_CONFIG -> modelsFile(kind, index, dir, r, List.of("sd/unet/config.json", "sd/vae/config.json",
                        "sd/text_encoder/config.json", "image_encoder/config.json", "image_encoder/preprocessor_config.json",
                        "ssr/config.json"));
                case MODEL_INDEX -> modelsFile(kind, index, dir, r, List.of("sd/model_index.json"));
                case TOKENIZER -> modelsFile(kind, index, dir, r, List.of("sd/tokenizer/vocab.json", "sd/tokenizer/merges.txt",
                        "sd/tokenizer/tokenizer_config.json", "sd/tokenizer/special_tokens_map.json"));
                case SCHEDULER_CONFIG -> modelsFile(kind, index, dir, r, List.of("sd/scheduler/scheduler_config.json"));
                case JOB_FILE -> job(index, dir, r);
                case PNG, TIFF, JPEG -> image(kind, index, dir, r);
                case MACRO_OPTIONS -> macro(index, dir, r);
            };
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- weight files ----

    private byte[] safetensorsSeed() {
        return seeds.computeIfAbsent("safetensors", k -> new SafetensorsWriter()
                .addF32("conv.weight", new long[] {2, 3, 1, 1}, 1, 2, 3, 4, 5, 6)
                .addF32("conv.bias", new long[] {2}, 0.5f, -0.5f)
                .addShorts("norm.weight", "F16", new long[] {3}, 0x3C00, 0x4000, 0xBC00)
                .addShorts("norm.bias", "BF16", new long[] {3}, 0x3F80, 0x4000, 0xBF80)
                .addI64("position_ids", new long[] {1, 4}, 0, 1, 2, 3)
                .toBytes());
    }

    private static byte[] withHeader(byte[] file, String header, long length) {
        int oldLen = (int) ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[8 + h.length + file.length - 8 - oldLen];
        System.arraycopy(Mutations.leLong(length), 0, out, 0, 8);
        System.arraycopy(h, 0, out, 8, h.length);
        System.arraycopy(file, 8 + oldLen, out, 8 + h.length, file.length - 8 - oldLen);
        return out;
    }

    private static String header(byte[] file) {
        int len = (int) ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new String(file, 8, len, StandardCharsets.UTF_8);
    }

    private byte[] mutateSafetensors(byte[] base, SplittableRandom r, StringBuilder what) {
        switch (r.nextInt(4)) {
            case 0 -> {
                what.append("header JSON edit");
                String h = Mutations.json(header(base), r);
                return withHeader(base, h, h.getBytes(StandardCharsets.UTF_8).length);
            }
            case 1 -> {
                long len = Mutations.interesting(r);
                what.append("header length ").append(len);
                byte[] out = base.clone();
                System.arraycopy(Mutations.leLong(len), 0, out, 0, 8);
                return out;
            }
            case 2 -> {
                what.append("header JSON edit, length off by one");
                String h = Mutations.json(header(base), r);
                int n = h.getBytes(StandardCharsets.UTF_8).length;
                return withHeader(base, h, n + (r.nextBoolean() ? 1 : -1));
            }
            default -> {
                what.append("bytes");
                return Mutations.bytes(base, r, 8 + header(base).length());
            }
        }
    }

    private FuzzInput safetensors(FuzzKind kind, int index, Path dir, SplittableRandom r, String name) throws IOException {
        StringBuilder what = new StringBuilder();
        Path file = dir.resolve(name);
        Files.write(file, mutateSafetensors(safetensorsSeed(), r, what));
        return new FuzzInput(kind, index, what.toString(), file, dir, List.of(), null);
    }

    private FuzzInput latents(int index, Path dir, SplittableRandom r) throws IOException {
        byte[] base = seeds.computeIfAbsent("latents", k -> {
            float[] v = new float[4 * 8 * 8];
            for (int i = 0; i < v.length; i++) {
                v[i] = (i % 13) / 7f - 1f;
            }
            return new SafetensorsWriter().addF32("latents", new long[] {1, 4, 8, 8}, v).toBytes();
        });
        StringBuilder what = new StringBuilder();
        Path file = dir.resolve("init.safetensors");
        Files.write(file, mutateSafetensors(base, r, what));
        List<String> args = List.of("generate", "--models", dir.resolve("no-models").toString(), "--prompt", "p",
                "--steps", "2", "--width", "64", "--height", "64", "--init-latents", file.toString(),
                "--output", dir.resolve("out.png").toString());
        return new FuzzInput(FuzzKind.INIT_LATENTS, index, what.toString(), file, dir, args, null);
    }

    private TorchZipWriter torchSeed() {
        return new TorchZipWriter()
                .contiguous("conv.weight", new long[] {2, 3}, 1, 2, 3, 4, 5, 6)
                .contiguous("conv.bias", new long[] {2}, 0.5f, -0.5f)
                .floatStorage("shared", 1, 2, 3, 4, 5, 6, 7, 8)
                .tensor("view.transposed", "shared", "FloatStorage", 8, 1, new long[] {3, 2}, new long[] {1, 3})
                .tensor("view.half", "shared", "HalfStorage", 16, 0, new long[] {4}, new long[] {2});
    }

    private FuzzInput torchZip(int index, Path dir, SplittableRandom r) throws IOException {
        Path file = dir.resolve("model.bin");
        byte[] base = seeds.computeIfAbsent("torch", k -> {
            try {
                Path tmp = Files.createTempFile("fuzz-seed", ".bin");
                torchSeed().write(tmp);
                byte[] b = Files.readAllBytes(tmp);
                Files.delete(tmp);
                return b;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        byte[] real = seeds.computeIfAbsent("torch-real", k -> read(Golden.tinyA().resolve("ssr/pytorch_model.bin")));
        boolean useReal = r.nextInt(4) == 0;
        byte[] seedBytes = useReal ? real : base;
        // half the mutations aim at the central directory at the end of the archive, the rest anywhere
        byte[] out;
        String what;
        if (r.nextBoolean()) {
            int tail = Math.min(seedBytes.length, 512);
            byte[] end = java.util.Arrays.copyOfRange(seedBytes, seedBytes.length - tail, seedBytes.length);
            byte[] mutated = Mutations.bytes(end, r, tail);
            out = new byte[seedBytes.length - tail + mutated.length];
            System.arraycopy(seedBytes, 0, out, 0, seedBytes.length - tail);
            System.arraycopy(mutated, 0, out, seedBytes.length - tail, mutated.length);
            what = "central directory bytes";
        } else {
            out = Mutations.bytes(seedBytes, r, 128);
            what = "zip bytes";
        }
        Files.write(file, out);
        return new FuzzInput(FuzzKind.TORCH_ZIP, index, what + (useReal ? " (tiny ssr checkpoint)" : ""), file, dir, List.of(), null);
    }

    /** Pickle opcodes (protocol 0–5) the mutations insert or substitute. */
    private static final byte[] OPCODES = "(.0123FIJKLMNPQRSTUVXabcdeghijlopqrstu}~\u0080\u0081\u0082\u0083\u0084\u0085\u0086\u0087\u0088\u0089\u008a\u008b\u008c\u008d\u008e\u008f\u0090\u0091\u0092\u0093\u0094\u0095\u0096\u0097\u0098"
            .getBytes(StandardCharsets.ISO_8859_1);

    private FuzzInput pickle(int index, Path dir, SplittableRandom r) throws IOException {
        Path file = dir.resolve("model.bin");
        String what;
        if (r.nextInt(3) == 0) {
            // a well-formed pickle describing tensors with absurd offsets, shapes, strides or storage sizes
            long[] shape = {1 + r.nextInt(3), 1 + r.nextInt(3)};
            long[] stride = {shape[1], 1};
            long offset = 0;
            long numel = 6;
            String type = "FloatStorage";
            switch (r.nextInt(5)) {
                case 0 -> shape[r.nextInt(2)] = Mutations.interesting(r);
                case 1 -> stride[r.nextInt(2)] = Mutations.interesting(r);
                case 2 -> offset = Mutations.interesting(r);
                case 3 -> numel = Mutations.interesting(r);
                default -> type = new String[] {"ByteStorage", "LongStorage", "BFloat16Storage", "ComplexFloatStorage",
                        "QInt8Storage", "Storage", "BoolStorage"}[r.nextInt(7)];
            }
            what = "tensor shape " + java.util.Arrays.toString(shape) + " stride " + java.util.Arrays.toString(stride)
                    + " offset " + offset + " storage " + type + "×" + numel;
            new TorchZipWriter().floatStorage("0", 1, 2, 3, 4, 5, 6).tensor("w", "0", type, numel, offset, shape, stride)
                    .write(file);
        } else {
            TorchZipWriter w = torchSeed();
            byte[] pkl = w.pickle();
            int edits = 1 + r.nextInt(3);
            StringBuilder sb = new StringBuilder("opcodes");
            for (int i = 0; i < edits && pkl.length > 0; i++) {
                int p = r.nextInt(pkl.length);
                byte op = OPCODES[r.nextInt(OPCODES.length)];
                switch (r.nextInt(4)) {
                    case 0 -> {
                        pkl = pkl.clone();
                        pkl[p] = op;
                        sb.append(" replace@").append(p);
                    }
                    case 1 -> {
                        byte[] out = new byte[pkl.length + 1];
                        System.arraycopy(pkl, 0, out, 0, p);
                        out[p] = op;
                        System.arraycopy(pkl, p, out, p + 1, pkl.length - p);
                        pkl = out;
                        sb.append(" insert@").append(p);
                    }
                    case 2 -> {
                        pkl = java.util.Arrays.copyOf(pkl, p);
                        sb.append(" truncate@").append(p);
                    }
                    default -> {
                        pkl = Mutations.bytes(pkl, r, pkl.length);
                        sb.append(" bytes");
                    }
                }
            }
            what = sb.toString();
            Map<String, byte[]> storages = storagesOf(w);
            TorchZipWriter.writeZip(file, pkl, storages);
        }
        return new FuzzInput(FuzzKind.PICKLE, index, what, file, dir, List.of(), null);
    }

    private Map<String, byte[]> storagesOf(TorchZipWriter w) throws IOException {
        Path tmp = Files.createTempFile("fuzz-storages", ".bin");
        try {
            w.write(tmp);
            Map<String, byte[]> out = new LinkedHashMap<>();
            try (ZipInputStream in = new ZipInputStream(Files.newInputStream(tmp))) {
                ZipEntry e;
                while ((e = in.getNextEntry()) != null) {
                    if (e.getName().startsWith("archive/data/")) {
                        out.put(e.getName().substring("archive/data/".length()), in.readAllBytes());
                    }
                }
            }
            return out;
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    // ---- models folder files ----

    private FuzzInput modelsFile(FuzzKind kind, int index, Path dir, SplittableRandom r, List<String> candidates)
            throws IOException {
        String rel = candidates.get(r.nextInt(candidates.size()));
        Path models = dir.resolve("models");
        linkTree(Golden.tinyA(), models, List.of("sd", "image_encoder", "ssr"));
        Path file = models.resolve(rel);
        byte[] original = seeds.computeIfAbsent(rel, k -> read(Golden.tinyA().resolve(k)));
        Files.delete(file);
        byte[] mutated;
        String what;
        if (rel.endsWith(".json") && r.nextInt(5) != 0) {
            mutated = Mutations.json(new String(original, StandardCharsets.UTF_8), r).getBytes(StandardCharsets.UTF_8);
            what = rel + " JSON edit";
        } else {
            mutated = Mutations.text(original, r);
            what = rel + " text";
        }
        Files.write(file, mutated);
        String scheduler = new String[] {"ddim", "unipc", "euler-a", "dpmpp-2m", "pndm", "lcm", "euler"}[r.nextInt(7)];
        List<String> args = List.of("generate", "--models", models.toString(),
                "--image", Golden.tinyA().resolve("reference.png").toString(), "--query", "red circle",
                "--prompt", "a red circle on a table", "--steps", "2", "--scheduler", scheduler, "--width", "64",
                "--height", "64", "--seed", Integer.toString(index), "--output", dir.resolve("out.png").toString());
        return new FuzzInput(kind, index, what, file, dir, args, null);
    }

    /** Mirrors the listed top-level folders of {@code from} under {@code to} as symbolic links to each file. */
    private static void linkTree(Path from, Path to, List<String> tops) throws IOException {
        for (String top : tops) {
            try (Stream<Path> files = Files.walk(from.resolve(top))) {
                for (Path p : (Iterable<Path>) files::iterator) {
                    Path target = to.resolve(from.relativize(p).toString());
                    if (Files.isDirectory(p)) {
                        Files.createDirectories(target);
                    } else {
                        Files.createSymbolicLink(target, p.toAbsolutePath());
                    }
                }
            }
        }
    }

    // ---- job files ----

    private static final String JOB = """
            {"subjects": [{"image": "ref.png", "query": "red circle", "weight": 0.8},
                          {"image": "ref.png", "query": "blue square", "mask": "mask.png"}],
             "prompt": "a red circle", "negative_prompt": "", "scale": 1.0, "mask_weight": 1.0, "guidance": 7.5,
             "steps": 2, "scheduler": "ddim", "width": 64, "height": 64, "seed": 3, "images": 1,
             "framing": "center-crop", "output": "out.png", "save_latents": "lat.safetensors",
             "loras": ["lora.safetensors:0.5", {"file": "lora.safetensors", "weight": 0.7}],
             "controls": [{"image": "ref.png", "controlnet": "controlnet", "scale": 0.8, "start": 0.0, "end": 1.0}],
             "vae_tiling": "auto",
             "jobs": [{"prompt": "two", "output": "o2.png"}, {"steps": 3, "output": "o3.png", "ema": false}]}
            """;

    private FuzzInput job(int index, Path dir, SplittableRandom r) throws IOException {
        Files.write(dir.resolve("ref.png"), seeds.computeIfAbsent("ref", k -> read(Golden.tinyA().resolve("reference.png"))));
        Files.write(dir.resolve("mask.png"), seeds.computeIfAbsent("mask", k -> read(Golden.tinyA().resolve("mask.png"))));
        Files.write(dir.resolve("lora.safetensors"), safetensorsSeed());
        Path file = dir.resolve("job.json");
        linkTree(Golden.tinyA(), dir, List.of("controlnet"));
        Files.write(file, Mutations.json(JOB, r).getBytes(StandardCharsets.UTF_8));
        List<String> args = List.of("generate", "--models", dir.resolve("no-models").toString(), "--job", file.toString());
        return new FuzzInput(FuzzKind.JOB_FILE, index, "JSON edit", file, dir, args, null);
    }

    // ---- images ----

    private static BufferedImage picture(int type, int w, int h) {
        BufferedImage img = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, 0xFF000000 | (x * 5 & 0xFF) << 16 | (y * 7 & 0xFF) << 8 | ((x ^ y) * 3 & 0xFF));
            }
        }
        return img;
    }

    private static byte[] encode(BufferedImage img, String format) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            if (!ImageIO.write(img, format, out)) {
                throw new IllegalStateException("no ImageIO writer for " + format);
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private List<byte[]> imageSeeds(FuzzKind kind) {
        String format = kind.name().toLowerCase(java.util.Locale.ROOT);
        List<byte[]> out = new ArrayList<>();
        out.add(seeds.computeIfAbsent(format + "-rgb", k -> encode(picture(BufferedImage.TYPE_INT_RGB, 48, 40), format)));
        out.add(seeds.computeIfAbsent(format + "-gray", k -> encode(picture(BufferedImage.TYPE_BYTE_GRAY, 33, 17), format)));
        if (kind != FuzzKind.JPEG) {
            out.add(seeds.computeIfAbsent(format + "-gray16", k -> encode(picture(BufferedImage.TYPE_USHORT_GRAY, 20, 24), format)));
            out.add(seeds.computeIfAbsent(format + "-argb", k -> encode(picture(BufferedImage.TYPE_INT_ARGB, 16, 16), format)));
            out.add(seeds.computeIfAbsent(format + "-indexed", k -> encode(picture(BufferedImage.TYPE_BYTE_INDEXED, 16, 9), format)));
        }
        return out;
    }

    private FuzzInput image(FuzzKind kind, int index, Path dir, SplittableRandom r) throws IOException {
        List<byte[]> candidates = imageSeeds(kind);
        byte[] base = candidates.get(r.nextInt(candidates.size()));
        StringBuilder what = new StringBuilder();
        byte[] out = switch (r.nextInt(3)) {
            case 0 -> {
                what.append("dimensions");
                yield absurdDimensions(kind, base, r, what);
            }
            case 1 -> {
                what.append("truncated");
                yield java.util.Arrays.copyOf(base, r.nextInt(base.length));
            }
            default -> {
                what.append("bytes");
                byte[] b = Mutations.bytes(base, r, 96);
                if (kind == FuzzKind.PNG && r.nextBoolean()) {
                    fixPngCrcs(b);
                    what.append(" (CRCs fixed)");
                }
                yield b;
            }
        };
        String ext = kind == FuzzKind.JPEG ? ".jpg" : kind == FuzzKind.TIFF ? ".tif" : ".png";
        Path file = dir.resolve("image" + ext);
        Files.write(file, out);
        boolean asMask = r.nextInt(3) == 0;
        List<String> args = new ArrayList<>(List.of("generate", "--models", dir.resolve("no-models").toString(),
                "--prompt", "p", "--steps", "2", "--width", "64", "--height", "64", "--query", "subject",
                "--output", dir.resolve("out.png").toString()));
        if (asMask) {
            Path ref = dir.resolve("ref.png");
            Files.write(ref, seeds.computeIfAbsent("ref", k -> read(Golden.tinyA().resolve("reference.png"))));
            args.addAll(List.of("--image", ref.toString(), "--mask", file.toString()));
            what.append(" as mask");
        } else {
            args.addAll(List.of("--image", file.toString()));
        }
        return new FuzzInput(kind, index, what.toString(), file, dir, args, null);
    }

    private static int dimension(SplittableRandom r) {
        return (int) new long[] {0, 1, 3, 100_000, 65_535, 46_341, 30_000, 20_000, 8_193, 1 << 20, Integer.MAX_VALUE,
                0x80000000L, 0xFFFFFFFFL}[r.nextInt(13)];
    }

    private static byte[] absurdDimensions(FuzzKind kind, byte[] base, SplittableRandom r, StringBuilder what) {
        byte[] b = base.clone();
        int w = dimension(r);
        int h = r.nextBoolean() ? w : dimension(r);
        what.append(' ').append(Integer.toUnsignedString(w)).append('×').append(Integer.toUnsignedString(h));
        switch (kind) {
            case PNG -> {
                Mutations.writeInt(b, 16, w, 4, false);
                Mutations.writeInt(b, 20, h, 4, false);
                fixPngCrcs(b);
            }
            case JPEG -> {
                for (int i = 2; i + 8 < b.length; i++) {
                    if ((b[i] & 0xFF) == 0xFF && ((b[i + 1] & 0xFF) == 0xC0 || (b[i + 1] & 0xFF) == 0xC2)) {
                        Mutations.writeInt(b, i + 5, h & 0xFFFF, 2, false);
                        Mutations.writeInt(b, i + 7, w & 0xFFFF, 2, false);
                        break;
                    }
                }
            }
            default -> tiffDimensions(b, w, h, r);
        }
        return b;
    }

    /** Sets the TIFF's ImageWidth/ImageLength (or, sometimes, another tag's value) in its first IFD. */
    private static void tiffDimensions(byte[] b, int w, int h, SplittableRandom r) {
        ByteBuffer buf = ByteBuffer.wrap(b).order(b[0] == 'I' ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN);
        int ifd = buf.getInt(4);
        int count = buf.getShort(ifd) & 0xFFFF;
        int pick = r.nextInt(count);
        for (int i = 0; i < count; i++) {
            int entry = ifd + 2 + 12 * i;
            int tag = buf.getShort(entry) & 0xFFFF;
            boolean other = r.nextInt(3) == 0 && i == pick;
            if (tag == 256 || tag == 257 || other) {
                buf.putShort(entry + 2, (short) 4); // LONG
                buf.putInt(entry + 4, 1);
                buf.putInt(entry + 8, tag == 256 ? w : tag == 257 ? h : (int) Mutations.interesting(r));
            }
        }
    }

    /** Recomputes every chunk CRC of a PNG, so that a mutation is read past the CRC checks. */
    private static void fixPngCrcs(byte[] b) {
        int p = 8;
        while (p + 12 <= b.length) {
            long len = ((b[p] & 0xFFL) << 24) | ((b[p + 1] & 0xFF) << 16) | ((b[p + 2] & 0xFF) << 8) | (b[p + 3] & 0xFF);
            if (len > b.length - p - 12) {
                return;
            }
            CRC32 crc = new CRC32();
            crc.update(b, p + 4, (int) len + 4);
            Mutations.writeInt(b, p + 8 + (int) len, crc.getValue(), 4, false);
            p += 12 + (int) len;
        }
    }

    // ---- macro options ----

    private static final String[] MACRO_KEYS = {"query", "prompt", "negative_prompt", "scale", "guidance", "steps",
            "scheduler", "width", "height", "seed", "images", "lora", "use_roi", "mask_weight", "framing", "models",
            "control_scale", "threads", "overlay"};

    private static final String[] MACRO_VALUES = {"", "0", "-1", "1", "7.5", "NaN", "Infinity", "-Infinity", "1e309",
            "2147483648", "9223372036854775808", "-9223372036854775809", "0x10", "1,5", "٣", "64", "65", "4096", "true",
            "[red mug]", "[", "]", "[[x]]", "ddim", "DDIM", "lcm", "euler-a", "none", "/nonexistent.safetensors:0.5",
            "a;b;;", ":", "x:NaN", "\u0000", "é✓𝄞", "=", "==", "[unterminated", "1e-320", "-0"};

    private FuzzInput macro(int index, Path dir, SplittableRandom r) {
        StringBuilder s = new StringBuilder();
        int n = r.nextInt(10);
        for (int i = 0; i < n; i++) {
            String key = r.nextInt(8) == 0 ? Character.toString((char) (33 + r.nextInt(90))) : MACRO_KEYS[r.nextInt(MACRO_KEYS.length)];
            if (r.nextInt(5) == 0) {
                key = key.toUpperCase(java.util.Locale.ROOT);
            }
            s.append(key);
            if (r.nextInt(6) != 0) {
                String v = MACRO_VALUES[r.nextInt(MACRO_VALUES.length)];
                s.append('=').append(v.contains(" ") || r.nextInt(4) == 0 ? "[" + v + "]" : v);
            }
            s.append(r.nextInt(8) == 0 ? "  \t" : " ");
        }
        String text = s.toString();
        if (r.nextInt(4) == 0 && !text.isEmpty()) {
            text = Mutations.textDamage(text, r);
        }
        return new FuzzInput(FuzzKind.MACRO_OPTIONS, index, "options", null, dir, List.of(), text);
    }

    private static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
