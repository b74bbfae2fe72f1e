package io.github.ssrencoder.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.SafetensorsFile;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * The random draws of the official run, injected in its recorded order: each call must ask for the kind of draw
 * the reference made next (a uniform for a flip or a drop-out, an integer for a choice or a timestep, a normal
 * tensor for the VAE noise and the diffusion noise), otherwise the test fails.
 */
final class RecordedDraws implements TrainingRandom {

    private record Draw(String kind, double value, float[] values) {
    }

    private final Deque<Draw> draws = new ArrayDeque<>();

    /** The draws of one step: {@code sequence} from the case json, tensors under {@code prefix} (e.g. {@code step2.}). */
    RecordedDraws(JsonArray sequence, SafetensorsFile tensors, String prefix, NDManager m) {
        for (JsonElement e : sequence) {
            JsonObject o = e.getAsJsonObject();
            String kind = o.get("kind").getAsString();
            switch (kind) {
                case "vae_eps", "noise" -> draws.add(new Draw(kind, 0, tensors.load(prefix + "draw." + kind, m).toFloatArray()));
                case "timesteps" -> o.get("value").getAsJsonArray().forEach(v -> draws.add(new Draw(kind, v.getAsLong(), null)));
                default -> draws.add(new Draw(kind, o.get("value").getAsDouble(), null));
            }
        }
    }

    private Draw next(String... kinds) {
        assertFalse(draws.isEmpty(), "more draws than the reference made");
        Draw d = draws.poll();
        assertEquals(true, java.util.List.of(kinds).contains(d.kind()), "the reference drew " + d.kind() + " here");
        return d;
    }

    @Override
    public float uniform() {
        return (float) next("flip_u", "caption_drop_u").value();
    }

    @Override
    public long randint(long high) {
        return (long) next("caption_choice", "tag_choice", "timesteps").value();
    }

    @Override
    public float[] randn(long... shape) {
        Draw d = next("vae_eps", "noise");
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        assertEquals(n, d.values().length, "randn size");
        return d.values();
    }

    /** Whether every recorded draw was used. */
    boolean exhausted() {
        return draws.isEmpty();
    }

    static void assertSameInts(long[] expected, long[] actual, String what) {
        assertArrayEquals(expected, actual, what);
    }
}
