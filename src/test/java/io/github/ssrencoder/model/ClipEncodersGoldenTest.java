package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ClipEncodersGoldenTest {

    private static final double ATOL = 2e-5;

    private static NDManager weights;
    private static ClipTextEncoder text;
    private static ClipVisionEncoder vision;

    @BeforeAll
    static void load() {
        weights = EngineRuntime.newManager(Device.cpu());
        text = ClipTextEncoder.load(Golden.tinyA().resolve("sd/text_encoder"), weights);
        vision = ClipVisionEncoder.load(Golden.tinyA().resolve("image_encoder"), weights);
    }

    @AfterAll
    static void close() {
        weights.close();
    }

    private static void check(String what, NDArray expected, NDArray actual) {
        double err = Golden.maxAbsDiff(expected.toFloatArray(), actual.toFloatArray());
        System.out.printf("max abs error %-32s %.3g%n", what, err);
        Golden.assertClose(what, expected, actual, ATOL);
    }

    @Test
    void textEncoderReproducesEveryHiddenStateAndThePromptEmbeddings() {
        ClipTokenizer tokenizer = ClipTokenizer.load(Golden.tinyA().resolve("sd/tokenizer"));
        try (SafetensorsFile g = Golden.caseTensors("text_encoder"); NDManager m = EngineRuntime.newManager(Device.cpu())) {
            NDArray ids = g.load("input_ids", m);
            long[] cat = tokenizer.tokenize("a photo of a cat").inputIds();
            long[] empty = tokenizer.tokenize("").inputIds();
            long[] both = new long[cat.length * 2];
            System.arraycopy(cat, 0, both, 0, cat.length);
            System.arraycopy(empty, 0, both, cat.length, empty.length);
            assertArrayEquals(ids.toLongArray(), both, "tokenizer gives the case's input ids");

            NDList all = text.forwardAll(ids);
            assertEquals(text.config().numHiddenLayers() + 2, all.size());
            for (int i = 0; i <= text.config().numHiddenLayers(); i++) {
                check("text hidden_states." + i, g.load("hidden_states." + i, m), all.get(i));
            }
            check("text last_hidden_state (forwardAll)", g.load("last_hidden_state", m), all.get(all.size() - 1));
            check("text last_hidden_state", g.load("last_hidden_state", m), text.forward(ids));

            long[] cfg = new long[both.length];
            System.arraycopy(empty, 0, cfg, 0, empty.length);
            System.arraycopy(cat, 0, cfg, empty.length, cat.length);
            check("text encode_prompt_cfg", g.load("encode_prompt_cfg", m), text.forward(m.create(cfg, new Shape(2, cat.length))));
        }
    }

    @Test
    void visionEncoderReproducesEveryHiddenStateAndTheSsrEmbeddings() {
        try (SafetensorsFile g = Golden.caseTensors("image_encoder"); NDManager m = EngineRuntime.newManager(Device.cpu())) {
            NDArray px = g.load("pixel_values", m);
            // The stored embeddings_output is the one of the case's last vision pass, the all-zero (unconditional)
            // pixels: patch embeddings have no bias, so it is exactly class/position embeddings.
            check("vision embeddings_output (zero pixels)", g.load("embeddings_output", m), vision.embeddings(px.zerosLike()));
            NDList hs = vision.forward(px);
            assertEquals(vision.numLayers() + 1, hs.size());
            for (int i = 0; i < hs.size(); i++) {
                check("vision hidden_states." + i, g.load("hidden_states." + i, m), hs.get(i));
            }
            check("vision last_hidden_state", g.load("last_hidden_state", m), hs.get(hs.size() - 1));
            check("vision ssr_image_embeds", g.load("ssr_image_embeds", m), ClipVisionEncoder.ssrImageEmbeds(hs));
            NDList uncond = vision.forward(px.zerosLike());
            check("vision ssr_image_embeds_uncond", g.load("ssr_image_embeds_uncond", m), ClipVisionEncoder.ssrImageEmbeds(uncond));
            assertEquals(257, vision.numTokens());
        }
    }

    @Test
    void ssrEmbedsTakeEveryFourthStateFromIndexFour() {
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            for (int layers : new int[] {4, 7, 8, 24, 25, 27, 28}) {
                NDList hs = new NDList();
                for (int i = 0; i <= layers; i++) {
                    hs.add(m.full(new Shape(1, 2, 3), (float) i));
                }
                float[] v = ClipVisionEncoder.ssrImageEmbeds(hs).toFloatArray();
                int expected = 0;
                for (int i = 4; i <= layers; i += 4) {
                    expected++;
                }
                assertEquals(expected * 6, v.length, "layers " + layers);
                for (int k = 0; k < expected; k++) {
                    assertEquals(4f * (k + 1), v[k * 6], "layers " + layers + ", part " + k);
                }
            }
            assertEquals(6 * 6, count(m, 24));
            assertEquals(6 * 6, count(m, 27));
        }
    }

    private static int count(NDManager m, int layers) {
        NDList hs = new NDList();
        for (int i = 0; i <= layers; i++) {
            hs.add(m.zeros(new Shape(1, 2, 3)));
        }
        return (int) ClipVisionEncoder.ssrImageEmbeds(hs).size();
    }

    @Test
    void badInputsAreRejectedWithClearMessages() {
        try (NDManager m = EngineRuntime.newManager(Device.cpu())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> vision.forward(m.zeros(new Shape(1, 3, 64, 64))));
            assertEquals("pixel values must be [batch, 3, 224, 224], got (1, 3, 64, 64)", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> text.forward(m.zeros(new Shape(1, 78), ai.djl.ndarray.types.DataType.INT64)));
            assertThrows(IllegalArgumentException.class, () -> text.forward(m.create(new long[] {49408}, new Shape(1, 1))));
        }
    }
}
