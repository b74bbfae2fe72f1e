package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.DType;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorInfo;
import io.github.ssrencoder.io.WeightLoadingPlan;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Builds the modules at real SD1.5 size from the manifests' configs (shapes only, no weights) and checks every key. */
class FullSizeKeyCoverageTest {

    @TempDir
    Path tmp;

    private static JsonObject manifest(String name) {
        return Golden.json(Golden.fullSizeKeys(name)).getAsJsonObject();
    }

    private static List<TensorInfo> tensors(JsonObject manifest) {
        List<TensorInfo> out = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : manifest.getAsJsonObject("tensors").entrySet()) {
            long[] shape = new long[e.getValue().getAsJsonObject().getAsJsonArray("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = e.getValue().getAsJsonObject().getAsJsonArray("shape").get(i).getAsLong();
            }
            out.add(new TensorInfo(e.getKey(), DType.F32, shape));
        }
        return out;
    }

    private Path configFile(JsonObject config) throws IOException {
        Path file = tmp.resolve("config.json");
        Files.writeString(file, config.toString());
        return file;
    }

    private static void assertCovers(Module module, JsonObject manifest, KeyMapping mapping, String what) {
        List<TensorInfo> keys = tensors(manifest);
        WeightLoadingPlan plan = WeightLoadingPlan.create(Path.of(what), keys, ModuleWeights.shapes(module), mapping);
        plan.requireComplete(what);
        assertEquals(keys.size(), module.namedParameters().size(), what + ": one parameter per key");
        assertEquals(manifest.get("num_tensors").getAsInt(), keys.size());
    }

    private UNet2DCondition sd15UNet() throws IOException {
        return new UNet2DCondition(UNetConfig.read(configFile(manifest("sd15_unet.json").getAsJsonObject("config"))));
    }

    @Test
    void sd15UNetKeysMapOneToOneWithShapes() throws IOException {
        JsonObject m = manifest("sd15_unet.json");
        UNet2DCondition unet = sd15UNet();
        assertCovers(unet, m, KeyMapping.identity(), "SD1.5 UNet");
        long elements = unet.namedParameters().values().stream().mapToLong(p -> {
            long n = 1;
            for (long d : p.shape()) {
                n *= d;
            }
            return n;
        }).sum();
        assertEquals(m.get("num_elements").getAsLong(), elements);
        assertEquals(8, unet.config().headsPerBlock().get(0));
    }

    @Test
    void sd15VaeKeysMapInBothAttentionNamings() throws IOException {
        JsonObject current = manifest("sd15_vae.json");
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.read(configFile(current.getAsJsonObject("config"))));
        assertCovers(vae, current, AutoencoderKL.keyMapping(), "SD1.5 VAE");
        assertCovers(vae, manifest("sd15_vae_deprecated_attention_names.json"), AutoencoderKL.keyMapping(), "SD1.5 VAE (old names)");
        assertEquals(0.18215f, vae.scalingFactor());
    }

    @Test
    void ssrLayerTableFollowsAttnProcessorOrderAtFullSize() throws IOException {
        JsonObject m = manifest("ssr_layers.json");
        SsrLayers layers = new SsrLayers(sd15UNet());
        assertCovers(layers, m, KeyMapping.identity(), "SSR layers");
        assertTableMatches(layers, m.getAsJsonArray("layer_index"));
    }

    @Test
    void ssrLayerTableMatchesTinyModelInfo() {
        UNet2DCondition unet = new UNet2DCondition(UNetConfig.read(Golden.tinyA().resolve("sd/unet/config.json")));
        JsonObject info = Golden.caseJson("model_info").getAsJsonObject();
        assertTableMatches(new SsrLayers(unet), info.getAsJsonArray("ssr_layers_index"));
    }

    private static void assertTableMatches(SsrLayers layers, com.google.gson.JsonArray table) {
        assertEquals(table.size(), layers.entries().size());
        for (JsonElement row : table) {
            JsonObject r = row.getAsJsonObject();
            SsrLayers.Entry e = layers.entries().get(r.get("index").getAsInt());
            assertEquals(r.get("processor").getAsString(), e.processor());
            assertEquals(r.get("has_weights").getAsBoolean(), e.toK() != null, e.processor());
            if (e.toK() != null) {
                assertEquals(r.get("hidden_size").getAsLong(), e.toK().outFeatures(), e.processor());
                assertEquals(r.get("cross_attention_dim").getAsLong(), e.toK().inFeatures(), e.processor());
            }
        }
        assertTrue(layers.entries().get(layers.entries().size() - 1).processor().startsWith("mid_block."));
    }
}
