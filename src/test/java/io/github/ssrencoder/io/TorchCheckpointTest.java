package io.github.ssrencoder.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.testing.SafetensorsWriter;
import io.github.ssrencoder.testing.TorchZipWriter;
import io.github.ssrencoder.testing.TorchZipWriter.Pickle;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import io.github.ssrencoder.testing.FileErrors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TorchCheckpointTest {

    @TempDir
    Path dir;

    private static WeightFileException openFails(Path file) {
        return FileErrors.assertFileError(file, () -> WeightFiles.open(file).close());
    }

    /** A pickle that would run {@code module.name(argument)} if a general unpickler loaded it. */
    private static byte[] callPickle(String module, String name, String argument) {
        return new Pickle().proto2().global(module, name).string(argument).op(0x85).op('R').op('.').bytes();
    }

    @Test
    void osSystemGlobalIsRefusedWithoutRunningIt() {
        Path marker = dir.resolve("executed");
        Path file = TorchZipWriter.writeZip(dir.resolve("evil.bin"), callPickle("os", "system", "touch " + marker), Map.of());
        FileErrors.assertMentions(openFails(file), "refusing global 'os.system'");
        assertFalse(Files.exists(marker), "the pickled command must not run");
    }

    @Test
    void builtinsEvalGlobalIsRefused() {
        Path marker = dir.resolve("executed");
        String code = "open('" + marker + "', 'w').close()";
        Path file = TorchZipWriter.writeZip(dir.resolve("eval.bin"), callPickle("builtins", "eval", code), Map.of());
        FileErrors.assertMentions(openFails(file), "refusing global 'builtins.eval'");
        assertFalse(Files.exists(marker));
    }

    @Test
    void globalInsideATensorEntryIsRefused() {
        byte[] pkl = new Pickle().proto2().global("collections", "OrderedDict").op(')').op('R').op('(')
                .string("w").global("subprocess", "check_output").string("id").op(0x85).op('R')
                .op('u').op('.').bytes();
        Path file = TorchZipWriter.writeZip(dir.resolve("nested.bin"), pkl, Map.of());
        FileErrors.assertMentions(openFails(file), "refusing global 'subprocess.check_output'");
    }

    /**
     * A training checkpoint around {@code stateDict}: step counters, a callback that would run a shell command, an
     * optimizer and hyper-parameters that would instantiate classes, a defaultdict filled item by item.
     */
    private static byte[] trainingCheckpoint(TorchZipWriter weights, Path marker) {
        Pickle p = new Pickle().proto2().op('}').op('(');
        p.string("state_dict");
        weights.stateDict(p);
        p.string("global_step").integer(1234).string("epoch").integer(5);
        p.string("callbacks").global("os", "system").string("touch " + marker).op(0x85).op('R');
        p.string("optimizer_states").op(']').op('(').global("torch.optim.adam", "Adam").op(')').op(0x81)
                .op('}').op('(').string("lr").integer(1).op('u').op('b').op('e');
        p.string("hyper_parameters").op('(').string("lr").integer(2).inst("argparse", "Namespace");
        p.string("loops").global("collections", "defaultdict").global("builtins", "list").op(0x85).op('R')
                .string("fit").integer(3).op('s');
        return p.op('u').op('.').bytes();
    }

    @Test
    void trainingCheckpointYieldsItsStateDictWithoutBuildingAnythingElse() {
        Path marker = dir.resolve("executed");
        TorchZipWriter w = new TorchZipWriter().contiguous("model.w", new long[] {2}, 1f, 2f);
        Path file = w.write(dir.resolve("train.ckpt"), trainingCheckpoint(w, marker));
        try (TensorSource src = WeightFiles.open(file); NDManager m = EngineRuntime.newManager(Device.cpu())) {
            assertEquals(java.util.Set.of("model.w"), src.keys());
            assertArrayEquals(new float[] {1f, 2f}, src.load("model.w", m).toFloatArray());
        }
        assertFalse(Files.exists(marker), "the pickled command must not run");
    }

    @Test
    void foreignObjectInsideATrainingStateDictIsRefusedNamingKeyAndGlobal() {
        Path marker = dir.resolve("executed");
        byte[] pkl = new Pickle().proto2().op('}').op('(').string("state_dict")
                .global("collections", "OrderedDict").op(')').op('R').op('(')
                .string("model.w").global("os", "system").string("touch " + marker).op(0x85).op('R')
                .op('u').string("global_step").integer(1).op('u').op('.').bytes();
        Path file = TorchZipWriter.writeZip(dir.resolve("evil.ckpt"), pkl, Map.of());
        FileErrors.assertMentions(openFails(file), "refusing global 'os.system'", "'model.w'", "nothing was run");
        assertFalse(Files.exists(marker));
    }

    @Test
    void nonTensorValueIsRefused() {
        byte[] pkl = new Pickle().proto2().op('}').op('(').string("epoch").integer(3).op('u').op('.').bytes();
        Path file = TorchZipWriter.writeZip(dir.resolve("dict.bin"), pkl, Map.of());
        FileErrors.assertMentions(openFails(file), "not a state dict of tensors", "'epoch'");
    }

    @Test
    void zipThatIsNotATorchFileIsRefused() throws IOException {
        Path file = dir.resolve("other.bin");
        try (OutputStream os = Files.newOutputStream(file); ZipOutputStream zip = new ZipOutputStream(os)) {
            zip.putNextEntry(new ZipEntry("readme.txt"));
            zip.write("hello".getBytes());
            zip.closeEntry();
        }
        FileErrors.assertMentions(openFails(file), "not a PyTorch checkpoint", "no <name>/data.pkl");
    }

    @Test
    void nonZipBinIsRefused() throws IOException {
        Path file = Files.writeString(dir.resolve("text.bin"), "this is not a checkpoint");
        FileErrors.assertMentions(openFails(file), "not a PyTorch checkpoint: the file is not a zip archive");
    }

    @Test
    void legacyPickleCheckpointIsRefusedWithAHint() throws IOException {
        byte[] legacy = new Pickle().proto2().op('J').op(0x0a).op(0x0c).op(0xf4).op(0x18).op('.').bytes();
        Path file = Files.write(dir.resolve("legacy.bin"), legacy);
        FileErrors.assertMentions(openFails(file), "legacy (pre-1.6) torch.save format is not supported", "safetensors");
    }

    @Test
    void storageShorterThanTheTensorIsRefused() {
        TorchZipWriter w = new TorchZipWriter()
                .floatStorage("0", 1, 2, 3)
                .tensor("w", "0", "FloatStorage", 6, 0, new long[] {2, 3}, new long[] {3, 1});
        Path file = w.write(dir.resolve("short.bin"));
        FileErrors.assertMentions(openFails(file), "'w' needs 24 bytes of storage data/0, which holds 12");
    }

    @Test
    void tensorReachingPastItsDeclaredStorageIsRefused() {
        TorchZipWriter w = new TorchZipWriter()
                .floatStorage("0", 1, 2, 3, 4)
                .tensor("w", "0", "FloatStorage", 4, 2, new long[] {2, 2}, new long[] {2, 1});
        Path file = w.write(dir.resolve("past.bin"));
        FileErrors.assertMentions(openFails(file), "'w' reaches past the end of its storage 0");
    }

    @Test
    void missingStorageIsRefused() {
        TorchZipWriter w = new TorchZipWriter().tensor("w", "7", "FloatStorage", 2, 0, new long[] {2}, new long[] {1});
        Path file = w.write(dir.resolve("nostorage.bin"));
        FileErrors.assertMentions(openFails(file), "'w' refers to missing storage data/7");
    }

    @Test
    void stridedAndOffsetViewsAreGathered() {
        float[] storage = new float[20];
        for (int i = 0; i < storage.length; i++) {
            storage[i] = i;
        }
        TorchZipWriter w = new TorchZipWriter()
                .floatStorage("0", storage)
                // transpose of a 3x4 row-major block starting at element 2
                .tensor("transposed", "0", "FloatStorage", 20, 2, new long[] {4, 3}, new long[] {1, 4})
                // every other column of a 2x8 block starting at element 3
                .tensor("strided", "0", "FloatStorage", 20, 3, new long[] {2, 4}, new long[] {8, 2})
                // contiguous slice sharing the storage
                .tensor("slice", "0", "FloatStorage", 20, 17, new long[] {3}, new long[] {1})
                // broadcast (stride 0)
                .tensor("expanded", "0", "FloatStorage", 20, 5, new long[] {2, 3}, new long[] {0, 1});
        Path file = w.write(dir.resolve("views.bin"));
        try (TensorSource src = WeightFiles.open(file); NDManager m = EngineRuntime.newManager(Device.cpu())) {
            assertArrayEquals(new long[] {4, 3}, src.info("transposed").shape());
            assertArrayEquals(new float[] {2, 6, 10, 3, 7, 11, 4, 8, 12, 5, 9, 13}, src.load("transposed", m).toFloatArray());
            assertArrayEquals(new float[] {3, 5, 7, 9, 11, 13, 15, 17}, src.load("strided", m).toFloatArray());
            assertArrayEquals(new float[] {17, 18, 19}, src.load("slice", m).toFloatArray());
            assertArrayEquals(new float[] {5, 6, 7, 5, 6, 7}, src.load("expanded", m).toFloatArray());
        }
    }

    @Test
    void contiguousTensorsKeepOrderAndValues() {
        Path file = new TorchZipWriter()
                .contiguous("b.weight", new long[] {2, 2}, 1, -2, 3.5f, 4)
                .contiguous("a.bias", new long[] {2}, 0.25f, -0.5f)
                .write(dir.resolve("plain.bin"));
        try (TensorSource src = WeightFiles.open(file); NDManager m = EngineRuntime.newManager(Device.cpu())) {
            assertEquals(java.util.List.of("b.weight", "a.bias"), java.util.List.copyOf(src.keys()));
            assertArrayEquals(new float[] {1, -2, 3.5f, 4}, src.load("b.weight", m).toFloatArray());
            assertArrayEquals(new float[] {0.25f, -0.5f}, src.load("a.bias", m).toFloatArray());
        }
    }

    @Test
    void safetensorsFileNamedBinIsStillNotReadAsSafetensors() {
        Path file = SafetensorsWriter.write(dir.resolve("model.bin"), new SafetensorsWriter().addF32("a", new long[] {1}, 1).toBytes());
        FileErrors.assertMentions(openFails(file), "not a zip archive");
    }
}
