package io.github.ssrencoder.imagej.ij1;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.plugin.PlugIn;
import io.github.ssrencoder.imagej.ClipInput;
import io.github.ssrencoder.imagej.ControlInput;
import io.github.ssrencoder.imagej.Framing;
import io.github.ssrencoder.imagej.GenerationParameters;
import io.github.ssrencoder.imagej.ModelsFolderCheck;
import io.github.ssrencoder.imagej.MultiSubjects;
import io.github.ssrencoder.imagej.SsrRuns;
import io.github.ssrencoder.imagej.TrainingRuns;
import io.github.ssrencoder.imagej.SsrService;
import io.github.ssrencoder.imagej.SsrSettings;
import io.github.ssrencoder.imagej.StatusProgress;
import io.github.ssrencoder.imagej.SubjectQueries;
import io.github.ssrencoder.imagej.UserMessages;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import io.github.ssrencoder.pipeline.Animation;
import io.github.ssrencoder.pipeline.GenerationRequest;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.scijava.Context;
import org.scijava.prefs.PrefService;

/**
 * The SSR-Encoder menu entries for plain ImageJ 1.x ({@code plugins.config}), with the same macro keys as the
 * Fiji commands: {@code run("Generate from Subject", "query=[red mug] prompt=[…] steps=30 …")}. The argument
 * picks the entry: {@code generate}, {@code multi}, {@code attention}, {@code train}, {@code settings}, {@code unload}.
 * Without macro options a dialog asks for them (its labels are the keys, so the recorder writes the same
 * call). Runs go through the same {@link SsrService} as the Fiji commands (Fiji's own when present).
 */
public class SsrIj1Plugin implements PlugIn {

    private static Context ownContext;

    @Override
    public void run(String arg) {
        String command = arg == null ? "" : arg.trim();
        try {
            String options = Macro.getOptions();
            MacroOptions o = options != null ? MacroOptions.parse(options) : ask(command);
            if (o != null) {
                show(run(command, o, service(), WindowManager.getCurrentImage()));
            }
        } catch (RuntimeException e) {
            String message = UserMessages.messageOf(e);
            if (!UserMessages.expected(e)) {
                IJ.log(message + "\n" + e);
            }
            UserMessages.show(message, IJ::log);
        }
    }

    /** Runs {@code command} with {@code o} on {@code current}; returns the new windows, not shown yet. */
    public static SsrRuns.Outputs run(String command, MacroOptions o, SsrService service, ImagePlus current) {
        StatusProgress progress = new StatusProgress(null, IJ::log, () -> false);
        try {
            return switch (command) {
                case "generate" -> SsrRuns.generateFromSubject(service, current, o.string("query", ""),
                        o.flag("use_roi"), o.number("mask_weight", 1.0), o.string("framing", Framing.CENTER_CROP),
                        o.string("models", ""), parameters(o), control(o), clip(o), progress);
                case "multi" -> multi(o, service, current, progress);
                case "attention" -> SsrRuns.showAttention(service, current, o.string("query", ""), o.flag("use_roi"),
                        o.number("mask_weight", 1.0), o.string("framing", Framing.CENTER_CROP), o.string("models", ""),
                        o.flag("overlay"), progress);
                case "train" -> {
                    TrainingRuns.train(service, o.string("models", ""), trainRequest(o), progress, IJ::log);
                    yield new SsrRuns.Outputs(null, null, null);
                }
                case "settings" -> {
                    settings(o, service);
                    yield new SsrRuns.Outputs(null, null, null);
                }
                case "unload" -> {
                    service.unload(progress);
                    yield new SsrRuns.Outputs(null, null, null);
                }
                default -> throw new IllegalArgumentException("unknown SSR-Encoder entry '" + command
                        + "' (plugins.config must pass generate, multi, attention, train, settings or unload)");
            };
        } finally {
            progress.done();
        }
    }

    /** The generation parameters named by the macro keys, with the Fiji commands' defaults. */
    public static GenerationParameters parameters(MacroOptions o) {
        return new GenerationParameters(o.string("prompt", ""), o.string("negative_prompt", ""),
                o.number("scale", GenerationRequest.DEFAULT_SCALE), o.number("guidance", GenerationRequest.DEFAULT_GUIDANCE),
                o.integer("steps", GenerationRequest.DEFAULT_STEPS), o.string("scheduler", GenerationRequest.DEFAULT_SCHEDULER),
                o.integer("width", GenerationRequest.DEFAULT_SIZE), o.integer("height", GenerationRequest.DEFAULT_SIZE),
                o.whole("seed", -1), o.integer("images", 1), o.string("lora", ""), o.integer("cache_interval", 1));
    }

