package io.github.ssrencoder.imagej;

import ij.ImagePlus;
import org.scijava.ItemIO;
import org.scijava.command.Command;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;

/**
 * Shows which parts of the reference each word of the query selects: the token-to-patch attention as a
 * heat-map stack {@code SSR attention - <query>} (one slice per token and a mean slice) and, optionally, a
 * copy of the reference with the mean map as a transparent overlay. No denoising runs.
 */
@Plugin(type = Command.class, label = "Show Query Attention", headless = true)
public class ShowQueryAttentionCommand extends SsrCommand {

    @Parameter(label = "Reference image", required = false)
    private ImagePlus input;

    @Parameter(label = "Query")
    private String query = "";

    @Parameter(label = "Use ROI as mask query")
    private boolean use_roi = true;

    @Parameter(label = "Mask weight", min = "0", stepSize = "0.5")
    private double mask_weight = 1.0;

    @Parameter(label = "Framing", choices = {Framing.CENTER_CROP, Framing.PAD_TO_SQUARE, Framing.CROP_TO_ROI_BOUNDS})
    private String framing = Framing.CENTER_CROP;

    @Parameter(label = "Also as overlay on a copy of the reference")
    private boolean overlay = true;

    @Parameter(label = "Models folder (empty = Settings)", required = false, persist = false)
    private String models = "";

    @Parameter(type = ItemIO.OUTPUT)
    private ImagePlus attention;

    @Parameter(type = ItemIO.OUTPUT)
    private ImagePlus attention_overlay;

    @Override
    protected void execute(StatusProgress progress) {
        SsrRuns.Outputs out = SsrRuns.showAttention(ssr, input, query, use_roi, mask_weight, framing, models, overlay,
                progress);
        attention = out.attention();
        attention_overlay = out.overlay();
    }
}
