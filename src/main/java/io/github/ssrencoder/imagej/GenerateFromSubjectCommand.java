package io.github.ssrencoder.imagej;

import ij.ImagePlus;
import org.scijava.ItemIO;
import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

/**
 * Generates images of the subject in the active image: the query text names it; an area selection on the
 * image is the mask query when {@code use_roi} is on. Opens {@code SSR - <prompt>} (an RGB stack when several
 * images; with {@code frames} &gt; 0 a clip from the motion adapter, a hyperstack with the frames on the time axis)
 * and {@code SSR attention - <query>}.
 */
@Plugin(type = Command.class, label = "Generate from Subject", headless = true)
public class GenerateFromSubjectCommand extends SsrCommand {

    @Parameter(label = "Reference image", required = false)
    private ImagePlus input;

    @Parameter(label = "Query (names the subject)")
    private String query = "";

    @Parameter(label = "Prompt", required = false)
    private String prompt = "";

    @Parameter(label = "Negative prompt", required = false)
    private String negative_prompt = "";

    @Parameter(label = "Subject scale", min = "0", max = "10", stepSize = "0.1")
    private double scale = 1.0;

    @Parameter(label = "Guidance", min = "0", max = "50", stepSize = "0.5")
    private double guidance = 7.5;

    @Parameter(label = "Steps", min = "1", max = "1000")
    private int steps = 30;

    @Parameter(label = "Scheduler", choices = {"unipc", "ddim", "pndm", "euler", "euler-a", "dpmpp-2m", "lcm"})
    private String scheduler = "unipc";

    @Parameter(label = "Width", min = "8", max = "4096", stepSize = "8")
    private int width = 512;

    @Parameter(label = "Height", min = "8", max = "4096", stepSize = "8")
    private int height = 512;

    @Parameter(label = "Seed (-1 = random)", min = "-1")
    private long seed = -1;

    @Parameter(label = "Number of images", min = "1", max = "64")
    private int images = 1;

    @Parameter(label = "Use ROI as mask query")
    private boolean use_roi = true;

    @Parameter(label = "Mask weight", min = "0", stepSize = "0.5")
    private double mask_weight = 1.0;

    @Parameter(label = "Framing", choices = {Framing.CENTER_CROP, Framing.PAD_TO_SQUARE, Framing.CROP_TO_ROI_BOUNDS})
    private String framing = Framing.CENTER_CROP;

    @Parameter(label = "LoRAs (file:weight;file:weight, empty = none)", required = false, persist = false)
    private String lora;

    @Parameter(label = "Feature caching: whole UNet every N-th step (1 = off)", min = "1", max = "1000", required = false,
            persist = false)
    private int cache_interval = 1;

    @Parameter(label = "Control image for a ControlNet (none = no ControlNet)", required = false, persist = false)
    private ImagePlus control;

    @Parameter(label = "ControlNet folder (empty = the models folder's controlnet/)", required = false, persist = false)
    private String controlnet = "";

    @Parameter(label = "ControlNet scale", min = "0", max = "10", stepSize = "0.1", required = false, persist = false)
    private double control_scale = 1.0;

    @Parameter(label = "ControlNet from (fraction of the steps)", min = "0", max = "1", stepSize = "0.05", required = false,
            persist = false)
    private double control_start = 0.0;

    @Parameter(label = "ControlNet until (fraction of the steps)", min = "0", max = "1", stepSize = "0.05", required = false,
            persist = false)
    private double control_end = 1.0;

    @Parameter(label = "Frames of a clip (0 = images; needs a motion adapter)", min = "0", max = "1024", required = false,
            persist = false)
    private int frames = 0;

    @Parameter(label = "Motion adapter folder (empty = Settings)", required = false, persist = false)
    private String motion_adapter = "";

    @Parameter(label = "Frame interval (s)", min = "0.001", stepSize = "0.025", required = false, persist = false)
    private double frame_interval = io.github.ssrencoder.pipeline.Animation.DEFAULT_FRAME_INTERVAL;

    @Parameter(label = "Models folder (empty = Settings)", required = false, persist = false)
    private String models = "";

    @Parameter(type = ItemIO.OUTPUT)
    private ImagePlus result;

    @Parameter(type = ItemIO.OUTPUT)
    private ImagePlus attention;

    @Override
    protected void execute(StatusProgress progress) {
        GenerationParameters params = new GenerationParameters(prompt, negative_prompt, scale, guidance, steps,
                scheduler, width, height, seed, images, lora, cache_interval);
        SsrRuns.Outputs out = SsrRuns.generateFromSubject(ssr, input, query, use_roi, mask_weight, framing, models,
                params, ControlInput.of(control, controlnet, control_scale, control_start, control_end),
                ClipInput.of(frames, motion_adapter, frame_interval), progress);
        result = out.result();
        attention = out.attention();
        logInfo("SSR-Encoder: generated " + result.getStackSize() + (frames > 0 ? " frame(s)" : " image(s)") + ", seed "
                + result.getProp("seed"));
    }
}
