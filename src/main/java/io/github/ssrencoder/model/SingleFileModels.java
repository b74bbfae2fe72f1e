package io.github.ssrencoder.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.ssrencoder.io.LdmConfig;
import io.github.ssrencoder.io.SingleFileCheckpoint;
import io.github.ssrencoder.io.WeightLoadingPlan;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleWeights;
import java.nio.file.Path;

/**
 * The text encoder, UNet and VAE of one single-file Stable Diffusion 1.x checkpoint. The UNet and VAE are built
 * from the checkpoint's {@link LdmConfig} (its yaml, or the standard SD1.x config); the text encoder, which
 * the file does not describe, from a CLIP text config. All three networks are checked against the file before
 * any tensor is read, and their weights live in one sub-manager that is closed again if loading fails, so a
 * refused file leaves nothing behind.
 *
 * @param textEncoder CLIP text encoder ({@code cond_stage_model.transformer.*})
 * @param unet        the UNet ({@code model.diffusion_model.*}, or its EMA copy)
 * @param vae         the VAE ({@code first_stage_model.*})
 */
public record SingleFileModels(ClipTextEncoder textEncoder, UNet2DCondition unet, AutoencoderKL vae) {

    /**
     * Opens {@code file} (with its same-named yaml, if any), builds the three networks and loads their weights
     * into a sub-manager of {@code weights}.
     *
     * @param file       the checkpoint ({@code .safetensors} or {@code .ckpt})
     * @param textConfig the text encoder's {@code config.json}
     * @param ema        take the UNet's EMA copy ({@code model_ema.*}) instead of its regular weights
     * @param weights    where the weights go
     */
    public static SingleFileModels load(Path file, Path textConfig, boolean ema, NDManager weights) {
        try (SingleFileCheckpoint checkpoint = SingleFileCheckpoint.open(file)) {
            return load(checkpoint, ClipTextConfig.read(textConfig), ema, weights);
        }
    }

    /** As {@link #load(Path, Path, boolean, NDManager)}, for an open checkpoint and a parsed text config. */
    public static SingleFileModels load(SingleFileCheckpoint checkpoint, ClipTextConfig textConfig, boolean ema,
                                        NDManager weights) {
        LdmConfig config = checkpoint.config();
        String architecture = " of " + config.description();
        UNet2DCondition unet = new UNet2DCondition(UNetConfig.fromJson(config.source(), config.unetConfig()));
        AutoencoderKL vae = new AutoencoderKL(VaeConfig.fromJson(config.source(), config.vaeConfig()));
        ClipTextEncoder text = new ClipTextEncoder(textConfig);
        SingleFileCheckpoint.Component unetPart = checkpoint.unet(ema);
        SingleFileCheckpoint.Component vaePart = checkpoint.vae();
        SingleFileCheckpoint.Component textPart = checkpoint.textEncoder();
        plan(unet, unetPart).requireComplete("UNet" + architecture);
        plan(vae, vaePart).requireComplete("VAE" + architecture);
        plan(text, textPart).requireComplete("CLIP text encoder (" + textConfig.hiddenSize() + " wide, "
                + textConfig.numHiddenLayers() + " layers, " + textConfig.numAttentionHeads() + " heads)");
        DataType compute = EngineRuntime.computeType(weights.getDevice());
        NDManager own = weights.newSubManager();
        try {
            ModuleWeights.load(unet, unetPart.tensors(), unetPart.mapping(), own, "UNet" + architecture, compute);
            ModuleWeights.load(vae, vaePart.tensors(), vaePart.mapping(), own, "VAE" + architecture, compute);
            ModuleWeights.load(text, textPart.tensors(), textPart.mapping(), own, "CLIP text encoder");
        } catch (RuntimeException | Error e) {
            own.close();
            throw e;
        }
        return new SingleFileModels(text, unet, vae);
    }

    private static WeightLoadingPlan plan(Module module, SingleFileCheckpoint.Component part) {
        return ModuleWeights.plan(module, part.tensors(), part.mapping());
    }
}
