package io.github.ssrencoder.io;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.FileSystemNotFoundException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.util.Map;

/**
 * Stable Diffusion 1.5's text encoder config, CLIP tokenizer and scheduler config, bundled with the plugin for
 * single-file checkpoints, which carry none of them, when the models folder's {@code sd/} does not hold them
 * either. The tokenizer is CLIP's BPE vocabulary (49408 tokens) and merges as SD1.5 ships them. Handed out as
 * {@link Path}s (inside the plugin jar when run from one) so the usual folder readers apply unchanged.
 */
public final class Sd15Defaults {

    private static final String ROOT = "sd15/";

    private Sd15Defaults() {
    }

    /** {@code text_encoder/config.json}: CLIP ViT-L/14's text tower (768 wide, 12 layers, 12 heads, MLP 3072). */
    public static Path textEncoderConfig() {
        return resource("text_encoder/config.json");
    }

    /** {@code tokenizer/}: vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json. */
    public static Path tokenizer() {
        return resource("tokenizer/vocab.json").getParent();
    }

    /** {@code scheduler/scheduler_config.json}: PNDM with scaled-linear betas 0.00085 – 0.012 over 1000 steps. */
    public static Path schedulerConfig() {
        return resource("scheduler/scheduler_config.json");
    }

    private static Path resource(String name) {
        URL url = Sd15Defaults.class.getResource(ROOT + name);
        if (url == null) {
            throw new IllegalStateException("bundled resource " + ROOT + name + " is missing");
        }
        try {
            URI uri = url.toURI();
            if (!"jar".equals(uri.getScheme())) {
                return Path.of(uri);
            }
            return jarFileSystem(uri).provider().getPath(uri);
        } catch (URISyntaxException | IOException e) {
            throw new IllegalStateException("cannot open bundled resource " + url, e);
        }
    }

    private static synchronized FileSystem jarFileSystem(URI uri) throws IOException {
        try {
            return FileSystems.getFileSystem(uri);
        } catch (FileSystemNotFoundException e) {
            try {
                return FileSystems.newFileSystem(uri, Map.of());
            } catch (FileSystemAlreadyExistsException raced) {
                return FileSystems.getFileSystem(uri);
            }
        }
    }
}
