package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.model.ControlImageProcessor;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import io.github.ssrencoder.testing.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The ControlNet pipeline cases (the official {@code generate_control}) through {@link SsrPipeline}. */
class ControlPipelineGoldenTest {

    private static SsrPipeline pipeline;

    @BeforeAll
    static void open() {
        pipeline = SsrPipeline.open(Golden.tinyA(), EngineRuntime.DeviceChoice.CPU, 0);
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    private static Path controlnet(String name) {
        return Golden.tinyA().resolve(name);
    }

    private static Control control(String image, String net, double scale, double start, double end) {
        return new Control(PipelineGoldenTest.image(image), controlnet(net), scale, start, end, image);
    }

    private static GenerationResult run(String caseName, List<Control> controls) {
        SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
        GenerationRequest r = PipelineGoldenTest.request(caseName, List.of(q), "a red circle on a table", 0.5, "ddim")
                .withControls(controls);
        return pipeline.generate(r, ProgressListener.NONE);
    }

    /** §8's pipeline tolerances (latents_final abs 5e-4, PNG ±1), with the measured error printed for the record. */
    private static void assertMatches(String caseName, GenerationResult result) {
        try (SafetensorsFile f = Golden.caseTensors(caseName); NDManager m = NDManager.newBaseManager()) {
            Latents got = result.latents().get(0);
            System.out.printf("%s latents_final max abs error %.3g%n", caseName,
                    Golden.maxAbsDiff(f.load("latents_final", m).toFloatArray(), got.data()));
        }
        PipelineGoldenTest.assertMatches(caseName, result);
    }

    @Test
    void singleControlNetMatchesOfficialGenerateControl() {
        assertMatches("pipeline_control_ddim",
                run("pipeline_control_ddim", List.of(control("control.png", "controlnet", 1.0, 0.0, 1.0))));
    }

    @Test
    void conditioningScaleAndGuidanceWindowMatchTheOfficialPipeline() {
        assertMatches("pipeline_control_scale_guidance_ddim",
                run("pipeline_control_scale_guidance_ddim", List.of(control("control.png", "controlnet", 0.6, 0.0, 0.5))));
    }

    @Test
    void twoControlNetsAreSummedAsMultiControlNetModel() {
        assertMatches("pipeline_multicontrol_ddim", run("pipeline_multicontrol_ddim", List.of(
                control("control.png", "controlnet", 0.7, 0.0, 1.0), control("control2.png", "controlnet2", 0.4, 0.0, 1.0))));
    }

    @Test
    void controlImageOfAnotherSizeIsStretchedWithLanczos() {
        assertMatches("pipeline_control_resize_ddim",
                run("pipeline_control_resize_ddim", List.of(control("control_resize.png", "controlnet", 1.0, 0.0, 1.0))));
    }

    @Test
    void preparedControlImagesAreExact() {
        try (NDManager m = NDManager.newBaseManager()) {
            for (String c : List.of("pipeline_control_ddim", "pipeline_control_resize_ddim")) {
                String file = c.equals("pipeline_control_ddim") ? "control.png" : "control_resize.png";
                try (SafetensorsFile f = Golden.caseTensors(c)) {
                    NDArray resized = f.load("control_image_resized_uint8", m);
                    int[] got = ControlImageProcessor.resizedRgb(PipelineGoldenTest.image(file), 64, 64);
                    Golden.assertClose(c + " control_image_resized_uint8", resized.toType(DataType.FLOAT32, false),
                            m.create(got, new Shape(64, 64, 3)).toType(DataType.FLOAT32, false), 0);
                    Golden.assertClose(c + " control_image", f.load("control_image", m),
                            ControlImageProcessor.prepare(PipelineGoldenTest.image(file), 64, 64, 2, m), 0);
                }
            }
        }
    }

    @Test
    void guidanceWindowFollowsDiffusersKeepRule() {
        Control c = control("control.png", "controlnet", 0.6, 0.0, 0.5);
        assertEquals(List.of(true, true, false, false), List.of(c.activeAt(0, 4), c.activeAt(1, 4), c.activeAt(2, 4), c.activeAt(3, 4)));
        Control late = control("control.png", "controlnet", 1, 0.3, 1.0);
        assertEquals(List.of(false, false, true, true), List.of(late.activeAt(0, 4), late.activeAt(1, 4), late.activeAt(2, 4),
                late.activeAt(3, 4)));
    }

    @Test
    void controlsAreReportedInTheParameters() {
        GenerationResult r = run("pipeline_control_ddim", List.of(control("control.png", "controlnet", 0.6, 0.0, 0.5),
                control("control2.png", "controlnet2", 0.4, 0.0, 1.0)));
        assertEquals("control.png", r.parameters().get("control1"));
        assertEquals(controlnet("controlnet").toAbsolutePath().normalize().toString(), r.parameters().get("control1.controlnet"));
        assertEquals("0.6", r.parameters().get("control1.scale"));
        assertEquals("0.5", r.parameters().get("control1.end"));
        assertEquals("control2.png", r.parameters().get("control2"));
    }

    @Test
    void controlNetsAreLoadedOnceAndReleasedWhenNoLongerUsed() {
        List<String> stages = new java.util.ArrayList<>();
        ProgressListener record = new ProgressListener() {
            @Override
            public void stage(String message) {
                stages.add(message);
            }
        };
        SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
        GenerationRequest plain = new GenerationRequest(List.of(q), "a red circle", "", 0.5, 7.5, 1, "ddim", 64, 64, 1L, null, 1);
        pipeline.generate(plain, ProgressListener.NONE);
        long without = pipeline.liveModelArrays();
        GenerationRequest controlled = plain.withControls(List.of(control("control2.png", "controlnet2", 1, 0, 1)));
        pipeline.generate(controlled, record);
        assertTrue(pipeline.liveModelArrays() > without, "the ControlNet's weights are loaded");
        pipeline.generate(controlled, record);
        assertEquals(1, stages.stream().filter(s -> s.startsWith("Loading ControlNet")).count(), stages.toString());
        pipeline.generate(plain, ProgressListener.NONE);
        assertEquals(without, pipeline.liveModelArrays(), "a ControlNet no run uses any more is released");
    }

    @Test
    void controlWorksWithoutGuidanceAndForNonSquareSizes() {
        SubjectQuery q = SubjectQuery.text(PipelineGoldenTest.image("reference.png"), "red circle");
        GenerationRequest plain = new GenerationRequest(List.of(q), "a red circle", "", 0.5, 1.0, 2, "ddim", 72, 48, 9L, null, 1);
        GenerationResult without = pipeline.generate(plain, ProgressListener.NONE);
        GenerationResult with = pipeline.generate(plain.withControls(List.of(control("control_resize.png", "controlnet", 1, 0, 1))),
                ProgressListener.NONE);
        assertEquals(72, with.images().get(0).dimension(0));
        assertEquals(48, with.images().get(0).dimension(1));
        assertTrue(Golden.maxAbsDiff(without.latents().get(0).data(), with.latents().get(0).data()) > 1e-3,
                "the control image changes the result");
    }

    @Test
    void float16ControlNetFilesLoad(@TempDir Path dir) throws IOException {
        Path half = dir.resolve("half");
        Files.createDirectories(half);
        Files.copy(controlnet("controlnet").resolve("config.json"), half.resolve("config.json"));
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(controlnet("controlnet").resolve("diffusion_pytorch_model.safetensors"));
             NDManager m = NDManager.newBaseManager()) {
            for (String key : f.keys()) {
                NDArray a = f.load(key, m).toType(DataType.FLOAT16, false);
                w.add(key, "F16", a.getShape().getShape(), a.toByteArray());
            }
        }
        w.write(half.resolve("diffusion_pytorch_model.safetensors"));
        GenerationResult r = run("pipeline_control_ddim", List.of(new Control(PipelineGoldenTest.image("control.png"), half, 1, 0, 1,
                "control.png")));
        try (SafetensorsFile f = Golden.caseTensors("pipeline_control_ddim"); NDManager m = NDManager.newBaseManager()) {
            NDArray expected = f.load("latents_final", m);
            Latents got = r.latents().get(0);
            System.out.printf("float16 ControlNet latents_final max abs error %.3g%n", Golden.maxAbsDiff(expected.toFloatArray(), got.data()));
            // float16 weights: rounding of the ControlNet's weights only, far below the control's own effect
            Golden.assertClose("float16 ControlNet latents_final", expected, m.create(got.data(), new Shape(got.shape())), 1e-2);
        }
    }

