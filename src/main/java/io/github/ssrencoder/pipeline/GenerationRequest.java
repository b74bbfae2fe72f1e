package io.github.ssrencoder.pipeline;

import java.util.List;
import java.util.Objects;

/**
 * Everything one generation needs. Validated here, at the boundary, so that the numerical code can assume
 * well-formed input. Defaults follow the official inference scripts.
 *
 * @param subjects       zero (plain Stable Diffusion) or more subjects
 * @param prompt         the text prompt
 * @param negativePrompt the negative prompt ("" for none)
 * @param scale          the SSR attention scale (official {@code scale} / {@code set_scale}), 0…10
 * @param guidance       classifier-free guidance scale, 1…50 (≤ 1 disables guidance)
 * @param steps          denoising steps, 1…1000
 * @param scheduler      scheduler name (unipc, ddim, pndm, euler, euler-a, dpmpp-2m, lcm)
 * @param width          output width in pixels, a positive multiple of 8
 * @param height         output height in pixels, a positive multiple of 8
 * @param seed           seed of the run's generator (as a CPU {@code torch.Generator}): it draws the initial noise
 *                       unless initLatents is given, then the noise euler-a and lcm add at each step; {@code null}
 *                       = a random seed
 * @param initLatents    explicit initial noise before scaling by the scheduler's init sigma, or {@code null}; its
 *                       shape [1, C, H/f, W/f] depends on the models and is checked by the pipeline
 * @param numImages      images to generate, 1…64 (their initial noise is one draw of shape [numImages, C, h, w], as diffusers draws it)
 * @param loras          LoRAs fused into the UNet and text encoder for this run, in order (empty for none)
 * @param controls       control images with their ControlNets (empty for none); several nets' residuals are summed
 * @param vaeTiling      whether the final latents are decoded in tiles ({@code null} = {@link VaeTiling#AUTO})
 * @param cacheInterval  feature caching across steps: the whole UNet runs every {@code cacheInterval}-th step, the
 *                       steps between reuse its deep features ({@link io.github.ssrencoder.model.DeepFeatureCache});
 *                       1…1000, 1 = off (every step full, the default)
 * @param animation      a clip with a motion adapter instead of images ({@code null} for images); then one clip
 *                       ({@code numImages} 1), no control images, and initLatents of shape [1, C, frames, h, w]
 */
