package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonElement;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.KeyValueCache;
import io.github.ssrencoder.testing.Golden;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class UNet2DConditionGoldenTest {

    private static final double ATOL = 2e-5;

    private static NDManager weights;
    private static UNet2DCondition unet;
    private static SafetensorsFile golden;

    @BeforeAll
    static void load() {
        weights = EngineRuntime.newManager(Device.cpu());
        unet = UNet2DCondition.load(Golden.tinyA().resolve("sd/unet"), weights);
        golden = Golden.caseTensors("unet");
    }

    @AfterAll
    static void close() {
        golden.close();
        weights.close();
    }

    /** Runs the UNet, comparing every intermediate the case stores under {@code prefix}. */
    private static void runCase(String prefix, String output, float timestep, String context) {
        try (NDManager m = weights.newSubManager()) {
            Map<String, Double> errors = new LinkedHashMap<>();
            NDArray out = unet.forward(golden.load("sample", m), timestep, golden.load(context, m), (name, value) -> {
                String key = prefix + name;
                if (prefix.isEmpty() || !golden.contains(key)) {
                    return;
                }
                NDArray expected = golden.load(key, m);
                Golden.assertClose(key, expected, value, ATOL);
                errors.put(key, Golden.maxAbsDiff(expected.toFloatArray(), value.toFloatArray()));
            });
            NDArray expected = golden.load(output, m);
            Golden.assertClose(output, expected, out, ATOL);
            System.out.printf("unet %s max abs error %.3g%n", output, Golden.maxAbsDiff(expected.toFloatArray(), out.toFloatArray()));
        }
    }

    @Test
    void plainUNetMatchesDiffusersWithEveryIntermediate() {
        float t;
        try (NDManager m = weights.newSubManager()) {
            t = golden.load("timestep", m).toLongArray()[0];
        }
        assertEquals(601f, t);
        runCase("plain.", "out_plain", t, "encoder_hidden_states");
    }

    @Test
    void fractionalTimestepMatchesDiffusers() {
        float t;
        try (NDManager m = weights.newSubManager()) {
            t = golden.load("timestep_float", m).toFloatArray()[0];
        }
        runCase("", "out_plain_float_timestep", t, "encoder_hidden_states");
    }

    @Test
    void ssrConditionedUNetMatchesOfficialProcessor() {
        JsonElement json = Golden.caseJson("unet");
        float scale = json.getAsJsonObject().get("ssr_scale").getAsFloat();
        try (NDManager m = weights.newSubManager()) {
            SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, m);
            unet.setSsr(layers, scale, 77);
            try {
                runCase("ssr.", "out_ssr", 601f, "encoder_hidden_states_ssr");
            } finally {
                unet.clearSsr();
            }
        }
        assertTrue(unet.attentionModules().values().stream().noneMatch(a -> a.hasExtraKeyValue()));
    }

    @Test
    void keyValueCacheGivesTheSameNoiseAtEveryStepAndFollowsNewEncoderStates() {
        JsonElement json = Golden.caseJson("unet");
        float scale = json.getAsJsonObject().get("ssr_scale").getAsFloat();
        try (NDManager m = weights.newSubManager(); KeyValueCache cache = new KeyValueCache()) {
            SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, m);
            unet.setSsr(layers, scale, 77);
            NDArray sample = golden.load("sample", m);
            NDArray states = golden.load("encoder_hidden_states_ssr", m);
            NDArray expected = golden.load("out_ssr", m);
            try {
                NDArray otherStates = states.mul(0.5f);
                NDArray uncachedOther = unet.forward(sample, 301f, otherStates);
                unet.setKeyValueCache(cache);
                for (int step = 0; step < 3; step++) {
                    Golden.assertClose("out_ssr, cached step " + step, expected, unet.forward(sample, 601f, states), ATOL);
                }
                long crossAttentions = unet.attentionModules().keySet().stream().filter(k -> k.endsWith("attn2")).count();
                assertEquals(crossAttentions, cache.size());
                NDArray cachedOther = unet.forward(sample, 301f, otherStates);
                assertTrue(Golden.maxAbsDiff(uncachedOther.toFloatArray(), cachedOther.toFloatArray()) < 1e-6,
                        "other encoder states are projected afresh");
            } finally {
                unet.setKeyValueCache(null);
                unet.clearSsr();
            }
        }
    }
}
