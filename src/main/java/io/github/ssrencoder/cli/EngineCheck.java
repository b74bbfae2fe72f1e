package io.github.ssrencoder.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.nn.EngineRuntime;
import java.util.Arrays;

/**
 * Starts the PyTorch engine offline and computes a small matrix product, printing engine version, device,
 * where libtorch came from, threads and the result. {@code scripts/check-offline.sh} runs it without network
 * access to prove that nothing is downloaded at start-up.
 */
public final class EngineCheck {

    private EngineCheck() {
    }

    /** Computes {@code [[1,2],[3,4]] x [[5,6],[7,8]]}; exit code 0 only when the result is {@code [[19,22],[43,50]]}. */
    public static void main(String[] args) {
        EngineRuntime.configureOffline(0);
        Device device = EngineRuntime.device(args.length > 0 ? EngineRuntime.DeviceChoice.parse(args[0]) : EngineRuntime.DeviceChoice.CPU);
        try (NDManager m = EngineRuntime.newManager(device)) {
            NDArray a = m.create(new float[] {1, 2, 3, 4}, new ai.djl.ndarray.types.Shape(2, 2));
            NDArray b = m.create(new float[] {5, 6, 7, 8}, new ai.djl.ndarray.types.Shape(2, 2));
            float[] c = a.matMul(b).toFloatArray();
            System.out.println("engine: PyTorch " + EngineRuntime.engine().getVersion());
            System.out.println("device: " + device);
            System.out.println("libtorch: " + EngineRuntime.libtorchSource());
            System.out.println("threads: " + System.getProperty("ai.djl.pytorch.num_threads", "default")
                    + " (available processors " + Runtime.getRuntime().availableProcessors() + ")");
            System.out.println("offline: " + System.getProperty("ai.djl.offline"));
            System.out.println("matmul: " + Arrays.toString(c));
            if (!Arrays.equals(c, new float[] {19, 22, 43, 50})) {
                System.err.println("engine check failed: unexpected matmul result " + Arrays.toString(c));
                System.exit(1);
            }
        }
    }
}
