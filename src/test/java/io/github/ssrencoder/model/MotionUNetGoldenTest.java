package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.TransformerTemporalModel;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code motion_unet} case: the UNet with AnimateDiff's motion modules and SSR, every motion module's input/output. */
class MotionUNetGoldenTest {

    private static final double ATOL = 2e-5;

    private static NDManager weights;
    private static UNet2DCondition unet;
    private static MotionAdapter adapter;
    private static SafetensorsFile golden;

    @BeforeAll
    static void load() {
        weights = EngineRuntime.newManager(Device.cpu());
        unet = UNet2DCondition.load(Golden.tinyA().resolve("sd/unet"), weights);
        adapter = MotionAdapter.load(Golden.tinyA().resolve("motion_adapter"), unet.config(), unetConfig(), weights);
        golden = Golden.caseTensors("motion_unet");
    }

    @AfterAll
    static void close() {
        golden.close();
        adapter.close();
        weights.close();
    }

    private static Path unetConfig() {
        return Golden.tinyA().resolve("sd/unet/config.json");
    }

    private static Path adapterFolder() {
        return Golden.tinyA().resolve("motion_adapter");
    }

    @Test
    void motionUNetMatchesDiffusersAtEveryMotionModule() {
        JsonObject json = Golden.caseJson("motion_unet").getAsJsonObject();
        float scale = json.get("ssr_scale").getAsFloat();
        Set<String> expectedKeys = new LinkedHashSet<>();
        golden.keys().stream().filter(k -> k.startsWith("motion.")).forEach(expectedKeys::add);
        try (NDManager m = weights.newSubManager()) {
            SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, m);
            unet.setSsr(layers, scale, 77);
            Map<String, Double> errors = new LinkedHashMap<>();
            try {
                float t = golden.load("timestep", m).toLongArray()[0];
                NDArray out = unet.forwardVideo(golden.load("sample", m), t, golden.load("encoder_hidden_states", m), adapter,
                        (name, value) -> {
                            if (golden.contains(name)) {
                                NDArray expected = golden.load(name, m);
                                Golden.assertClose(name, expected, value, ATOL);
                                errors.put(name, Golden.maxAbsDiff(expected.toFloatArray(), value.toFloatArray()));
                            }
                        });
                NDArray expected = golden.load("out", m);
                Golden.assertClose("out", expected, out, ATOL);
                System.out.printf("motion_unet out max abs error %.3g; worst motion tensor %.3g%n",
                        Golden.maxAbsDiff(expected.toFloatArray(), out.toFloatArray()),
                        errors.values().stream().mapToDouble(Double::doubleValue).max().orElse(0));
            } finally {
                unet.clearSsr();
            }
            assertEquals(expectedKeys, errors.keySet(), "every recorded motion-module tensor is compared");
        }
    }

    @Test
    void eachMotionModuleMatchesOnItsRecordedInput() {
        try (NDManager m = weights.newSubManager()) {
            for (Map.Entry<String, TransformerTemporalModel> e : adapter.modules().entrySet()) {
                String name = "motion." + e.getKey();
                NDArray out = e.getValue().forward(golden.load(name + ".input", m), 6, null);
                Golden.assertClose(name + ".output", golden.load(name + ".output", m), out, ATOL);
            }
        }
    }

    @Test
    void motionUNetSplitsSpatialAttentionIntoItsDefaultHeadsUnlessTheConfigNamesThem(@TempDir Path dir) throws IOException {
        // tiny-a's config.json names attention_head_dim 4 but not num_attention_heads: the motion UNet uses 8
        assertEquals(java.util.List.of(8, 8, 8, 8), adapter.spatialHeads());
        assertEquals(4, unet.attentionModules().values().iterator().next().heads(), "the image UNet keeps its heads");
        JsonObject config = Golden.json(unetConfig()).getAsJsonObject();
        config.addProperty("num_attention_heads", 2);
        Path file = dir.resolve("config.json");
        Files.writeString(file, config.toString());
        UNetConfig explicit = UNetConfig.read(file);
        assertEquals(java.util.List.of(2, 2, 2, 2), MotionAdapter.spatialHeads(explicit, file));
        assertEquals(explicit.headsPerBlock(), MotionAdapter.spatialHeads(explicit, null), "a config built in code keeps its heads");
        config.add("num_attention_heads", com.google.gson.JsonNull.INSTANCE);
        Files.writeString(file, config.toString());
        assertEquals(java.util.List.of(4, 4, 4, 4), MotionAdapter.spatialHeads(UNetConfig.read(file), file),
                "an explicit null is filled from attention_head_dim, as from_unet2d does");
    }

    @Test
    void ssrStaysOnSpatialCrossAttentionOnly() {
        JsonObject processors = Golden.caseJson("motion_unet").getAsJsonObject().getAsJsonObject("attn_processors");
        try (NDManager m = weights.newSubManager()) {
            SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, m);
            unet.setSsr(layers, 0.5f, 77);
            try {
                for (Map.Entry<String, JsonElement> e : processors.entrySet()) {
                    String module = e.getKey().substring(0, e.getKey().length() - ".processor".length());
                    boolean ssr = e.getValue().getAsString().equals("SSRAttnProcessor");
                    if (module.contains("motion_modules")) {
                        assertFalse(ssr, module);
                        assertTrue(adapter.modules().containsKey(module.substring(0, module.indexOf(".transformer_blocks"))), module);
                    } else {
                        assertEquals(ssr, unet.attentionModules().get(module).hasExtraKeyValue(), module);
                    }
                }
            } finally {
                unet.clearSsr();
            }
        }
        for (TransformerTemporalModel module : adapter.modules().values()) {
            module.transformerBlocks().forEach(b -> assertFalse(b.attn1().hasExtraKeyValue() || b.attn2().hasExtraKeyValue()));
        }
    }

    @Test
    void moreFramesThanThePositionalTableAreRefusedWithBothNumbers() {
        try (NDManager m = weights.newSubManager()) {
            NDArray sample = m.zeros(new Shape(1, 4, 9, 8, 8));
            NDArray context = m.zeros(new Shape(1, 77, 32));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> unet.forwardVideo(sample, 1f, context, adapter, null));
            assertTrue(e.getMessage().contains("9 frames") && e.getMessage().contains("8"), e.getMessage());
        }
    }

    @Test
    void adapterWithoutStoredPositionTablesComputesTheSameTables(@TempDir Path dir) throws IOException {
        Path copy = dir.resolve("adapter");
        Files.createDirectories(copy);
        Files.copy(adapterFolder().resolve("config.json"), copy.resolve("config.json"));
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(adapterFolder().resolve("diffusion_pytorch_model.safetensors"));
             NDManager m = NDManager.newBaseManager()) {
            for (String key : f.keys()) {
                if (!key.endsWith(".pos_embed.pe")) {
                    NDArray a = f.load(key, m);
                    w.addF32(key, a.getShape().getShape(), a.toFloatArray());
                }
            }
        }
        w.write(copy.resolve("diffusion_pytorch_model.safetensors"));
        try (MotionAdapter computed = MotionAdapter.load(copy, unet.config(), unetConfig(), weights);
             NDManager m = weights.newSubManager()) {
            float t = golden.load("timestep", m).toLongArray()[0];
            NDArray sample = golden.load("sample", m).get(":1");
            NDArray context = golden.load("encoder_hidden_states", m).get(":1");
            NDArray a = unet.forwardVideo(sample, t, context, adapter, null);
            NDArray b = unet.forwardVideo(sample, t, context, computed, null);
            Golden.assertClose("computed positional tables", a, b, 1e-5);
        }
    }

    @Test
    void adapterForAnotherUNetIsRefusedNamingTheKey(@TempDir Path dir) throws IOException {
        Path other = dir.resolve("other");
        Files.createDirectories(other);
        Files.copy(adapterFolder().resolve("diffusion_pytorch_model.safetensors"), other.resolve("diffusion_pytorch_model.safetensors"));
        JsonObject config = Golden.json(adapterFolder().resolve("config.json")).getAsJsonObject();
        config.add("block_out_channels", com.google.gson.JsonParser.parseString("[320, 640, 1280, 1280]"));
        Files.writeString(other.resolve("config.json"), config.toString());
        WeightFileException e = assertThrows(WeightFileException.class, () -> MotionAdapter.load(other, unet.config(), unetConfig(), weights));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("block_out_channels"), e.getMessage());

        config = Golden.json(adapterFolder().resolve("config.json")).getAsJsonObject();
        config.addProperty("motion_num_attention_heads", 4);
        Files.writeString(other.resolve("config.json"), config.toString());
        MotionAdapter fourHeads = MotionAdapter.load(other, unet.config(), unetConfig(), weights);
        fourHeads.close();

        config.addProperty("motion_layers_per_block", 1);
        Files.writeString(other.resolve("config.json"), config.toString());
        e = assertThrows(WeightFileException.class, () -> MotionAdapter.load(other, unet.config(), unetConfig(), weights));
        assertTrue(e.getMessage().contains("motion_layers_per_block 1"), e.getMessage());

        config.addProperty("motion_layers_per_block", 2);
        config.addProperty("motion_max_seq_length", 16);
        Files.writeString(other.resolve("config.json"), config.toString());
        e = assertThrows(WeightFileException.class, () -> MotionAdapter.load(other, unet.config(), unetConfig(), weights));
        assertTrue(e.getMessage().contains("diffusion_pytorch_model") && e.getMessage().contains("pos_embed.pe"), e.getMessage());
    }

    @Test
    void missingOrForeignAdapterFilesAreNamed(@TempDir Path dir) throws IOException {
        WeightFileException e = assertThrows(WeightFileException.class,
                () -> MotionAdapter.load(dir.resolve("nowhere"), unet.config(), unetConfig(), weights));
        assertTrue(e.getMessage().contains("nowhere"), e.getMessage());
        Files.copy(Golden.tinyA().resolve("sd/unet/config.json"), dir.resolve("config.json"));
        e = assertThrows(WeightFileException.class, () -> MotionAdapter.load(dir, unet.config(), unetConfig(), weights));
        assertTrue(e.getMessage().contains("_class_name") && e.getMessage().contains("MotionAdapter"), e.getMessage());
        Files.copy(adapterFolder().resolve("config.json"), dir.resolve("config.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        e = assertThrows(WeightFileException.class, () -> MotionAdapter.load(dir, unet.config(), unetConfig(), weights));
        assertTrue(e.getMessage().contains("diffusion_pytorch_model"), e.getMessage());
    }
}
