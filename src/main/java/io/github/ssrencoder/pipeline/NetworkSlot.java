package io.github.ssrencoder.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.io.WeightFileException;
import java.nio.file.Path;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * A network of the pipeline held in its own native memory, so that it can leave between runs: the image encoder is
 * needed only to encode the subjects at the start of a run and the VAE only to decode at its end. Kept loaded by
 * default; in low-memory mode it is loaded when the run needs it and released as soon as that stage is done, and
 * loaded again from the same files by the next run (the same files give the same weights, so the outputs do not
 * change). A network that cannot be loaded on its own (the VAE of a single-file checkpoint) is always kept.
 *
 * @param <T> the network
 */
final class NetworkSlot<T> {

    private final String name;
    private final Path folder;
    private final NDManager parent;
    private final BiFunction<Path, NDManager, T> loader;
    private final Function<T, Object> config;
    private final Object loadedConfig;
    private final long weightBytes;
    private final boolean reloadable;
    private boolean keepLoaded = true;
    private NDManager memory;
    private T network;

    private NetworkSlot(String name, Path folder, NDManager parent, BiFunction<Path, NDManager, T> loader,
                        Function<T, Object> config, NDManager memory, T network, boolean reloadable) {
        this.name = name;
        this.folder = folder;
        this.parent = parent;
        this.loader = loader;
        this.config = config;
        this.memory = memory;
        this.network = network;
        this.loadedConfig = config.apply(network);
        this.weightBytes = memory == null ? 0 : bytesOf(memory);
        this.reloadable = reloadable;
    }

    /**
     * Loads {@code name} from {@code folder} with {@code loader} into a sub-manager of {@code parent}; {@code config}
     * gives what must not change between loads (its configuration).
     */
    static <T> NetworkSlot<T> load(String name, Path folder, NDManager parent, BiFunction<Path, NDManager, T> loader,
                                   Function<T, Object> config) {
        NDManager memory = parent.newSubManager();
        try {
            return new NetworkSlot<>(name, folder, parent, loader, config, memory, loader.apply(folder, memory), true);
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /** A network loaded elsewhere (e.g. from a single-file checkpoint) that stays loaded whatever the mode. */
    static <T> NetworkSlot<T> pinned(String name, T network, Function<T, Object> config) {
        return new NetworkSlot<>(name, null, null, null, config, null, network, false);
    }

    /** The bytes of the weights in memory (measured at the first load; 0 for a pinned network). */
    long weightBytes() {
        return weightBytes;
    }

    /** Whether the weights are in memory now. */
    boolean isLoaded() {
        return network != null;
    }

    /** Whether the weights stay loaded between runs; turning it off releases them now (unless pinned). */
    void setKeepLoaded(boolean keep) {
        keepLoaded = keep || !reloadable;
        if (!keepLoaded) {
            unload();
        }
    }

    boolean keepsLoaded() {
        return keepLoaded;
    }

    /**
     * The network, loading it again when it was released. Files that changed so that they no longer give the same
     * configuration are refused.
     *
     * @throws WeightFileException when the files cannot be read again (e.g. deleted since the models were opened)
     */
    T get(ProgressListener progress) {
        if (network == null) {
            progress.stage("Loading " + name);
            NDManager m = parent.newSubManager();
            try {
                T loaded = loader.apply(folder, m);
                Object c = config.apply(loaded);
                if (!c.equals(loadedConfig)) {
                    throw WeightFileException.of(folder.resolve("config.json"), "the " + name + "'s configuration changed "
                            + "since the models were loaded (" + c + " instead of " + loadedConfig + "); load the models again");
                }
                memory = m;
                network = loaded;
            } catch (RuntimeException | Error e) {
                m.close();
                throw e;
            }
        }
        return network;
    }

    /** Releases the weights unless they are kept loaded between runs. */
    void releaseUnlessKept() {
        if (!keepLoaded) {
            unload();
        }
    }

    /** Releases the weights' native memory (a reloadable network is loaded again by {@link #get}). */
    void unload() {
        if (memory != null) {
            network = null;
            memory.close();
            memory = null;
            FreedMemory.release();
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
