package io.github.ssrencoder.imagej;

import ij.ImagePlus;
import io.github.ssrencoder.io.ModelsFolder;
import io.github.ssrencoder.pipeline.Control;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Function;

/**
 * A control image for a ControlNet, chosen among the open images ({@code control=[title]}): any type — 8/16/32-bit,
 * RGB, a label image with its LUT — is used as displayed (current plane, display range and LUT), like the
 * reference. The ControlNet folder defaults to the models folder's {@code controlnet/}.
 *
 * @param image      the control image
 * @param controlnet {@code controlnet}: the ControlNet folder, blank for the models folder's {@code controlnet/}
 * @param scale      {@code control_scale}: the ControlNet's conditioning scale
 * @param start      {@code control_start}: fraction of the steps before the ControlNet acts (0 = from the first)
 * @param end        {@code control_end}: fraction of the steps after which it stops (1 = to the last)
 */
public record ControlInput(ImagePlus image, String controlnet, double scale, double start, double end) {

    public ControlInput {
        if (!(start >= 0 && start < end && end <= 1)) {
            throw new IllegalArgumentException("control_start and control_end must satisfy 0 ≤ control_start < control_end ≤ 1, "
                    + "got " + start + " and " + end);
        }
    }

    /** A control acting at every step. */
    public ControlInput(ImagePlus image, String controlnet, double scale) {
        this(image, controlnet, scale, 0.0, 1.0);
    }

    /** The value of the {@code control} key that means no ControlNet. */
    public static final String NONE = "none";

    /**
     * The control named by {@code title} ({@code null} when blank or {@code none}), looked up with {@code byTitle}
     * among the open images.
     */
    public static ControlInput of(String title, String controlnet, double scale, Function<String, ImagePlus> byTitle) {
        return of(title, controlnet, scale, 0.0, 1.0, byTitle);
    }

    /** As {@link #of(String, String, double, Function)} acting from fraction {@code start} to {@code end} of the steps. */
    public static ControlInput of(String title, String controlnet, double scale, double start, double end,
                                  Function<String, ImagePlus> byTitle) {
        if (title == null || title.isBlank() || title.trim().equalsIgnoreCase(NONE)) {
            return null;
        }
        ImagePlus imp = byTitle.apply(title.trim());
        if (imp == null) {
            throw new IllegalArgumentException("no open image titled '" + title.trim() + "' for control=[…]: open the "
                    + "control image first, or use control=[none]");
        }
        return of(imp, controlnet, scale, start, end);
    }

    /** The control {@code imp} ({@code null} when {@code imp} is {@code null}). */
    public static ControlInput of(ImagePlus imp, String controlnet, double scale) {
        return of(imp, controlnet, scale, 0.0, 1.0);
    }

    /** The control {@code imp} acting from fraction {@code start} to {@code end} of the steps ({@code null} without {@code imp}). */
    public static ControlInput of(ImagePlus imp, String controlnet, double scale, double start, double end) {
        return imp == null ? null : new ControlInput(imp, controlnet == null ? "" : controlnet.trim(), scale, start, end);
    }

    /** The pipeline's control, rendered as displayed; the ControlNet folder resolved against {@code modelsRoot}. */
    public Control toControl(Path modelsRoot) {
        Path folder = controlnet.isBlank()
                ? ModelsFolder.defaultControlNet(modelsRoot).orElseThrow(() -> new IllegalArgumentException(
                        "no ControlNet for control image '" + image.getTitle() + "': give controlnet=[folder] or put one in "
                                + modelsRoot.resolve("controlnet")))
                : Path.of(controlnet);
        return new Control(PlaneRenderer.renderArgb(image), folder, scale, start, end, image.getTitle());
    }

    /** The macro keys of this control, for the result's Info. */
    public void describe(Map<String, String> into, Path modelsRoot) {
        into.put("control", image.getTitle());
        into.put("controlnet", controlnet.isBlank() ? modelsRoot.resolve("controlnet").toString() : controlnet);
        into.put("control_scale", Double.toString(scale));
        into.put("control_start", Double.toString(start));
        into.put("control_end", Double.toString(end));
    }
}
