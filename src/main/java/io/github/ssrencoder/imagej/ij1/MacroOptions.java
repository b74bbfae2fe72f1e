package io.github.ssrencoder.imagej.ij1;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * The {@code key=value key=[value with spaces] flag} options string of an ImageJ 1.x {@code run(command,
 * options)} call, read by key. As in ImageJ, a checkbox is on when its key appears alone or with a true value
 * and off when it is absent.
 */
public final class MacroOptions {

    private final Map<String, String> values;

    private MacroOptions(Map<String, String> values) {
        this.values = values;
    }

    /** Parses an options string; keys are case-insensitive. */
    public static MacroOptions parse(String options) {
        Map<String, String> map = new LinkedHashMap<>();
        String s = options == null ? "" : options;
        int i = 0;
        int n = s.length();
        while (i < n) {
            while (i < n && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            int start = i;
            while (i < n && !Character.isWhitespace(s.charAt(i)) && s.charAt(i) != '=') {
                i++;
            }
            if (i == start) {
                i++;
                continue;
            }
            String key = s.substring(start, i).toLowerCase(Locale.ROOT);
            if (i < n && s.charAt(i) == '=') {
                i++;
                String value;
                if (i < n && s.charAt(i) == '[') {
                    int close = s.indexOf(']', i + 1);
                    if (close < 0) {
                        throw new IllegalArgumentException("option " + key + " has a '[' without a closing ']'");
                    }
                    value = s.substring(i + 1, close);
                    i = close + 1;
                } else {
                    int vs = i;
                    while (i < n && !Character.isWhitespace(s.charAt(i))) {
                        i++;
                    }
                    value = s.substring(vs, i);
                }
                map.put(key, value);
            } else {
                map.put(key, "true");
            }
        }
        return new MacroOptions(map);
    }

    /** Options from explicit values (an interactive dialog). */
    public static MacroOptions of(Map<String, String> values) {
        Map<String, String> map = new LinkedHashMap<>();
        values.forEach((k, v) -> map.put(k.toLowerCase(Locale.ROOT), v));
        return new MacroOptions(map);
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    public String string(String key, String fallback) {
        return values.getOrDefault(key, fallback);
    }

    public double number(String key, double fallback) {
        return parsed(key, fallback, Double::parseDouble, "a number");
    }

    public int integer(String key, int fallback) {
        double d = number(key, fallback);
        if (d != Math.rint(d) || Math.abs(d) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(key + " must be a whole number, got '" + values.get(key) + "'");
        }
        return (int) d;
    }

    public long whole(String key, long fallback) {
        return parsed(key, fallback, Long::parseLong, "a whole number");
    }

    /** The value of {@code key} read by {@code parser}, {@code fallback} when absent or blank. */
    private <T> T parsed(String key, T fallback, Function<String, T> parser, String expected) {
        String v = values.get(key);
        if (v == null || v.isBlank()) {
            return fallback;
        }
        try {
            return parser.apply(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be " + expected + ", got '" + v + "'", e);
        }
    }

    /** A checkbox: on when present alone or as {@code key=true}, off when absent or {@code key=false}. */
    public boolean flag(String key) {
        String v = values.get(key);
        if (v == null) {
            return false;
        }
        return switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "", "true", "1", "yes", "on" -> true;
            case "false", "0", "no", "off" -> false;
            default -> throw new IllegalArgumentException(key + " must be true or false, got '" + v + "'");
        };
    }
}
