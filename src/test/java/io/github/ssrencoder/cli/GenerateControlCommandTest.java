package io.github.ssrencoder.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.SafetensorsWriter;
import io.github.ssrencoder.model.ControlNetConfig;
import io.github.ssrencoder.model.ControlNetModel;
import io.github.ssrencoder.testing.Golden;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ssr generate} with control images: the ControlNet golden cases from flags and job files, and bad input. */
class GenerateControlCommandTest {

    @TempDir
    Path tmp;

    private Path initLatents(String caseName) {
        return GenerateCommandTest.initLatents(tmp, caseName);
    }

    private static void assertLatents(String caseName, Path saved) {
        GenerateCommandTest.assertLatents(caseName, saved);
    }

    private List<String> common(String caseName, Path png, Path latents) {
        Path a = Golden.tinyA();
        return new ArrayList<>(List.of("generate", "--models", a.toString(), "--image", a.resolve("reference.png").toString(),
                "--query", "red circle", "--prompt", "a red circle on a table", "--scale", "0.5", "--steps", "4",
                "--scheduler", "ddim", "--width", "64", "--height", "64", "--init-latents", initLatents(caseName).toString(),
                "--output", png.toString(), "--save-latents", latents.toString()));
    }

    @Test
    void twoControlGroupsReproduceTheMultiControlNetCase() throws Exception {
        Path a = Golden.tinyA();
        Path png = tmp.resolve("multi.png");
        Path lat = tmp.resolve("multi.safetensors");
        List<String> args = common("pipeline_multicontrol_ddim", png, lat);
        args.addAll(List.of("--control", a.resolve("control.png").toString(), "--controlnet", a.resolve("controlnet").toString(),
                "--control-scale", "0.7",
                "--control", a.resolve("control2.png").toString(), "--controlnet", a.resolve("controlnet2").toString(),
                "--control-scale", "0.4"));
        GenerateCommandTest.Run r = GenerateCommandTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_multicontrol_ddim", lat);
        String text = new String(Files.readAllBytes(png), StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("\"control1\":\"control.png\"") && text.contains("\"control2.scale\":\"0.4\"")
                && text.contains("\"control2.controlnet\":\"" + a.resolve("controlnet2").toAbsolutePath().normalize() + "\""), text);
    }

    @Test
    void guidanceWindowFromFlags() {
        Path a = Golden.tinyA();
        Path lat = tmp.resolve("window.safetensors");
        List<String> args = common("pipeline_control_scale_guidance_ddim", tmp.resolve("window.png"), lat);
        args.addAll(List.of("--control", a.resolve("control.png").toString(), "--controlnet", a.resolve("controlnet").toString(),
                "--control-scale", "0.6", "--control-start", "0", "--control-end", "0.5"));
        GenerateCommandTest.Run r = GenerateCommandTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_control_scale_guidance_ddim", lat);
    }

    /** A models folder whose sd/, image_encoder/, ssr/ (and controlnet/ if asked) link to tiny-a's. */
    private Path linkedModels(String name, boolean withControlNet) throws Exception {
        Path models = tmp.resolve(name);
        Files.createDirectories(models);
        List<String> parts = withControlNet ? List.of("sd", "image_encoder", "ssr", "controlnet") : List.of("sd", "image_encoder", "ssr");
        for (String part : parts) {
            Files.createSymbolicLink(models.resolve(part), Golden.tinyA().resolve(part).toAbsolutePath());
        }
        return models;
    }

