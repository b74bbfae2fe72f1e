package io.github.ssrencoder.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.FileErrors;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading single-file checkpoints: the documented key table, EMA keys, damaged and foreign files. */
class SingleFileCheckpointTest {

    @TempDir
    Path dir;

    private static final JsonObject KEYS = Golden.json(Golden.tinyA().resolve("cases/single_file_keys.json")).getAsJsonObject();

    private static Path file(String name) {
        return Golden.tinyA().resolve("single-file").resolve(name);
    }

    private static long[] longs(JsonElement shape) {
        long[] out = new long[shape.getAsJsonArray().size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = shape.getAsJsonArray().get(i).getAsLong();
        }
        return out;
    }

    @Test
    void everyDocumentedKeyReachesItsModuleKeyWithItsShape() {
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file("model.fp16.safetensors"))) {
            Map<String, SingleFileCheckpoint.Component> parts = Map.of(
                    "unet", ckpt.unet(false), "vae", ckpt.vae(), "text_encoder", ckpt.textEncoder());
            Map<String, Integer> counts = new HashMap<>();
            for (Map.Entry<String, JsonElement> e : KEYS.getAsJsonObject("keys").entrySet()) {
                String key = e.getKey();
                JsonObject doc = e.getValue().getAsJsonObject();
                String component = doc.get("component").getAsString();
                counts.merge(component, 1, Integer::sum);
                if (component.equals("ignored")) {
                    assertTrue(ckpt.otherKeys().contains(key), key);
                    continue;
                }
                SingleFileCheckpoint.Component part = parts.get(component);
                assertNotNull(part, component);
                assertTrue(part.tensors().contains(key), key + " in the " + component);
                assertEquals(doc.get("key").getAsString(), part.mapping().toParameter(key), key);
                long[] shape = longs(doc.get("shape"));
                if (doc.get("transform").getAsString().startsWith("squeeze")) {
                    shape = new long[] {shape[0], shape[1]};
                }
                assertArrayEquals(shape, part.tensors().info(key).shape(), key);
            }
            assertEquals(KEYS.getAsJsonObject("counts").get("unet").getAsInt(), ckpt.unet(false).tensors().keys().size());
            assertEquals(KEYS.getAsJsonObject("counts").get("vae").getAsInt(), ckpt.vae().tensors().keys().size());
            assertEquals(KEYS.getAsJsonObject("counts").get("text_encoder").getAsInt(), ckpt.textEncoder().tensors().keys().size());
            assertEquals(1, ckpt.otherKeys().size(), ckpt.otherKeys().toString());
        }
    }

    @Test
    void vaeAttentionConvolutionsLoadAsMatrices() {
        String key = "first_stage_model.decoder.mid.attn_1.proj_out.weight";
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file("model.fp16.safetensors"));
             SafetensorsFile raw = SafetensorsFile.open(file("model.fp16.safetensors"));
             NDManager m = EngineRuntime.newManager(Device.cpu())) {
            NDArray matrix = ckpt.vae().tensors().load(key, m);
            NDArray conv = raw.load(key, m);
            assertEquals(2, matrix.getShape().dimension());
            assertArrayEquals(conv.toFloatArray(), matrix.toFloatArray());
        }
    }

    @Test
    void emaKeysFollowTheDocumentedRule() {
        JsonObject ema = KEYS.getAsJsonObject("ema_keys").getAsJsonObject("keys");
        Map<String, String> byTarget = new HashMap<>();
        for (Map.Entry<String, JsonElement> e : KEYS.getAsJsonObject("keys").entrySet()) {
            if (e.getValue().getAsJsonObject().get("component").getAsString().equals("unet")) {
                byTarget.put(e.getValue().getAsJsonObject().get("key").getAsString(), e.getKey());
            }
        }
        assertEquals(byTarget.size(), ema.size());
        for (Map.Entry<String, JsonElement> e : ema.entrySet()) {
            String original = byTarget.get(e.getValue().getAsJsonObject().get("key").getAsString());
            assertEquals(e.getKey(), SingleFileCheckpoint.emaKey(original), original);
        }
        try (SingleFileCheckpoint withEma = SingleFileCheckpoint.open(file("model-ema.ckpt"));
             SingleFileCheckpoint without = SingleFileCheckpoint.open(file("model.fp16.safetensors"))) {
            assertTrue(withEma.hasEma());
            assertFalse(without.hasEma());
            SingleFileCheckpoint.Component unet = withEma.unet(true);
            assertEquals(ema.keySet(), unet.tensors().keys());
            String first = ema.keySet().iterator().next();
            assertEquals(ema.getAsJsonObject(first).get("key").getAsString(), unet.mapping().toParameter(first));
            // the regular UNet ignores the EMA copy and LitEma's decay / num_updates
            assertTrue(withEma.otherKeys().containsAll(ema.keySet()));
            assertTrue(withEma.otherKeys().contains("model_ema.decay") && withEma.otherKeys().contains("model_ema.num_updates"));
        }
    }

    @Test
    void emaRequestedFromAFileWithoutEmaIsRefused() {
        Path f = file("model.fp16.safetensors");
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(f)) {
            FileErrors.assertMentions(FileErrors.assertFileError(f, () -> ckpt.unet(true)), "has no EMA copy of the UNet",
                    "model_ema.diffusion_model");
        }
    }

    @Test
    void diffusersComponentFileIsRefused() {
        Path f = Golden.tinyA().resolve("sd/unet/diffusion_pytorch_model.safetensors");
        FileErrors.assertMentions(FileErrors.assertFileError(f, () -> SingleFileCheckpoint.open(f).close()),
                "not a Stable Diffusion checkpoint in the original (LDM) layout", "one component of a diffusers folder");
    }

    @Test
    void truncatedFilesAreRefusedNamingTheFile() throws IOException {
        for (String name : new String[] {"model.fp16.safetensors", "model.ckpt"}) {
            byte[] all = Files.readAllBytes(file(name));
            Path cut = Files.write(dir.resolve("cut-" + name), java.util.Arrays.copyOf(all, all.length / 2));
            WeightFileException e = FileErrors.assertFileError(cut, () -> SingleFileCheckpoint.open(cut).close());
            FileErrors.assertMentions(e, "truncated");
        }
    }

    @Test
    void oldTextEncoderKeysWithoutTextModelLevelAreAccepted() {
        assertEquals("text_model.encoder.layers.0.mlp.fc1.weight",
                SingleFileCheckpoint.textEncoderKey("cond_stage_model.transformer.encoder.layers.0.mlp.fc1.weight"));
        assertEquals("text_model.final_layer_norm.bias",
                SingleFileCheckpoint.textEncoderKey("cond_stage_model.transformer.text_model.final_layer_norm.bias"));
    }

    @Test
    void keysOutsideTheNetworksAreNotMapped() {
        assertEquals(null, SingleFileCheckpoint.unetKey("model.diffusion_model.input_blocks.3.5.weight", 2));
        assertEquals(null, SingleFileCheckpoint.unetKey("model.diffusion_model.output_blocks.x.0.in_layers.0.weight", 2));
        assertEquals(null, SingleFileCheckpoint.vaeKey("first_stage_model.decoder.up.9.block.0.conv1.weight", 4));
        assertEquals(null, SingleFileCheckpoint.vaeKey("first_stage_model.loss.logvar", 4));
    }
}
