package io.github.ssrencoder.train;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * One prepared batch: the inputs of a training step as the official {@code collate_fn} returns them, and the
 * augmentation decisions that made them.
 *
 * @param pixelValues     VAE input [B, 3, R, R] in [−1, 1] (flipped where decided)
 * @param clipPixelValues CLIP input [B, 3, 224, 224] of the original images
 * @param promptIds       caption token ids [B, 77] ("" when dropped)
 * @param conceptIds      query token ids [B, 77]
 * @param captions        the caption used per example ("" when dropped)
 * @param queries         the query used per example
 * @param flipped         whether each VAE image was flipped
 */
public record TrainingBatch(NDArray pixelValues, NDArray clipPixelValues, NDArray promptIds, NDArray conceptIds,
                            List<String> captions, List<String> queries, boolean[] flipped) implements AutoCloseable {

    public int size() {
        return captions.size();
    }

    @Override
    public void close() {
        pixelValues.close();
        clipPixelValues.close();
        promptIds.close();
        conceptIds.close();
    }
}
