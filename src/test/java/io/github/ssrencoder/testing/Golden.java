package io.github.ssrencoder.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import io.github.ssrencoder.io.SafetensorsFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** Access to the golden reference data copied into {@code src/test/resources/golden}, and tolerant comparison. */
public final class Golden {

    private Golden() {
    }

    /** The golden root folder ({@code golden/} on the test classpath). */
    public static Path root() {
        URL url = Golden.class.getResource("/golden/README.md");
        if (url == null) {
            throw new IllegalStateException("golden data missing from the test classpath (src/test/resources/golden)");
        }
        try {
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The tiny-a model set (DESIGN §3 layout: sd/, image_encoder/, ssr/). */
    public static Path tinyA() {
        return root().resolve("tiny-a");
    }

    /** {@code full-size-keys/<name>}. */
    public static Path fullSizeKeys(String name) {
        return root().resolve("full-size-keys").resolve(name);
    }

    /** Opens {@code tiny-a/cases/<name>.safetensors}. */
    public static SafetensorsFile caseTensors(String name) {
        return SafetensorsFile.open(tinyA().resolve("cases").resolve(name + ".safetensors"));
    }

    /** Parses {@code tiny-a/cases/<name>.json}. */
    public static JsonElement caseJson(String name) {
        return json(tinyA().resolve("cases").resolve(name + ".json"));
    }

    /** Parses any JSON file. */
    public static JsonElement json(Path file) {
        try {
            return JsonParser.parseString(Files.readString(file));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Asserts {@code actual} matches {@code expected} in shape and within {@code atol} elementwise; the
     * failure message names the tensor, the worst index and the error.
     */
    public static void assertClose(String what, NDArray expected, NDArray actual, double atol) {
        assertArrayEquals(expected.getShape().getShape(), actual.getShape().getShape(), what + ": shape");
        float[] e = expected.toType(DataType.FLOAT32, false).toFloatArray();
        float[] a = actual.toType(DataType.FLOAT32, false).toFloatArray();
        double worst = maxAbsDiff(e, a);
        if (!(worst <= atol)) {
            int at = worstIndex(e, a);
            fail(String.format("%s: max |expected - actual| = %.3g > %.3g at flat index %d of shape %s (expected %.7g, got %.7g)",
                    what, worst, atol, at, Arrays.toString(expected.getShape().getShape()), e[at], a[at]));
        }
    }

    /** Largest absolute difference (NaN counts as infinite). */
    public static double maxAbsDiff(float[] e, float[] a) {
        double worst = 0;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs((double) e[i] - a[i]);
            if (Double.isNaN(d)) {
                return Double.POSITIVE_INFINITY;
            }
            worst = Math.max(worst, d);
        }
        return worst;
    }

    private static int worstIndex(float[] e, float[] a) {
        int at = 0;
        double worst = -1;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs((double) e[i] - a[i]);
            if (Double.isNaN(d)) {
                return i;
            }
            if (d > worst) {
                worst = d;
                at = i;
            }
        }
        return at;
    }
}
