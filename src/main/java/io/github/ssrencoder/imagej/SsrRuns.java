package io.github.ssrencoder.imagej;

import ij.ImagePlus;
import io.github.ssrencoder.pipeline.AttentionMaps;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.GenerationResult;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.SubjectQuery;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the Fiji commands and the ImageJ 1.x adapters do, without any UI: validate, build the request, run it
 * on the service's generator, and turn the result into new windows. Bad input throws
 * {@link IllegalArgumentException} with a message for the user; nothing touches the input images.
 */
public final class SsrRuns {

    /**
     * New windows of a run (not shown yet).
     *
     * @param result    the generated RGB image or stack, or {@code null} for an attention-only run
     * @param attention the attention heat-map stack of the first subject, or {@code null}
     * @param overlay   the reference copy with the attention overlay, or {@code null}
     */
    public record Outputs(ImagePlus result, ImagePlus attention, ImagePlus overlay) {
    }

    private SsrRuns() {
    }

    /** Generation from one subject of {@code imp} (its selection is the mask query when {@code useRoi}). */
    public static Outputs generateFromSubject(SsrService service, ImagePlus imp, String query, boolean useRoi,
                                              double maskWeight, String framing, String models,
                                              GenerationParameters params, ProgressListener progress) {
        return generateFromSubject(service, imp, query, useRoi, maskWeight, framing, models, params, null, progress);
    }

    /** As above, with a ControlNet guided by {@code control} ({@code null}: none). */
    public static Outputs generateFromSubject(SsrService service, ImagePlus imp, String query, boolean useRoi,
                                              double maskWeight, String framing, String models,
                                              GenerationParameters params, ControlInput control,
                                              ProgressListener progress) {
        return generateFromSubject(service, imp, query, useRoi, maskWeight, framing, models, params, control, null, progress);
    }

    /**
     * As above, generating a clip when {@code clip} is not {@code null}: the result is then a hyperstack with the
     * frames on the time axis.
     */
    public static Outputs generateFromSubject(SsrService service, ImagePlus imp, String query, boolean useRoi,
                                              double maskWeight, String framing, String models,
                                              GenerationParameters params, ControlInput control, ClipInput clip,
                                              ProgressListener progress) {
        SubjectQueries.Framed subject = SubjectQueries.of(imp, imp == null ? null : imp.getRoi(), query, useRoi,
                maskWeight, 1.0, Framing.parse(framing));
        Path root = service.modelsFor(models);
        Map<String, String> fiji = new LinkedHashMap<>();
        fiji.put("query", subject.query().text());
        fiji.put("reference", imp.getTitle());
        fiji.put("use_roi", Boolean.toString(subject.query().hasMask()));
        fiji.put("mask_weight", Double.toString(maskWeight));
        fiji.put("framing", Framing.name(subject.query().framing()));
        GenerationResult result = generate(service, root, List.of(subject), params, control, clip, fiji, progress);
        ImagePlus out = ResultImages.toImagePlus(result, params.prompt(), fiji);
        if (clip != null) {
            clip.toHyperstack(out);
        }
        ImagePlus attention = result.attention().isEmpty() ? null
                : AttentionImages.heatMaps(result.attention().get(0), subject);
        return new Outputs(out, attention, null);
    }

    /** Generation from several subjects (see {@link MultiSubjects}). */
    public static Outputs generateMulti(SsrService service, List<SubjectQueries.Framed> subjects, double maskWeight,
                                        String framing, String models, GenerationParameters params,
                                        ProgressListener progress) {
        return generateMulti(service, subjects, maskWeight, framing, models, params, null, progress);
    }

    /** As above, with a ControlNet guided by {@code control} ({@code null}: none). */
    public static Outputs generateMulti(SsrService service, List<SubjectQueries.Framed> subjects, double maskWeight,
                                        String framing, String models, GenerationParameters params,
                                        ControlInput control, ProgressListener progress) {
        Path root = service.modelsFor(models);
        Map<String, String> fiji = new LinkedHashMap<>();
        StringBuilder queries = new StringBuilder();
        StringBuilder weights = new StringBuilder();
        for (SubjectQueries.Framed s : subjects) {
            queries.append(queries.length() == 0 ? "" : ";").append(s.source().getTitle()).append('=').append(s.query().text());
            weights.append(weights.length() == 0 ? "" : ",").append(s.query().weight());
        }
        fiji.put("queries", queries.toString());
        fiji.put("scales", weights.toString());
        fiji.put("mask_weight", Double.toString(maskWeight));
        fiji.put("framing", framing == null || framing.isBlank() ? Framing.CENTER_CROP : framing);
        GenerationResult result = generate(service, root, subjects, params, control, null, fiji, progress);
        return new Outputs(ResultImages.toImagePlus(result, params.prompt(), fiji), null, null);
    }

    /** The token-to-patch attention of one query over its reference, optionally also as an overlay on a copy. */
    public static Outputs showAttention(SsrService service, ImagePlus imp, String query, boolean useRoi, double maskWeight,
                                        String framing, String models, boolean overlay, ProgressListener progress) {
        SubjectQueries.Framed subject = SubjectQueries.of(imp, imp == null ? null : imp.getRoi(), query, useRoi,
                maskWeight, 1.0, Framing.parse(framing));
        Path root = service.modelsFor(models);
        AttentionMaps maps = service.withGenerator(root, progress, g -> g.attention(subject.query(), progress));
        ImagePlus heat = AttentionImages.heatMaps(maps, subject);
        heat.setProp("models", root.toString());
        heat.setProp("use_roi", Boolean.toString(subject.query().hasMask()));
        heat.setProp("mask_weight", Double.toString(maskWeight));
        return new Outputs(null, heat, overlay ? AttentionImages.overlay(heat, subject) : null);
    }

    private static GenerationResult generate(SsrService service, Path root, List<SubjectQueries.Framed> subjects,
                                             GenerationParameters params, ControlInput control, ClipInput clip,
                                             Map<String, String> fiji, ProgressListener progress) {
        long seed = params.resolveSeed();
        List<SubjectQuery> queries = subjects.stream().map(SubjectQueries.Framed::query).toList();
        GenerationRequest request = params.toRequest(queries, seed);
        if (control != null) {
            request = request.withControls(List.of(control.toControl(root)));
            control.describe(fiji, root);
        }
        if (clip != null) {
            io.github.ssrencoder.pipeline.Animation animation = clip.toAnimation(service.settings());
            request = request.withAnimation(animation);
            clip.describe(fiji, animation);
        }
        fiji.putAll(params.describe(seed));
        fiji.put("models", root.toString());
        GenerationRequest run = request;
        return service.withGenerator(root, progress, g -> g.generate(run, progress));
    }
}
