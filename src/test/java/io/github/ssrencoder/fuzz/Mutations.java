package io.github.ssrencoder.fuzz;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Deterministic mutations of bytes, JSON and text: bit flips, boundary values written over integers, truncation,
 * chunk deletion and duplication, and structure-aware JSON edits (a value of the wrong type, an absurd number, a
 * missing key, deep nesting). Every choice comes from the given random source, so a seed reproduces a case.
 */
final class Mutations {

    /** Integers that sit on boundaries readers tend to get wrong. */
    static final long[] INTERESTING = {0, 1, -1, 2, 7, 8, 127, 128, 255, 256, 65535, 65536, 100_000, 1L << 24,
            Integer.MAX_VALUE, Integer.MIN_VALUE, 1L << 31, 1L << 32, (1L << 32) - 1, 1L << 40, 1L << 53, Long.MAX_VALUE,
            Long.MIN_VALUE, -2, -100_000};

    private static final Gson GSON = new GsonBuilder().serializeNulls().serializeSpecialFloatingPointValues().create();

    private Mutations() {
    }

    static long interesting(SplittableRandom r) {
        return INTERESTING[r.nextInt(INTERESTING.length)];
    }

    /** One to three byte-level mutations, half of them aimed at the first {@code headBytes} bytes. */
    static byte[] bytes(byte[] in, SplittableRandom r, int headBytes) {
        byte[] b = in;
        int n = 1 + r.nextInt(3);
        for (int i = 0; i < n; i++) {
            b = byteOnce(b, r, headBytes);
        }
        return b;
    }

    private static int position(byte[] b, SplittableRandom r, int headBytes) {
        int limit = r.nextBoolean() ? Math.min(b.length, Math.max(1, headBytes)) : b.length;
        return limit <= 0 ? 0 : r.nextInt(limit);
    }

    private static byte[] byteOnce(byte[] in, SplittableRandom r, int headBytes) {
        if (in.length == 0) {
            return new byte[] {(byte) r.nextInt(256)};
        }
        byte[] b = in.clone();
        int p = position(b, r, headBytes);
        switch (r.nextInt(9)) {
            case 0 -> b[p] ^= (byte) (1 << r.nextInt(8));
            case 1 -> b[p] = (byte) new int[] {0, 0xFF, 0x7F, 0x80, 0x01}[r.nextInt(5)];
            case 2 -> b[p] = (byte) r.nextInt(256);
            case 3 -> {
                return Arrays.copyOf(b, r.nextInt(b.length));
            }
            case 4 -> {
                int len = 1 + r.nextInt(Math.max(1, Math.min(64, b.length - p)));
                byte[] out = new byte[b.length - Math.min(len, b.length - p)];
                System.arraycopy(b, 0, out, 0, p);
                System.arraycopy(b, p + (b.length - out.length), out, p, out.length - p);
                return out;
            }
            case 5 -> {
                int len = 1 + r.nextInt(Math.max(1, Math.min(64, b.length - p)));
                len = Math.min(len, b.length - p);
                byte[] out = new byte[b.length + len];
                System.arraycopy(b, 0, out, 0, p + len);
                System.arraycopy(b, p, out, p + len, b.length - p);
                return out;
            }
            case 6 -> {
                byte[] ins = new byte[1 + r.nextInt(16)];
                for (int i = 0; i < ins.length; i++) {
                    ins[i] = (byte) r.nextInt(256);
                }
                byte[] out = new byte[b.length + ins.length];
                System.arraycopy(b, 0, out, 0, p);
                System.arraycopy(ins, 0, out, p, ins.length);
                System.arraycopy(b, p, out, p + ins.length, b.length - p);
                return out;
            }
            case 7 -> writeInt(b, p, interesting(r), r.nextBoolean() ? 4 : 8, r.nextBoolean());
            default -> writeInt(b, p, interesting(r), 2, r.nextBoolean());
        }
        return b;
    }

    /** Writes {@code width} bytes of {@code value} at {@code pos} (clipped to the array). */
    static void writeInt(byte[] b, int pos, long value, int width, boolean littleEndian) {
        for (int i = 0; i < width && pos + i < b.length; i++) {
            int shift = littleEndian ? 8 * i : 8 * (width - 1 - i);
            b[pos + i] = (byte) (value >>> shift);
        }
    }

