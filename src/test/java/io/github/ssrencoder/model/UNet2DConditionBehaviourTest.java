package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.TorchCheckpoint;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.Parameter;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.NDArraySafetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UNet2DConditionBehaviourTest {

    private static NDManager weights;
    private static UNet2DCondition unet;
    private static SafetensorsFile golden;

    @TempDir
    Path tmp;

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
    void slicedAttentionGivesTheSameOutputAndReportsEveryRow() {
        try (NDManager m = weights.newSubManager()) {
            Map<String, Set<Integer>> rowsSeen = new LinkedHashMap<>();
            Map<String, Set<Integer>> queriesSeen = new LinkedHashMap<>();
            List<String> problems = new ArrayList<>();
            long budget = 256;
            unet.setMaxAttentionScoreElements(budget);
            unet.setAttentionListener((name, part, firstRow, firstQuery, probs) -> {
                rowsSeen.computeIfAbsent(name, k -> new TreeSet<>()).add(firstRow);
                queriesSeen.computeIfAbsent(name, k -> new TreeSet<>()).add(firstQuery);
                long[] shape = probs.getShape().getShape();
                if (shape[0] * shape[1] * shape[2] > budget && shape[1] > 1) {
                    problems.add(name + " piece " + java.util.Arrays.toString(shape) + " exceeds the budget");
                }
                float[] sums = probs.sum(new int[] {2}).toFloatArray();
                for (float s : sums) {
                    if (Math.abs(s - 1) > 1e-5) {
                        problems.add(name + " row sum " + s);
                    }
                }
            });
            NDArray out;
            try {
                out = unet.forward(golden.load("sample", m), 601f, golden.load("encoder_hidden_states", m));
            } finally {
                unet.setAttentionListener(null);
                unet.setMaxAttentionScoreElements(io.github.ssrencoder.nn.Attention.DEFAULT_MAX_SCORE_ELEMENTS);
            }
            Golden.assertClose("out_plain (attention in small pieces)", golden.load("out_plain", m), out, 2e-5);
            assertTrue(problems.isEmpty(), problems.toString());
            assertEquals(unet.attentionModules().keySet(), rowsSeen.keySet());
            int rows = (int) (2 * unet.config().headsPerBlock().get(0));
            Set<Integer> all = new TreeSet<>();
            for (int i = 0; i < rows; i++) {
                all.add(i);
            }
            assertEquals(all, rowsSeen.get("down_blocks.0.attentions.0.transformer_blocks.0.attn2"));
            long tokens = golden.info("sample").shape()[2] * golden.info("sample").shape()[3];
            long perPiece = Math.max(1, budget / tokens);
            Set<Integer> starts = new TreeSet<>();
            for (long q = 0; q < tokens; q += perPiece) {
                starts.add((int) q);
            }
            assertEquals(starts, queriesSeen.get("down_blocks.0.attentions.0.transformer_blocks.0.attn1"));
        }
    }

    @Test
    void ssrCrossAttentionReportsTextAndSubjectProbabilities() {
        try (NDManager m = weights.newSubManager()) {
            SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, m);
            Map<String, long[]> shapes = new LinkedHashMap<>();
            unet.setSsr(layers, 0.5f, 77);
            unet.setAttentionListener((name, part, firstRow, firstQuery, probs) -> {
                if (name.equals("mid_block.attentions.0.transformer_blocks.0.attn2")) {
                    shapes.put(part, probs.getShape().getShape());
                }
            });
            try {
                unet.forward(golden.load("sample", m), 601f, golden.load("encoder_hidden_states_ssr", m)).close();
            } finally {
                unet.setAttentionListener(null);
                unet.clearSsr();
            }
            long subject = golden.info("encoder_hidden_states_ssr").shape()[1] - 77;
            assertEquals(77, shapes.get("text")[2]);
            assertEquals(subject, shapes.get("subject")[2]);
        }
    }

    @Test
    void ssrRequiresSubjectTokensAfterTheText() {
        try (NDManager m = weights.newSubManager()) {
            SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, m);
            unet.setSsr(layers, 0.5f, 77);
            try {
                NDArray sample = golden.load("sample", m);
                NDArray text = golden.load("encoder_hidden_states", m);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> unet.forward(sample, 601f, text));
                assertTrue(e.getMessage().contains("77"), e.getMessage());
            } finally {
                unet.clearSsr();
            }
        }
    }

    @Test
    void latentSizesNotDivisibleByEightUseSkipSizedUpsampling() {
        try (NDManager m = weights.newSubManager()) {
            NDArray context = golden.load("encoder_hidden_states", m);
            for (long[] hw : new long[][] {{9, 13}, {5, 6}, {16, 8}}) {
                NDArray sample = m.randomNormal(new Shape(2, unet.config().inChannels(), hw[0], hw[1]));
                List<String> upShapes = new ArrayList<>();
                NDArray out = unet.forward(sample, 500f, context, (name, v) -> {
                    if (name.startsWith("up_blocks.")) {
                        upShapes.add(v.getShape().toString());
                    }
                });
                assertArrayEquals(new long[] {2, unet.config().outChannels(), hw[0], hw[1]}, out.getShape().getShape());
                assertTrue(Float.isFinite(out.abs().max().getFloat()));
                assertEquals(unet.config().numBlocks(), upShapes.size());
            }
        }
    }

    @Test
    void badArgumentsAreRejected() {
        try (NDManager m = weights.newSubManager()) {
            NDArray context = golden.load("encoder_hidden_states", m);
            assertThrows(IllegalArgumentException.class, () -> unet.forward(m.zeros(new Shape(2, 3, 8, 8)), 1f, context));
            assertThrows(IllegalArgumentException.class, () -> unet.forward(m.zeros(new Shape(1, 4, 8, 8)), 1f, context));
        }
    }

    private Path ssrVariant(String name, Consumer<Map<String, NDArray>> edit, NDManager m) throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"))) {
            for (String key : ckpt.keys()) {
                tensors.put(key, ckpt.load(key, m));
            }
        }
        edit.accept(tensors);
        Path file = Files.createDirectories(tmp).resolve(name + ".safetensors");
        NDArraySafetensors.write(file, tensors);
        return file;
    }

    private void assertSsrRejected(Path file, String key, NDManager m) {
        WeightFileException e = assertThrows(WeightFileException.class, () -> SsrLayers.load(file, unet, m));
        assertTrue(e.getMessage().startsWith(file.toString()) && e.getMessage().contains(key), e.getMessage());
    }

    @Test
    void ssrWeightFilesWithMissingExtraOrMisshapenKeysAreRejected() throws IOException {
        try (NDManager m = weights.newSubManager()) {
            assertSsrRejected(ssrVariant("missing", t -> t.remove("31.to_v_SSR.weight"), m), "31.to_v_SSR.weight", m);
            assertSsrRejected(ssrVariant("extra", t -> t.put("0.to_k_SSR.weight", t.get("1.to_k_SSR.weight")), m), "0.to_k_SSR.weight", m);
            assertSsrRejected(ssrVariant("shape", t -> t.put("13.to_k_SSR.weight", t.get("13.to_k_SSR.weight").transpose()), m),
                    "13.to_k_SSR.weight", m);
        }
    }

    @Test
    void linearProjectionVariantComputesTheSameAsConvolutionProjection() {
        UNetConfig c = unet.config();
        UNetConfig linear = new UNetConfig(c.sampleSize(), c.inChannels(), c.outChannels(), c.centerInputSample(), c.flipSinToCos(),
                c.freqShift(), c.downBlockTypes(), c.midBlockType(), c.upBlockTypes(), c.onlyCrossAttention(), c.blockOutChannels(),
                c.layersPerBlock(), c.downsamplePadding(), c.midBlockScaleFactor(), c.actFn(), c.normNumGroups(), c.normEps(),
                c.crossAttentionDim(), c.transformerLayersPerBlock(), c.headsPerBlock(), true, c.upcastAttention(),
                c.resnetTimeScaleShift(), c.timeEmbeddingType(), c.convInKernel(), c.convOutKernel());
        UNet2DCondition other = new UNet2DCondition(linear);
        Map<String, Parameter> source = unet.namedParameters();
        try (NDManager m = weights.newSubManager()) {
            for (Map.Entry<String, Parameter> e : other.namedParameters().entrySet()) {
                e.getValue().set(source.get(e.getKey()).get().reshape(e.getValue().shape()));
            }
            NDArray out = other.forward(golden.load("sample", m), 601f, golden.load("encoder_hidden_states", m));
            Golden.assertClose("out_plain (linear proj_in/proj_out)", golden.load("out_plain", m), out, 2e-5);
        }
    }

    /** VmRSS of this process in bytes (Linux), or -1 where unavailable. */
    private static long residentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    @Test
    void repeatedPassesKeepNativeMemoryFlat() {
        try (NDManager m = weights.newSubManager()) {
            SsrLayers layers = SsrLayers.load(Golden.tinyA().resolve("ssr/pytorch_model_1.bin"), unet, m);
            NDArray sample = golden.load("sample", m);
            NDArray context = golden.load("encoder_hidden_states_ssr", m);
            int weightArrays = weights.getManagedArrays().size();
            int runArrays = m.getManagedArrays().size();
            NDArray leaked = m.zeros(new Shape(1));
            assertEquals(runArrays + 1, m.getManagedArrays().size(), "the array count must see a leaked array");
            leaked.close();
            long rssAfterWarmUp = 0;
            unet.setSsr(layers, 0.5f, 77);
            try {
                for (int pass = 0; pass < 15; pass++) {
                    NDArray out = unet.forward(sample, 900f - 50 * pass, context);
                    out.close();
                    assertEquals(runArrays, m.getManagedArrays().size(), "arrays left in the run manager after pass " + pass);
                    assertEquals(weightArrays, weights.getManagedArrays().size(), "arrays left in the weights manager after pass " + pass);
                    if (pass == 2) {
                        System.gc();
                        rssAfterWarmUp = residentBytes();
                    }
                }
            } finally {
                unet.clearSsr();
            }
            System.gc();
            long growth = residentBytes() - rssAfterWarmUp;
            System.out.printf("unet: resident memory change over 12 passes %.1f MiB%n", growth / 1048576.0);
            assertTrue(growth < 64L << 20, "resident memory grew by " + growth + " bytes over 12 UNet passes");
        }
    }
}