    @Test
    void controlNetOfAnotherArchitectureIsRefusedAndNothingStaysLoaded(@TempDir Path dir) throws IOException {
        run("pipeline_control_ddim", List.of());
        long before = pipeline.liveModelArrays();
        Path other = dir.resolve("sd2-like");
        Files.createDirectories(other);
        JsonObject config = Golden.json(controlnet("controlnet").resolve("config.json")).getAsJsonObject();
        config.addProperty("cross_attention_dim", 48);
        Files.writeString(other.resolve("config.json"), config.toString());
        var net = new io.github.ssrencoder.model.ControlNetModel(io.github.ssrencoder.model.ControlNetConfig.read(other.resolve("config.json")));
        SafetensorsWriter w = new SafetensorsWriter();
        net.namedParameters().forEach((k, p) -> w.addF32(k, p.shape(), new float[(int) new Shape(p.shape()).size()]));
        w.write(other.resolve("diffusion_pytorch_model.safetensors"));
        WeightFileException e = assertThrows(WeightFileException.class, () -> run("pipeline_control_ddim",
                List.of(new Control(PipelineGoldenTest.image("control.png"), other, 1, 0, 1, null))));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("cross_attention_dim 48")
                && e.getMessage().contains("expected 32"), e.getMessage());
        assertEquals(before, pipeline.liveModelArrays(), "arrays left loaded after a refused ControlNet");
    }

    @Test
    void missingControlNetFilesAreNamed(@TempDir Path dir) throws IOException {
        Path empty = dir.resolve("empty");
        Files.createDirectories(empty);
        WeightFileException e = assertThrows(WeightFileException.class, () -> run("pipeline_control_ddim",
                List.of(new Control(PipelineGoldenTest.image("control.png"), empty, 1, 0, 1, null))));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
        Files.copy(controlnet("controlnet").resolve("config.json"), empty.resolve("config.json"));
        e = assertThrows(WeightFileException.class, () -> run("pipeline_control_ddim",
                List.of(new Control(PipelineGoldenTest.image("control.png"), empty, 1, 0, 1, null))));
        assertTrue(e.getMessage().contains("diffusion_pytorch_model"), e.getMessage());
    }

    @Test
    void badControlSettingsAreRejected() {
        var img = PipelineGoldenTest.image("control.png");
        assertThrows(IllegalArgumentException.class, () -> new Control(img, controlnet("controlnet"), -1, 0, 1, null));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Control(img, controlnet("controlnet"), 1, 0.6, 0.5, null));
        assertTrue(e.getMessage().contains("start"), e.getMessage());
    }
}
