package io.github.ssrencoder.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelsFolderTest {

    @TempDir
    Path tmp;

    Path models;

    @BeforeEach
    void copyTinyA() throws IOException {
        models = tmp.resolve("models");
        Path src = Golden.tinyA();
        try (Stream<Path> s = Files.walk(src)) {
            s.filter(p -> !src.relativize(p).startsWith("cases") && !src.relativize(p).startsWith("single-file")).forEach(p -> {
                try {
                    Path dst = models.resolve(src.relativize(p).toString());
                    if (Files.isDirectory(p)) {
                        Files.createDirectories(dst);
                    } else {
                        Files.copy(p, dst);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }

    private void delete(String rel) throws IOException {
        Path p = models.resolve(rel);
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }

    private void rename(String from, String to) throws IOException {
        Files.move(models.resolve(from), models.resolve(to));
    }

    private String failure() {
        WeightFileException e = assertThrows(WeightFileException.class, () -> ModelsFolder.open(models));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        return e.getMessage();
    }

    @Test
    void completeFolderExposesEveryComponent() {
        ModelsFolder f = ModelsFolder.open(models);
        Path root = models.toAbsolutePath().normalize();
        assertEquals(root, f.root());
        assertEquals(root.resolve("sd"), f.sd());
        assertEquals(root.resolve("sd/unet"), f.unet());
        assertEquals(root.resolve("sd/vae"), f.vae());
        assertEquals(root.resolve("sd/text_encoder"), f.textEncoder());
        assertEquals(root.resolve("sd/tokenizer"), f.tokenizer());
        assertEquals(root.resolve("sd/scheduler"), f.scheduler());
        assertEquals(root.resolve("image_encoder"), f.imageEncoder());
        assertEquals(root.resolve("ssr/pytorch_model.bin"), f.ssrAligner());
        assertEquals(root.resolve("ssr/pytorch_model_1.bin"), f.ssrLayers());
        assertEquals(root.resolve("ssr/config.json"), f.ssrConfig().orElseThrow());
        assertEquals(root.resolve("sd/unet/diffusion_pytorch_model.safetensors"), f.unetWeights());
        assertEquals(root.resolve("image_encoder/model.safetensors"), f.imageEncoderWeights());
        assertEquals("StableDiffusionPipeline", f.modelIndex().className());
        assertEquals("UNet2DConditionModel", f.modelIndex().component("unet"));
        assertEquals(null, f.modelIndex().component("safety_checker"));
    }

    @Test
    void ssrConfigIsOptional() throws IOException {
        delete("ssr/config.json");
        assertFalse(ModelsFolder.open(models).ssrConfig().isPresent());
    }

    @Test
    void everythingMissingIsListedInOneMessage() throws IOException {
        delete("sd/unet");
        delete("ssr/pytorch_model_1.bin");
        delete("sd/tokenizer/merges.txt");
        delete("image_encoder/model.safetensors");
        String msg = failure();
        Path root = models.toAbsolutePath().normalize();
        assertEquals("models folder " + root + ": missing sd/unet/ (config.json, diffusion_pytorch_model.safetensors or "
                + "diffusion_pytorch_model.bin), missing sd/tokenizer/merges.txt, missing image_encoder/model.safetensors "
                + "(or model.fp16.safetensors, pytorch_model.bin, pytorch_model.fp16.bin), missing ssr/pytorch_model_1.bin; or, "
                + "instead of a diffusers folder, sd/ holds one single-file checkpoint <name>.safetensors or <name>.ckpt", msg);
    }

    @Test
    void missingTopLevelFoldersAreNamed() throws IOException {
        delete("sd");
        delete("ssr");
        String msg = failure();
        assertTrue(msg.contains("missing sd/ (Stable Diffusion 1.5 in diffusers format, or one single-file checkpoint "
                + "sd/<name>.safetensors or .ckpt)"), msg);
        assertTrue(msg.contains("missing ssr/ (pytorch_model.bin, pytorch_model_1.bin)"), msg);
        assertFalse(msg.contains("image_encoder"), msg);
    }

    @Test
    void missingConfigsAndSchedulerAreNamed() throws IOException {
        delete("sd/vae/config.json");
        delete("sd/scheduler/scheduler_config.json");
        delete("sd/model_index.json");
        String msg = failure();
        assertTrue(msg.contains("missing sd/model_index.json"), msg);
        assertTrue(msg.contains("missing sd/vae/config.json"), msg);
        assertTrue(msg.contains("missing sd/scheduler/scheduler_config.json"), msg);
    }

    @Test
    void missingRootIsNamed() {
        Path absent = tmp.resolve("nowhere");
        WeightFileException e = assertThrows(WeightFileException.class, () -> ModelsFolder.open(absent));
        assertEquals("models folder " + absent.toAbsolutePath() + ": folder not found", e.getMessage());
    }

    @Test
    void binAndFp16VariantsAreAccepted() throws IOException {
        rename("sd/unet/diffusion_pytorch_model.safetensors", "sd/unet/diffusion_pytorch_model.fp16.safetensors");
        rename("sd/text_encoder/model.safetensors", "sd/text_encoder/model.fp16.safetensors");
        Files.copy(models.resolve("ssr/pytorch_model.bin"), models.resolve("image_encoder/pytorch_model.bin"));
        delete("image_encoder/model.safetensors");
        Files.copy(models.resolve("ssr/pytorch_model_1.bin"), models.resolve("sd/vae/diffusion_pytorch_model.fp16.bin"));
        delete("sd/vae/diffusion_pytorch_model.safetensors");
        ModelsFolder f = ModelsFolder.open(models);
        assertEquals("diffusion_pytorch_model.fp16.safetensors", f.unetWeights().getFileName().toString());
        assertEquals("model.fp16.safetensors", f.textEncoderWeights().getFileName().toString());
        assertEquals("pytorch_model.bin", f.imageEncoderWeights().getFileName().toString());
        assertEquals("diffusion_pytorch_model.fp16.bin", f.vaeWeights().getFileName().toString());
    }

    @Test
    void safetensorsIsPreferredOverBin() throws IOException {
        Files.copy(models.resolve("ssr/pytorch_model.bin"), models.resolve("sd/unet/diffusion_pytorch_model.bin"));
        assertEquals("diffusion_pytorch_model.safetensors", ModelsFolder.open(models).unetWeights().getFileName().toString());
    }

    @Test
    void sdxlPipelineIsRefused() throws IOException {
        Path index = models.resolve("sd/model_index.json");
        Files.writeString(index, Files.readString(index).replace("\"StableDiffusionPipeline\"", "\"StableDiffusionXLPipeline\""));
        String msg = failure();
        assertTrue(msg.startsWith(index.toAbsolutePath().normalize() + ": pipeline 'StableDiffusionXLPipeline' is not Stable Diffusion 1.x"), msg);
    }

    @Test
    void secondTextEncoderIsRefused() throws IOException {
        Path index = models.resolve("sd/model_index.json");
        Files.writeString(index, Files.readString(index).replace("\"tokenizer\":", "\"text_encoder_2\": [\"transformers\", \"CLIPTextModelWithProjection\"], \"tokenizer\":"));
        assertTrue(failure().contains("second text encoder"));
    }

    @Test
    void otherUnetClassIsRefused() throws IOException {
        Path index = models.resolve("sd/model_index.json");
        Files.writeString(index, Files.readString(index).replace("\"UNet2DConditionModel\"", "\"SD3Transformer2DModel\""));
        assertTrue(failure().contains("component 'unet' is a SD3Transformer2DModel, expected UNet2DConditionModel"));
    }

    @Test
    void nonPipelineIndexIsRefused() throws IOException {
        Files.writeString(models.resolve("sd/model_index.json"), "{\"_class_name\": \"FluxPipeline\"}");
        assertTrue(failure().contains("pipeline 'FluxPipeline' is not Stable Diffusion 1.x"));
        Files.writeString(models.resolve("sd/model_index.json"), "{\"architectures\": []}");
        assertTrue(failure().contains("missing '_class_name'"));
    }

    private Path singleFile(String name) {
        return Golden.tinyA().resolve("single-file").resolve(name);
    }

    private void replaceSdWithCheckpoint() throws IOException {
        delete("sd");
        Files.createDirectories(models.resolve("sd"));
        Files.copy(singleFile("model.fp16.safetensors"), models.resolve("sd/model.fp16.safetensors"));
        Files.copy(singleFile("model.fp16.yaml"), models.resolve("sd/model.fp16.yaml"));
    }

    @Test
    void sdHoldingOneCheckpointIsASingleFileLayoutWithBundledDefaults() throws IOException {
        replaceSdWithCheckpoint();
        ModelsFolder f = ModelsFolder.open(models);
        Path root = models.toAbsolutePath().normalize();
        assertEquals(root.resolve("sd/model.fp16.safetensors"), f.checkpoint().orElseThrow());
        assertEquals(Sd15Defaults.tokenizer(), f.tokenizer());
        assertEquals(Sd15Defaults.textEncoderConfig(), f.textEncoderConfig());
        assertEquals(Sd15Defaults.schedulerConfig(), f.schedulerConfig());
        assertEquals(null, f.modelIndex());
        assertEquals(null, f.unetWeights());
    }

    @Test
    void sdFilesBesideACheckpointAreUsed() throws IOException {
        replaceSdWithCheckpoint();
        Path tiny = Golden.tinyA().resolve("sd");
        Files.createDirectories(models.resolve("sd/text_encoder"));
        Files.copy(tiny.resolve("text_encoder/config.json"), models.resolve("sd/text_encoder/config.json"));
        Files.createDirectories(models.resolve("sd/tokenizer"));
        Files.copy(tiny.resolve("tokenizer/vocab.json"), models.resolve("sd/tokenizer/vocab.json"));
        Path root = models.toAbsolutePath().normalize();
        assertTrue(failure().contains("missing sd/tokenizer/merges.txt"));
        Files.copy(tiny.resolve("tokenizer/merges.txt"), models.resolve("sd/tokenizer/merges.txt"));
        ModelsFolder f = ModelsFolder.open(models);
        assertEquals(root.resolve("sd/tokenizer"), f.tokenizer());
        assertEquals(root.resolve("sd/text_encoder/config.json"), f.textEncoderConfig());
        assertEquals(Sd15Defaults.schedulerConfig(), f.schedulerConfig());
    }

    @Test
    void severalCheckpointsInSdAreRefused() throws IOException {
        replaceSdWithCheckpoint();
        Files.copy(singleFile("model.ckpt"), models.resolve("sd/other.ckpt"));
        String msg = failure();
        assertTrue(msg.contains("holds 2 checkpoint files (model.fp16.safetensors, other.ckpt)"), msg);
    }

    @Test
    void explicitCheckpointReplacesSd() throws IOException {
        delete("sd");
        Path ckpt = singleFile("model.ckpt");
        ModelsFolder f = ModelsFolder.open(models, ckpt);
        assertEquals(ckpt.toAbsolutePath().normalize(), f.checkpoint().orElseThrow());
        assertEquals(Sd15Defaults.tokenizer(), f.tokenizer());
        Path absent = tmp.resolve("absent.safetensors");
        WeightFileException e = assertThrows(WeightFileException.class, () -> ModelsFolder.open(models, absent));
        assertEquals(absent.toAbsolutePath() + ": file not found", e.getMessage());
    }

    @Test
    void explicitCheckpointKeepsTheDiffusersFolderFiles() {
        ModelsFolder f = ModelsFolder.open(models, singleFile("model.ckpt"));
        Path root = models.toAbsolutePath().normalize();
        assertEquals(root.resolve("sd/tokenizer"), f.tokenizer());
        assertEquals(root.resolve("sd/scheduler/scheduler_config.json"), f.schedulerConfig());
    }
}