    @Test
    void jobFileControlsUseTheModelsFolderControlNetByDefault() throws Exception {
        Path a = Golden.tinyA();
        Path models = linkedModels("models", true);
        initLatents("pipeline_control_resize_ddim");
        initLatents("pipeline_control_scale_guidance_ddim");
        Files.copy(a.resolve("reference.png"), tmp.resolve("reference.png"));
        Files.copy(a.resolve("control.png"), tmp.resolve("control.png"));
        Files.copy(a.resolve("control_resize.png"), tmp.resolve("control_resize.png"));
        Files.writeString(tmp.resolve("job.json"), """
                {"subjects": [{"image": "reference.png", "query": "red circle"}], "prompt": "a red circle on a table",
                 "scale": 0.5, "steps": 4, "scheduler": "ddim", "width": 64, "height": 64,
                 "jobs": [{"controls": [{"image": "control_resize.png"}], "init_latents": "pipeline_control_resize_ddim-init.safetensors",
                           "output": "r.png", "save_latents": "r.safetensors"},
                          {"controls": [{"image": "control.png", "controlnet": "%s", "scale": 0.6, "start": 0.0, "end": 0.5}],
                           "init_latents": "pipeline_control_scale_guidance_ddim-init.safetensors",
                           "output": "w.png", "save_latents": "w.safetensors"}]}
                """.formatted(a.resolve("controlnet").toAbsolutePath().toString().replace("\\", "\\\\")));
        GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--models", models.toString(), "--job",
                tmp.resolve("job.json").toString());
        assertEquals(0, r.code(), r.err());
        assertLatents("pipeline_control_resize_ddim", tmp.resolve("r.safetensors"));
        assertLatents("pipeline_control_scale_guidance_ddim", tmp.resolve("w.safetensors"));
    }

    /** A ControlNet with consistent weights for cross_attention_dim 48, which the tiny UNet (32) cannot take. */
    private Path otherArchitecture() throws Exception {
        Path other = tmp.resolve("other-cn");
        Files.createDirectories(other);
        JsonObject config = Golden.json(Golden.tinyA().resolve("controlnet/config.json")).getAsJsonObject();
        config.addProperty("cross_attention_dim", 48);
        Files.writeString(other.resolve("config.json"), config.toString());
        ControlNetModel net = new ControlNetModel(ControlNetConfig.read(other.resolve("config.json")));
        SafetensorsWriter w = new SafetensorsWriter();
        net.namedParameters().forEach((k, p) -> w.add(k, p.shape(), new float[(int) new Shape(p.shape()).size()]));
        w.write(other.resolve("diffusion_pytorch_model.safetensors"));
        return other;
    }

    @Test
    void badControlsExitWithTwoNamingTheFile() throws Exception {
        Path a = Golden.tinyA();
        Path broken = tmp.resolve("broken.png");
        Files.writeString(broken, "not an image");
        Path other = otherArchitecture();
        Path noWeights = tmp.resolve("no-weights");
        Files.createDirectories(noWeights);
        Files.copy(a.resolve("controlnet/config.json"), noWeights.resolve("config.json"));
        Path unetWeights = tmp.resolve("unet-weights");
        Files.createDirectories(unetWeights);
        Files.copy(a.resolve("controlnet/config.json"), unetWeights.resolve("config.json"));
        Files.copy(a.resolve("sd/unet/diffusion_pytorch_model.safetensors"), unetWeights.resolve("diffusion_pytorch_model.safetensors"));
        Files.writeString(tmp.resolve("job.json"), "{\"prompt\": \"p\", \"output\": \"x.png\", \"controls\": [{\"controlnet\": \"c\"}]}");
        String control = a.resolve("control.png").toString();
        String net = a.resolve("controlnet").toString();
        Path models = linkedModels("models-without-controlnet", false);
        List<String> common = List.of("generate", "--models", models.toString(), "--prompt", "p", "--steps", "1", "--width", "64",
                "--height", "64", "--output", tmp.resolve("x.png").toString());
        Map<List<String>, String> cases = new java.util.HashMap<>(Map.of(
                List.of("--control", broken.toString(), "--controlnet", net), broken + ": not a readable image",
                List.of("--control", tmp.resolve("missing.png").toString(), "--controlnet", net), "missing.png: image file not found",
                List.of("--control", control, "--controlnet", tmp.resolve("nope").toString()), "nope: ControlNet folder not found",
                List.of("--control", control, "--controlnet", noWeights.toString()), "diffusion_pytorch_model",
                List.of("--control", control, "--controlnet", other.toString()),
                        other.resolve("config.json") + ": cross_attention_dim 48 does not fit",
                List.of("--control", control), "no ControlNet for this control image",
                List.of("--control", control, "--controlnet", net, "--control-start", "0.8", "--control-end", "0.5"),
                        "control start and end",
                List.of("--job", tmp.resolve("job.json").toString()), "controls[0] needs an 'image'"));
        cases.put(List.of("--control", control, "--controlnet", unetWeights.toString()),
                unetWeights.resolve("diffusion_pytorch_model.safetensors").toString());
        cases.forEach((extra, expected) -> {
            List<String> args = new ArrayList<>(common);
            args.addAll(extra);
            GenerateCommandTest.Run r = GenerateCommandTest.run(args.toArray(String[]::new));
            assertEquals(2, r.code(), args + " → " + r.err());
            String last = r.err().strip().lines().reduce((x, y) -> y).orElse("");
            assertTrue(last.startsWith("ssr: ") && last.contains(expected), args + " → " + r.err());
            assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
            if (!expected.contains("does not fit")) {
                assertFalse(r.err().contains("Loading UNet"), "refused before any model loads: " + r.err());
            }
            assertFalse(Files.exists(tmp.resolve("x.png")), "no output on bad input");
        });
    }
}
