package io.github.ssrencoder.imagej;

import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.EngineRuntime.DeviceChoice;
import io.github.ssrencoder.pipeline.CancelledException;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.SsrPipeline;
import io.github.ssrencoder.pipeline.SubjectGenerator;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import org.scijava.plugin.Parameter;
import org.scijava.plugin.Plugin;
import org.scijava.prefs.PrefService;
import org.scijava.service.AbstractService;
import org.scijava.service.SciJavaService;
import org.scijava.service.Service;

/**
 * Keeps the loaded models of one Fiji session: loading Stable Diffusion is slow, so the generator is opened
 * lazily on first use and kept across runs, reopened when the models folder, device or threads change (the
 * low-memory setting is applied to the loaded generator without reloading), and
 * closed by {@link #unload()}. Runs are serialised by one lock because a generator holds one set of native
 * weights: a run started while another holds it says in its progress that it waits, and can be cancelled while it
 * waits. Settings live in the SciJava {@link PrefService}. The libtorch setting is handed to
 * {@link EngineRuntime#useLibtorch} before the real pipeline loads (it takes effect when the engine starts).
 */
@Plugin(type = Service.class)
public class SsrService extends AbstractService implements SciJavaService {

    /** Opens a generator on a models folder with the settings' checkpoint, device and threads (the real one is {@link SsrPipeline#open}). */
    @FunctionalInterface
    public interface GeneratorFactory {
        SubjectGenerator open(Path modelsRoot, SsrSettings settings);
    }

    /** The progress stage of a run that waits for another one to finish. */
    public static final String WAITING = "waiting for the running generation to finish (one at a time)";
    private static final long WAIT_POLL_MS = 100;
    private static final String KEY_MODELS = "models";
    private static final String KEY_DEVICE = "device";
    private static final String KEY_THREADS = "threads";
    private static final String KEY_LIBTORCH = "libtorch";
    private static final String KEY_CHECKPOINT = "checkpoint";
    private static final String KEY_EMA = "ema";
    private static final String KEY_MOTION_ADAPTER = "motion_adapter";
    private static final String KEY_LOW_MEMORY = "low_memory";
    /** The real factory; only it points the engine at the libtorch setting (tests' fakes leave the engine alone). */
    private static final GeneratorFactory PIPELINE = (root, s) -> SsrPipeline.open(root, s.checkpoint(), s.ema(),
            s.lowMemory(), s.device(), s.threads(), ProgressListener.NONE);

    @Parameter
    private PrefService prefs;

    private final ReentrantLock lock = new ReentrantLock();
    private GeneratorFactory factory = PIPELINE;
    private SubjectGenerator generator;
    private SsrSettings loadedWith;

    /** Replaces how generators are opened (tests, other back ends); unloads the current one. */
    public void setGeneratorFactory(GeneratorFactory f) {
        lock.lock();
        try {
            unloadLocked();
            factory = Objects.requireNonNull(f, "factory");
        } finally {
            lock.unlock();
        }
    }

    /** The stored settings (defaults when nothing was saved). */
    public SsrSettings settings() {
        String models = prefs.get(SsrService.class, KEY_MODELS, "");
        DeviceChoice device;
        try {
            device = DeviceChoice.parse(prefs.get(SsrService.class, KEY_DEVICE, "cpu"));
        } catch (IllegalArgumentException e) {
            device = DeviceChoice.CPU;
        }
        int threads = Math.max(0, prefs.getInt(SsrService.class, KEY_THREADS, 0));
        String libtorch = prefs.get(SsrService.class, KEY_LIBTORCH, "");
        String checkpoint = prefs.get(SsrService.class, KEY_CHECKPOINT, "");
        String motionAdapter = prefs.get(SsrService.class, KEY_MOTION_ADAPTER, "");
        return new SsrSettings(models.isBlank() ? null : Path.of(models), device, threads,
                libtorch.isBlank() ? null : Path.of(libtorch), checkpoint.isBlank() ? null : Path.of(checkpoint),
                prefs.getBoolean(SsrService.class, KEY_EMA, false)).withMotionAdapter(motionAdapter.isBlank() ? null : Path.of(motionAdapter))
                .withLowMemory(prefs.getBoolean(SsrService.class, KEY_LOW_MEMORY, false));
    }

