package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
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
import java.util.Arrays;
import java.util.Collections;
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
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole pipeline on model sets shaped unlike tiny-a (random weights): other text, vision, UNet, VAE and
 * aligner widths, depths, head and group counts, other patch grids and numbers of vision scales, per-block or
 * single head counts, one or two resnets per block, GELU or quick-GELU text MLPs, a three-block VAE (latents
 * at 1/4 of the image side) and other latent channel counts. Every size must come from the configs and
 * weights; the outputs must have the shapes those sizes imply.
 */
public class OtherModelShapesTest {

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().create();
    private static final int WIDTH = 40;
    private static final int HEIGHT = 56;
    private static final int CONTEXT = 77;

    /**
     * The sizes of one model set.
     *
     * @param unetHeads          {@code attention_head_dim} as written to the config (a number or a list)
     * @param visionLayers       vision depth; {@code hidden_states[4::4]} gives {@code visionLayers / 4} scales
     */
    record Shapes(int textHidden, int textLayers, int textHeads, int textMlp, String textAct,
                  int visionHidden, int visionLayers, int visionHeads, int visionMlp, int patch,
                  int[] unetChannels, JsonElement unetHeads, int unetLayers, int unetGroups, int transformerLayers,
                  boolean linearProjection, int[] vaeChannels, int vaeLayers, int vaeGroups, int latentChannels,
                  int alignerHeads, int alignerDimHead) {

        int grid() {
            return 224 / patch;
        }

        int scales() {
            return visionLayers / 4;
        }

        /** diffusers' {@code vae_scale_factor}. */
        int vaeFactor() {
            return 1 << (vaeChannels.length - 1);
        }
    }

    /** Four-block UNet with per-block heads and one resnet per block, 16-pixel patches, 26 vision layers, GELU text MLP. */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class FourBlocksPerBlockHeads extends Suite {
        FourBlocksPerBlockHeads() {
            super(new Shapes(48, 2, 6, 96, "gelu",
                    36, 26, 3, 72, 16,
                    new int[] {24, 48, 48, 72}, ints(2, 4, 4, 8), 1, 6, 1, false,
                    new int[] {8, 16, 16, 24}, 1, 4, 4,
                    3, 8), List.of("unipc", "euler-a", "dpmpp-2m"));
        }
    }

    /**
     * Three-block UNet with one head count for all blocks, two transformer layers with linear projections, a
     * three-block VAE with 3 latent channels, 32-pixel patches and 13 vision layers (3 scales).
     */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class ThreeBlocksThreeScales extends Suite {
        ThreeBlocksThreeScales() {
            super(new Shapes(40, 1, 5, 80, "quick_gelu",
                    24, 13, 2, 48, 32,
                    new int[] {16, 32, 40}, new JsonPrimitive(4), 1, 8, 2, true,
                    new int[] {8, 16, 16}, 1, 8, 3,
                    2, 12), List.of("dpmpp-2m"));
        }
    }

    /** The same tests for every model set; the set is written and loaded once. */
    abstract static class Suite {

        private final Shapes shapes;
        private final List<String> textQuerySchedulers;
        private Path temp;
        private Path models;
        private SsrPipeline pipeline;

        Suite(Shapes shapes, List<String> textQuerySchedulers) {
            this.shapes = shapes;
            this.textQuerySchedulers = textQuerySchedulers;
        }

        @BeforeAll
        void buildModelsAndOpen(@TempDir Path folder) throws IOException {
            temp = folder;
            models = temp.resolve("models");
            writeModels(models, shapes);
            pipeline = SsrPipeline.open(models, EngineRuntime.DeviceChoice.CPU, 0);
        }

        @AfterAll
        void close() {
            if (pipeline != null) {
                pipeline.close();
            }
        }

        private GenerationRequest request(List<SubjectQuery> subjects, String scheduler, long seed) {
            return new GenerationRequest(subjects, "a red block", "", 0.7, 7.5, 2, scheduler, WIDTH, HEIGHT, seed, null, 1);
        }

        /** One image of WIDTH × HEIGHT and finite latents [1, latent channels, HEIGHT/f, WIDTH/f]. */
        private void assertShapes(String what, GenerationResult r) {
            assertEquals(1, r.images().size(), what);
            RandomAccessibleInterval<ARGBType> image = r.images().get(0);
            assertEquals(WIDTH, image.dimension(0), what + " image width");
            assertEquals(HEIGHT, image.dimension(1), what + " image height");
            Latents latents = r.latents().get(0);
            int f = shapes.vaeFactor();
            assertArrayEquals(new long[] {1, shapes.latentChannels(), HEIGHT / f, WIDTH / f}, latents.shape(),
                    what + " latents shape " + Arrays.toString(latents.shape()));
            assertEquals(shapes.latentChannels() * (HEIGHT / f) * (WIDTH / f), latents.data().length, what + " latents size");
            for (float v : latents.data()) {
                assertTrue(Float.isFinite(v), what + ": non-finite latent " + v);
            }
        }

