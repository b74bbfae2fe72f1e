package io.github.ssrencoder.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

class EngineOfflineTest {

    @Test
    void engineStartsOfflineAndComputesOnCpu() {
        EngineRuntime.configureOffline(0);
        assertEquals("true", System.getProperty("ai.djl.offline"));
        Device device = EngineRuntime.device(EngineRuntime.DeviceChoice.CPU);
        assertEquals(Device.cpu(), device);
        assertEquals("cpu", device.getDeviceType());
        assertTrue(EngineRuntime.engine().getVersion().startsWith("2.7.1"), EngineRuntime.engine().getVersion());
        assertTrue(EngineRuntime.describe(device).startsWith("PyTorch 2.7.1 on cpu"), EngineRuntime.describe(device));
        try (NDManager m = EngineRuntime.newManager(device)) {
            NDArray a = m.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3));
            NDArray b = m.create(new float[] {1, 0, 0, 1, 1, 1}, new Shape(3, 2));
            NDArray c = a.matMul(b);
            assertArrayEquals(new long[] {2, 2}, c.getShape().getShape());
            assertArrayEquals(new float[] {4, 5, 10, 11}, c.toFloatArray());
            assertEquals(Device.cpu(), c.getDevice());
        }
    }

    @Test
    void deviceNamesParse() {
        assertEquals(EngineRuntime.DeviceChoice.GPU, EngineRuntime.DeviceChoice.parse("cuda"));
        assertEquals(EngineRuntime.DeviceChoice.AUTO, EngineRuntime.DeviceChoice.parse(" Auto "));
        assertEquals(EngineRuntime.DeviceChoice.MPS, EngineRuntime.DeviceChoice.parse("MPS"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EngineRuntime.DeviceChoice.parse("tpu"));
        assertEquals("unknown device 'tpu' (use cpu, gpu, mps or auto)", e.getMessage());
    }

    @Test
    void gpuWithoutCudaFailsClearlyAndAutoFallsBack() {
        if (EngineRuntime.engine().getGpuCount() > 0) {
            assertEquals("gpu", EngineRuntime.device(EngineRuntime.DeviceChoice.AUTO).getDeviceType());
            return;
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> EngineRuntime.device(EngineRuntime.DeviceChoice.GPU));
        assertTrue(e.getMessage().contains("pytorch-native-cu"), e.getMessage());
        if (!EngineRuntime.appleSilicon()) {
            assertEquals(Device.cpu(), EngineRuntime.device(EngineRuntime.DeviceChoice.AUTO));
        }
    }

    @Test
    void mpsOffAppleSiliconFailsClearlyAndComputesInFloat32() {
        assertEquals(DataType.FLOAT32, EngineRuntime.computeType(Device.of("mps", -1)));
        if (EngineRuntime.appleSilicon()) {
            Device auto = EngineRuntime.device(EngineRuntime.DeviceChoice.AUTO);
            assertTrue(auto.getDeviceType().equals("mps") || auto.equals(Device.cpu()), auto.toString());
            return;
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> EngineRuntime.device(EngineRuntime.DeviceChoice.MPS));
        assertTrue(e.getMessage().startsWith("MPS requested, but MPS is the GPU of Apple silicon Macs and this is "),
                e.getMessage());
        assertTrue(e.getMessage().endsWith(": use cpu, gpu or auto"), e.getMessage());
    }
}
