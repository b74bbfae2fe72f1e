package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.model.AutoencoderKL;
import io.github.ssrencoder.model.ClipTextConfig;
import io.github.ssrencoder.model.ClipTextEncoder;
import io.github.ssrencoder.model.ClipVisionConfig;
import io.github.ssrencoder.model.ClipVisionEncoder;
import io.github.ssrencoder.model.SsrLayers;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.model.UNetConfig;
import io.github.ssrencoder.model.VaeConfig;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.RandomWeights;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.img.basictypeaccess.array.FloatArray;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.type.numeric.real.FloatType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole pipeline on a model set shaped unlike tiny-a (random weights): other text, vision, UNet, VAE and
 * aligner widths, depths, head and group counts, a 16-pixel patch grid, per-block head counts, one resnet per
 * block, a GELU text MLP and a vision tower deeper than 24 layers. Every size must come from the configs and
 * weights; the outputs must have the shapes those sizes imply.
 */
public class OtherModelShapesTest {

    private static final int TEXT_HIDDEN = 48;
    private static final int VISION_HIDDEN = 36;
    private static final int VISION_LAYERS = 26;
    private static final int PATCH = 16;
    private static final int GRID = 224 / PATCH;
    private static final int ALIGNER_HEADS = 3;
    private static final int LATENT_CHANNELS = 4;
    private static final int WIDTH = 40;
    private static final int HEIGHT = 56;

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().create();

    @TempDir
    static Path temp;

    private static Path models;
    private static SsrPipeline pipeline;

    @BeforeAll
    static void buildModelsAndOpen() throws IOException {
        models = temp.resolve("models");
        writeModels(models);
        pipeline = SsrPipeline.open(models, EngineRuntime.DeviceChoice.CPU, 0);
    }

    @AfterAll
    static void close() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The model set

    static void writeModels(Path root) throws IOException {
        Path tinyA = Golden.tinyA();
        Path sd = root.resolve("sd");
        copyTree(tinyA.resolve("sd/tokenizer"), sd.resolve("tokenizer"));
        copyTree(tinyA.resolve("sd/scheduler"), sd.resolve("scheduler"));
        Files.copy(tinyA.resolve("sd/model_index.json"), sd.resolve("model_index.json"));

        Path text = Files.createDirectories(sd.resolve("text_encoder"));
        writeJson(text.resolve("config.json"), textConfig());
        RandomWeights.writeSafetensors(text.resolve("model.safetensors"),
                ModuleWeights.shapes(new ClipTextEncoder(ClipTextConfig.read(text.resolve("config.json")))), 1);

        Path image = Files.createDirectories(root.resolve("image_encoder"));
        writeJson(image.resolve("config.json"), visionConfig());
        Files.copy(tinyA.resolve("image_encoder/preprocessor_config.json"), image.resolve("preprocessor_config.json"));
        RandomWeights.writeSafetensors(image.resolve("model.safetensors"),
                ModuleWeights.shapes(new ClipVisionEncoder(ClipVisionConfig.read(image.resolve("config.json")))), 2);

        Path unetDir = Files.createDirectories(sd.resolve("unet"));
        writeJson(unetDir.resolve("config.json"), unetConfig());
        UNet2DCondition unet = new UNet2DCondition(UNetConfig.read(unetDir.resolve("config.json")));
        RandomWeights.writeSafetensors(unetDir.resolve("diffusion_pytorch_model.safetensors"), ModuleWeights.shapes(unet), 3);

        Path vae = Files.createDirectories(sd.resolve("vae"));
        writeJson(vae.resolve("config.json"), vaeConfig());
        RandomWeights.writeSafetensors(vae.resolve("diffusion_pytorch_model.safetensors"),
                ModuleWeights.shapes(new AutoencoderKL(VaeConfig.read(vae.resolve("config.json")))), 4);

        Path ssr = Files.createDirectories(root.resolve("ssr"));
        writeJson(ssr.resolve("config.json"), alignerConfig());
        RandomWeights.writeTorch(ssr.resolve("pytorch_model.bin"), alignerShapes(6), 5);
        RandomWeights.writeTorch(ssr.resolve("pytorch_model_1.bin"), ModuleWeights.shapes(new SsrLayers(unet)), 6);
    }