    static byte[] leLong(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    /** A JSON document with one structural edit, serialised; sometimes also damaged as text. */
    static String json(String text, SplittableRandom r) {
        JsonElement root = JsonParser.parseString(text);
        int edits = 1 + r.nextInt(2);
        for (int i = 0; i < edits; i++) {
            root = jsonOnce(root, r);
        }
        String out = GSON.toJson(root);
        return r.nextInt(6) == 0 ? textDamage(out, r) : out;
    }

    private record Slot(JsonElement parent, String key, int index, JsonElement value) {
    }

    private static void collect(JsonElement parent, String key, int index, JsonElement e, List<Slot> out) {
        out.add(new Slot(parent, key, index, e));
        if (e.isJsonObject()) {
            for (Map.Entry<String, JsonElement> m : e.getAsJsonObject().entrySet()) {
                collect(e, m.getKey(), -1, m.getValue(), out);
            }
        } else if (e.isJsonArray()) {
            JsonArray a = e.getAsJsonArray();
            // long arrays (a vocabulary) are sampled so that the list stays small
            int step = Math.max(1, a.size() / 200);
            for (int i = 0; i < a.size(); i += step) {
                collect(e, null, i, a.get(i), out);
            }
        }
    }

    private static JsonElement jsonOnce(JsonElement root, SplittableRandom r) {
        List<Slot> slots = new ArrayList<>();
        if (root.isJsonObject() && root.getAsJsonObject().size() > 500) {
            // a vocabulary: sample members rather than listing them all
            List<String> keys = new ArrayList<>(root.getAsJsonObject().keySet());
            for (int i = 0; i < 200; i++) {
                String k = keys.get(r.nextInt(keys.size()));
                slots.add(new Slot(root, k, -1, root.getAsJsonObject().get(k)));
            }
        } else {
            collect(null, null, -1, root, slots);
        }
        Slot s = slots.get(r.nextInt(slots.size()));
        JsonElement replacement = replacement(s.value(), r);
        if (s.parent() == null) {
            return replacement == null ? new JsonObject() : replacement;
        }
        if (s.parent().isJsonObject()) {
            JsonObject o = s.parent().getAsJsonObject();
            if (replacement == null) {
                o.remove(s.key());
            } else {
                o.add(s.key(), replacement);
            }
        } else {
            JsonArray a = s.parent().getAsJsonArray();
            if (replacement == null) {
                a.remove(s.index());
            } else if (r.nextInt(4) == 0) {
                a.add(replacement);
            } else {
                a.set(s.index(), replacement);
            }
        }
        return root;
    }

    /** A new value for {@code old}, or {@code null} to delete it. */
    private static JsonElement replacement(JsonElement old, SplittableRandom r) {
        switch (r.nextInt(14)) {
            case 0:
                return null;
            case 1:
                return JsonNull.INSTANCE;
            case 2:
                return new JsonPrimitive(interesting(r));
            case 3:
                return new JsonPrimitive(new double[] {-0.5, 0.5, 1e-30, 1e30, 1e308, -1e308, 3.5}[r.nextInt(7)]);
            case 4:
                return new JsonPrimitive(new String[] {"", "x", "none", "ddim", "euler-a", "../../etc", "\u0000", "é✓𝄞",
                        "Infinity", "NaN", "-1", "1e9999"}[r.nextInt(12)]);
            case 5:
                return new JsonPrimitive(r.nextBoolean());
            case 6:
                return new JsonArray();
            case 7:
                return new JsonObject();
            case 8: {
                JsonArray a = new JsonArray();
                int n = r.nextInt(5);
                for (int i = 0; i < n; i++) {
                    a.add(interesting(r));
                }
                return a;
            }
            case 9:
                return new JsonPrimitive(new BigDecimal(new BigInteger(1, new byte[40])).add(BigDecimal.TEN.pow(60)));
            case 10:
                return new JsonPrimitive("x".repeat(1 << (4 + r.nextInt(14))));
            default:
                return numericTweak(old, r);
        }
    }

    private static JsonElement numericTweak(JsonElement old, SplittableRandom r) {
        if (old.isJsonPrimitive() && old.getAsJsonPrimitive().isNumber()) {
            double v = old.getAsDouble();
            double[] candidates = {0, -v, v + 1, v - 1, v * 1000, v / 3, v + 0.5, v * 1e6};
            double d = candidates[r.nextInt(candidates.length)];
            return d == Math.rint(d) && Math.abs(d) < 1e15 ? new JsonPrimitive((long) d) : new JsonPrimitive(d);
        }
        if (old.isJsonArray() && !old.getAsJsonArray().isEmpty()) {
            JsonArray a = old.getAsJsonArray().deepCopy();
            if (r.nextBoolean()) {
                a.remove(a.size() - 1);
            } else {
                a.add(a.get(r.nextInt(a.size())));
            }
            return a;
        }
        if (old.isJsonPrimitive() && old.getAsJsonPrimitive().isString()) {
            String s = old.getAsString();
            return new JsonPrimitive(s.isEmpty() ? "?" : s.substring(0, r.nextInt(s.length())));
        }
        return new JsonPrimitive(interesting(r));
    }

    /** Text-level damage: truncation, a stray character, invalid UTF-8, or deep nesting. */
    static String textDamage(String s, SplittableRandom r) {
        int p = s.isEmpty() ? 0 : r.nextInt(s.length());
        return switch (r.nextInt(5)) {
            case 0 -> s.substring(0, p);
            case 1 -> s.substring(0, p) + "{[\",:}]\\".charAt(r.nextInt(8)) + s.substring(p);
            case 2 -> "[".repeat(1 << (8 + r.nextInt(12))) + s;
            case 3 -> "\uFEFF" + s;
            default -> s.substring(0, p) + "\uD800" + s.substring(p);
        };
    }

    /** Text-level damage applied to a text file's bytes (UTF-8), sometimes leaving invalid UTF-8. */
    static byte[] text(byte[] in, SplittableRandom r) {
        String s = new String(in, StandardCharsets.UTF_8);
        String[] lines = s.split("\n", -1);
        int i = r.nextInt(lines.length);
        switch (r.nextInt(6)) {
            case 0 -> lines[i] = "";
            case 1 -> lines[i] = lines[i] + " " + lines[r.nextInt(lines.length)];
            case 2 -> lines[i] = lines[i].replace(' ', '\t');
            case 3 -> lines[i] = "x".repeat(1 << (4 + r.nextInt(16)));
            case 4 -> {
                return bytes(in, r, 256);
            }
            default -> lines[i] = lines[i].isEmpty() ? "\u0000" : lines[i].substring(0, r.nextInt(lines[i].length()));
        }
        return String.join("\n", lines).getBytes(StandardCharsets.UTF_8);
    }
}
