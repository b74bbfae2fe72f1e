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
}
