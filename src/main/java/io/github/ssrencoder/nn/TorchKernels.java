package io.github.ssrencoder.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * PyTorch operators that DJL's array API does not expose, reached through a small TorchScript module
 * generated here and compiled by libtorch at first use: the fused scaled-dot-product attention (a
 * flash-attention kernel on CPU and CUDA; no score matrix is ever materialised) and, on CPU, the oneDNN linear
 * layer (faster than the BLAS matrix product libtorch otherwise uses, notably on AMD processors).
 *
 * <p>When the module cannot be compiled (a libtorch without these operators) or the system property
 * {@code ssr.kernels} is {@code false}, {@link #on(Device)} is false and callers compute the same results
 * from DJL operators.
 */
public final class TorchKernels {

    /** System property switching the kernels off ({@code -Dssr.kernels=false}), e.g. to compare both paths. */
    public static final String PROPERTY = "ssr.kernels";

    private static final Logger LOG = Logger.getLogger(TorchKernels.class.getName());

    private static final String SOURCE = String.join("\n",
            "class Kernels(Module):",
            "  __parameters__ = []",
            "  __buffers__ = []",
            "  training : bool",
            "  def forward(self: __torch__.Kernels, x: Tensor) -> Tensor:",
            "    return x",
            "  def attention(self: __torch__.Kernels, q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:",
            "    return torch.scaled_dot_product_attention(q, k, v, None, 0., False, scale=scale)",
            "  def linear(self: __torch__.Kernels, x: Tensor, w: Tensor, b: Tensor) -> Tensor:",
            "    return ops.mkldnn._linear_pointwise(x, w, b, \"none\", annotate(List[Optional[number]], []), None)",
            "  def linear_no_bias(self: __torch__.Kernels, x: Tensor, w: Tensor) -> Tensor:",
            "    return ops.mkldnn._linear_pointwise(x, w, None, \"none\", annotate(List[Optional[number]], []), None)",
            "  def group_norm(self: __torch__.Kernels, x: Tensor, groups: int, w: Tensor, b: Tensor, eps: float) -> Tensor:",
            "    return torch.group_norm(x, groups, w, b, eps)",
            "  def group_norm_silu(self: __torch__.Kernels, x: Tensor, groups: int, w: Tensor, b: Tensor, eps: float) -> Tensor:",
            "    return torch.silu_(torch.group_norm(x, groups, w, b, eps))",
            "  def pack_conv(self: __torch__.Kernels, w: Tensor, stride: int, padding: int, like: Tensor) -> Tensor:",
            "    return ops.mkldnn._reorder_convolution_weight(w, [padding, padding], [stride, stride], [1, 1], 1, like.size())",
            "  def conv(self: __torch__.Kernels, x: Tensor, w: Tensor, b: Tensor, stride: int, padding: int) -> Tensor:",
            "    return ops.mkldnn._convolution_pointwise(x, w, b, [padding, padding], [stride, stride], [1, 1], 1, \"none\",",
            "        annotate(List[Optional[number]], []), None)",
            "  def conv_no_bias(self: __torch__.Kernels, x: Tensor, w: Tensor, stride: int, padding: int) -> Tensor:",
            "    return ops.mkldnn._convolution_pointwise(x, w, None, [padding, padding], [stride, stride], [1, 1], 1, \"none\",",
            "        annotate(List[Optional[number]], []), None)",
            "");

    /** Pickled module object: an instance of {@code __torch__.Kernels} whose only attribute is {@code training=False}. */
    private static final byte[] DATA_PKL = {
        (byte) 0x80, 2, 'c', '_', '_', 't', 'o', 'r', 'c', 'h', '_', '_', '\n', 'K', 'e', 'r', 'n', 'e', 'l', 's', '\n',
        ')', (byte) 0x81, '}', '(', 'X', 8, 0, 0, 0, 't', 'r', 'a', 'i', 'n', 'i', 'n', 'g', (byte) 0x89, 'u', 'b', '.'};

    private static final byte[] EMPTY_TUPLE_PKL = {(byte) 0x80, 2, ')', '.'};

    private static final Map<String, Loaded> MODULES = new ConcurrentHashMap<>();

    private record Loaded(PtSymbolBlock block, boolean linear, boolean conv) {
    }

    /**
     * DJL's public method call runs TorchScript under PyTorch's inference mode, whose results refuse later
     * in-place updates (used throughout the forward passes); its native entry point is called directly with
     * inference mode off instead. Gradients are never recorded: no input requires them.
     */
    private static final MethodHandle[] NATIVE = nativeHandles();
    private static final MethodHandle RUN_METHOD = NATIVE[0];
    private static final MethodHandle NEW_IVALUE = NATIVE[1];

    private static MethodHandle[] nativeHandles() {
        try {
            Class<?> library = Class.forName("ai.djl.pytorch.jni.PyTorchLibrary");
            MethodHandles.Lookup lookup = MethodHandles.privateLookupIn(library, MethodHandles.lookup());
            Object lib = lookup.findStaticGetter(library, "LIB", library).invoke();
            MethodHandle run = lookup.findVirtual(library, "moduleRunMethod",
                    MethodType.methodType(long.class, long.class, String.class, long[].class, boolean.class, boolean.class));
            MethodHandle wrap = MethodHandles.privateLookupIn(IValue.class, MethodHandles.lookup())
                    .findConstructor(IValue.class, MethodType.methodType(void.class, long.class));
            return new MethodHandle[] {run.bindTo(lib), wrap};
        } catch (Throwable e) {
            LOG.log(Level.INFO, "SSR-Encoder: fused kernels unavailable (DJL native entry point not found): {0}", e.toString());
            return new MethodHandle[2];
        }
    }

    /**
     * Runs one method of the module on {@code args} (arrays, integers as {@code Integer}, floats as
     * {@code Float}), returning its tensor in {@code out}. Every native value made here is released here.
     */
    private static NDArray call(PtSymbolBlock block, String method, NDManager out, Object... args) {
        IValue[] inputs = new IValue[args.length];
        try {
            long[] handles = new long[args.length];
            for (int i = 0; i < args.length; i++) {
                Object a = args[i];
                if (a instanceof NDArray array) {
                    inputs[i] = IValue.from((PtNDArray) array);
                } else if (a instanceof Integer n) {
                    inputs[i] = IValue.from(n.longValue());
                } else if (a instanceof Float f) {
                    inputs[i] = IValue.from(f.doubleValue());
                } else {
                    throw new IllegalArgumentException("unsupported kernel argument " + a);
                }
                handles[i] = inputs[i].getHandle();
            }
            long result = (long) RUN_METHOD.invokeExact(block.getHandle().longValue(), method, handles, true, false);
            try (IValue value = (IValue) NEW_IVALUE.invoke(result)) {
                return value.toTensor((PtNDManager) out);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        } finally {
            for (IValue v : inputs) {
                if (v != null) {
                    v.close();
                }
            }
        }
    }

    private TorchKernels() {
    }

    /** Whether the fused attention can be used on {@code device}. */
    public static boolean on(Device device) {
        return module(device) != null;
    }

    /** Whether the oneDNN linear layer is used for float32 arrays on {@code device} (CPU only). */
    public static boolean linearOn(Device device) {
        Loaded m = module(device);
        return m != null && m.linear();
    }

    /** Whether float32 convolutions on {@code device} run from prepacked oneDNN weights (CPU only). */
    public static boolean convolutionOn(Device device) {
        Loaded m = module(device);
        return m != null && m.conv();
    }

    /**
     * Reorders a convolution weight [out, in, k, k] into oneDNN's blocked layout for inputs shaped like
     * {@code like}, once, so that no call pays the reorder again. The result is opaque: only
     * {@link #convolution} reads it. It is created in {@code w}'s manager.
     */
    public static NDArray packConvolutionWeight(NDArray w, int stride, int padding, NDArray like) {
        return call(require(w).block(), "pack_conv", w.getManager(), w, stride, padding, like);
    }

    /** A 2-D convolution of NCHW {@code x} with a weight from {@link #packConvolutionWeight}; {@code b} may be null. */
    public static NDArray convolution(NDArray x, NDArray packedWeight, NDArray b, int stride, int padding) {
        PtSymbolBlock block = require(x).block();
        return b == null
                ? call(block, "conv_no_bias", x.getManager(), x, packedWeight, stride, padding)
                : call(block, "conv", x.getManager(), x, packedWeight, b, stride, padding);
    }

    /**
     * {@code softmax(scale·QKᵀ)·V} over [batch, heads, length, dim] arrays (strided views are fine); the result
     * has the query's shape and is created in {@code q}'s manager.
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, float scale) {
        return call(require(q).block(), "attention", q.getManager(), q, k, v, scale);
    }

    /**
     * PyTorch's group normalisation of [N, C, …] {@code x} with a per-channel affine, followed by SiLU when
     * {@code silu} is set (in place, one pass less than separate operators). The result is in {@code x}'s manager.
     */
    public static NDArray groupNorm(NDArray x, int groups, NDArray w, NDArray b, float eps, boolean silu) {
        return call(require(x).block(), silu ? "group_norm_silu" : "group_norm", x.getManager(), x, groups, w, b, eps);
    }

    /** {@code x·Wᵀ + b} over the last axis of {@code x} ({@code b} may be {@code null}), in {@code x}'s manager. */
    public static NDArray linear(NDArray x, NDArray w, NDArray b) {
        PtSymbolBlock block = require(x).block();
        return b == null
                ? call(block, "linear_no_bias", x.getManager(), x, w)
                : call(block, "linear", x.getManager(), x, w, b);
    }

    private static Loaded require(NDArray a) {
        Loaded m = module(a.getDevice());
        if (m == null) {
            throw new IllegalStateException("fused kernels are not available on " + a.getDevice());
        }
        return m;
    }

    private static Loaded module(Device device) {
        if (!Boolean.parseBoolean(System.getProperty(PROPERTY, "true"))) {
            return null;
        }
        Loaded m = MODULES.computeIfAbsent(device.toString(), key -> compile(device));
        return m.block() == null ? null : m;
    }

    private static Loaded compile(Device device) {
        if (RUN_METHOD == null) {
            return new Loaded(null, false, false);
        }
        EngineRuntime.engine();
        NDManager manager = EngineRuntime.newManager(device);
        try {
            PtSymbolBlock block = JniUtils.loadModule((PtNDManager) manager, new ByteArrayInputStream(archive()), true, false);
            boolean cpu = Device.Type.CPU.equals(device.getDeviceType());
            return new Loaded(block, cpu && linearSelfTest(block, manager), cpu && convSelfTest(block, manager));
        } catch (RuntimeException | UnsatisfiedLinkError | IOException e) {
            manager.close();
            LOG.log(Level.INFO, "SSR-Encoder: fused attention/linear kernels unavailable, using composed operators: {0}",
                    e.getMessage());
            return new Loaded(null, false, false);
        }
    }

    /** The oneDNN linear layer must exist in this libtorch build and agree with the plain one on a small case. */
    private static boolean linearSelfTest(PtSymbolBlock block, NDManager manager) {
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.arange(24f).reshape(2, 3, 4).div(10);
            NDArray w = m.arange(20f).reshape(5, 4).div(-7);
            NDArray b = m.arange(5f);
            NDArray expected = x.matMul(w.transpose()).add(b);
            NDArray actual = call(block, "linear", m, x, w, b);
            return actual.getShape().equals(expected.getShape()) && actual.sub(expected).abs().max().getFloat() < 1e-4f;
        } catch (RuntimeException e) {
            LOG.log(Level.INFO, "SSR-Encoder: oneDNN linear layer unavailable, using the BLAS product: {0}", e.getMessage());
            return false;
        }
    }

    /** The prepacked convolution must exist in this build and agree with DJL's on a strided, padded case. */
    private static boolean convSelfTest(PtSymbolBlock block, NDManager manager) {
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.arange(2f * 16 * 7 * 7).reshape(2, 16, 7, 7).div(500).sin();
            NDArray w = m.arange(8f * 16 * 3 * 3).reshape(8, 16, 3, 3).div(300).cos();
            NDArray b = m.arange(8f);
            NDArray expected = ai.djl.nn.convolutional.Conv2d.conv2d(x, w, b, new ai.djl.ndarray.types.Shape(2, 2),
                    new ai.djl.ndarray.types.Shape(1, 1), new ai.djl.ndarray.types.Shape(1, 1), 1).singletonOrThrow();
            NDArray packed = call(block, "pack_conv", m, w, 2, 1, x);
            NDArray actual = call(block, "conv", m, x, packed, b, 2, 1);
            return actual.getShape().equals(expected.getShape()) && actual.sub(expected).abs().max().getFloat() < 1e-4f;
        } catch (RuntimeException e) {
            LOG.log(Level.INFO, "SSR-Encoder: prepacked oneDNN convolution unavailable, using the plain one: {0}", e.getMessage());
            return false;
        }
    }

    /** A TorchScript archive (uncompressed zip) holding the module's source and its pickled instance. */
    static byte[] archive() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            store(zip, "kernels/version", "8\n".getBytes(StandardCharsets.US_ASCII));
            store(zip, "kernels/data.pkl", DATA_PKL);
            store(zip, "kernels/constants.pkl", EMPTY_TUPLE_PKL);
            store(zip, "kernels/code/__torch__.py", SOURCE.getBytes(StandardCharsets.UTF_8));
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return bytes.toByteArray();
    }

    private static void store(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry entry = new ZipEntry(name);
        entry.setMethod(ZipEntry.STORED);
        entry.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        entry.setCrc(crc.getValue());
        zip.putNextEntry(entry);
        zip.write(data);
        zip.closeEntry();
    }
}
