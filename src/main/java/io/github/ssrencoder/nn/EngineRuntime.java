package io.github.ssrencoder.nn;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Locale;
import java.util.logging.Logger;

/**
 * Starts DJL's PyTorch engine offline (natives from the bundled jar, no telemetry, no downloads), picks the
 * compute device, and reports device and thread count once. CPU is the default; CUDA is used when asked
 * for and a CUDA native library is on the class path.
 */
public final class EngineRuntime {

    private static final Logger LOG = Logger.getLogger(EngineRuntime.class.getName());
    private static volatile boolean reported;

    /** Which device to compute on. */
    public enum DeviceChoice {
        CPU, GPU, AUTO;

        /** Parses {@code cpu}, {@code gpu}/{@code cuda} or {@code auto}. */
        public static DeviceChoice parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "cpu" -> CPU;
                case "gpu", "cuda" -> GPU;
                case "auto" -> AUTO;
                default -> throw new IllegalArgumentException("unknown device '" + s + "' (use cpu, gpu or auto)");
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
        try {
            return Engine.getEngine("PyTorch");
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            throw new IllegalStateException("cannot start the PyTorch engine (native library missing or not loadable: "
                    + e.getMessage() + "); is pytorch-native-cpu on the class path?", e);
        }
    }

    /** The device for {@code choice}: GPU fails clearly when no CUDA device is visible; AUTO falls back to CPU. */
    public static Device device(DeviceChoice choice) {
        Engine engine = engine();
        int gpus = engine.getGpuCount();
        Device device = switch (choice) {
            case CPU -> Device.cpu();
            case AUTO -> gpus > 0 ? Device.gpu() : Device.cpu();
            case GPU -> {
                if (gpus == 0) {
                    throw new IllegalStateException("GPU requested but no CUDA device is available to PyTorch: add the "
                            + "pytorch-native-cu* jar for your CUDA version instead of pytorch-native-cpu, or use --device cpu");
                }
                yield Device.gpu();
            }
        };
        report(engine, device);
        return device;
    }

    /** System property choosing the precision of the diffusion networks: {@code auto}, {@code float32} or {@code float16}. */
    public static final String PRECISION_PROPERTY = "ssr.precision";

    /**
     * The data type the UNet and VAE weights are held and computed in on {@code device}: half precision on
     * CUDA (as diffusers' {@code torch_dtype=float16}: half the memory, tensor-core speed), float32 on CPU,
     * where half precision is slower and less exact. {@code -Dssr.precision=float32|float16} overrides both.
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
        LOG.info(() -> "SSR-Encoder: PyTorch " + engine.getVersion() + " on " + device + " (" + threads + " intra-op threads, "
                + engine.getGpuCount() + " GPU(s) visible)");
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
}
