package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Feature caching in the UNet: a reusing step recomputes the shallow branch on exactly the kept deep features. */
class DeepFeatureCacheTest {

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

    @Test
    void aReusingStepOnTheSameInputGivesTheFullStepsOutputBitForBit() {
        try (NDManager m = weights.newSubManager(); DeepFeatureCache cache = new DeepFeatureCache(2, m)) {
            NDArray sample = golden.load("sample", m);
            NDArray context = golden.load("encoder_hidden_states", m);
            float[] uncached = unet.forward(sample, 601f, context).toFloatArray();

            assertFalse(cache.startStep(0), "the first step runs the whole UNet");
            float[] full = unet.forward(sample, 601f, context, null, cache, null).toFloatArray();
            assertArrayEquals(uncached, full, "a full step that fills the cache computes what an uncached one does");

            assertTrue(cache.startStep(1), "step 1 of interval 2 reuses the cache");
            List<String> ran = new ArrayList<>();
            float[] reused = unet.forward(sample, 601f, context, null, cache, (name, value) -> ran.add(name)).toFloatArray();
            assertArrayEquals(full, reused);
            assertFalse(ran.contains("mid_block"), "a reusing step skips the deep blocks: " + ran);

            assertFalse(cache.startStep(2), "step 2 of interval 2 is a full one again");
            assertTrue(unet.forward(sample, 420f, context, null, cache, null).sub(m.create(full).reshape(sample.getShape()))
                    .abs().max().getFloat() > 0, "another timestep gives another output");
        }
    }

    @Test
    void controlNetResidualsOfTheFullStepAreReusedOnTheShallowSkips() {
        try (NDManager m = weights.newSubManager(); DeepFeatureCache cache = new DeepFeatureCache(3, m)) {
            NDArray sample = golden.load("sample", m);
            NDArray context = golden.load("encoder_hidden_states", m);
            // residual shapes from the skip connections (arrays made in the probe would be freed with the pass)
            List<ai.djl.ndarray.types.Shape> shapes = new ArrayList<>();
            unet.forward(sample, 601f, context, (name, value) -> {
                if (name.equals("conv_in") || name.contains(".res_samples.") || name.equals("mid_block")) {
                    shapes.add(value.getShape());
                }
            });
            List<NDArray> residualArrays = shapes.stream().map(s -> m.randomNormal(s).mul(0.1f)).toList();
            ControlResiduals residuals = new ControlResiduals(residualArrays.subList(0, shapes.size() - 1),
                    residualArrays.get(shapes.size() - 1));
            cache.startStep(0);
            float[] full = unet.forward(sample, 601f, context, residuals, cache, null).toFloatArray();
            assertFalse(java.util.Arrays.equals(full, unet.forward(sample, 601f, context).toFloatArray()),
                    "the residuals change the output");
            assertTrue(cache.startStep(1));
            assertArrayEquals(full, unet.forward(sample, 601f, context, null, cache, null).toFloatArray());
        }
    }

    @Test
    void intervalBelowOneIsRefused() {
        try (NDManager m = weights.newSubManager()) {
            assertThrows(IllegalArgumentException.class, () -> new DeepFeatureCache(0, m));
        }
    }
}
