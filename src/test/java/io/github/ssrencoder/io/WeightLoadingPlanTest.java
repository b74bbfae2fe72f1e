package io.github.ssrencoder.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WeightLoadingPlanTest {

    private static final Path FILE = Path.of("models", "unet.safetensors");

    private static TensorInfo t(String name, long... shape) {
        return new TensorInfo(name, DType.F32, shape);
    }

    private static Map<String, long[]> params() {
        Map<String, long[]> p = new LinkedHashMap<>();
        p.put("proj.weight", new long[] {4, 3});
        p.put("proj.bias", new long[] {4});
        return p;
    }

    private static String failure(WeightLoadingPlan plan) {
        WeightFileException e = assertThrows(WeightFileException.class, () -> plan.requireComplete("test network"));
        assertTrue(e.getMessage().startsWith(FILE + ": does not fit the test network ("), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        return e.getMessage();
    }

    @Test
    void completeCheckpointMapsEveryKey() {
        WeightLoadingPlan plan = WeightLoadingPlan.create(FILE, List.of(t("proj.weight", 4, 3), t("proj.bias", 4)), params(),
                KeyMapping.identity());
        assertTrue(plan.isComplete());
        plan.requireComplete("test network");
        assertEquals(Map.of("proj.weight", "proj.weight", "proj.bias", "proj.bias"), plan.parameterToKey());
    }

    @Test
    void wrongShapeIsNamedWithBothShapes() {
        WeightLoadingPlan plan = WeightLoadingPlan.create(FILE, List.of(t("proj.weight", 3, 4), t("proj.bias", 4)), params(),
                KeyMapping.identity());
        assertFalse(plan.isComplete());
        assertTrue(failure(plan).contains("wrong shape for proj.weight (expected [4, 3], found [3, 4])"));
    }

    @Test
    void missingParameterIsNamed() {
        WeightLoadingPlan plan = WeightLoadingPlan.create(FILE, List.of(t("proj.weight", 4, 3)), params(), KeyMapping.identity());
        assertEquals(List.of("proj.bias"), plan.missingParameters());
        assertTrue(failure(plan).contains("1 missing parameter(s) proj.bias"));
    }

    @Test
    void unusedKeyIsNamed() {
        WeightLoadingPlan plan = WeightLoadingPlan.create(FILE,
                List.of(t("proj.weight", 4, 3), t("proj.bias", 4), t("extra.weight", 2)), params(), KeyMapping.identity());
        assertEquals(List.of("extra.weight"), plan.unusedKeys());
        assertTrue(failure(plan).contains("1 unexpected key(s) extra.weight"));
    }

    @Test
    void ignoredKeyIsAcceptedAndListed() {
        KeyMapping mapping = KeyMapping.identity().withIgnored(k -> k.endsWith("position_ids"));
        WeightLoadingPlan plan = WeightLoadingPlan.create(FILE,
                List.of(t("proj.weight", 4, 3), t("proj.bias", 4), t("embeddings.position_ids", 1, 77)), params(), mapping);
        assertTrue(plan.isComplete());
        assertEquals(List.of("embeddings.position_ids"), plan.ignoredKeys());
    }

    @Test
    void twoKeysForOneParameterAreNamed() {
        KeyMapping mapping = KeyMapping.identity().withSegmentRenames(Map.of("old_proj", "proj"));
        WeightLoadingPlan plan = WeightLoadingPlan.create(FILE,
                List.of(t("proj.weight", 4, 3), t("old_proj.weight", 4, 3), t("proj.bias", 4)), params(), mapping);
        assertEquals(List.of("proj.weight and old_proj.weight both map to proj.weight"), plan.collisions());
        assertTrue(failure(plan).contains("duplicate keys: proj.weight and old_proj.weight both map to proj.weight"));
    }

    @Test
    void prefixSelectsASubTree() {
        KeyMapping mapping = KeyMapping.identity().withPrefix("vision_model.");
        WeightLoadingPlan plan = WeightLoadingPlan.create(FILE,
                List.of(t("vision_model.proj.weight", 4, 3), t("vision_model.proj.bias", 4), t("text_model.x", 1)), params(), mapping);
        assertEquals(List.of("text_model.x"), plan.unusedKeys());
        assertEquals("vision_model.proj.bias", plan.parameterToKey().get("proj.bias"));
    }

    @Test
    void longListsAreShortenedWithACount() {
        Map<String, long[]> many = new LinkedHashMap<>();
        for (int i = 0; i < 8; i++) {
            many.put("p" + i, new long[] {1});
        }
        WeightLoadingPlan plan = WeightLoadingPlan.create(FILE, List.of(), many, KeyMapping.identity());
        assertTrue(failure(plan).contains("8 missing parameter(s) p0, p1, p2, p3, p4, … (3 more)"));
    }
}
