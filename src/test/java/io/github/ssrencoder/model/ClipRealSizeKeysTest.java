package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import io.github.ssrencoder.io.DType;
import io.github.ssrencoder.io.KeyMapping;
import io.github.ssrencoder.io.TensorInfo;
import io.github.ssrencoder.io.WeightLoadingPlan;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Builds the encoders at the released sizes from the manifests' configs (no weights) and maps every key. */
class ClipRealSizeKeysTest {

    private static JsonObject manifest(String name) {
        return Golden.json(Golden.fullSizeKeys(name + ".json")).getAsJsonObject();
    }

    private static Path writeConfig(Path dir, JsonObject manifest) throws Exception {
        Path f = dir.resolve("config.json");
        Files.writeString(f, manifest.getAsJsonObject("config").toString());
        return f;
    }

    private static List<TensorInfo> tensors(JsonObject manifest, boolean withPositionIds, String positionIdsPrefix) {
        List<TensorInfo> out = new ArrayList<>();
        for (Map.Entry<String, com.google.gson.JsonElement> e : manifest.getAsJsonObject("tensors").entrySet()) {
            JsonObject t = e.getValue().getAsJsonObject();
            long[] shape = new long[t.getAsJsonArray("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = t.getAsJsonArray("shape").get(i).getAsLong();
            }
            out.add(new TensorInfo(e.getKey(), DType.F32, shape));
        }
        if (withPositionIds) {
            out.add(new TensorInfo(positionIdsPrefix + "embeddings.position_ids", DType.I64, new long[] {1, 77}));
        }
        return out;
    }

    private static WeightLoadingPlan plan(Module model, List<TensorInfo> tensors, KeyMapping mapping) {
        WeightLoadingPlan plan = WeightLoadingPlan.create(Path.of("manifest"), tensors, ModuleWeights.shapes(model), mapping);
        assertTrue(plan.isComplete(), () -> "missing " + plan.missingParameters() + ", unused " + plan.unusedKeys()
                + ", shapes " + plan.shapeMismatches() + ", collisions " + plan.collisions());
        assertEquals(model.namedParameters().size(), plan.parameterToKey().size());
        return plan;
    }

    @Test
    void sd15TextEncoderMapsEveryKeyOneToOne(@TempDir Path dir) throws Exception {
        JsonObject m = manifest("sd15_text_encoder");
        ClipTextConfig c = ClipTextConfig.read(writeConfig(dir, m));
        assertEquals(new ClipTextConfig(49408, 768, 3072, 12, 12, 77, "quick_gelu", 1e-5), c);
        ClipTextEncoder model = new ClipTextEncoder(c);
        assertEquals(196, plan(model, tensors(m, false, ""), ClipTextEncoder.MAPPING).parameterToKey().size());
        WeightLoadingPlan withIds = plan(model, tensors(m, true, "text_model."), ClipTextEncoder.MAPPING);
        assertEquals(List.of("text_model.embeddings.position_ids"), withIds.ignoredKeys());
    }

    @Test
    void clipVisionModelMapsEveryKeyOneToOne(@TempDir Path dir) throws Exception {
        JsonObject m = manifest("clip_vit_large_patch14_vision");
        ClipVisionConfig c = ClipVisionConfig.read(writeConfig(dir, m));
        assertEquals(new ClipVisionConfig(1024, 4096, 24, 16, 3, 224, 14, "quick_gelu", 1e-5), c);
        ClipVisionEncoder model = new ClipVisionEncoder(c);
        assertEquals(257, model.numTokens());
        WeightLoadingPlan plan = plan(model, tensors(m, true, "vision_model."), ClipVisionEncoder.MAPPING);
        assertEquals(List.of("vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias",
                "vision_model.embeddings.position_ids"), plan.ignoredKeys());
        assertEquals(391 - 2, plan.parameterToKey().size());
    }

    @Test
    void fullClipModelLoadsOnlyTheVisionTower(@TempDir Path dir) throws Exception {
        JsonObject m = manifest("clip_vit_large_patch14_full");
        ClipVisionConfig c = ClipVisionConfig.read(writeConfig(dir, m));
        assertEquals(new ClipVisionConfig(1024, 4096, 24, 16, 3, 224, 14, "quick_gelu", 1e-5), c);
        WeightLoadingPlan plan = plan(new ClipVisionEncoder(c), tensors(m, true, "vision_model."), ClipVisionEncoder.MAPPING);
        Predicate<String> expectedIgnored = k -> k.startsWith("text_model.") || k.equals("logit_scale")
                || k.endsWith("_projection.weight") || k.startsWith("vision_model.post_layernorm.") || k.endsWith("position_ids");
        assertTrue(plan.ignoredKeys().stream().allMatch(expectedIgnored), plan.ignoredKeys().toString());
        assertEquals(590 + 1 - (391 - 2), plan.ignoredKeys().size());
        assertTrue(plan.parameterToKey().values().stream().allMatch(k -> k.startsWith("vision_model.")));
    }

    @Test
    void aTextCheckpointIsRejectedAsImageEncoderWithTheOffendingKeys(@TempDir Path dir) throws Exception {
        JsonObject vision = manifest("clip_vit_large_patch14_vision");
        ClipVisionEncoder model = new ClipVisionEncoder(ClipVisionConfig.read(writeConfig(dir, vision)));
        WeightLoadingPlan plan = WeightLoadingPlan.create(Path.of("text_encoder/model.safetensors"),
                tensors(manifest("sd15_text_encoder"), false, ""), ModuleWeights.shapes(model), ClipVisionEncoder.MAPPING);
        assertTrue(!plan.isComplete() && plan.parameterToKey().isEmpty());
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, () -> plan.requireComplete("CLIP vision encoder"));
        assertTrue(e.getMessage().contains("text_encoder/model.safetensors") && e.getMessage().contains("missing"), e.getMessage());
    }
}
