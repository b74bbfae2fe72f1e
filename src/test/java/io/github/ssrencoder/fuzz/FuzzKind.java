package io.github.ssrencoder.fuzz;

/**
 * The kinds of input the fuzzer mutates, each with the entry point its cases run through.
 */
enum FuzzKind {
    SAFETENSORS("safetensors weights (header, offsets)", Layer.READER),
    INIT_LATENTS("safetensors --init-latents", Layer.CLI_INPUT),
    TORCH_ZIP("torch zip checkpoint (zip structure)", Layer.READER),
    PICKLE("torch zip checkpoint (pickle opcodes)", Layer.READER),
    MODEL_CONFIG("config.json / preprocessor_config.json", Layer.CLI_MODELS),
    MODEL_INDEX("model_index.json", Layer.CLI_MODELS),
    TOKENIZER("tokenizer files", Layer.CLI_MODELS),
    SCHEDULER_CONFIG("scheduler_config.json", Layer.CLI_MODELS),
    JOB_FILE("job file (--job)", Layer.CLI_INPUT),
    PNG("PNG image", Layer.CLI_INPUT),
    TIFF("TIFF image", Layer.CLI_INPUT),
    JPEG("JPEG image", Layer.CLI_INPUT),
    MACRO_OPTIONS("macro options string", Layer.MACRO);

    /**
     * Where a case enters the software.
     * <ul>
     * <li>{@code READER}: {@code WeightFiles.open} and every tensor loaded — all a network loader does with the bytes
     * of a weight file; the CLI maps the reader's exception to exit 2 unchanged.</li>
     * <li>{@code CLI_INPUT}: {@code ssr generate} with the mutated file as image, mask, job file or initial latents; these
     * are read and checked before any model is loaded, so a case costs milliseconds.</li>
     * <li>{@code CLI_MODELS}: {@code ssr generate} (2 steps, 64²) on a copy of the tiny models folder with one mutated
     * file; a mutant that is still valid generates an image.</li>
     * <li>{@code MACRO}: the ImageJ 1.x adapter's parsing ({@code MacroOptions}, the generation parameters and the
     * request they make).</li>
     * </ul>
     */
    enum Layer { READER, CLI_INPUT, CLI_MODELS, MACRO }

    final String description;
    final Layer layer;

    FuzzKind(String description, Layer layer) {
        this.description = description;
        this.layer = layer;
    }
}
