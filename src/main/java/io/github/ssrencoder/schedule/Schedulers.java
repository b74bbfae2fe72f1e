package io.github.ssrencoder.schedule;

import java.util.List;

/** Creates schedulers by their short names. */
public final class Schedulers {

    private static final List<String> NAMES = List.of("unipc", "ddim", "pndm", "euler", "euler-a", "dpmpp-2m", "lcm");

    private Schedulers() {
    }

    /** The supported names; the first is the default of every command. */
    public static List<String> names() {
        return NAMES;
    }

    /**
     * A new scheduler of the given kind for {@code config}.
     *
     * @throws IllegalArgumentException for an unknown name or a config value the scheduler does not support
     */
    public static Scheduler create(String name, SchedulerConfig config) {
        if (name == null || !NAMES.contains(name)) {
            throw new IllegalArgumentException("unknown scheduler '" + name + "' (supported: " + String.join(", ", NAMES) + ")");
        }
        // ddim, pndm, euler-a and lcm have no Karras option in the reference and ignore the key
        if (config.useKarrasSigmas() && (name.equals("euler") || name.equals("unipc"))) {
            throw new IllegalArgumentException("use_karras_sigmas = true is supported only by dpmpp-2m, not by " + name);
        }
        return switch (name) {
            case "unipc" -> new UniPcMultistepScheduler(config);
            case "ddim" -> new DdimScheduler(config);
            case "pndm" -> new PndmScheduler(config);
            case "euler" -> new EulerScheduler(config, false);
            case "euler-a" -> new EulerScheduler(config, true);
            case "dpmpp-2m" -> new DpmSolverMultistepScheduler(config);
            case "lcm" -> new LcmScheduler(config);
            default -> throw new IllegalStateException(name);
        };
    }
}
