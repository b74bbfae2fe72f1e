package io.github.ssrencoder.train;

import java.nio.file.Path;
import java.util.List;

/**
 * One line of a training JSONL: the image and its caption and query texts. A list of texts gets a random
 * choice at every load (one draw even for a single-element list); a plain string is used as it is.
 *
 * @param image       the image file
 * @param captions    the caption texts (the UNet prompt)
 * @param captionList whether the captions came as a JSON list
 * @param queries     the query texts (the aligner's subject query)
 * @param queryList   whether the queries came as a JSON list
 */
public record TrainingExample(Path image, List<String> captions, boolean captionList, List<String> queries, boolean queryList) {

    public TrainingExample {
        captions = List.copyOf(captions);
        queries = List.copyOf(queries);
        if (captions.isEmpty() || queries.isEmpty()) {
            throw new IllegalArgumentException("an example needs at least one caption and one query: " + image);
        }
    }
}
