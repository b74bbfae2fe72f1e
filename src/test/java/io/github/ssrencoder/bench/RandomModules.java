package io.github.ssrencoder.bench;

import ai.djl.ndarray.NDArray;
import io.github.ssrencoder.nn.EngineRuntime;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.model.AutoencoderKL;
import io.github.ssrencoder.model.ClipTextConfig;
import io.github.ssrencoder.model.ClipTextEncoder;
import io.github.ssrencoder.model.ClipVisionConfig;
import io.github.ssrencoder.model.ClipVisionEncoder;
import io.github.ssrencoder.model.ControlNetConfig;
import io.github.ssrencoder.model.ControlNetModel;
import io.github.ssrencoder.model.SsrLayers;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.model.UNetConfig;
import io.github.ssrencoder.model.VaeConfig;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.Parameter;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Full-size networks built from the manifests' real configs with seeded random float32 weights
 * ({@link RandomValues}: N(0, 0.02), gains 1 + N(0, 0.02)) — for the per-network figures, which need no weight
 * file. Each tensor is generated into one reused direct buffer and copied into engine-owned memory.
 */
final class RandomModules {

    private static final double SIGMA = 0.02;

    private RandomModules() {
    }

    static UNet2DCondition unet(NDManager weights, long seed) {
        return computeType(fill(new UNet2DCondition(UNetConfig.read(Manifest.read("sd15_unet.json").configFile())), weights, seed),
                weights);
    }

    static SsrLayers ssrLayers(UNet2DCondition unet, NDManager weights, long seed) {
        return computeType(fill(new SsrLayers(unet), weights, seed), weights);
    }

    /**
     * SD1.5's ControlNet (lllyasviel's {@code sd-controlnet-*} config.json: the UNet's down and mid blocks with their
     * config, plus a conditioning embedding with channels 16, 32, 96, 256 from an RGB image).
     */
    static ControlNetModel controlNet(NDManager weights, long seed) {
        JsonObject config = Manifest.read("sd15_unet.json").config().deepCopy();
        for (String key : List.of("up_block_types", "out_channels", "center_input_sample", "_name_or_path")) {
            config.remove(key);
        }
        config.addProperty("_class_name", "ControlNetModel");
        JsonArray embedding = new JsonArray();
        List.of(16, 32, 96, 256).forEach(embedding::add);
        config.add("conditioning_embedding_out_channels", embedding);
        config.addProperty("controlnet_conditioning_channel_order", "rgb");
        try {
            Path file = Files.createTempFile("sd15-controlnet-", "-config.json");
            file.toFile().deleteOnExit();
            Files.writeString(file, config.toString(), StandardCharsets.UTF_8);
            return computeType(fill(new ControlNetModel(ControlNetConfig.read(file)), weights, seed), weights);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static AutoencoderKL vae(NDManager weights, long seed) {
        return computeType(fill(new AutoencoderKL(VaeConfig.read(Manifest.read("sd15_vae.json").configFile())), weights, seed),
                weights);
    }

    /** Converts the weights to the type the pipeline holds them in on this device (half precision on CUDA). */
    private static <M extends Module> M computeType(M module, NDManager weights) {
        DataType type = EngineRuntime.computeType(weights.getDevice());
        if (type != DataType.FLOAT32) {
            for (Parameter p : module.namedParameters().values()) {
                NDArray dense = p.get();
                p.set(dense.toType(type, false));
                dense.close();
            }
        }
        return module;
    }

    static ClipTextEncoder textEncoder(NDManager weights, long seed) {
        return fill(new ClipTextEncoder(ClipTextConfig.read(Manifest.read("sd15_text_encoder.json").configFile())), weights, seed);
    }

    static ClipVisionEncoder visionEncoder(NDManager weights, long seed) {
        return fill(new ClipVisionEncoder(ClipVisionConfig.read(Manifest.read("clip_vit_large_patch14_vision.json").configFile())),
                weights, seed);
    }

    /** Binds a random value to every parameter of {@code module}, created in {@code weights}. */
    static <M extends Module> M fill(M module, NDManager weights, long seed) {
        RandomValues random = new RandomValues(seed, SIGMA);
        long largest = 0;
        for (Parameter p : module.namedParameters().values()) {
            largest = Math.max(largest, Manifest.elements(p.shape()));
        }
        ByteBuffer buf = ByteBuffer.allocateDirect(Math.toIntExact(4 * largest)).order(ByteOrder.nativeOrder());
        for (Map.Entry<String, Parameter> e : module.namedParameters().entrySet()) {
            long[] shape = e.getValue().shape();
            int n = Math.toIntExact(Manifest.elements(shape));
            buf.clear();
            FloatBuffer floats = buf.asFloatBuffer();
            random.putFloats(floats, n, RandomValues.isGain(e.getKey(), shape));
            buf.limit(4 * n);
            // The engine borrows a direct buffer's memory: copy into memory it owns before the buffer is reused.
            try (NDArray borrowed = weights.create(buf, new Shape(shape), DataType.FLOAT32)) {
                e.getValue().set(borrowed.duplicate());
            }
        }
        return module;
    }
}
