package io.github.ssrencoder.pipeline;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;

/**
 * What a generation returns: the images, their final latents (before VAE decoding), the attention maps of
 * each subject, the seed actually used, and every parameter that produced them (for reproducibility).
 *
 * @param images     generated RGB images, one per requested image
 * @param latents    final latents, one per image
 * @param attention  A_t2p per subject, in request order
 * @param seed       seed used (null when explicit initial latents were given without a seed and no step drew noise)
 * @param parameters ordered name → value of every input that determines the result
 */
public record GenerationResult(List<RandomAccessibleInterval<ARGBType>> images, List<Latents> latents,
                               List<AttentionMaps> attention, Long seed, Map<String, String> parameters) {

    public GenerationResult {
        images = List.copyOf(images);
        latents = List.copyOf(latents);
        attention = List.copyOf(attention);
        parameters = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    }
}
