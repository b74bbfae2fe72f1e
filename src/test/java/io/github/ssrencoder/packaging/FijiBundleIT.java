package io.github.ssrencoder.packaging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;

/**
 * Checks what {@code mvn package} produced: the runnable layout ({@code target/lib/}) and the Fiji bundle
 * ({@code jars/} and {@code plugins/}), and that the plugin jar carries Fiji's menu and plugin index files.
 */
class FijiBundleIT {

    /** Libraries Fiji already ships, left out of the bundle's jars/ (see src/assembly/fiji.xml). */
    private static final List<String> PROVIDED_BY_FIJI = List.of("ij-", "imglib2-", "scijava-common-", "parsington-", "gson-",
            "error_prone_annotations-", "jna-", "slf4j-api-", "commons-io-", "commons-codec-", "commons-compress-");

    private static final Path PROJECT = Path.of(System.getProperty("ssr.project.dir", "."));
    private static final Path BUILD = Path.of(System.getProperty("ssr.build.dir", "target"));
    private static final String FINAL_NAME = System.getProperty("ssr.final.name", "ssr-encoder-fiji");

    private static Set<String> entries(ZipFile zip, String folder) {
        return zip.stream().map(ZipEntry::getName).filter(n -> n.startsWith(folder) && !n.equals(folder))
                .map(n -> n.substring(folder.length())).collect(Collectors.toCollection(TreeSet::new));
    }

    private static boolean provided(String jar) {
        return PROVIDED_BY_FIJI.stream().anyMatch(p -> jar.startsWith(p) && Character.isDigit(jar.charAt(p.length())));
    }

    @Test
    void bundleHasThePluginAndEveryRuntimeDependencyFijiLacks() throws IOException {
        Path bundle = BUILD.resolve(FINAL_NAME + "-fiji.zip");
        assertTrue(Files.isRegularFile(bundle), bundle + " missing");
        Set<String> lib;
        try (Stream<Path> s = Files.list(BUILD.resolve("lib"))) {
            lib = s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
        try (ZipFile zip = new ZipFile(bundle.toFile())) {
            Set<String> top = zip.stream().map(e -> e.getName().split("/")[0]).collect(Collectors.toSet());
            assertEquals(Set.of("jars", "plugins"), top);
            assertEquals(Set.of(FINAL_NAME + ".jar"), entries(zip, "plugins/"));

            Set<String> jars = entries(zip, "jars/");
            Set<String> expected = new TreeSet<>();
            for (String j : lib) {
                if (!provided(j)) {
                    expected.add(j.startsWith("api-") ? "djl-" + j : j);
                }
            }
            assertEquals(expected, jars);
            assertTrue(jars.stream().anyMatch(j -> j.matches("pytorch-native-[a-z0-9]+-.*-linux-x86_64\\.jar")), jars.toString());
            assertTrue(jars.stream().anyMatch(j -> j.startsWith("pytorch-jni-")), jars.toString());
            assertTrue(jars.stream().anyMatch(j -> j.startsWith("pytorch-engine-")), jars.toString());
            assertTrue(jars.stream().anyMatch(j -> j.startsWith("djl-api-")), jars.toString());
            assertTrue(jars.stream().noneMatch(FijiBundleIT::provided), jars.toString());
            assertTrue(lib.stream().anyMatch(j -> j.startsWith("ij-")), "target/lib keeps the full class path for scripts/ssr");
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
