package io.github.ssrencoder.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.model.ClipVisionConfig;
import io.github.ssrencoder.model.ClipVisionEncoder;
import java.nio.file.Path;

/**
 * The CLIP image encoder of a pipeline, in its own native memory so that it can leave between runs: it is needed
 * only to encode the subjects at the start of a run, and at 1.2 GB (float32, ViT-L/14) it is the largest network
 * after the UNet. Kept loaded by default; in low-memory mode it is loaded for the subject encoding and released as
 * soon as that is done, before denoising, and loaded again from the same folder by the next run (the same file gives
 * the same weights, so the outputs do not change).
 */
final class ImageEncoderSlot {

    private final Path folder;
    private final NDManager parent;
    private final ClipVisionConfig config;
    private final long weightBytes;
    private boolean keepLoaded = true;
    private NDManager memory;
    private ClipVisionEncoder encoder;

    private ImageEncoderSlot(Path folder, NDManager parent, NDManager memory, ClipVisionEncoder encoder) {
        this.folder = folder;
        this.parent = parent;
        this.memory = memory;
        this.encoder = encoder;
        this.config = encoder.config();
        this.weightBytes = bytesOf(memory);
    }

    /** Loads the encoder of {@code folder} into a sub-manager of {@code parent}. */
    static ImageEncoderSlot load(Path folder, NDManager parent) {
        NDManager memory = parent.newSubManager();
        try {
            return new ImageEncoderSlot(folder, parent, memory, ClipVisionEncoder.load(folder, memory));
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /** The encoder's configuration (known whether or not its weights are loaded). */
    ClipVisionConfig config() {
        return config;
    }

    /** The bytes of the encoder's weights in memory (measured at the first load). */
    long weightBytes() {
        return weightBytes;
    }

    /** Whether the weights are in memory now. */
    boolean isLoaded() {
        return encoder != null;
    }

    /** Whether the weights stay loaded between runs; turning it off releases them now. */
    void setKeepLoaded(boolean keep) {
        keepLoaded = keep;
        if (!keep) {
            unload();
        }
    }

    boolean keepsLoaded() {
        return keepLoaded;
    }

    /**
     * The encoder, loading it again when it was released. A folder whose files changed so that they no longer
     * give the same network is refused.
     *
     * @throws WeightFileException when the files cannot be read again (e.g. deleted since the models were opened)
     */
    ClipVisionEncoder get(ProgressListener progress) {
        if (encoder == null) {
            progress.stage("Loading image encoder");
            NDManager m = parent.newSubManager();
            try {
                ClipVisionEncoder loaded = ClipVisionEncoder.load(folder, m);
                if (!loaded.config().equals(config)) {
                    throw WeightFileException.of(folder.resolve("config.json"), "the image encoder's configuration changed "
                            + "since the models were loaded (" + loaded.config() + " instead of " + config
                            + "); load the models again");
                }
                memory = m;
                encoder = loaded;
            } catch (RuntimeException | Error e) {
                m.close();
                throw e;
            }
        }
        return encoder;
    }

    /** Releases the weights unless they are kept loaded between runs. */
    void releaseUnlessKept() {
        if (!keepLoaded) {
            unload();
        }
    }

    /** Releases the weights' native memory (they are loaded again by {@link #get}). */
    void unload() {
        if (memory != null) {
            encoder = null;
            memory.close();
            memory = null;
        }
    }

    private static long bytesOf(NDManager m) {
        long n = 0;
        for (NDArray a : m.getManagedArrays()) {
            n += a.size() * a.getDataType().getNumOfBytes();
        }
        return n;
    }
}
