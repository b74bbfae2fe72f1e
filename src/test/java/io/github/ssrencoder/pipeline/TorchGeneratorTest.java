package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TorchGeneratorTest {

    private static Path randnFolder() {
        return Golden.root().resolve("torch-randn");
    }

    @Test
    void everySeededDrawMatchesTorchBitForBit() {
        Map<Long, TorchGenerator> generators = new HashMap<>();
        Map<Long, Integer> drawsSoFar = new HashMap<>();
        List<String> failures = new ArrayList<>();
        int checked = 0;
        var cases = Golden.json(randnFolder().resolve("cases.json")).getAsJsonArray();
        try (SafetensorsFile file = SafetensorsFile.open(randnFolder().resolve("randn.safetensors"));
             NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu())) {
            for (JsonElement el : cases) {
                JsonObject c = el.getAsJsonObject();
                String name = c.get("tensor").getAsString();
                long seed = c.get("seed").getAsLong();
                int call = c.get("calls").getAsInt();
                long[] shape = new long[c.getAsJsonArray("shape").size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = c.getAsJsonArray("shape").get(i).getAsLong();
                }
                if (call == 1) {
                    generators.put(seed, new TorchGenerator(seed));
                    drawsSoFar.put(seed, 0);
                }
                assertEquals(call - 1, drawsSoFar.get(seed), name + ": the cases must list earlier draws first");
                float[] actual = generators.get(seed).randn(shape);
                drawsSoFar.merge(seed, 1, Integer::sum);
                float[] expected;
                try (NDArray e = file.load(name, m)) {
                    assertArrayEquals(shape, e.getShape().getShape(), name + ": shape");
                    expected = e.toFloatArray();
                }
                int differing = 0;
                for (int i = 0; i < expected.length; i++) {
                    if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                        differing++;
                    }
                }
                if (differing > 0) {
                    failures.add(String.format("%s: %d of %d values differ (max |diff| %.3g)", name, differing,
                            expected.length, Golden.maxAbsDiff(expected, actual)));
                }
                checked++;
            }
        }
        if (!failures.isEmpty()) {
            fail(String.join("\n", failures));
        }
        assertEquals(cases.size(), checked);
    }

    @Test
    void arrayDrawHasTheRequestedShapeAndContinuesTheStream() {
        try (NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu())) {
            TorchGenerator a = new TorchGenerator(42);
            TorchGenerator b = new TorchGenerator(42);
            NDArray first = a.randn(new Shape(1, 4, 8, 8), m);
            assertArrayEquals(new long[] {1, 4, 8, 8}, first.getShape().getShape());
            assertArrayEquals(b.randn(1, 4, 8, 8), first.toFloatArray());
            assertArrayEquals(b.randn(3), a.randn(new Shape(3), m).toFloatArray());
        }
    }

    @Test
    void seedsDifferingAbove32BitsDrawTheSameValues() {
        assertArrayEquals(new TorchGenerator(5).randn(20), new TorchGenerator((1L << 32) + 5).randn(20));
    }

    @Test
    void emptyShapeDrawsNothingAndNegativeDimensionIsRejected() {
        assertEquals(0, new TorchGenerator(1).randn(0, 4).length);
        assertThrows(IllegalArgumentException.class, () -> new TorchGenerator(1).randn(2, -1));
    }
}
