package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.NDArraySafetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The VAE loads half-precision files and the older attention key names, computing in float32. */
class VaeWeightVariantsTest {

    @TempDir
    Path tmp;

    private static String deprecatedName(String key) {
        for (Map.Entry<String, String> e : Map.of(".to_q.", ".query.", ".to_k.", ".key.", ".to_v.", ".value.", ".to_out.0.", ".proj_attn.").entrySet()) {
            if (key.contains("mid_block.attentions.") && key.contains(e.getKey())) {
                return key.replace(e.getKey(), e.getValue());
            }
        }
        return key;
    }

    /** Copies the tiny VAE folder, renaming keys and storing tensors as {@code dtype} (F32 or F16). */
    private Path copyVae(String fileName, UnaryOperator<String> rename, DataType dtype, NDManager m) throws IOException {
        Path src = Golden.tinyA().resolve("sd/vae");
        Path dst = Files.createDirectories(tmp.resolve("vae-" + dtype));
        Files.copy(src.resolve("config.json"), dst.resolve("config.json"));
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        try (SafetensorsFile in = SafetensorsFile.open(src.resolve("diffusion_pytorch_model.safetensors"))) {
            for (String key : in.keys()) {
                tensors.put(rename.apply(key), in.load(key, m).toType(dtype, false));
            }
        }
        NDArraySafetensors.write(dst.resolve(fileName), tensors);
        return dst;
    }

    @Test
    void deprecatedAttentionNamesDecodeLikeTheCurrentOnes() throws IOException {
        try (NDManager m = EngineRuntime.newManager(Device.cpu()); SafetensorsFile golden = Golden.caseTensors("vae")) {
            Path folder = copyVae("diffusion_pytorch_model.safetensors", VaeWeightVariantsTest::deprecatedName, DataType.FLOAT32, m);
            try (SafetensorsFile written = SafetensorsFile.open(folder.resolve("diffusion_pytorch_model.safetensors"))) {
                assertTrue(written.contains("decoder.mid_block.attentions.0.proj_attn.weight"));
            }
            AutoencoderKL vae = AutoencoderKL.load(folder, m);
            NDArray expected = golden.load("decoded", m);
            NDArray actual = vae.decode(golden.load("decode_input", m));
            Golden.assertClose("decoded (old attention names)", expected, actual, 2e-4);
        }
    }

    @Test
    void halfPrecisionFileLoadsAsFloat32() throws IOException {
        try (NDManager m = EngineRuntime.newManager(Device.cpu()); SafetensorsFile golden = Golden.caseTensors("vae")) {
            Path folder = copyVae("diffusion_pytorch_model.fp16.safetensors", k -> k, DataType.FLOAT16, m);
            AutoencoderKL vae = AutoencoderKL.load(folder, m);
            NDArray w = vae.namedParameters().get("decoder.conv_in.weight").get();
            assertEquals(DataType.FLOAT32, w.getDataType());
            try (SafetensorsFile original = SafetensorsFile.open(Golden.tinyA().resolve("sd/vae/diffusion_pytorch_model.safetensors"))) {
                NDArray rounded = original.load("decoder.conv_in.weight", m).toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false);
                assertArrayEquals(rounded.toFloatArray(), w.toFloatArray());
            }
            NDArray out = vae.decode(golden.load("decode_input", m));
            assertEquals(DataType.FLOAT32, out.getDataType());
            double err = Golden.maxAbsDiff(golden.load("decoded", m).toFloatArray(), out.toFloatArray());
            System.out.printf("vae decoded from F16 weights: max abs error %.3g%n", err);
            assertTrue(err < 5e-2, "F16 weights change the decoded image by " + err);
        }
    }
}