    private static JsonObject textConfig() {
        JsonObject o = new JsonObject();
        o.add("architectures", array("CLIPTextModel"));
        o.addProperty("model_type", "clip_text_model");
        o.addProperty("hidden_act", "gelu");
        o.addProperty("hidden_size", TEXT_HIDDEN);
        o.addProperty("intermediate_size", 96);
        o.addProperty("num_attention_heads", 6);
        o.addProperty("num_hidden_layers", 2);
        o.addProperty("max_position_embeddings", 77);
        o.addProperty("vocab_size", 49408);
        o.addProperty("layer_norm_eps", 1e-5);
        return o;
    }

    /** A full CLIPModel config, as the SSR image encoder folder has. */
    private static JsonObject visionConfig() {
        JsonObject vision = new JsonObject();
        vision.addProperty("model_type", "clip_vision_model");
        vision.addProperty("hidden_size", VISION_HIDDEN);
        vision.addProperty("intermediate_size", 72);
        vision.addProperty("num_attention_heads", 3);
        vision.addProperty("num_hidden_layers", VISION_LAYERS);
        vision.addProperty("patch_size", PATCH);
        vision.addProperty("image_size", 224);
        JsonObject textTower = new JsonObject();
        textTower.addProperty("hidden_size", 8);
        textTower.addProperty("intermediate_size", 16);
        textTower.addProperty("num_attention_heads", 2);
        textTower.addProperty("num_hidden_layers", 1);
        JsonObject o = new JsonObject();
        o.add("architectures", array("CLIPModel"));
        o.addProperty("model_type", "clip");
        o.addProperty("projection_dim", 16);
        o.add("text_config", textTower);
        o.add("vision_config", vision);
        return o;
    }

