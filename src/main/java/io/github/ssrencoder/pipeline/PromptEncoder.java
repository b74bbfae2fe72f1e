package io.github.ssrencoder.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.model.ClipTextEncoder;
import io.github.ssrencoder.model.ClipTokenizer;

/** Turns text into the CLIP text encoder's last hidden state [1, 77, D], warning when a text is truncated. */
final class PromptEncoder {

    private final ClipTokenizer tokenizer;
    private final ClipTextEncoder encoder;

    PromptEncoder(ClipTokenizer tokenizer, ClipTextEncoder encoder) {
        this.tokenizer = tokenizer;
        this.encoder = encoder;
    }

    ClipTokenizer tokenizer() {
        return tokenizer;
    }

    /** The text length the encoder sees (77 for CLIP). */
    int contextLength() {
        return tokenizer.maxLength();
    }

    /** Encodes {@code text} into {@code manager}; {@code what} names the text in a truncation warning. */
    NDArray encode(String text, String what, NDManager manager, ProgressListener progress) {
        ClipTokenizer.TokenizedText tok = tokenizer.tokenize(text);
        if (tok.truncated()) {
            progress.warning(what + " is longer than " + (tokenizer.maxLength() - 2) + " tokens and was truncated: \"" + text + "\"");
        }
        try (NDArray ids = manager.create(tok.inputIds()).reshape(1, tok.inputIds().length)) {
            return encoder.forward(ids);
        }
    }
}
