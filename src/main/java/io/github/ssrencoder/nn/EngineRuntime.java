package io.github.ssrencoder.nn;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.LibUtils;
import ai.djl.util.ClassLoaderUtils;
import ai.djl.util.Platform;
import ai.djl.util.Utils;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemNotFoundException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Starts DJL's PyTorch engine offline (natives from the bundled jar, no telemetry, no downloads), picks the
 * compute device, and reports device, thread count and where libtorch came from once. CPU is the default;
 * CUDA is used when asked for and a CUDA libtorch is available (a CUDA natives jar, or an installed libtorch
 * folder chosen with {@link #useLibtorch}); MPS on Apple silicon.
 */
public final class EngineRuntime {

    private static final Logger LOG = Logger.getLogger(EngineRuntime.class.getName());
    private static volatile boolean reported;
    /** Set once {@link #engine()} has returned the engine. */
    private static volatile boolean started;

    /** DJL's variable (environment, else system property) naming a folder that holds libtorch. */
    public static final String LIBRARY_PATH_VARIABLE = "PYTORCH_LIBRARY_PATH";
    /** DJL's variable giving the version of the libtorch in {@link #LIBRARY_PATH_VARIABLE}. */
    public static final String VERSION_VARIABLE = "PYTORCH_VERSION";
    /** DJL's variable giving the build flavour ({@code cpu}, {@code cu128}) of that libtorch. */
    public static final String FLAVOR_VARIABLE = "PYTORCH_FLAVOR";
    /** The CUDA flavour of the JNI library in {@code pytorch-jni} (Linux and Windows x86-64). */
    static final String CUDA_FLAVOR = "cu128";

    private static final Pattern PIP_VERSION = Pattern.compile("__version__\\s*=\\s*['\"]([^'\"]+)['\"]");

    /** The libtorch folder {@link #useLibtorch} pointed DJL at through system properties, or null. */
    private static Path applied;
    /** Result of probing the MPS device: null before the probe, "" when it computes, else why not. */
    private static volatile String mpsProbe;

    /** Which device to compute on. */
    public enum DeviceChoice {
        CPU, GPU, MPS, AUTO;

        /** Parses {@code cpu}, {@code gpu}/{@code cuda}, {@code mps} or {@code auto}. */
        public static DeviceChoice parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "cpu" -> CPU;
                case "gpu", "cuda" -> GPU;
                case "mps" -> MPS;
                case "auto" -> AUTO;
                default -> throw new IllegalArgumentException("unknown device '" + s + "' (use cpu, gpu, mps or auto)");
            };
        }
    }

    private EngineRuntime() {
    }

    /**
     * Sets the properties that keep DJL offline. Must run before the engine first loads; harmless after.
     * A thread count above zero sets the engine's intra-op threads.
     */
    public static void configureOffline(int threads) {
        setIfAbsent("ai.djl.offline", "true");
        setIfAbsent("OPT_OUT_TRACKING", "true");
        if (threads > 0) {
            System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    /** The PyTorch engine, started offline. */
    public static Engine engine() {
        configureOffline(0);
        if (!started) {
            completeLibraryPath();
        }
        try {
            Engine engine = Engine.getEngine("PyTorch");
            started = true;
            return engine;
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            boolean folder = overrideFolder() != null;
            throw new IllegalStateException("cannot start the PyTorch engine with libtorch from " + libtorchSource()
                    + " (native library missing or not loadable: " + e.getMessage() + "); "
                    + (folder ? "that folder must hold a complete libtorch " + bundledVersion()
                            + " (a CUDA build with the CUDA libraries it links to)"
                            : "is pytorch-native-cpu on the class path?"), e);
        }
    }

    /**
     * When {@code PYTORCH_LIBRARY_PATH} names a libtorch folder but {@code PYTORCH_VERSION} or
     * {@code PYTORCH_FLAVOR} is not set, sets them as {@link #useLibtorch} would: DJL would otherwise guess
     * a flavour ({@code cpu-precxx11}, {@code cu128-precxx11}) for which {@code pytorch-jni} has no library.
     */
    private static synchronized void completeLibraryPath() {
        Path folder = overrideFolder();
        if (folder == null || engineLoaded()) {
            return;
        }
        if (Utils.getEnvOrSystemProperty(VERSION_VARIABLE) == null) {
            System.setProperty(VERSION_VARIABLE, bundledVersion());
        }
        if (Utils.getEnvOrSystemProperty(FLAVOR_VARIABLE) == null) {
            System.setProperty(FLAVOR_VARIABLE, flavorOf(folder));
        }
    }

    /**
     * The device for {@code choice}: GPU fails clearly when no CUDA device is visible, MPS when this is not
     * Apple silicon or PyTorch cannot compute there; AUTO takes CUDA, else MPS on Apple silicon, else the CPU.
     */
    public static Device device(DeviceChoice choice) {
        Engine engine = engine();
        int gpus = engine.getGpuCount();
        Device device = switch (choice) {
            case CPU -> Device.cpu();
            case AUTO -> gpus > 0 ? Device.gpu() : appleSilicon() && mpsFailure() == null ? mps() : Device.cpu();
            case GPU -> {
                if (gpus == 0) {
                    throw new IllegalStateException("GPU requested but no CUDA device is available to PyTorch: add the "
                            + "pytorch-native-cu* jar for your CUDA version instead of pytorch-native-cpu, or point the "
                            + "libtorch setting (" + LIBRARY_PATH_VARIABLE + ") at a CUDA build of libtorch "
                            + bundledVersion() + ", or use --device cpu");
                }
                yield Device.gpu();
            }
            case MPS -> {
                if (!appleSilicon()) {
                    throw new IllegalStateException("MPS requested, but MPS is the GPU of Apple silicon Macs and this is "
                            + System.getProperty("os.name") + " on " + System.getProperty("os.arch")
                            + ": use cpu, gpu or auto");
                }
                String failure = mpsFailure();
                if (failure != null) {
                    throw new IllegalStateException("MPS requested but PyTorch cannot compute on it (" + failure
                            + "): use cpu");
                }
                yield mps();
            }
        };
        report(engine, device);
        return device;
    }

    /** The Metal (MPS) device of Apple silicon. */
    static Device mps() {
        return Device.of("mps", -1);
    }

    /** Whether this JVM runs on macOS on Apple silicon, the only place PyTorch offers MPS. */
    static boolean appleSilicon() {
        return System.getProperty("os.name", "").startsWith("Mac") && "aarch64".equals(System.getProperty("os.arch"));
    }

    /** Null when a tiny tensor can be created and computed on MPS, else why not (probed once). */
    private static String mpsFailure() {
        String probe = mpsProbe;
        if (probe == null) {
            synchronized (EngineRuntime.class) {
                if (mpsProbe == null) {
                    mpsProbe = probeMps();
                }
                probe = mpsProbe;
            }
        }
        return probe.isEmpty() ? null : probe;
    }

    @SuppressWarnings("PMD.AvoidCatchingThrowable")
    private static String probeMps() {
        try (NDManager m = engine().newBaseManager(mps())) {
            NDArray x = m.create(new float[] {1, 2, 3, 4});
            float[] y = x.mul(2).add(1).toFloatArray();
            if (Arrays.equals(y, new float[] {3, 5, 7, 9})) {
                return "";
            }
            return "wrong result " + Arrays.toString(y);
        } catch (Throwable t) { // an absent or broken Metal back end fails in many ways; the CPU is used then
            String reason = t.getClass().getSimpleName() + ": " + t.getMessage();
            LOG.info(() -> "SSR-Encoder: MPS is not usable, computing on the CPU (" + reason + ")");
            return reason;
        }
    }

    /** System property choosing the precision of the diffusion networks: {@code auto}, {@code float32} or {@code float16}. */
    public static final String PRECISION_PROPERTY = "ssr.precision";

    /**
     * The data type the UNet and VAE weights are held and computed in on {@code device}: half precision on
     * CUDA (as diffusers' {@code torch_dtype=float16}: half the memory, tensor-core speed), float32 on CPU
     * and MPS, where half precision is slower or less exact. {@code -Dssr.precision=float32|float16}
     * overrides both.
     */
    public static DataType computeType(Device device) {
        String p = System.getProperty(PRECISION_PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
        return switch (p) {
            case "float32", "fp32" -> DataType.FLOAT32;
            case "float16", "fp16", "half" -> DataType.FLOAT16;
            case "auto", "" -> Device.Type.GPU.equals(device.getDeviceType()) ? DataType.FLOAT16 : DataType.FLOAT32;
            default -> throw new IllegalArgumentException("unknown precision '" + p + "' in -D" + PRECISION_PROPERTY
                    + " (use auto, float32 or float16)");
        };
    }

    /** A new root manager on {@code device}. */
    public static NDManager newManager(Device device) {
        return engine().newBaseManager(device);
    }

    private static void report(Engine engine, Device device) {
        if (reported) {
            return;
        }
        reported = true;
        String threads = threads();
        String source = libtorchSource();
        LOG.info(() -> "SSR-Encoder: PyTorch " + engine.getVersion() + " on " + device + " (" + threads + " intra-op threads, "
                + engine.getGpuCount() + " GPU(s) visible); libtorch from " + source);
    }

    /** One line describing the engine, device and threads (for CLI and Fiji status). */
    public static String describe(Device device) {
        Engine engine = engine();
        return "PyTorch " + engine.getVersion() + " on " + device + ", threads " + threads();
    }

    /** The engine's intra-op thread count: the configured one, or PyTorch's default (the physical cores). */
    public static String threads() {
        try {
            return Integer.toString(ai.djl.pytorch.jni.JniUtils.getNumThreads());
        } catch (RuntimeException | LinkageError e) {
            return System.getProperty("ai.djl.pytorch.num_threads", "default");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Where libtorch comes from

    /**
     * Where libtorch comes from: a folder named by {@code PYTORCH_LIBRARY_PATH} (environment or system
     * property, as DJL reads it; once the engine runs, the folder it loaded), else the natives jar of the
     * platform DJL selects, e.g. {@code /opt/Fiji.app/jars/linux64/pytorch-native-cpu-2.7.1-linux-x86_64.jar}.
     * Never fails: a sentence says so when no source is found.
     */
    public static String libtorchSource() {
        Path loaded = loadedLibtorchDir();
        if (loaded != null && !isExtractedBundle(loaded)) {
            return loaded.toString();
        }
        if (loaded == null) {
            Path folder = overrideFolder();
            if (folder != null) {
                return folder.toString();
            }
        }
        return bundledSource();
    }

    /** The natives jar (or class-path folder) holding the first library of the platform DJL selects. */
    static String bundledSource() {
        Platform platform;
        try {
            platform = Platform.detectPlatform("pytorch");
        } catch (RuntimeException | AssertionError e) {
            return "nowhere (no PyTorch platform: " + e.getMessage() + ")";
        }
        String[] libraries = platform.getLibraries();
        if (platform.isPlaceholder() || libraries == null || libraries.length == 0) {
            return "nowhere (no pytorch-native jar for " + platform.getClassifier() + " on the class path)";
        }
        String flavor = platform.getFlavor();
        if (!flavor.endsWith("-precxx11") && Arrays.asList(libraries).contains("libstdc++.so.6")) {
            flavor += "-precxx11"; // as DJL names the folder of old pre-C++11-ABI builds
        }
        String resource = "pytorch/" + flavor + '/' + platform.getClassifier() + '/' + libraries[0];
        try {
            URL url = ClassLoaderUtils.getResource(resource);
            return url == null ? "nowhere (" + resource + " is not on the class path)" : location(url);
        } catch (IOException e) {
            return "nowhere (cannot look up " + resource + ": " + e.getMessage() + ")";
        }
    }

    /** The jar file of a {@code jar:file:…!/entry} URL, the folder of a {@code file:} URL, else the URL. */
    static String location(URL url) {
        try {
            if ("jar".equals(url.getProtocol())) {
                String spec = url.getPath();
                int bang = spec.indexOf("!/");
                return Path.of(new URI(bang < 0 ? spec : spec.substring(0, bang))).toString();
            }
            if ("file".equals(url.getProtocol())) {
                return Path.of(url.toURI()).getParent().toString();
            }
        } catch (URISyntaxException | IllegalArgumentException | FileSystemNotFoundException e) {
            // not a local file: the URL itself says where it is
        }
        return url.toString();
    }

    /** The folder DJL loaded libtorch from, or null while the engine has not started in this JVM. */
    private static Path loadedLibtorchDir() {
        try {
            return Path.of(LibUtils.getLibtorchPath());
        } catch (NullPointerException notLoaded) { // LibUtils knows the folder once it has loaded libtorch
            return null;
        }
    }

    /** Package-private for tests: whether libtorch is loaded in this JVM. */
    static boolean engineLoaded() {
        return loadedLibtorchDir() != null;
    }

    /** Whether {@code dir} is where DJL extracts the libtorch of a natives jar (its engine cache). */
    private static boolean isExtractedBundle(Path dir) {
        return dir.toAbsolutePath().normalize().startsWith(Utils.getEngineCacheDir("pytorch").toAbsolutePath().normalize());
    }

    /**
     * The folder {@code PYTORCH_LIBRARY_PATH} makes DJL load libtorch from, or null: as DJL, the first entry of
     * the path list that holds the library or is the library file itself.
     */
    static Path overrideFolder() {
        String value = Utils.getEnvOrSystemProperty(LIBRARY_PATH_VARIABLE);
        if (value == null) {
            return null;
        }
        String lib = System.mapLibraryName("torch");
        for (String entry : value.split(File.pathSeparator)) {
            if (entry.isBlank()) {
                continue;
            }
            Path p = Path.of(entry);
            if (Files.isRegularFile(p) && lib.equals(String.valueOf(p.getFileName()))) {
                return p.toAbsolutePath().getParent();
            }
            if (Files.isRegularFile(p.resolve(lib))) {
                return p.toAbsolutePath();
            }
        }
        return null;
    }

    // ---------------------------------------------------------------------------------------------------------
    // An installed libtorch instead of the bundled one

    /**
     * Points DJL at the libtorch in {@code folder} (the {@code lib} folder of a libtorch download or
     * {@code torch/lib} of a pip install), or back at the bundled one for {@code null}. Must run before the
     * engine first starts: sets {@code PYTORCH_LIBRARY_PATH}, {@code PYTORCH_VERSION} (the version this DJL is
     * built for) and {@code PYTORCH_FLAVOR} ({@code cu128} when the folder holds the CUDA library, else
     * {@code cpu}; DJL then takes the matching JNI library from {@code pytorch-jni}).
     *
     * @return empty when the choice is in effect for the engine's start; otherwise (the engine already runs
     *     with another libtorch, or environment variables override the choice) a sentence saying so, also
     *     logged as a warning
     * @throws IllegalArgumentException when {@code folder} holds no usable libtorch (the message names the
     *     folder and the file expected)
     */
    public static synchronized Optional<String> useLibtorch(Path folder) {
        Path wanted = folder == null ? null : validateLibtorch(folder);
        if (engineLoaded()) {
            Optional<String> note = restartNote(wanted);
            if (note.isPresent()) {
                LOG.warning(note.get());
            }
            return note;
        }
        if (wanted == null) {
            clearApplied();
            return Optional.empty();
        }
        String version = bundledVersion();
        String flavor = flavorOf(wanted);
        List<String> overridden = new ArrayList<>();
        String envPath = System.getenv(LIBRARY_PATH_VARIABLE);
        if (envPath != null && !envPath.isBlank() && !wanted.equals(overrideFolder())) {
            overridden.add(LIBRARY_PATH_VARIABLE + "=" + envPath);
        }
        for (String[] kv : new String[][] {{VERSION_VARIABLE, version}, {FLAVOR_VARIABLE, flavor}}) {
            String env = System.getenv(kv[0]);
            if (env != null && !env.equals(kv[1])) {
                overridden.add(kv[0] + "=" + env);
            }
        }
        if (!overridden.isEmpty()) {
            String note = "SSR-Encoder: the environment variable(s) " + String.join(", ", overridden)
                    + " take precedence over the libtorch folder " + wanted + " (" + flavor + "); unset them to use it";
            LOG.warning(note);
            return Optional.of(note);
        }
        System.setProperty(LIBRARY_PATH_VARIABLE, wanted.toString());
        System.setProperty(VERSION_VARIABLE, version);
        System.setProperty(FLAVOR_VARIABLE, flavor);
        applied = wanted;
        LOG.info(() -> "SSR-Encoder: PyTorch will load libtorch " + version + " (" + flavor + ") from " + wanted);
        return Optional.empty();
    }

    /**
     * When the engine already runs with another libtorch than {@code folder} (null = the bundled one) gives,
     * the sentence saying the choice takes effect after a restart; otherwise empty. Changes nothing.
     */
    public static synchronized Optional<String> restartNote(Path folder) {
        Path loaded = loadedLibtorchDir();
        if (loaded == null) {
            return Optional.empty();
        }
        boolean same;
        if (folder == null) {
            // the bundled libtorch, or a folder named outside the settings (environment, -D) that stays after a restart
            same = isExtractedBundle(loaded) || applied == null && overrideFolder() != null;
        } else {
            same = !isExtractedBundle(loaded) && sameFile(loaded, folder);
        }
        if (same) {
            return Optional.empty();
        }
        return Optional.of("SSR-Encoder: PyTorch is already running with libtorch from " + libtorchSource() + "; "
                + (folder == null ? "the bundled libtorch" : "libtorch from " + folder.toAbsolutePath().normalize())
                + " takes effect after a restart (libtorch cannot be swapped in a running Java process)");
    }

    private static void clearApplied() {
        if (applied == null) {
            return;
        }
        if (applied.toString().equals(System.getProperty(LIBRARY_PATH_VARIABLE))) {
            System.clearProperty(LIBRARY_PATH_VARIABLE);
            System.clearProperty(VERSION_VARIABLE);
            System.clearProperty(FLAVOR_VARIABLE);
        }
        applied = null;
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        }
    }

    /**
     * Checks that {@code folder} holds a libtorch DJL can use and returns it absolute: the folder exists, holds
     * {@code System.mapLibraryName("torch")} ({@code libtorch.so}, {@code torch.dll}, {@code libtorch.dylib}),
     * is of the version this DJL is built for when it says its version (a pip install's {@code ../version.py},
     * a libtorch download's {@code ../build-version}), and {@code pytorch-jni} has the JNI library of its flavour
     * for this platform.
     *
     * @throws IllegalArgumentException naming the folder and what is wrong
     */
    public static Path validateLibtorch(Path folder) {
        Objects.requireNonNull(folder, "folder");
        Path dir = folder.toAbsolutePath().normalize();
        String version = bundledVersion();
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("libtorch folder not found: " + dir);
        }
        String lib = System.mapLibraryName("torch");
        if (!Files.isRegularFile(dir.resolve(lib))) {
            throw new IllegalArgumentException("no libtorch in " + dir + ": expected " + lib + " there (choose the lib "
                    + "folder of a libtorch " + version + " download, or torch/lib of a pip install of torch " + version + ")");
        }
        String found = installedVersion(dir);
        if (found != null && !sameVersion(found, version)) {
            throw new IllegalArgumentException("the libtorch in " + dir + " is version " + found + ", but this plugin's "
                    + "PyTorch engine needs libtorch " + version);
        }
        String flavor = flavorOf(dir);
        String classifier = classifier();
        String jni = "jnilib/" + classifier + '/' + flavor + '/' + System.mapLibraryName("djl_torch");
        URL jniUrl;
        try {
            jniUrl = ClassLoaderUtils.getResource(jni);
        } catch (IOException e) {
            jniUrl = null;
        }
        if (jniUrl == null) {
            throw new IllegalArgumentException("the libtorch in " + dir + " is a " + flavor + " build, but pytorch-jni has "
                    + "no JNI library for " + flavor + " on " + classifier + " (" + jni + ")");
        }
        return dir;
    }

    /** {@code cu128} when {@code dir} holds libtorch's CUDA library, else {@code cpu}. */
    static String flavorOf(Path dir) {
        return Files.isRegularFile(dir.resolve(System.mapLibraryName("torch_cuda"))) ? CUDA_FLAVOR : "cpu";
    }

    /** The version a libtorch folder states (pip: {@code torch/version.py}; download: {@code libtorch/build-version}), or null. */
    static String installedVersion(Path libDir) {
        Path parent = libDir.getParent();
        if (parent == null) {
            return null;
        }
        try {
            Path pip = parent.resolve("version.py");
            if (Files.isRegularFile(pip)) {
                Matcher m = PIP_VERSION.matcher(Files.readString(pip, StandardCharsets.UTF_8));
                if (m.find()) {
                    return m.group(1);
                }
            }
            Path build = parent.resolve("build-version");
            if (Files.isRegularFile(build)) {
                String v = Files.readString(build, StandardCharsets.UTF_8).trim();
                return v.isEmpty() ? null : v;
            }
        } catch (IOException | RuntimeException e) {
            return null; // unreadable: DJL's own checks decide
        }
        return null;
    }

    /** {@code 2.7.1}, {@code 2.7.1+cu128} and {@code 2.7.1-20250812} are all version 2.7.1 (2.7.10 is not). */
    static boolean sameVersion(String found, String version) {
        return found.equals(version) || found.startsWith(version) && !Character.isDigit(found.charAt(version.length()))
                && found.charAt(version.length()) != '.';
    }

    /** The libtorch version this DJL PyTorch engine is built for ({@code pytorch_version} of {@code pytorch-engine.properties}). */
    public static String bundledVersion() {
        try {
            URL url = ClassLoaderUtils.getResource("pytorch-engine.properties");
            if (url != null) {
                Properties p = new Properties();
                try (InputStream in = url.openStream()) {
                    p.load(in);
                }
                String v = p.getProperty("pytorch_version");
                if (v != null && !v.isBlank()) {
                    return v.trim();
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read pytorch-engine.properties: " + e.getMessage(), e);
        }
        throw new IllegalStateException("no pytorch_version in pytorch-engine.properties: is DJL's pytorch-engine on the class path?");
    }

    /** DJL's platform classifier of this machine: {@code linux-x86_64}, {@code osx-aarch64}, {@code win-x86_64}, … */
    static String classifier() {
        String os = System.getProperty("os.name", "");
        String prefix = os.startsWith("Win") ? "win" : os.startsWith("Mac") ? "osx" : "linux";
        String arch = System.getProperty("os.arch", "");
        return prefix + '-' + ("amd64".equals(arch) ? "x86_64" : arch);
    }
}
