package io.github.ssrencoder.pipeline;

/**
 * The generation API the user-facing layers (Fiji commands, CLI, scripts) program against;
 * {@link SsrPipeline} implements it on the real networks.
 */
public interface SubjectGenerator extends AutoCloseable {

    /** Generates images for {@code request}; throws {@link CancelledException} if cancelled. */
    GenerationResult generate(GenerationRequest request, ProgressListener progress);

    /** Computes only the token-to-patch attention of one query (no denoising). */
    AttentionMaps attention(SubjectQuery query, ProgressListener progress);

    /** Frees every native resource held by the loaded models. */
    @Override
    void close();

    /**
     * Low-memory mode: networks needed only at the start of a run are released between runs and loaded again
     * for the next one, without changing the results (see {@link SsrPipeline#setLowMemory}); generators that keep
     * nothing optional loaded ignore it.
     */
    default void setLowMemory(boolean on) {
    }
}
