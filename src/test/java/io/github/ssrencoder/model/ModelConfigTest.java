package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigTest {

    @TempDir
    Path tmp;

    private static JsonObject tinyUNet() {
        return Golden.json(Golden.tinyA().resolve("sd/unet/config.json")).getAsJsonObject();
    }

    private static JsonObject tinyVae() {
        return Golden.json(Golden.tinyA().resolve("sd/vae/config.json")).getAsJsonObject();
    }

    private Path write(JsonObject o) throws IOException {
        Path f = tmp.resolve("config.json");
        Files.writeString(f, o.toString());
        return f;
    }

    private void assertUNetRejected(String key, JsonElement value) throws IOException {
        JsonObject o = tinyUNet();
        o.add(key, value);
        Path f = write(o);
        WeightFileException e = assertThrows(WeightFileException.class, () -> UNetConfig.read(f), key);
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("'" + key + "'"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void sd15StyleConfigTakesDiffusersDefaults() {
        UNetConfig c = UNetConfig.read(Golden.tinyA().resolve("sd/unet/config.json"));
        assertEquals(List.of(4, 4, 4, 4), c.headsPerBlock());
        assertEquals(List.of(1, 1, 1, 1), c.transformerLayersPerBlock());
        assertEquals(List.of(false, false, false, false), c.onlyCrossAttention());
        assertFalse(c.useLinearProjection());
        assertFalse(c.upcastAttention());
        assertEquals("UNetMidBlock2DCrossAttn", c.midBlockType());
        assertEquals("default", c.resnetTimeScaleShift());
        assertEquals("positional", c.timeEmbeddingType());
        assertEquals(3, c.convInKernel());
        assertEquals(3, c.convOutKernel());
        assertEquals(8, c.sampleSize());
        assertTrue(c.flipSinToCos());
        assertEquals(0f, c.freqShift());
        assertEquals(1e-5f, c.normEps());
    }

    @Test
    void numAttentionHeadsOverridesAttentionHeadDim() throws IOException {
        JsonObject o = tinyUNet();
        o.add("num_attention_heads", JsonParser.parseString("[2, 4, 8, 8]"));
        assertEquals(List.of(2, 4, 8, 8), UNetConfig.read(write(o)).headsPerBlock());
    }

    @Test
    void sd2StyleConfigWithLinearProjectionAndHeadListIsAccepted() throws IOException {
        JsonObject o = tinyUNet();
        o.add("attention_head_dim", JsonParser.parseString("[2, 4, 8, 8]"));
        o.addProperty("use_linear_projection", true);
        o.addProperty("upcast_attention", true);
        UNetConfig c = UNetConfig.read(write(o));
        assertTrue(c.useLinearProjection());
        UNet2DCondition unet = new UNet2DCondition(c);
        assertTrue(unet.namedParameters().containsKey("down_blocks.0.attentions.0.proj_in.weight"));
        assertEquals(2, unet.namedParameters().get("down_blocks.0.attentions.0.proj_in.weight").shape().length);
    }

    @Test
    void sdxlAndOtherArchitecturesAreRejectedNamingTheKey() throws IOException {
        assertUNetRejected("addition_embed_type", JsonParser.parseString("\"text_time\""));
        assertUNetRejected("class_embed_type", JsonParser.parseString("\"timestep\""));
        assertUNetRejected("num_class_embeds", JsonParser.parseString("10"));
        assertUNetRejected("encoder_hid_dim_type", JsonParser.parseString("\"text_proj\""));
        assertUNetRejected("time_cond_proj_dim", JsonParser.parseString("256"));
        assertUNetRejected("time_embedding_type", JsonParser.parseString("\"fourier\""));
        assertUNetRejected("resnet_time_scale_shift", JsonParser.parseString("\"scale_shift\""));
        assertUNetRejected("mid_block_type", JsonParser.parseString("\"UNetMidBlock2DSimpleCrossAttn\""));
        assertUNetRejected("dual_cross_attention", JsonParser.parseString("true"));
        assertUNetRejected("act_fn", JsonParser.parseString("\"gelu\""));
        assertUNetRejected("cross_attention_dim", JsonParser.parseString("[32, 32, 32, 32]"));
        assertUNetRejected("resnet_out_scale_factor", JsonParser.parseString("2.0"));
        JsonArray down = tinyUNet().getAsJsonArray("down_block_types").deepCopy();
        down.set(0, JsonParser.parseString("\"SimpleCrossAttnDownBlock2D\""));
        assertUNetRejected("down_block_types", down);
        assertUNetRejected("_class_name", JsonParser.parseString("\"UNet2DModel\""));
    }

    @Test
    void sdxlTransformerDepthListsAreRunnableButAddedEmbeddingsAreNot() throws IOException {
        JsonObject o = tinyUNet();
        o.add("transformer_layers_per_block", JsonParser.parseString("[1, 2, 2, 2]"));
        UNetConfig c = UNetConfig.read(write(o));
        assertEquals(List.of(1, 2, 2, 2), c.transformerLayersPerBlock());
        assertTrue(new UNet2DCondition(c).namedParameters().containsKey("down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight"));
        assertUNetRejected("addition_time_embed_dim", JsonParser.parseString("256"));
    }

    @Test
    void inconsistentBlockListsAreRejected() throws IOException {
        JsonObject o = tinyUNet();
        o.add("block_out_channels", JsonParser.parseString("[32, 48, 48]"));
        Path f = write(o);
        WeightFileException e = assertThrows(WeightFileException.class, () -> UNetConfig.read(f));
        assertTrue(e.getMessage().contains("down_block_types"), e.getMessage());
        JsonObject g = tinyUNet();
        g.addProperty("norm_num_groups", 5);
        Path f2 = write(g);
        assertTrue(assertThrows(WeightFileException.class, () -> UNetConfig.read(f2)).getMessage().contains("norm_num_groups"));
    }

    @Test
    void vaeConfigTakesDefaultsAndRejectsOtherLayouts() throws IOException {
        VaeConfig c = VaeConfig.read(Golden.tinyA().resolve("sd/vae/config.json"));
        assertEquals(0.18215f, c.scalingFactor());
        assertTrue(c.forceUpcast());
        assertEquals(List.of(16, 32, 32, 32), c.blockOutChannels());
        JsonObject o = tinyVae();
        o.addProperty("scaling_factor", 0.13025);
        assertEquals(0.13025f, VaeConfig.read(write(o)).scalingFactor());
        for (String[] bad : new String[][] {{"shift_factor", "0.1159"}, {"use_quant_conv", "false"}, {"act_fn", "\"relu\""},
                {"_class_name", "\"AutoencoderTiny\""}}) {
            JsonObject v = tinyVae();
            v.add(bad[0], JsonParser.parseString(bad[1]));
            Path f = write(v);
            WeightFileException e = assertThrows(WeightFileException.class, () -> VaeConfig.read(f), bad[0]);
            assertTrue(e.getMessage().contains("'" + bad[0] + "'") && e.getMessage().contains(f.toString()), e.getMessage());
        }
        JsonObject v = tinyVae();
        v.add("up_block_types", JsonParser.parseString("[\"UpDecoderBlock2D\"]"));
        Path f = write(v);
        assertTrue(assertThrows(WeightFileException.class, () -> VaeConfig.read(f)).getMessage().contains("up_block_types"));
    }

    @Test
    void missingConfigFileIsAClearError() {
        Path f = tmp.resolve("nothing/config.json");
        WeightFileException e = assertThrows(WeightFileException.class, () -> UNetConfig.read(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
    }
}
