package io.github.ssrencoder.packaging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;
import org.junit.jupiter.api.Test;

/**
 * Checks what {@code mvn package} produced: the runnable layout ({@code target/lib/}) and the Fiji bundle
 * ({@code jars/}, the per-platform libtorch folders and {@code plugins/}), and that the plugin jar carries Fiji's
 * menu and plugin index files.
 */
class FijiBundleIT {

    /** Fiji's platform folder names (its launcher and updater) and DJL's classifier of the libtorch they hold. */
    private static final Map<String, String> PLATFORMS = Map.of("linux64", "linux-x86_64", "linux-arm64", "linux-aarch64",
            "macos-arm64", "osx-aarch64", "win64", "win-x86_64");

    private static final Path PROJECT = Path.of(System.getProperty("ssr.project.dir", "."));
    private static final Path BUILD = Path.of(System.getProperty("ssr.build.dir", "target"));
    private static final String FINAL_NAME = System.getProperty("ssr.final.name", "ssr-encoder-fiji");
    private static final String VERSION = FINAL_NAME.substring("ssr-encoder-fiji-".length());

    private static Set<String> entries(ZipFile zip, String folder) {
        return zip.stream().map(ZipEntry::getName).filter(n -> n.startsWith(folder) && !n.equals(folder) && !n.substring(folder.length()).contains("/"))
                .map(n -> n.substring(folder.length())).collect(Collectors.toCollection(TreeSet::new));
    }

    private static Set<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    @Test
    void bundleHasThePluginAndEveryRuntimeDependencyFijiDoesNotProvide() throws IOException {
        Path bundle = BUILD.resolve(FINAL_NAME + "-fiji.zip");
        assertTrue(Files.isRegularFile(bundle), bundle + " missing");
        Set<String> lib = names(BUILD.resolve("lib"));
        Set<String> provided = names(BUILD.resolve("fiji-provided"));
        try (ZipFile zip = new ZipFile(bundle.toFile())) {
            Set<String> top = zip.stream().map(e -> e.getName().split("/")[0]).collect(Collectors.toSet());
            assertEquals(Set.of("jars", "plugins"), top);
            assertEquals(Set.of("SSR_Encoder-" + VERSION + ".jar"), entries(zip, "plugins/"),
                    "ImageJ 1.x installs plugins/*.jar only when the name contains an underscore");

            Set<String> jars = entries(zip, "jars/");
            jars.removeIf(j -> j.endsWith("/"));
            Set<String> expected = new TreeSet<>();
            for (String j : lib) {
                if (!provided.contains(j) && !j.startsWith("pytorch-native-")) {
                    expected.add(j.startsWith("api-") ? "djl-" + j : j);
                }
            }
            assertEquals(expected, jars, "jars/ = target/lib minus what Fiji provides, libtorch in the platform folders");
            assertTrue(jars.stream().anyMatch(j -> j.startsWith("pytorch-jni-")), jars.toString());
            assertTrue(jars.stream().anyMatch(j -> j.startsWith("pytorch-engine-")), jars.toString());
            assertTrue(jars.stream().anyMatch(j -> j.startsWith("djl-api-")), jars.toString());
            assertTrue(lib.containsAll(provided), "target/lib keeps the full class path for scripts/ssr");
            for (String p : List.of("ij-", "scijava-common-", "imglib2-", "gson-", "jna-")) {
                assertTrue(provided.stream().anyMatch(j -> j.startsWith(p)), p + " must be provided by Fiji: " + provided);
            }
        }
    }

    @Test
    void eachPlatformFolderHoldsExactlyItsOwnLibtorch() throws IOException {
        Path bundle = BUILD.resolve(FINAL_NAME + "-fiji.zip");
        try (ZipFile zip = new ZipFile(bundle.toFile())) {
            Set<String> folders = zip.stream().map(ZipEntry::getName).filter(n -> n.startsWith("jars/") && n.chars().filter(c -> c == '/').count() == 2)
                    .map(n -> n.split("/")[1]).collect(Collectors.toCollection(TreeSet::new));
            assertEquals(new TreeSet<>(PLATFORMS.keySet()), folders);
            for (Map.Entry<String, String> platform : PLATFORMS.entrySet()) {
                Set<String> jars = entries(zip, "jars/" + platform.getKey() + "/");
                assertEquals(1, jars.size(), platform.getKey() + ": " + jars);
                String jar = jars.iterator().next();
                assertTrue(jar.matches("pytorch-native-[a-z0-9]+-[0-9.]+-" + Pattern.quote(platform.getValue()) + "\\.jar"), jar);
                Properties props = new Properties();
                try (ZipInputStream in = new ZipInputStream(zip.getInputStream(zip.getEntry("jars/" + platform.getKey() + "/" + jar)))) {
                    for (ZipEntry e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
                        if (e.getName().equals("native/lib/pytorch.properties")) {
                            props.load(in);
                        }
                    }
                }
                assertEquals(platform.getValue(), props.getProperty("classifier"), jar + " declares the platform its libraries are for");
            }
        }
    }

    @Test
    void fijiProvidedLibrariesHaveThePomScijavaVersions() throws Exception {
        Path pom = Path.of(System.getProperty("ssr.pom.scijava"));
        assertTrue(Files.isRegularFile(pom), pom + " missing");
        Map<String, String> managed = PomScijava.managedVersions(pom);
        Set<String> provided = names(BUILD.resolve("fiji-provided"));
        assertFalse(provided.isEmpty());
        for (String jar : provided) {
            String artifact = jar.replaceFirst("-[0-9][^-]*\\.jar$", "");
            String version = jar.substring(artifact.length() + 1, jar.length() - ".jar".length());
            assertEquals(managed.get(artifact), version, jar + ": the version Fiji ships (pom-scijava " + pom.getFileName() + ")");
        }
    }

    @Test
    void pluginJarCarriesMenuAndPluginIndexWhenThereArePlugins() throws IOException {
        Path jar = BUILD.resolve(FINAL_NAME + ".jar");
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            if (Files.isRegularFile(PROJECT.resolve("src/main/resources/plugins.config"))) {
                assertNotNull(zip.getEntry("plugins.config"), "plugins.config missing from " + jar);
            }
            boolean hasPlugins;
            try (Stream<Path> s = Files.walk(PROJECT.resolve("src/main/java"))) {
                hasPlugins = s.filter(p -> p.toString().endsWith(".java")).anyMatch(p -> {
                    try {
                        return Files.readString(p).contains("@Plugin(");
                    } catch (IOException e) {
                        return false;
                    }
                });
            }
            if (hasPlugins) {
                assertNotNull(zip.getEntry("META-INF/json/org.scijava.plugin.Plugin"), "SciJava plugin index missing from " + jar);
            }
            assertNotNull(zip.getEntry("io/github/ssrencoder/cli/EngineCheck.class"));
            assertFalse(zip.stream().anyMatch(e -> e.getName().startsWith("golden/")), "test data must not ship in the jar");
        }
    }
}
