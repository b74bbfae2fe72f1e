package io.github.ssrencoder.imagej;

import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.Lora;
import java.nio.file.Files;
import java.util.ArrayList;
import io.github.ssrencoder.pipeline.SubjectQuery;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The generation parameters shared by the Fiji commands and the ImageJ 1.x adapters, named by their macro keys.
 *
 * @param prompt         {@code prompt}
 * @param negativePrompt {@code negative_prompt}
 * @param scale          {@code scale}, the SSR attention scale
 * @param guidance       {@code guidance}
 * @param steps          {@code steps}
 * @param scheduler      {@code scheduler}: unipc, ddim, pndm, euler, euler-a, dpmpp-2m or lcm
 * @param width          {@code width}
 * @param height         {@code height}
 * @param seed           {@code seed}; -1 draws a random seed
 * @param images         {@code images}, the number of images
 * @param lora           {@code lora}: LoRA files fused for this run, {@code FILE[:WEIGHT]} separated by {@code ;}
 *                       (e.g. {@code lora=[/loras/a.safetensors:0.8;/loras/b.safetensors:0.5]}); empty for none
 * @param cacheInterval  {@code cache_interval}: feature caching, the whole UNet every N-th step (1 = off)
 */
public record GenerationParameters(String prompt, String negativePrompt, double scale, double guidance, int steps,
                                   String scheduler, int width, int height, long seed, int images, String lora,
                                   int cacheInterval) {

    /** The scheduler choices, default first. */
    public static final List<String> SCHEDULERS = List.of("unipc", "ddim", "pndm", "euler", "euler-a", "dpmpp-2m", "lcm");

    public GenerationParameters {
        prompt = prompt == null ? "" : prompt;
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        scheduler = scheduler == null || scheduler.isBlank() ? SCHEDULERS.get(0) : scheduler.trim().toLowerCase(Locale.ROOT);
        if (!Set.copyOf(SCHEDULERS).contains(scheduler)) {
            throw new IllegalArgumentException("unknown scheduler '" + scheduler + "' (use " + String.join(", ", SCHEDULERS) + ")");
        }
        if (seed < -1) {
            throw new IllegalArgumentException("seed must be -1 (random) or ≥ 0, got " + seed);
        }
        if (cacheInterval < 1 || cacheInterval > 1000) {
            throw new IllegalArgumentException("cache_interval must be between 1 (off) and 1000, got " + cacheInterval);
        }
        lora = lora == null ? "" : lora.trim();
        for (Lora l : parseLoras(lora)) {
            if (!Files.isRegularFile(l.file())) {
                throw new IllegalArgumentException("LoRA file " + l.file() + " not found (lora=[FILE:WEIGHT;…])");
            }
        }
    }

    /** Parameters without LoRAs. */
    public GenerationParameters(String prompt, String negativePrompt, double scale, double guidance, int steps,
                                String scheduler, int width, int height, long seed, int images) {
        this(prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed, images, "");
    }

    /** Parameters without feature caching. */
    public GenerationParameters(String prompt, String negativePrompt, double scale, double guidance, int steps,
                                String scheduler, int width, int height, long seed, int images, String lora) {
        this(prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed, images, lora, 1);
    }

    /** The LoRAs of a {@code lora} value: {@code FILE[:WEIGHT]} entries separated by {@code ;}, in order. */
    public static List<Lora> parseLoras(String value) {
        List<Lora> loras = new ArrayList<>();
        if (value == null) {
            return loras;
        }
        for (String part : value.split(";")) {
            if (!part.isBlank()) {
                loras.add(Lora.parse(part));
            }
        }
        return loras;
    }

    /** The seed to use: the given one, or a fresh random one for -1. */
    public long resolveSeed() {
        return seed >= 0 ? seed : ThreadLocalRandom.current().nextLong(0, 1L << 32);
    }

    /** The validated request for {@code subjects} with seed {@code usedSeed}. */
    public GenerationRequest toRequest(List<SubjectQuery> subjects, long usedSeed) {
        return new GenerationRequest(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height,
                usedSeed, null, images).withLoras(parseLoras(lora)).withCacheInterval(cacheInterval);
    }

    /** Macro key → value of every parameter, with the seed actually used. */
    public Map<String, String> describe(long usedSeed) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("prompt", prompt);
        m.put("negative_prompt", negativePrompt);
        m.put("scale", Double.toString(scale));
        m.put("guidance", Double.toString(guidance));
        m.put("steps", Integer.toString(steps));
        m.put("scheduler", scheduler);
        m.put("width", Integer.toString(width));
        m.put("height", Integer.toString(height));
        m.put("seed", Long.toString(usedSeed));
        m.put("images", Integer.toString(images));
        if (!lora.isEmpty()) {
            m.put("lora", lora);
        }
        if (cacheInterval > 1) {
            m.put("cache_interval", Integer.toString(cacheInterval));
        }
        return m;
    }
}