    /** The clip of {@code frames=… motion_adapter=[folder] frame_interval=…}, or {@code null} for images ({@code frames=0}). */
    public static ClipInput clip(MacroOptions o) {
        return ClipInput.of(o.integer("frames", 0), o.string("motion_adapter", ""),
                o.number("frame_interval", Animation.DEFAULT_FRAME_INTERVAL));
    }

    /** The training request named by the macro keys, with the command's defaults. */
    public static TrainingRuns.Request trainRequest(MacroOptions o) {
        String data = o.string("data", "");
        String output = o.string("output", "");
        String resume = o.string("resume", "");
        return new TrainingRuns.Request(data.isBlank() ? null : Path.of(data.trim()), output.isBlank() ? null : Path.of(output.trim()),
                o.integer("steps", 1000), o.integer("batch", 1), o.number("lr", 5e-5), o.integer("resolution", 512),
                o.integer("save_every", 500), resume.isBlank() ? null : Path.of(resume.trim()), o.flag("restart_optimizer"),
                o.whole("seed", 0), o.flag("plot"), o.flag("gradient_checkpointing"));
    }

    /**
     * The ControlNet of {@code control=[title] controlnet=[folder] control_scale=… control_start=… control_end=…} among the
     * open images, or {@code null}.
     */
    public static ControlInput control(MacroOptions o) {
        return ControlInput.of(o.string("control", ControlInput.NONE), o.string("controlnet", ""), o.number("control_scale", 1.0),
                o.number("control_start", 0.0), o.number("control_end", 1.0), WindowManager::getImage);
    }

    private static SsrRuns.Outputs multi(MacroOptions o, SsrService service, ImagePlus current, StatusProgress progress) {
        String framing = o.string("framing", Framing.CENTER_CROP);
        double maskWeight = o.number("mask_weight", 1.0);
        String queries = o.string("queries", "");
        List<SubjectQueries.Framed> subjects = queries.isBlank()
                ? MultiSubjects.fromRois(MultiSubjects.selections(current),
                        current, WindowManager::getImage, o.string("scales", ""), maskWeight, Framing.parse(framing))
                : MultiSubjects.fromQueries(queries, WindowManager::getImage, o.string("scales", ""), o.flag("use_roi"),
                        maskWeight, Framing.parse(framing));
        return SsrRuns.generateMulti(service, subjects, maskWeight, framing, o.string("models", ""), parameters(o), control(o),
                progress);
    }

    private static void settings(MacroOptions o, SsrService service) {
        SsrSettings old = service.settings();
        String models = o.string("models", old.models() == null ? "" : old.models().toString());
        if (models.isBlank()) {
            throw new IllegalArgumentException("choose the models folder (with sd/, image_encoder/ and ssr/)");
        }
        DeviceChoice device = DeviceChoice.parse(o.string("device", old.device().name()));
        String libtorch = o.string("libtorch", old.libtorch() == null ? "" : old.libtorch().toString());
        Path torch = libtorch.isBlank() ? null : EngineRuntime.validateLibtorch(Path.of(libtorch.trim()));
        String checkpoint = o.string("checkpoint", old.checkpoint() == null ? "" : old.checkpoint().toString());
        Path file = checkpoint.isBlank() ? null : Path.of(checkpoint.trim()).toAbsolutePath().normalize();
        boolean ema = o.flag("ema");
        if (ema && file == null) {
            throw new IllegalArgumentException("EMA weights need a checkpoint file: set checkpoint=[…] or leave ema off");
        }
        Path root = ModelsFolderCheck.validate(Path.of(models.trim()), file);
        String adapter = o.string("motion_adapter", old.motionAdapter() == null ? "" : old.motionAdapter().toString());
        Path motion = adapter.isBlank() ? null : ClipInput.checkAdapterFolder(Path.of(adapter.trim()));
        boolean lowMemory = o.flag("low_memory");
        service.saveSettings(new SsrSettings(root, device, o.integer("threads", old.threads()), torch, file, ema, motion,
                lowMemory));
        IJ.log("SSR-Encoder: models folder " + root + ", libtorch " + (torch == null ? "bundled" : torch)
                + (file == null ? "" : ", checkpoint " + file + (ema ? " (EMA weights)" : ""))
                + (lowMemory ? ", low memory" : ""));
        EngineRuntime.restartNote(torch).ifPresent(IJ::log);
    }

