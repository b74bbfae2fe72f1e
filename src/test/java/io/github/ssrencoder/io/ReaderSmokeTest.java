package io.github.ssrencoder.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.Golden;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;

class ReaderSmokeTest {

    @Test
    void safetensorsTensorsLoadBitForBit() {
        try (SafetensorsFile f = SafetensorsFile.open(Golden.tinyA().resolve("sd/unet/diffusion_pytorch_model.safetensors"));
             NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu())) {
            assertTrue(f.keys().size() > 100);
            for (String key : f.keys()) {
                NDArray a = f.load(key, m);
                assertArrayEquals(f.info(key).shape(), a.getShape().getShape(), key);
                assertArrayEquals(f.readBytes(key), a.toByteArray(), key);
                a.close();
            }
        }
    }

    @Test
    void torchZipStateDictLoadsBitForBit() throws Exception {
        var path = Golden.tinyA().resolve("ssr/pytorch_model.bin");
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(path);
             ZipFile zip = new ZipFile(path.toFile());
             NDManager m = EngineRuntime.newManager(ai.djl.Device.cpu())) {
            assertEquals(16, ckpt.keys().size());
            assertArrayEquals(new long[] {24, 32}, ckpt.info("aligner.to_q.weight").shape());
            for (String key : ckpt.keys()) {
                NDArray a = ckpt.load(key, m);
                assertArrayEquals(ckpt.readBytes(key), a.toByteArray(), key);
            }
            assertTrue(zip.stream().anyMatch(e -> e.getName().endsWith("data.pkl")));
        }
    }
}