        private void assertMapShape(String what, AttentionMaps maps) {
            int grid = shapes.grid();
            int heads = shapes.alignerHeads();
            int tokens = 1 + grid * grid;
            assertEquals(heads, maps.heads(), what + " heads");
            assertEquals(CONTEXT, maps.contextLength(), what + " context length");
            assertEquals(grid, maps.gridWidth(), what + " grid width");
            assertEquals(grid, maps.gridHeight(), what + " grid height");
            assertEquals((long) heads * CONTEXT * tokens, maps.probabilities().length, what + " probabilities");
            for (int h = 0; h < heads; h++) {
                double sum = 0;
                int row = (h * CONTEXT + 1) * tokens;
                for (int i = 0; i < tokens; i++) {
                    sum += maps.probabilities()[row + i];
                }
                assertEquals(1.0, sum, 1e-4, what + ": softmax row of head " + h + " sums to " + sum);
            }
        }

        @Test
        void textQueryRunsWithSeveralSchedulersAtANonPowerOfTwoSize() {
            SubjectQuery q = SubjectQuery.text(reference(80, 56), "red block");
            for (String scheduler : textQuerySchedulers) {
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
        void sameSeedGivesIdenticalLatentsWhichExplicitNoiseOfTheModelsLatentShapeReproduces() {
            SubjectQuery q = SubjectQuery.text(reference(80, 56), "red block");
            int f = shapes.vaeFactor();
            long[] shape = {1, shapes.latentChannels(), HEIGHT / f, WIDTH / f};
            Latents noise = new Latents(shape, new TorchGenerator(31).randn(shape));
            float[] seeded = pipeline.generate(request(List.of(q), "ddim", 31), ProgressListener.NONE).latents().get(0).data();
            float[] again = pipeline.generate(request(List.of(q), "ddim", 31), ProgressListener.NONE).latents().get(0).data();
            float[] explicit = pipeline.generate(new GenerationRequest(List.of(q), "a red block", "", 0.7, 7.5, 2, "ddim",
                    WIDTH, HEIGHT, null, noise, 1), ProgressListener.NONE).latents().get(0).data();
            assertArrayEquals(seeded, again);
            assertArrayEquals(seeded, explicit);
            Latents wrong = new Latents(new long[] {1, shapes.latentChannels(), HEIGHT / f + 1, WIDTH / f},
                    new float[shapes.latentChannels() * (HEIGHT / f + 1) * (WIDTH / f)]);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pipeline.generate(
                    new GenerationRequest(List.of(), "p", "", 1, 7.5, 1, "ddim", WIDTH, HEIGHT, null, wrong, 1),
                    ProgressListener.NONE));
            assertTrue(e.getMessage().contains(Arrays.toString(shape)), e.getMessage());
        }

        @Test
        void attentionMapsAreOnTheEncodersPatchGridWithTheAlignersHeads() {
            AttentionMaps maps = pipeline.attention(SubjectQuery.text(reference(80, 56), "red block"), ProgressListener.NONE);
            assertEquals(List.of("red", "block"), maps.tokens());
            assertMapShape("attention", maps);
            assertEquals(shapes.grid() * shapes.grid(), maps.tokenMap(-1).length);
        }

        @Test
        void aUNetConfigThatNoLongerFitsItsWeightsIsRefusedNamingTheFile() throws IOException {
            Path copy = temp.resolve("changed-unet");
            copyTree(models, copy);
            Path config = copy.resolve("sd/unet/config.json");
            JsonObject o = GSON.fromJson(Files.readString(config), JsonObject.class);
            o.addProperty("layers_per_block", shapes.unetLayers() + 1);
            writeJson(config, o);
            WeightFileException e = assertThrows(WeightFileException.class,
                    () -> SsrPipeline.open(copy, EngineRuntime.DeviceChoice.CPU, 0).close());
            assertTrue(e.getMessage().contains("diffusion_pytorch_model.safetensors"), e.getMessage());
        }

        @Test
        void anAlignerForAnotherNumberOfVisionScalesIsRefusedNamingTheFile() throws IOException {
            Path copy = temp.resolve("other-scales");
            copyTree(models, copy);
            Shapes deeper = new Shapes(shapes.textHidden(), shapes.textLayers(), shapes.textHeads(), shapes.textMlp(),
                    shapes.textAct(), shapes.visionHidden(), shapes.visionLayers() + 4, shapes.visionHeads(), shapes.visionMlp(),
                    shapes.patch(), shapes.unetChannels(), shapes.unetHeads(), shapes.unetLayers(), shapes.unetGroups(),
                    shapes.transformerLayers(), shapes.linearProjection(), shapes.vaeChannels(), shapes.vaeLayers(),
                    shapes.vaeGroups(), shapes.latentChannels(), shapes.alignerHeads(), shapes.alignerDimHead());
            RandomWeights.writeTorch(copy.resolve("ssr/pytorch_model.bin"), alignerShapes(deeper), 7);
            WeightFileException e = assertThrows(WeightFileException.class,
                    () -> SsrPipeline.open(copy, EngineRuntime.DeviceChoice.CPU, 0).close());
            assertTrue(e.getMessage().contains("pytorch_model.bin") && e.getMessage().contains("vision scales"), e.getMessage());
        }

        @Test
        void anAlignerHeadSplitThatDoesNotFitItsWeightsIsRefusedNamingTheFile() throws IOException {
            Path copy = temp.resolve("changed-aligner");
            copyTree(models, copy);
            JsonObject o = alignerConfig(shapes);
            o.addProperty("heads", shapes.alignerHeads() + 1);
            writeJson(copy.resolve("ssr/config.json"), o);
            WeightFileException e = assertThrows(WeightFileException.class,
                    () -> SsrPipeline.open(copy, EngineRuntime.DeviceChoice.CPU, 0).close());
            assertTrue(e.getMessage().contains("pytorch_model.bin"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Writing a model set: configs with the given sizes, random weights for every parameter the module
    // classes declare for those configs.

    static void writeModels(Path root, Shapes s) throws IOException {
        Path tinyA = Golden.tinyA();
        Path sd = root.resolve("sd");
        copyTree(tinyA.resolve("sd/tokenizer"), sd.resolve("tokenizer"));
        copyTree(tinyA.resolve("sd/scheduler"), sd.resolve("scheduler"));
        Files.copy(tinyA.resolve("sd/model_index.json"), sd.resolve("model_index.json"));

        Path text = Files.createDirectories(sd.resolve("text_encoder"));
        writeJson(text.resolve("config.json"), textConfig(s));
        RandomWeights.writeSafetensors(text.resolve("model.safetensors"),
                ModuleWeights.shapes(new ClipTextEncoder(ClipTextConfig.read(text.resolve("config.json")))), 1);

        Path image = Files.createDirectories(root.resolve("image_encoder"));
        writeJson(image.resolve("config.json"), visionConfig(s));
        Files.copy(tinyA.resolve("image_encoder/preprocessor_config.json"), image.resolve("preprocessor_config.json"));
        RandomWeights.writeSafetensors(image.resolve("model.safetensors"),
                ModuleWeights.shapes(new ClipVisionEncoder(ClipVisionConfig.read(image.resolve("config.json")))), 2);

        Path unetDir = Files.createDirectories(sd.resolve("unet"));
        writeJson(unetDir.resolve("config.json"), unetConfig(s));
        UNet2DCondition unet = new UNet2DCondition(UNetConfig.read(unetDir.resolve("config.json")));
        RandomWeights.writeSafetensors(unetDir.resolve("diffusion_pytorch_model.safetensors"), ModuleWeights.shapes(unet), 3);

        Path vae = Files.createDirectories(sd.resolve("vae"));
        writeJson(vae.resolve("config.json"), vaeConfig(s));
        RandomWeights.writeSafetensors(vae.resolve("diffusion_pytorch_model.safetensors"),
                ModuleWeights.shapes(new AutoencoderKL(VaeConfig.read(vae.resolve("config.json")))), 4);

        Path ssr = Files.createDirectories(root.resolve("ssr"));
        writeJson(ssr.resolve("config.json"), alignerConfig(s));
        RandomWeights.writeTorch(ssr.resolve("pytorch_model.bin"), alignerShapes(s), 5);
        RandomWeights.writeTorch(ssr.resolve("pytorch_model_1.bin"), ModuleWeights.shapes(new SsrLayers(unet)), 6);
    }

    private static JsonObject textConfig(Shapes s) {
        JsonObject o = new JsonObject();
        o.add("architectures", strings("CLIPTextModel"));
        o.addProperty("model_type", "clip_text_model");
        o.addProperty("hidden_act", s.textAct());
        o.addProperty("hidden_size", s.textHidden());
        o.addProperty("intermediate_size", s.textMlp());
        o.addProperty("num_attention_heads", s.textHeads());
        o.addProperty("num_hidden_layers", s.textLayers());
        o.addProperty("max_position_embeddings", CONTEXT);
        o.addProperty("vocab_size", 49408);
        o.addProperty("layer_norm_eps", 1e-5);
        return o;
    }

    /** A full CLIPModel config, as the SSR image encoder folder has. */
    private static JsonObject visionConfig(Shapes s) {
        JsonObject vision = new JsonObject();
        vision.addProperty("model_type", "clip_vision_model");
        vision.addProperty("hidden_size", s.visionHidden());
        vision.addProperty("intermediate_size", s.visionMlp());
        vision.addProperty("num_attention_heads", s.visionHeads());
        vision.addProperty("num_hidden_layers", s.visionLayers());
        vision.addProperty("patch_size", s.patch());
        vision.addProperty("image_size", 224);
        JsonObject textTower = new JsonObject();
        textTower.addProperty("hidden_size", 8);
        textTower.addProperty("intermediate_size", 16);
        textTower.addProperty("num_attention_heads", 2);
        textTower.addProperty("num_hidden_layers", 1);
        JsonObject o = new JsonObject();
        o.add("architectures", strings("CLIPModel"));
        o.addProperty("model_type", "clip");
        o.addProperty("projection_dim", 16);
        o.add("text_config", textTower);
        o.add("vision_config", vision);
        return o;
    }

    private static JsonObject unetConfig(Shapes s) {
        int n = s.unetChannels().length;
        List<String> down = new java.util.ArrayList<>(Collections.nCopies(n - 1, "CrossAttnDownBlock2D"));
        down.add("DownBlock2D");
        List<String> up = new java.util.ArrayList<>(List.of("UpBlock2D"));
        up.addAll(Collections.nCopies(n - 1, "CrossAttnUpBlock2D"));
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "UNet2DConditionModel");
        o.addProperty("act_fn", "silu");
        o.add("attention_head_dim", s.unetHeads());
        o.add("block_out_channels", ints(s.unetChannels()));
        o.addProperty("cross_attention_dim", s.textHidden());
        o.add("down_block_types", strings(down.toArray(String[]::new)));
        o.add("up_block_types", strings(up.toArray(String[]::new)));
        o.addProperty("in_channels", s.latentChannels());
        o.addProperty("out_channels", s.latentChannels());
        o.addProperty("layers_per_block", s.unetLayers());
        o.addProperty("norm_num_groups", s.unetGroups());
        o.addProperty("transformer_layers_per_block", s.transformerLayers());
        o.addProperty("use_linear_projection", s.linearProjection());
        o.addProperty("sample_size", 8);
        return o;
    }

    private static JsonObject vaeConfig(Shapes s) {
        int n = s.vaeChannels().length;
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "AutoencoderKL");
        o.addProperty("act_fn", "silu");
        o.add("block_out_channels", ints(s.vaeChannels()));
        o.add("down_block_types", strings(Collections.nCopies(n, "DownEncoderBlock2D").toArray(String[]::new)));
        o.add("up_block_types", strings(Collections.nCopies(n, "UpDecoderBlock2D").toArray(String[]::new)));
        o.addProperty("in_channels", 3);
        o.addProperty("out_channels", 3);
        o.addProperty("latent_channels", s.latentChannels());
        o.addProperty("layers_per_block", s.vaeLayers());
        o.addProperty("norm_num_groups", s.vaeGroups());
        return o;
    }

    private static JsonObject alignerConfig(Shapes s) {
        JsonObject o = new JsonObject();
        o.addProperty("query_dim", s.textHidden());
        o.addProperty("cross_attention_dim", s.visionHidden());
        o.addProperty("heads", s.alignerHeads());
        o.addProperty("dim_head", s.alignerDimHead());
        o.addProperty("num_scales", s.scales());
        o.addProperty("text_context_len", CONTEXT);
        return o;
    }

    /** The official aligner checkpoint's keys ({@code Aligner} without biases, one value/output pair per scale, final LayerNorm). */
    private static Map<String, long[]> alignerShapes(Shapes s) {
        long inner = (long) s.alignerHeads() * s.alignerDimHead();
        Map<String, long[]> out = new LinkedHashMap<>();
        out.put("aligner.to_q.weight", new long[] {inner, s.textHidden()});
        out.put("aligner.to_k.weight", new long[] {inner, s.visionHidden()});
        for (int i = 0; i < s.scales(); i++) {
            out.put("aligner.processor.to_v." + i + ".weight", new long[] {inner, s.visionHidden()});
            out.put("aligner.processor.to_out." + i + ".weight", new long[] {s.textHidden(), inner});
        }
        out.put("norm.weight", new long[] {s.textHidden()});
        out.put("norm.bias", new long[] {s.textHidden()});
        return out;
    }

    private static JsonArray ints(int... values) {
        JsonArray a = new JsonArray();
        for (int v : values) {
            a.add(v);
        }
        return a;
    }

    private static JsonArray strings(String... values) {
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
}
