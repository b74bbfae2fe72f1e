package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.pipeline.AlignerAttentionMaps;
import io.github.ssrencoder.pipeline.AttentionMaps;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenToPatchAlignerTest {

    private static final double FORWARD_ATOL = 2e-5;
    private static final double PROBS_ATOL = 1e-6;

    private static NDManager weights;
    private static TokenToPatchAligner aligner;

    @BeforeAll
    static void loadAligner() {
        weights = EngineRuntime.newManager(ai.djl.Device.cpu());
        aligner = TokenToPatchAligner.load(Golden.tinyA().resolve("ssr"), weights);
    }

    @AfterAll
    static void closeWeights() {
        weights.close();
    }

    private static NDArray imageEmbeds(String key, NDManager m) {
        try (SafetensorsFile f = Golden.caseTensors("image_encoder")) {
            return f.load(key, m);
        }
    }

    @Test
    void dimensionsComeFromWeightsAndConfig() {
        assertEquals(4, aligner.heads());
        assertEquals(32, aligner.queryDim());
        assertEquals(40, aligner.imageDim());
        assertEquals(6, aligner.numScales());
    }

    @Test
    void textQueryReproducesOfficialAttentionAndSubjectTokens() {
        try (NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu()); SafetensorsFile c = Golden.caseTensors("aligner")) {
            for (String suffix : new String[] {"", "_uncond"}) {
                NDArray image = imageEmbeds(suffix.isEmpty() ? "ssr_image_embeds" : "ssr_image_embeds_uncond", m);
                NDList out = aligner.trace(c.load("text_embeds" + suffix, m), image, null);
                if (suffix.isEmpty()) {
                    Golden.assertClose("query_heads", c.load("query_heads", m), out.get(2), FORWARD_ATOL);
                    Golden.assertClose("key_heads", c.load("key_heads", m), out.get(3), FORWARD_ATOL);
                }
                Golden.assertClose("A_t2p" + suffix, c.load("A_t2p" + suffix, m), out.get(1), PROBS_ATOL);
                Golden.assertClose("aligner_attention_output" + suffix, c.load("aligner_attention_output" + suffix, m),
                        out.get(4), FORWARD_ATOL);
                Golden.assertClose("subject_embeds" + suffix, c.load("subject_embeds" + suffix, m), out.get(0), FORWARD_ATOL);
            }
        }
    }

    @Test
    void batchedConditionalAndUnconditionalRowsMatchSingleRuns() {
        try (NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu()); SafetensorsFile c = Golden.caseTensors("aligner")) {
            NDArray text = c.load("text_embeds_uncond", m).concat(c.load("text_embeds", m), 0);
            NDArray image = imageEmbeds("ssr_image_embeds_uncond", m).concat(imageEmbeds("ssr_image_embeds", m), 0);
            try (TokenToPatchAligner.AlignerOutput out = aligner.forward(text, image, null)) {
                int h = aligner.heads();
                Golden.assertClose("batched A_t2p_uncond", c.load("A_t2p_uncond", m), out.probabilities().get(new NDIndex("0:{}", h)), PROBS_ATOL);
                Golden.assertClose("batched A_t2p", c.load("A_t2p", m), out.probabilities().get(new NDIndex("{}:", h)), PROBS_ATOL);
                Golden.assertClose("batched subject_embeds", c.load("subject_embeds", m), out.subjectEmbeds().get(new NDIndex("1:2")), FORWARD_ATOL);

                AttentionMaps maps = AlignerAttentionMaps.of(out, h, 1, List.of("red", "circle"), new int[] {1, 2});
                assertEquals(16, maps.gridWidth());
                assertEquals(16, maps.gridHeight());
                float[] expected = c.load("A_t2p", m).get(new NDIndex("2, 1, 1:")).toFloatArray();
                float[] actual = maps.head(2, 1);
                assertEquals(0.0, Golden.maxAbsDiff(expected, actual), PROBS_ATOL, "attention map of head 2 at 'red'");
                assertThrows(IllegalArgumentException.class, () -> AlignerAttentionMaps.of(out, h, 2, List.of(), new int[0]));
            }
        }
    }

    @Test
    void maskQueryReproducesOfficialMaskedAttention() {
        MaskQuery.Mask mask = MaskQuery.read(Golden.tinyA().resolve("mask.png"));
        try (NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu()); SafetensorsFile c = Golden.caseTensors("aligner_mask")) {
            float[] officialBinary = c.load("mask", m).get(new NDIndex("0, 0")).toFloatArray();
            float[] binary = new float[mask.values().length];
            for (int i = 0; i < binary.length; i++) {
                binary[i] = mask.values()[i] > 0.5f ? 1f : 0f;
            }
            assertEquals(0.0, Golden.maxAbsDiff(officialBinary, binary), "binarised mask.png");

            NDArray textCond = c.load("text_embeds", m);
            NDArray textUncond = c.load("text_embeds_uncond", m);
            NDArray imageCond = imageEmbeds("ssr_image_embeds", m);
            NDArray imageUncond = imageEmbeds("ssr_image_embeds_uncond", m);
            int grid = MaskQuery.gridSide(imageCond.getShape().get(1) / aligner.numScales());
            float[] resized = MaskQuery.toPatchGrid(mask, grid);
            Golden.assertClose("mask_resized", c.load("mask_resized", m).get(new NDIndex("0, 0")).flatten(),
                    m.create(resized), 1e-6);
            for (int w : new int[] {1, 5}) {
                NDArray bias = MaskQuery.scoreBias(resized, w, m);
                try (TokenToPatchAligner.AlignerOutput cond = aligner.forward(textCond, imageCond, bias);
                     TokenToPatchAligner.AlignerOutput uncond = aligner.forward(textUncond, imageUncond, bias)) {
                    Golden.assertClose("A_t2p_w" + w, c.load("A_t2p_w" + w, m), cond.probabilities(), PROBS_ATOL);
                    Golden.assertClose("subject_embeds_w" + w, c.load("subject_embeds_w" + w, m), cond.subjectEmbeds(), FORWARD_ATOL);
                    Golden.assertClose("subject_embeds_uncond_w" + w, c.load("subject_embeds_uncond_w" + w, m),
                            uncond.subjectEmbeds(), FORWARD_ATOL);
                }
            }
        }
    }

    @Test
    void maskBiasFollowsTheOfficialFormula() {
        try (NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu())) {
            float[] bias = MaskQuery.scoreBias(new float[] {1f, 0f, 0.5f}, 5f, m).toFloatArray();
            assertEquals(1f, bias[0]);
            assertEquals(25f, bias[1]);
            assertEquals(-5f, bias[2]);
            assertEquals(5f * 0.5f * 6f - 5f, bias[3], 1e-6);
        }
    }

    @Test
    void smallMasksAreUpsampledAndEmptyMasksRejected() {
        float[] up = MaskQuery.toPatchGrid(new float[] {1f, 0f, 0f, 0f}, 2, 2, 4);
        assertEquals(16, up.length);
        assertEquals(1f, up[0]);
        assertEquals(0.75f, up[1], 1e-7);
        assertEquals(0f, up[15]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MaskQuery.toPatchGrid(new float[] {0.5f, 0.2f, 0f, 0f}, 2, 2, 16));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> MaskQuery.toPatchGrid(new float[3], 2, 2, 16));
        assertThrows(IllegalArgumentException.class, () -> MaskQuery.gridSide(258));
    }

    @Test
    void wrongInputShapesAreRejected() {
        try (NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu())) {
            NDArray text = m.zeros(new ai.djl.ndarray.types.Shape(1, 77, 32));
            assertThrows(IllegalArgumentException.class,
                    () -> aligner.forward(text, m.zeros(new ai.djl.ndarray.types.Shape(1, 6 * 257 + 1, 40)), null));
            assertThrows(IllegalArgumentException.class,
                    () -> aligner.forward(text, m.zeros(new ai.djl.ndarray.types.Shape(1, 6 * 257, 40)), m.zeros(new ai.djl.ndarray.types.Shape(1, 1, 256))));
        }
    }

    @Test
    void headSplitComesFromConfigOrIsRejectedClearly(@TempDir Path dir) throws Exception {
        Files.copy(Golden.tinyA().resolve("ssr/pytorch_model.bin"), dir.resolve("pytorch_model.bin"));
        Files.writeString(dir.resolve("config.json"), "{\"heads\": 4}");
        try (NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu())) {
            assertEquals(4, TokenToPatchAligner.load(dir, m).heads());
            Files.writeString(dir.resolve("config.json"), "{\"heads\": 5}");
            WeightFileException e = assertThrows(WeightFileException.class, () -> TokenToPatchAligner.load(dir, m));
            assertTrue(e.getMessage().contains("5 heads"), e.getMessage());
            Files.delete(dir.resolve("config.json"));
            e = assertThrows(WeightFileException.class, () -> TokenToPatchAligner.load(dir, m));
            assertTrue(e.getMessage().contains("dim_head"), e.getMessage());
        }
    }

    @Test
    void unreadableMaskFileIsReportedWithItsName(@TempDir Path dir) throws Exception {
        Path bogus = dir.resolve("mask.png");
        Files.writeString(bogus, "not an image");
        WeightFileException e = assertThrows(WeightFileException.class, () -> MaskQuery.read(bogus));
        assertTrue(e.getMessage().contains("mask.png"), e.getMessage());
        assertThrows(WeightFileException.class, () -> MaskQuery.read(dir.resolve("missing.png")));
    }
}
