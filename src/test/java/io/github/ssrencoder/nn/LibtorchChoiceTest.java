package io.github.ssrencoder.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where libtorch comes from and the choice of an installed libtorch. The engine of this JVM always stays on
 * the bundled libtorch: folders with libtorch are only validated, or offered to an engine already running.
 */
class LibtorchChoiceTest {

    private static final String TORCH = System.mapLibraryName("torch");

    /** This machine's classifier as DJL names it, e.g. linux-x86_64. */
    private static String machineClassifier() {
        String os = System.getProperty("os.name");
        String prefix = os.startsWith("Win") ? "win" : os.startsWith("Mac") ? "osx" : "linux";
        String arch = System.getProperty("os.arch");
        return prefix + "-" + ("amd64".equals(arch) ? "x86_64" : arch);
    }

    @Test
    void sourceIsTheNativesJarOfThisPlatformBeforeAndAfterTheEngineStarts() {
        assertNull(System.getenv(EngineRuntime.LIBRARY_PATH_VARIABLE), "the tests run on the bundled libtorch");
        String before = EngineRuntime.libtorchSource();
        EngineRuntime.device(EngineRuntime.DeviceChoice.CPU);
        String after = EngineRuntime.libtorchSource();
        assertEquals(before, after);
        Path jar = Path.of(after);
        assertTrue(Files.isRegularFile(jar), after);
        String name = jar.getFileName().toString();
        assertTrue(name.startsWith("pytorch-native-cpu-") && name.endsWith("-" + machineClassifier() + ".jar"), after);
        assertEquals(machineClassifier(), EngineRuntime.classifier());
    }

    @Test
    void jarUrlsBecomeFilePaths() throws Exception {
        Path jar = Path.of("/opt/Fiji app/jars/linux64/pytorch-native-cpu-2.7.1-linux-x86_64.jar");
        java.net.URL url = new java.net.URL("jar:" + jar.toUri() + "!/pytorch/cpu/linux-x86_64/libc10.so");
        assertEquals(jar.toString(), EngineRuntime.location(url));
        assertEquals(Path.of("/x/y").toString(), EngineRuntime.location(Path.of("/x/y/libc10.so").toUri().toURL()));
    }

    @Test
    void folderWithoutLibtorchIsRefusedNamingFolderAndFile(@TempDir Path dir) {
        var e = assertThrows(IllegalArgumentException.class, () -> EngineRuntime.useLibtorch(dir));
        assertTrue(e.getMessage().startsWith("no libtorch in " + dir.toAbsolutePath().normalize() + ": expected " + TORCH
                + " there (choose the lib folder of a libtorch 2.7.1 download, or torch/lib of a pip install of torch 2.7.1)"),
                e.getMessage());
        var missing = assertThrows(IllegalArgumentException.class, () -> EngineRuntime.validateLibtorch(dir.resolve("nope")));
        assertEquals("libtorch folder not found: " + dir.resolve("nope").toAbsolutePath().normalize(), missing.getMessage());
        assertNull(System.getProperty(EngineRuntime.LIBRARY_PATH_VARIABLE));
    }

    @Test
    void versionFlavourAndJniAreChecked(@TempDir Path root) throws IOException {
        assertEquals("2.7.1", EngineRuntime.bundledVersion());
        Path pipLib = fakeLibtorch(root.resolve("torch"), true);
        Files.writeString(root.resolve("torch/version.py"), "__version__ = '2.7.1+cu128'\ndebug = False\ncuda = '12.8'\n");
        assertEquals("2.7.1+cu128", EngineRuntime.installedVersion(pipLib));
        assertEquals("cu128", EngineRuntime.flavorOf(pipLib));
        if (machineClassifier().equals("linux-x86_64") || machineClassifier().equals("win-x86_64")) {
            assertEquals(pipLib.toAbsolutePath().normalize(), EngineRuntime.validateLibtorch(pipLib));
        }

        Path download = fakeLibtorch(root.resolve("libtorch"), false);
        Files.writeString(root.resolve("libtorch/build-version"), "2.6.0+cpu\n");
        assertEquals("cpu", EngineRuntime.flavorOf(download));
        var old = assertThrows(IllegalArgumentException.class, () -> EngineRuntime.validateLibtorch(download));
        assertEquals("the libtorch in " + download.toAbsolutePath().normalize() + " is version 2.6.0+cpu, but this plugin's "
                + "PyTorch engine needs libtorch 2.7.1", old.getMessage());
        Files.writeString(root.resolve("libtorch/build-version"), "2.7.1+cpu\n");
        assertEquals(download.toAbsolutePath().normalize(), EngineRuntime.validateLibtorch(download));

        assertTrue(EngineRuntime.sameVersion("2.7.1", "2.7.1"));
        assertTrue(EngineRuntime.sameVersion("2.7.1-20250812", "2.7.1"));
        assertFalse(EngineRuntime.sameVersion("2.7.10", "2.7.1"));
        assertFalse(EngineRuntime.sameVersion("2.7.1.1", "2.7.1"));
    }

    @Test
    void aRunningEngineIsNotRepointedAndSaysSo(@TempDir Path root) throws IOException {
        EngineRuntime.device(EngineRuntime.DeviceChoice.CPU);
        assertTrue(EngineRuntime.engineLoaded(), "the engine runs before another libtorch is offered to it");
        Path lib = fakeLibtorch(root.resolve("libtorch"), false);
        try {
            Optional<String> note = EngineRuntime.useLibtorch(lib);
            assertTrue(note.isPresent());
            assertTrue(note.get().contains("PyTorch is already running with libtorch from " + EngineRuntime.libtorchSource()
                    + "; libtorch from " + lib.toAbsolutePath().normalize() + " takes effect after a restart"), note.get());
            assertNull(System.getProperty(EngineRuntime.LIBRARY_PATH_VARIABLE), "nothing is set for the running engine");
            assertEquals(note, EngineRuntime.restartNote(lib));
            assertEquals(Optional.empty(), EngineRuntime.useLibtorch(null), "the bundled libtorch is the one running");
        } finally {
            for (String key : new String[] {EngineRuntime.LIBRARY_PATH_VARIABLE, EngineRuntime.VERSION_VARIABLE,
                    EngineRuntime.FLAVOR_VARIABLE}) {
                System.clearProperty(key);
            }
        }
    }

    /** A folder shaped like libtorch's lib folder (empty files): never loaded, only looked at. */
    private static Path fakeLibtorch(Path root, boolean cuda) throws IOException {
        Path lib = Files.createDirectories(root.resolve("lib"));
        Files.createFile(lib.resolve(TORCH));
        Files.createFile(lib.resolve(System.mapLibraryName("c10")));
        if (cuda) {
            Files.createFile(lib.resolve(System.mapLibraryName("torch_cuda")));
        }
        assertEquals(cuda ? "cu128" : "cpu", EngineRuntime.flavorOf(lib).toLowerCase(Locale.ROOT));
        return lib;
    }
}
