package io.github.ssrencoder.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import io.github.ssrencoder.model.ClipTextConfig;
import io.github.ssrencoder.model.ClipTextEncoder;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.model.UNetConfig;
import io.github.ssrencoder.nn.LoraFusion;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.SafetensorsWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraFileTest {

    private static Map<String, Map<String, long[]>> targets;

    @TempDir
    Path tmp;

    @BeforeAll
    static void modules() {
        Path sd = Golden.tinyA().resolve("sd");
        targets = Map.of(
                LoraFile.UNET, LoraFusion.targets(new UNet2DCondition(UNetConfig.read(sd.resolve("unet/config.json")))),
                LoraFile.TEXT_ENCODER, LoraFusion.targets(new ClipTextEncoder(ClipTextConfig.read(sd.resolve("text_encoder/config.json")))));
    }

    /** Every entry of both golden files lands on the module, rank and alpha that diffusers 0.23.1 loaded it into. */
    @Test
    void everyEntryOfBothFormatsMapsToItsModule() {
        JsonObject keys = Golden.json(Golden.tinyA().resolve("cases/lora_keys.json")).getAsJsonObject();
        for (String[] file : List.of(new String[] {"lora_a_kohya.safetensors", "lora_a_entries"},
                new String[] {"lora_b_diffusers.safetensors", "lora_b_entries"})) {
            JsonObject entries = keys.getAsJsonObject(file[1]);
            Map<String, JsonObject> expected = new HashMap<>();
            entries.entrySet().forEach(e -> expected.put(e.getValue().getAsJsonObject().get("component").getAsString() + "/"
                    + e.getValue().getAsJsonObject().get("module").getAsString(), e.getValue().getAsJsonObject()));
            try (NDManager m = NDManager.newBaseManager()) {
                List<LoraFile.Layer> layers = LoraFile.read(Golden.tinyA().resolve("lora").resolve(file[0]), targets, m);
                assertEquals(expected.size(), layers.size(), file[0]);
                for (LoraFile.Layer l : layers) {
                    JsonObject e = expected.get(l.component() + "/" + l.module());
                    assertTrue(e != null, file[0] + ": unexpected module " + l.module());
                    assertEquals(e.get("rank").getAsLong(), l.rank(), l.module());
                    if (e.get("alpha").isJsonNull()) {
                        assertNull(l.alpha(), l.module());
                    } else {
                        assertEquals(e.get("alpha").getAsFloat(), l.alpha(), l.module());
                    }
                    assertEquals(Arrays.toString(json(e, "lora_down_shape")), Arrays.toString(l.down().getShape().getShape()));
                    assertEquals(Arrays.toString(json(e, "lora_up_shape")), Arrays.toString(l.up().getShape().getShape()));
                    assertEquals(e.get("kind").getAsString(), l.down().getShape().dimension() == 4 ? "conv1x1" : "linear");
                }
            }
        }
    }

    private static long[] json(JsonObject o, String key) {
        var a = o.getAsJsonArray(key);
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsLong();
        }
        return out;
    }

    private WeightFileException refused(SafetensorsWriter w) {
        Path file = w.write(tmp.resolve("lora.safetensors"));
        try (NDManager m = NDManager.newBaseManager()) {
            WeightFileException e = assertThrows(WeightFileException.class, () -> LoraFile.read(file, targets, m));
            assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
            return e;
        }
    }

    @Test
    void sdxlKeysAreRefusedNamingThem() {
        SafetensorsWriter w = new SafetensorsWriter()
                .addF32("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight", new long[] {1, 32}, new float[32])
                .addF32("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_up.weight", new long[] {32, 1}, new float[32])
                .addF32("lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", new long[] {1, 32}, new float[32]);
        String msg = refused(w).getMessage();
        assertTrue(msg.contains("3 entries do not fit"), msg);
        assertTrue(msg.contains("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight (no such module)"), msg);
        assertTrue(msg.contains("lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight (not a kohya LoRA key"), msg);
    }

    @Test
    void wrongShapesAndMissingHalvesAreRefused() {
        String q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
        String k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k";
        SafetensorsWriter w = new SafetensorsWriter()
                .addF32(q + ".lora_down.weight", new long[] {2, 16}, new float[32])
                .addF32(q + ".lora_up.weight", new long[] {32, 2}, new float[64])
                .addF32(k + ".lora_down.weight", new long[] {2, 32}, new float[64]);
        String msg = refused(w).getMessage();
        assertTrue(msg.contains("attn1.to_q (down [2, 16] and up [32, 2] do not fit its weight [32, 32])"), msg);
        assertTrue(msg.contains("attn1.to_k (has no up matrix)"), msg);
    }

    @Test
    void unknownKeysAndEmptyFilesAreRefused() {
        assertTrue(refused(new SafetensorsWriter().addF32("unet.conv_in.weight", new long[] {1}, 0f)).getMessage()
                .contains("unet.conv_in.weight (not a known LoRA key)"));
        assertTrue(refused(new SafetensorsWriter()).getMessage().contains("holds no tensors"));
    }
}