    private static void show(SsrRuns.Outputs out) {
        if (out.result() != null) {
            out.result().show();
            IJ.log("SSR-Encoder: '" + out.result().getTitle() + "', seed " + out.result().getProp("seed"));
        }
        if (out.attention() != null) {
            out.attention().show();
        }
        if (out.overlay() != null) {
            out.overlay().show();
        }
    }

    /** The service these entries use: Fiji's SciJava one when running inside Fiji, else one of a small context of our own. */
    public static synchronized SsrService service() {
        Context context = fijiContext();
        if (context == null) {
            if (ownContext == null) {
                ownContext = new Context(PrefService.class, SsrService.class);
            }
            context = ownContext;
        }
        return context.service(SsrService.class);
    }

    private static Context fijiContext() {
        try {
            Class.forName("net.imagej.legacy.LegacyService", false, SsrIj1Plugin.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            return null;
        }
        Object o = IJ.runPlugIn("org.scijava.Context", "");
        return o instanceof Context c ? c : null;
    }

    /** {@code none}, then the titles of the open images. */
    private static String[] controlChoices() {
        String[] titles = WindowManager.getImageTitles();
        String[] choices = new String[titles.length + 1];
        choices[0] = ControlInput.NONE;
        System.arraycopy(titles, 0, choices, 1, titles.length);
        return choices;
    }

    /** Asks for the options in a dialog whose labels are the macro keys; {@code null} when cancelled. */
    private static MacroOptions ask(String command) {
        SsrSettings stored = service().settings();
        String storedModels = stored.models() == null ? "" : stored.models().toString();
        GenericDialog gd = new GenericDialog("SSR-Encoder");
        Map<String, String> values = new LinkedHashMap<>();
        switch (command) {
            case "generate", "attention", "multi" -> {
                if (command.equals("multi")) {
                    gd.addStringField("queries", "", 40);
                    gd.addStringField("scales", "", 20);
                } else {
                    gd.addStringField("query", "", 30);
                }
                if (!command.equals("attention")) {
                    gd.addStringField("prompt", "", 40);
                    gd.addStringField("negative_prompt", "", 40);
                    gd.addNumericField("scale", GenerationRequest.DEFAULT_SCALE, 2);
                    gd.addNumericField("guidance", GenerationRequest.DEFAULT_GUIDANCE, 2);
                    gd.addNumericField("steps", GenerationRequest.DEFAULT_STEPS, 0);
                    gd.addChoice("scheduler", GenerationParameters.SCHEDULERS.toArray(String[]::new), "unipc");
                    gd.addNumericField("width", GenerationRequest.DEFAULT_SIZE, 0);
                    gd.addNumericField("height", GenerationRequest.DEFAULT_SIZE, 0);
                    gd.addNumericField("seed", -1, 0);
                    gd.addNumericField("images", 1, 0);
                    gd.addStringField("lora", "", 40);
                    gd.addNumericField("cache_interval", 1, 0);
                    gd.addChoice("control", controlChoices(), ControlInput.NONE);
                    gd.addStringField("controlnet", "", 40);
                    gd.addNumericField("control_scale", 1, 2);
                    gd.addNumericField("control_start", 0, 2);
                    gd.addNumericField("control_end", 1, 2);
                    if (command.equals("generate")) {
                        gd.addNumericField("frames", 0, 0);
                        gd.addStringField("motion_adapter", "", 40);
                        gd.addNumericField("frame_interval", Animation.DEFAULT_FRAME_INTERVAL, 3);
                    }
                }
                gd.addCheckbox("use_roi", true);
                gd.addNumericField("mask_weight", 1, 2);
                gd.addChoice("framing", new String[] {Framing.CENTER_CROP, Framing.PAD_TO_SQUARE, Framing.CROP_TO_ROI_BOUNDS},
                        Framing.CENTER_CROP);
                if (command.equals("attention")) {
                    gd.addCheckbox("overlay", true);
                }
                gd.addStringField("models", storedModels, 40);
                gd.showDialog();
                if (gd.wasCanceled()) {
                    return null;
                }
                if (command.equals("multi")) {
                    values.put("queries", gd.getNextString());
                    values.put("scales", gd.getNextString());
                } else {
                    values.put("query", gd.getNextString());
                }
                if (!command.equals("attention")) {
                    values.put("prompt", gd.getNextString());
                    values.put("negative_prompt", gd.getNextString());
                    for (String key : List.of("scale", "guidance", "steps")) {
                        values.put(key, Double.toString(gd.getNextNumber()));
                    }
                    values.put("scheduler", gd.getNextChoice());
                    for (String key : List.of("width", "height", "seed", "images")) {
                        values.put(key, Long.toString(Math.round(gd.getNextNumber())));
                    }
                    values.put("lora", gd.getNextString());
                    values.put("cache_interval", Long.toString(Math.round(gd.getNextNumber())));
                    values.put("control", gd.getNextChoice());
                    values.put("controlnet", gd.getNextString());
                    for (String key : List.of("control_scale", "control_start", "control_end")) {
                        values.put(key, Double.toString(gd.getNextNumber()));
                    }
                    if (command.equals("generate")) {
                        values.put("frames", Long.toString(Math.round(gd.getNextNumber())));
                        values.put("motion_adapter", gd.getNextString());
                        values.put("frame_interval", Double.toString(gd.getNextNumber()));
                    }
                }
                values.put("use_roi", Boolean.toString(gd.getNextBoolean()));
                values.put("mask_weight", Double.toString(gd.getNextNumber()));
                values.put("framing", gd.getNextChoice());
                if (command.equals("attention")) {
                    values.put("overlay", Boolean.toString(gd.getNextBoolean()));
                }
                values.put("models", gd.getNextString());
            }
            case "train" -> {
                gd.addDirectoryField("data", "", 40);
                gd.addDirectoryField("output", "", 40);
                gd.addNumericField("steps", 1000, 0);
                gd.addNumericField("batch", 1, 0);
                gd.addStringField("lr", "5e-5", 10);
                gd.addNumericField("resolution", 512, 0);
                gd.addNumericField("save_every", 500, 0);
                gd.addDirectoryField("resume", "", 40);
                gd.addCheckbox("restart_optimizer", false);
                gd.addNumericField("seed", 0, 0);
                gd.addCheckbox("plot", true);
                gd.addCheckbox("gradient_checkpointing", false);
                gd.addStringField("models", storedModels, 40);
                gd.addMessage("data: a folder with a .jsonl file, one line per image: {\"file_name\": \"img.png\", \"text\": [\"caption\", \"query\"]}");
                gd.showDialog();
                if (gd.wasCanceled()) {
                    return null;
                }
                values.put("data", gd.getNextString());
                values.put("output", gd.getNextString());
                values.put("steps", Long.toString(Math.round(gd.getNextNumber())));
                values.put("batch", Long.toString(Math.round(gd.getNextNumber())));
                values.put("lr", gd.getNextString());
                values.put("resolution", Long.toString(Math.round(gd.getNextNumber())));
                values.put("save_every", Long.toString(Math.round(gd.getNextNumber())));
                values.put("resume", gd.getNextString());
                values.put("restart_optimizer", Boolean.toString(gd.getNextBoolean()));
                values.put("seed", Long.toString(Math.round(gd.getNextNumber())));
                values.put("plot", Boolean.toString(gd.getNextBoolean()));
                values.put("gradient_checkpointing", Boolean.toString(gd.getNextBoolean()));
                values.put("models", gd.getNextString());
            }
            case "settings" -> {
                gd.addDirectoryField("models", storedModels, 40);
                gd.addChoice("device", new String[] {"CPU", "GPU", "MPS"}, switch (stored.device()) {
                    case GPU -> "GPU";
                    case MPS -> "MPS";
                    case CPU, AUTO -> "CPU";
                });
                gd.addNumericField("threads", stored.threads(), 0);
                gd.addDirectoryField("libtorch", stored.libtorch() == null ? "" : stored.libtorch().toString(), 40);
                gd.addMessage("libtorch: an installed libtorch folder (e.g. CUDA); empty = the bundled CPU libtorch");
                gd.addFileField("checkpoint", stored.checkpoint() == null ? "" : stored.checkpoint().toString(), 40);
                gd.addCheckbox("ema", stored.ema());
                gd.addMessage("checkpoint: a single-file SD1.x model (.safetensors/.ckpt) replacing sd/'s weights; empty = sd/");
                gd.addDirectoryField("motion_adapter", stored.motionAdapter() == null ? "" : stored.motionAdapter().toString(), 40);
                gd.showDialog();
                if (gd.wasCanceled()) {
                    return null;
                }
                values.put("models", gd.getNextString());
                values.put("device", gd.getNextChoice());
                values.put("threads", Long.toString(Math.round(gd.getNextNumber())));
                values.put("libtorch", gd.getNextString());
                values.put("checkpoint", gd.getNextString());
                values.put("ema", Boolean.toString(gd.getNextBoolean()));
                values.put("motion_adapter", gd.getNextString());
            }
            default -> {
                return MacroOptions.of(values);
            }
        }
        return MacroOptions.of(values);
    }
}