    private static JsonObject unetConfig() {
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "UNet2DConditionModel");
        o.addProperty("act_fn", "silu");
        o.add("attention_head_dim", ints(2, 4, 4, 8));
        o.add("block_out_channels", ints(24, 48, 48, 72));
        o.addProperty("cross_attention_dim", TEXT_HIDDEN);
        o.add("down_block_types", array("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"));
        o.add("up_block_types", array("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"));
        o.addProperty("in_channels", LATENT_CHANNELS);
        o.addProperty("out_channels", LATENT_CHANNELS);
        o.addProperty("layers_per_block", 1);
        o.addProperty("norm_num_groups", 6);
        o.addProperty("sample_size", 8);
        return o;
    }

    private static JsonObject vaeConfig() {
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "AutoencoderKL");
        o.addProperty("act_fn", "silu");
        o.add("block_out_channels", ints(8, 16, 16, 24));
        o.add("down_block_types", array("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"));
        o.add("up_block_types", array("UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"));
        o.addProperty("in_channels", 3);
        o.addProperty("out_channels", 3);
        o.addProperty("latent_channels", LATENT_CHANNELS);
        o.addProperty("layers_per_block", 1);
        o.addProperty("norm_num_groups", 4);
        return o;
    }

    private static JsonObject alignerConfig() {
        JsonObject o = new JsonObject();
        o.addProperty("query_dim", TEXT_HIDDEN);
        o.addProperty("cross_attention_dim", VISION_HIDDEN);
        o.addProperty("heads", ALIGNER_HEADS);
        o.addProperty("dim_head", 8);
        o.addProperty("num_scales", 6);
        o.addProperty("text_context_len", 77);
        return o;
    }

    /** The official aligner checkpoint's keys ({@code Aligner} without biases, one value/output pair per scale, final LayerNorm). */
    private static Map<String, long[]> alignerShapes(int scales) {
        long inner = ALIGNER_HEADS * 8;
        Map<String, long[]> s = new LinkedHashMap<>();
        s.put("aligner.to_q.weight", new long[] {inner, TEXT_HIDDEN});
        s.put("aligner.to_k.weight", new long[] {inner, VISION_HIDDEN});
        for (int i = 0; i < scales; i++) {
            s.put("aligner.processor.to_v." + i + ".weight", new long[] {inner, VISION_HIDDEN});
            s.put("aligner.processor.to_out." + i + ".weight", new long[] {TEXT_HIDDEN, inner});
        }
        s.put("norm.weight", new long[] {TEXT_HIDDEN});
        s.put("norm.bias", new long[] {TEXT_HIDDEN});
        return s;
    }

    private static JsonArray ints(int... values) {
        JsonArray a = new JsonArray();
        for (int v : values) {
            a.add(v);
        }
        return a;
    }

    private static JsonArray array(String... values) {
        JsonArray a = new JsonArray();
        for (String v : values) {
            a.add(v);
        }
        return a;
    }

    private static void writeJson(Path file, JsonObject o) throws IOException {
        Files.writeString(file, GSON.toJson(o), StandardCharsets.UTF_8);
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Inputs and checks

    /** A non-square RGB reference: a red rectangle on grey. */
    private static ArrayImg<ARGBType, IntArray> reference(int w, int h) {
        ArrayImg<ARGBType, IntArray> img = ArrayImgs.argbs(w, h);
        int[] px = img.update(null).getCurrentStorageArray();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                boolean inside = x >= w / 4 && x < w / 2 && y >= h / 3 && y < 2 * h / 3;
                px[y * w + x] = inside ? ARGBType.rgba(220, 30, 30, 255) : ARGBType.rgba(120 + x % 7, 120, 128 + y % 5, 255);
            }
        }
        return img;
    }

    private static ArrayImg<FloatType, FloatArray> mask(int w, int h) {
        ArrayImg<FloatType, FloatArray> m = ArrayImgs.floats(w, h);
        float[] v = m.update(null).getCurrentStorageArray();
        for (int y = h / 3; y < 2 * h / 3; y++) {
            for (int x = w / 4; x < w / 2; x++) {
                v[y * w + x] = 1f;
            }
        }
        return m;
    }

    private static GenerationRequest request(List<SubjectQuery> subjects, String scheduler, long seed) {
        return new GenerationRequest(subjects, "a red block", "", 0.7, 7.5, 2, scheduler, WIDTH, HEIGHT, seed, null, 1);
    }

    /** One image of WIDTH × HEIGHT and finite latents [1, 4, HEIGHT/8, WIDTH/8]. */
    private static void assertShapes(String what, GenerationResult r) {
        assertEquals(1, r.images().size(), what);
        RandomAccessibleInterval<ARGBType> image = r.images().get(0);
        assertEquals(WIDTH, image.dimension(0), what + " image width");
        assertEquals(HEIGHT, image.dimension(1), what + " image height");
        Latents latents = r.latents().get(0);
        assertArrayEquals(new long[] {1, LATENT_CHANNELS, HEIGHT / 8, WIDTH / 8}, latents.shape(), what + " latents shape");
        assertEquals(LATENT_CHANNELS * (HEIGHT / 8) * (WIDTH / 8), latents.data().length, what + " latents size");
        for (float v : latents.data()) {
            assertTrue(Float.isFinite(v), what + ": non-finite latent " + v);
        }
    }

    private static void assertMapShape(String what, AttentionMaps maps) {
        assertEquals(ALIGNER_HEADS, maps.heads(), what + " heads");
        assertEquals(77, maps.contextLength(), what + " context length");
        assertEquals(GRID, maps.gridWidth(), what + " grid width");
        assertEquals(GRID, maps.gridHeight(), what + " grid height");
        assertEquals((long) ALIGNER_HEADS * 77 * (1 + GRID * GRID), maps.probabilities().length, what + " probabilities");
        for (int h = 0; h < ALIGNER_HEADS; h++) {
            double sum = 0;
            int row = (h * 77 + 1) * (1 + GRID * GRID);
            for (int i = 0; i < 1 + GRID * GRID; i++) {
                sum += maps.probabilities()[row + i];
            }
            assertEquals(1.0, sum, 1e-4, what + ": softmax row of head " + h + " sums to " + sum);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Tests

    @Test
    void textQueryRunsWithEverySchedulerAtANonPowerOfTwoSize() {
        SubjectQuery q = SubjectQuery.text(reference(80, 56), "red block");
        for (String scheduler : List.of("unipc", "euler-a", "dpmpp-2m")) {
            GenerationResult r = pipeline.generate(request(List.of(q), scheduler, 11), ProgressListener.NONE);
            assertShapes("text query, " + scheduler, r);
            assertEquals(1, r.attention().size());
            assertMapShape("text query, " + scheduler, r.attention().get(0));
        }
    }

    @Test
    void maskQueryOnAPaddedNonSquareReference() {
        SubjectQuery q = SubjectQuery.mask(reference(80, 56), "red block", mask(80, 56), 1.0)
                .withFraming(ReferenceFraming.PAD_TO_SQUARE, null);
        GenerationResult r = pipeline.generate(request(List.of(q), "ddim", 12), ProgressListener.NONE);
        assertShapes("mask query", r);
        assertMapShape("mask query", r.attention().get(0));
    }

    @Test
    void twoSubjects() {
        List<SubjectQuery> qs = List.of(
                SubjectQuery.text(reference(80, 56), "red block").withWeight(0.8),
                SubjectQuery.text(reference(48, 64), "grey background").withWeight(0.6));
        GenerationResult r = pipeline.generate(request(qs, "pndm", 13), ProgressListener.NONE);
        assertShapes("two subjects", r);
        assertEquals(2, r.attention().size());
        r.attention().forEach(m -> assertMapShape("two subjects", m));
    }

    @Test
    void plainStableDiffusionWithoutSubject() {
        GenerationResult r = pipeline.generate(request(List.of(), "euler", 14), ProgressListener.NONE);
        assertShapes("plain SD", r);
        assertTrue(r.attention().isEmpty());
    }

    @Test
    void sameSeedGivesIdenticalLatentsAndAnotherSeedDoesNot() {
        SubjectQuery q = SubjectQuery.text(reference(80, 56), "red block");
        float[] a = pipeline.generate(request(List.of(q), "unipc", 21), ProgressListener.NONE).latents().get(0).data();
        float[] b = pipeline.generate(request(List.of(q), "unipc", 21), ProgressListener.NONE).latents().get(0).data();
        float[] c = pipeline.generate(request(List.of(q), "unipc", 22), ProgressListener.NONE).latents().get(0).data();
        assertArrayEquals(a, b);
        assertFalse(java.util.Arrays.equals(a, c));
    }

    @Test
    void attentionMapsAreOnTheEncodersPatchGridWithTheAlignersHeads() {
        AttentionMaps maps = pipeline.attention(SubjectQuery.text(reference(80, 56), "red block"), ProgressListener.NONE);
        assertEquals(List.of("red", "block"), maps.tokens());
        assertMapShape("attention", maps);
        assertEquals(GRID * GRID, maps.tokenMap(-1).length);
    }

    @Test
    void aUNetConfigThatNoLongerFitsItsWeightsIsRefusedNamingTheFile() throws IOException {
        Path copy = temp.resolve("changed-unet");
        copyTree(models, copy);
        Path config = copy.resolve("sd/unet/config.json");
        JsonObject o = GSON.fromJson(Files.readString(config), JsonObject.class);
        o.addProperty("layers_per_block", 2);
        writeJson(config, o);
        WeightFileException e = assertThrows(WeightFileException.class,
                () -> SsrPipeline.open(copy, EngineRuntime.DeviceChoice.CPU, 0).close());
        assertTrue(e.getMessage().contains("diffusion_pytorch_model.safetensors"), e.getMessage());
    }

    @Test
    void anAlignerHeadSplitThatDoesNotFitItsWeightsIsRefusedNamingTheFile() throws IOException {
        Path copy = temp.resolve("changed-aligner");
        copyTree(models, copy);
        JsonObject o = alignerConfig();
        o.addProperty("heads", 4);
        writeJson(copy.resolve("ssr/config.json"), o);
        WeightFileException e = assertThrows(WeightFileException.class,
                () -> SsrPipeline.open(copy, EngineRuntime.DeviceChoice.CPU, 0).close());
        assertTrue(e.getMessage().contains("pytorch_model.bin"), e.getMessage());
    }
}
