package io.github.ssrencoder.imagej;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.ColorProcessor;
import io.github.ssrencoder.pipeline.GenerationResult;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.imglib2.Cursor;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.view.Views;

/**
 * Turns generated images into a new RGB ImagePlus (a stack when several) titled {@code SSR - <prompt>}, with
 * every parameter that produced it in its Info text and as image properties, so a result can be reproduced.
 */
public final class ResultImages {

    private ResultImages() {
    }

    /** The result window for {@code result}; {@code fijiParameters} (query, framing, models…) come first. */
    public static ImagePlus toImagePlus(GenerationResult result, String prompt, Map<String, String> fijiParameters) {
        List<RandomAccessibleInterval<ARGBType>> images = result.images();
        if (images.isEmpty()) {
            throw new IllegalStateException("the generator returned no image");
        }
        int w = (int) images.get(0).dimension(0);
        int h = (int) images.get(0).dimension(1);
        ImageStack stack = new ImageStack(w, h);
        for (int k = 0; k < images.size(); k++) {
            stack.addSlice("image " + (k + 1), toProcessor(images.get(k)));
        }
        ImagePlus imp = new ImagePlus("SSR - " + prompt, stack);
        Map<String, String> all = new LinkedHashMap<>(fijiParameters);
        result.parameters().forEach(all::putIfAbsent);
        if (result.seed() != null) {
            all.put("seed", result.seed().toString());
        }
        StringBuilder info = new StringBuilder("SSR-Encoder generation\n");
        all.forEach((k, v) -> {
            info.append(k).append(" = ").append(v).append('\n');
            imp.setProp(k, v);
        });
        imp.setProperty("Info", info.toString());
        return imp;
    }

    /** Copies an RGB image into a new ColorProcessor. */
    public static ColorProcessor toProcessor(RandomAccessibleInterval<ARGBType> image) {
        int w = (int) image.dimension(0);
        int h = (int) image.dimension(1);
        int[] px = new int[w * h];
        Cursor<ARGBType> c = Views.flatIterable(Views.zeroMin(image)).cursor();
        for (int i = 0; i < px.length; i++) {
            px[i] = c.next().get() & 0xffffff;
        }
        return new ColorProcessor(w, h, px);
    }
}