public record GenerationRequest(List<SubjectQuery> subjects, String prompt, String negativePrompt, double scale,
                                double guidance, int steps, String scheduler, int width, int height, Long seed,
                                Latents initLatents, int numImages, List<Lora> loras,
                                List<Control> controls, VaeTiling vaeTiling, int cacheInterval, Animation animation) {

    public static final double DEFAULT_SCALE = 1.0;
    public static final double DEFAULT_GUIDANCE = 7.5;
    public static final int DEFAULT_STEPS = 30;
    public static final String DEFAULT_SCHEDULER = "unipc";
    public static final int DEFAULT_SIZE = 512;

    public GenerationRequest {
        subjects = List.copyOf(Objects.requireNonNull(subjects, "subjects"));
        loras = loras == null ? List.of() : List.copyOf(loras);
        controls = controls == null ? List.of() : List.copyOf(controls);
        vaeTiling = vaeTiling == null ? VaeTiling.AUTO : vaeTiling;
        prompt = prompt == null ? "" : prompt;
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        scheduler = scheduler == null || scheduler.isBlank() ? DEFAULT_SCHEDULER : scheduler;
        requireRange("scale", scale, 0, 10);
        requireRange("guidance", guidance, 0, 50);
        if (steps < 1 || steps > 1000) {
            throw new IllegalArgumentException("steps must be between 1 and 1000, got " + steps);
        }
        requireSize("width", width);
        requireSize("height", height);
        if (cacheInterval < 1 || cacheInterval > 1000) {
            throw new IllegalArgumentException("cache interval must be between 1 (off) and 1000, got " + cacheInterval);
        }
        if (numImages < 1 || numImages > 64) {
            throw new IllegalArgumentException("number of images must be between 1 and 64, got " + numImages);
        }
        if (animation != null) {
            if (numImages != 1) {
                throw new IllegalArgumentException("a clip is generated alone: number of images must be 1 with a motion adapter, got "
                        + numImages);
            }
            if (!controls.isEmpty()) {
                throw new IllegalArgumentException("control images are not supported for clips (motion adapter)");
            }
            if (cacheInterval != 1) {
                throw new IllegalArgumentException("feature caching (cache interval " + cacheInterval
                        + ") is not supported for clips (motion adapter): use 1");
            }
        }
        if (initLatents != null && animation != null) {
            long[] s = initLatents.shape();
            if (s.length != 5 || s[0] != 1 || s[2] != animation.frames()) {
                throw new IllegalArgumentException("initial latents of a " + animation.frames() + "-frame clip must have shape [1, C, "
                        + animation.frames() + ", h, w], got " + java.util.Arrays.toString(s));
            }
        } else if (initLatents != null) {
            // Channels and latent size depend on the models (UNet input, VAE scale factor): the pipeline checks them.
            long[] s = initLatents.shape();
            if (s.length != 4 || s[0] != 1) {
                throw new IllegalArgumentException("initial latents must have shape [1, C, h, w], got " + java.util.Arrays.toString(s));
            }
            if (numImages != 1) {
                throw new IllegalArgumentException("explicit initial latents generate exactly one image");
            }
        }
    }

    /** An image request (no motion adapter). */
    public GenerationRequest(List<SubjectQuery> subjects, String prompt, String negativePrompt, double scale, double guidance,
                             int steps, String scheduler, int width, int height, Long seed, Latents initLatents, int numImages,
                             List<Lora> loras, List<Control> controls, VaeTiling vaeTiling) {
        this(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed, initLatents, numImages,
                loras, controls, vaeTiling, 1, null);
    }

    /** A request without LoRAs. */
    public GenerationRequest(List<SubjectQuery> subjects, String prompt, String negativePrompt, double scale, double guidance,
                             int steps, String scheduler, int width, int height, Long seed, Latents initLatents, int numImages) {
        this(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed, initLatents, numImages,
                List.of());
    }

    /** A request without control images. */
    public GenerationRequest(List<SubjectQuery> subjects, String prompt, String negativePrompt, double scale, double guidance,
                             int steps, String scheduler, int width, int height, Long seed, Latents initLatents, int numImages,
                             List<Lora> loras) {
        this(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed, initLatents, numImages,
                loras, List.of());
    }

    /** A request with automatic VAE tiling. */
    public GenerationRequest(List<SubjectQuery> subjects, String prompt, String negativePrompt, double scale, double guidance,
                             int steps, String scheduler, int width, int height, Long seed, Latents initLatents, int numImages,
                             List<Lora> loras, List<Control> controls) {
        this(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed, initLatents, numImages,
                loras, controls, VaeTiling.AUTO);
    }

    /** This request with {@code loras} instead of its own. */
    public GenerationRequest withLoras(List<Lora> loras) {
        return new GenerationRequest(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed,
                initLatents, numImages, loras, controls, vaeTiling, cacheInterval, animation);
    }

    /** This request with {@code controls} instead of its own. */
    public GenerationRequest withControls(List<Control> controls) {
        return new GenerationRequest(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed,
                initLatents, numImages, loras, controls, vaeTiling, cacheInterval, animation);
    }

    /** This request with {@code vaeTiling} instead of its own. */
    public GenerationRequest withVaeTiling(VaeTiling vaeTiling) {
        return new GenerationRequest(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed,
                initLatents, numImages, loras, controls, vaeTiling, cacheInterval, animation);
    }

    /** This request as a clip with {@code animation} (or an image request again with {@code null}). */
    public GenerationRequest withAnimation(Animation animation) {
        return new GenerationRequest(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed,
                initLatents, numImages, loras, controls, vaeTiling, cacheInterval, animation);
    }

    /** This request with explicit initial latents ({@code null} to draw them from the seed). */
    public GenerationRequest withInitLatents(Latents initLatents) {
        return new GenerationRequest(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed,
                initLatents, numImages, loras, controls, vaeTiling, cacheInterval, animation);
    }

    /** This request with feature caching every {@code cacheInterval} steps (1 = off) instead of its own. */
    public GenerationRequest withCacheInterval(int cacheInterval) {
        return new GenerationRequest(subjects, prompt, negativePrompt, scale, guidance, steps, scheduler, width, height, seed,
                initLatents, numImages, loras, controls, vaeTiling, cacheInterval, animation);
    }

    private static void requireRange(String what, double v, double lo, double hi) {
        if (!Double.isFinite(v) || v < lo || v > hi) {
            throw new IllegalArgumentException(what + " must be between " + lo + " and " + hi + ", got " + v);
        }
    }

    private static void requireSize(String what, int v) {
        if (v < 8 || v % 8 != 0 || v > 4096) {
            throw new IllegalArgumentException(what + " must be a multiple of 8 between 8 and 4096, got " + v);
        }
    }

    /** A request with the official defaults for one subject (or none when {@code subject} is null). */
    public static GenerationRequest of(SubjectQuery subject, String prompt, long seed) {
        return new GenerationRequest(subject == null ? List.of() : List.of(subject), prompt, "", DEFAULT_SCALE,
                DEFAULT_GUIDANCE, DEFAULT_STEPS, DEFAULT_SCHEDULER, DEFAULT_SIZE, DEFAULT_SIZE, seed, null, 1);
    }
}