    /** Stores {@code s}; the next run reloads the models if they differ from the loaded ones. */
    public void saveSettings(SsrSettings s) {
        prefs.put(SsrService.class, KEY_MODELS, s.models() == null ? "" : s.models().toString());
        prefs.put(SsrService.class, KEY_DEVICE, s.device().name().toLowerCase(java.util.Locale.ROOT));
        prefs.put(SsrService.class, KEY_THREADS, s.threads());
        prefs.put(SsrService.class, KEY_LIBTORCH, s.libtorch() == null ? "" : s.libtorch().toString());
        prefs.put(SsrService.class, KEY_CHECKPOINT, s.checkpoint() == null ? "" : s.checkpoint().toString());
        prefs.put(SsrService.class, KEY_EMA, s.ema());
        prefs.put(SsrService.class, KEY_MOTION_ADAPTER, s.motionAdapter() == null ? "" : s.motionAdapter().toString());
        prefs.put(SsrService.class, KEY_LOW_MEMORY, s.lowMemory());
    }

    /**
     * The models folder a run uses: {@code override} when not blank, else the stored one; validated, so a
     * missing or incomplete folder is reported before anything is loaded.
     */
    public Path modelsFor(String override) {
        Path p = override == null || override.isBlank() ? settings().models() : Path.of(override.trim());
        return ModelsFolderCheck.validate(p, settings().checkpoint());
    }

    /**
     * Runs {@code work} with the generator for {@code models} (stored device, threads and libtorch), loading
     * or reloading it first when needed. Only one run at a time; others wait.
     */
    public <T> T withGenerator(Path models, Function<SubjectGenerator, T> work) {
        return withGenerator(models, ProgressListener.NONE, work);
    }

    /**
     * As above; while another run holds the models, {@code progress} hears that this one waits, and cancelling it
     * ends the wait with {@link CancelledException}.
     */
    public <T> T withGenerator(Path models, ProgressListener progress, Function<SubjectGenerator, T> work) {
        SsrSettings wanted = settings().withModels(models);
        acquire(progress);
        try {
            if (generator != null && !serves(loadedWith, wanted)) {
                unloadLocked();
            }
            if (generator == null) {
                if (factory == PIPELINE) {
                    EngineRuntime.useLibtorch(wanted.libtorch()); // logs when it needs a restart to take effect
                }
                generator = Objects.requireNonNull(factory.open(models, wanted),
                        "the generator factory returned nothing");
                loadedWith = wanted;
            }
            if (loadedWith.lowMemory() != wanted.lowMemory()) {
                generator.setLowMemory(wanted.lowMemory());
                loadedWith = wanted;
            }
            return work.apply(generator);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether models loaded with {@code loaded} serve {@code wanted}: libtorch changes only when the engine next starts,
     * the motion adapter is loaded by the generator per run, and low-memory mode is switched on the loaded generator.
     */
    private static boolean serves(SsrSettings loaded, SsrSettings wanted) {
        return loaded != null && loaded.withLibtorch(wanted.libtorch()).withMotionAdapter(wanted.motionAdapter())
                .withLowMemory(wanted.lowMemory()).equals(wanted);
    }

    /** Whether models are loaded now. */
    public boolean isLoaded() {
        lock.lock();
        try {
            return generator != null;
        } finally {
            lock.unlock();
        }
    }

    /** Closes the loaded models, freeing their native memory; waits for a running generation to finish. */
    public void unload() {
        unload(ProgressListener.NONE);
    }

    /** As above, telling {@code progress} when it waits for a running generation; whether models were loaded. */
    public boolean unload(ProgressListener progress) {
        acquire(progress);
        try {
            boolean was = generator != null;
            unloadLocked();
            return was;
        } finally {
            lock.unlock();
        }
    }

    /** Takes the run lock; when another run holds it, says so and waits, polling for a cancel. */
    private void acquire(ProgressListener progress) {
        if (lock.tryLock()) {
            return;
        }
        progress.stage(WAITING);
        try {
            while (!lock.tryLock(WAIT_POLL_MS, TimeUnit.MILLISECONDS)) {
                if (progress.isCancelled()) {
                    throw new CancelledException();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CancelledException();
        }
    }

    private void unloadLocked() {
        if (generator != null) {
            try {
                generator.close();
            } finally {
                generator = null;
                loadedWith = null;
            }
        }
    }

    @Override
    public void dispose() {
        unload();
    }
}
