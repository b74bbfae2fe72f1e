package io.github.ssrencoder.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.pipeline.Lora;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * One generation as described on the command line or in a job file (DESIGN §4). Paths in a job file are
 * relative to the job file. Fields left out take the command-line values, which default as the official
 * inference scripts. {@code checkpoint} (with {@code ema}) names a single-file checkpoint that supplies Stable
 * Diffusion's weights instead of the models folder's {@code sd/}. {@code motionAdapter} (with {@code frames},
 * {@code frameInterval} in seconds and {@code gif}) makes the job a clip (AnimateDiff). {@code lowMemory} releases the
 * image encoder between runs ({@code SsrPipeline#setLowMemory}); it changes no output, so the manifest's description
 * leaves it out.
 */
record JobSpec(List<Subject> subjects, String prompt, String negativePrompt, double scale, double maskWeight,
               double guidance, int steps, String scheduler, int width, int height, Long seed, Path initLatents,
               Path output, Path saveLatents, Path saveAttention, int numImages, String framing, Path checkpoint,
               boolean ema, List<Lora> loras, List<ControlSpec> controls,
               String vaeTiling, int cacheInterval, Path motionAdapter, int frames, double frameInterval, boolean gif,
               boolean lowMemory) {

    /** One subject: image, query text, optional mask, weight. */
    record Subject(Path image, String query, Path mask, double weight) {
    }

    /** One control image: the image, its ControlNet folder ({@code null}: the models folder's controlnet/), scale, window. */
    record ControlSpec(Path image, Path controlnet, double scale, double start, double end) {
    }

    private static final Set<String> JOB_KEYS = Set.of("subjects", "prompt", "negative_prompt", "scale", "mask_weight",
            "guidance", "steps", "scheduler", "width", "height", "seed", "init_latents", "output", "save_latents",
            "save_attention", "images", "framing", "checkpoint", "ema", "loras", "controls", "vae_tiling",
            "cache_interval", "motion_adapter", "frames", "frame_interval", "gif", "low_memory", "jobs");
    private static final Set<String> SUBJECT_KEYS = Set.of("image", "query", "mask", "weight");
    private static final Set<String> LORA_KEYS = Set.of("file", "weight");
    private static final Set<String> CONTROL_KEYS = Set.of("image", "controlnet", "scale", "start", "end");

    /**
     * Reads the jobs of a job file: the top-level object is one job, unless it holds {@code "jobs"}, a list
     * of job objects, each inheriting the top-level fields it does not set.
     */
    static List<JobSpec> readJobs(Path file, JobSpec defaults) {
        JsonObject root = JsonFiles.readObject(file);
        Path base = file.toAbsolutePath().getParent();
        checkKeys(file, root, JOB_KEYS, "job");
        List<JobSpec> out = new ArrayList<>();
        if (root.has("jobs")) {
            if (!root.get("jobs").isJsonArray()) {
                throw bad(file, "'jobs' must be a list of job objects");
            }
            JobSpec shared = parse(file, base, root, defaults, false);
            JsonArray jobs = root.getAsJsonArray("jobs");
            if (jobs.isEmpty()) {
                throw bad(file, "'jobs' is empty: the file describes nothing to generate");
            }
            for (int i = 0; i < jobs.size(); i++) {
                if (!jobs.get(i).isJsonObject()) {
                    throw bad(file, "jobs[" + i + "] must be an object");
                }
                JsonObject job = jobs.get(i).getAsJsonObject();
                checkKeys(file, job, JOB_KEYS, "jobs[" + i + "]");
                out.add(parse(file, base, job, shared, true));
            }
        } else {
            out.add(parse(file, base, root, defaults, true));
        }
        return out;
    }

    /**
     * The job as JSON with absolute paths: the models, every input that decides its outputs, and the outputs. Its
     * SHA-256 is the job's key in a run manifest, so a job counts as done only for these exact settings.
     */
    JsonObject describe(Path models) {
        JsonObject o = new JsonObject();
        o.addProperty("models", abs(models));
        o.addProperty("checkpoint", abs(checkpoint));
        o.addProperty("ema", ema);
        JsonArray subs = new JsonArray();
        for (Subject s : subjects) {
            JsonObject j = new JsonObject();
            j.addProperty("image", abs(s.image()));
            j.addProperty("query", s.query());
            j.addProperty("mask", abs(s.mask()));
            j.addProperty("weight", s.weight());
            subs.add(j);
        }
        o.add("subjects", subs);
        o.addProperty("prompt", prompt);
        o.addProperty("negative_prompt", negativePrompt);
        o.addProperty("scale", scale);
        o.addProperty("mask_weight", maskWeight);
        o.addProperty("guidance", guidance);
        o.addProperty("steps", steps);
        o.addProperty("scheduler", scheduler);
        o.addProperty("width", width);
        o.addProperty("height", height);
        o.addProperty("seed", seed);
        o.addProperty("init_latents", abs(initLatents));
        o.addProperty("images", numImages);
        o.addProperty("framing", framing);
        JsonArray ls = new JsonArray();
        for (Lora l : loras) {
            JsonObject j = new JsonObject();
            j.addProperty("file", abs(l.file()));
            j.addProperty("weight", l.weight());
            ls.add(j);
        }
        o.add("loras", ls);
        JsonArray cs = new JsonArray();
        for (ControlSpec c : controls) {
            JsonObject j = new JsonObject();
            j.addProperty("image", abs(c.image()));
            j.addProperty("controlnet", abs(c.controlnet()));
            j.addProperty("scale", c.scale());
            j.addProperty("start", c.start());
            j.addProperty("end", c.end());
            cs.add(j);
        }
        o.add("controls", cs);
        o.addProperty("vae_tiling", vaeTiling);
        o.addProperty("cache_interval", cacheInterval);
        if (motionAdapter != null) {
            o.addProperty("motion_adapter", abs(motionAdapter));
            o.addProperty("frames", frames);
            o.addProperty("frame_interval", frameInterval);
            o.addProperty("gif", gif);
        }
        o.addProperty("output", abs(output));
        o.addProperty("save_latents", abs(saveLatents));
        o.addProperty("save_attention", abs(saveAttention));
        return o;
    }

    private static String abs(Path p) {
        return p == null ? null : p.toAbsolutePath().normalize().toString();
    }

    private static void checkKeys(Path file, JsonObject o, Set<String> allowed, String where) {
        for (String k : o.keySet()) {
            if (!allowed.contains(k)) {
                throw bad(file, "unknown key '" + k + "' in " + where + " (known: " + String.join(", ", new java.util.TreeSet<>(allowed)) + ")");
            }
        }
    }

    private static IllegalArgumentException bad(Path file, String msg) {
        return new IllegalArgumentException(file + ": " + msg);
    }

    private static JobSpec parse(Path file, Path base, JsonObject o, JobSpec d, boolean complete) {
        List<Subject> subjects = d.subjects();
        if (o.has("subjects")) {
            if (!o.get("subjects").isJsonArray()) {
                throw bad(file, "'subjects' must be a list");
            }
            subjects = new ArrayList<>();
            JsonArray arr = o.getAsJsonArray("subjects");
            for (int i = 0; i < arr.size(); i++) {
                JsonElement el = arr.get(i);
                if (!el.isJsonObject()) {
                    throw bad(file, "subjects[" + i + "] must be an object");
                }
                JsonObject s = el.getAsJsonObject();
                checkKeys(file, s, SUBJECT_KEYS, "subjects[" + i + "]");
                String image = JsonFiles.getString(file, s, "image", null);
                if (image == null) {
                    throw bad(file, "subjects[" + i + "] needs an 'image'");
                }
                String mask = JsonFiles.getString(file, s, "mask", null);
                subjects.add(new Subject(resolve(file, base, image, "subjects[" + i + "].image"),
                        JsonFiles.getString(file, s, "query", ""),
                        mask == null ? null : resolve(file, base, mask, "subjects[" + i + "].mask"),
                        JsonFiles.getDouble(file, s, "weight", 1.0)));
            }
        }
        String prompt = JsonFiles.getString(file, o, "prompt", d.prompt());
        if (complete && prompt == null) {
            throw bad(file, "a job needs a 'prompt'");
        }
        Long seed = JsonFiles.getLong(file, o, "seed", d.seed());
        return new JobSpec(subjects, prompt,
                JsonFiles.getString(file, o, "negative_prompt", d.negativePrompt()),
                JsonFiles.getDouble(file, o, "scale", d.scale()),
                JsonFiles.getDouble(file, o, "mask_weight", d.maskWeight()),
                JsonFiles.getDouble(file, o, "guidance", d.guidance()),
                JsonFiles.getInt(file, o, "steps", d.steps()),
                JsonFiles.getString(file, o, "scheduler", d.scheduler()),
                JsonFiles.getInt(file, o, "width", d.width()),
                JsonFiles.getInt(file, o, "height", d.height()),
                seed,
                path(file, base, o, "init_latents", d.initLatents()),
                path(file, base, o, "output", d.output()),
                path(file, base, o, "save_latents", d.saveLatents()),
                path(file, base, o, "save_attention", d.saveAttention()),
                JsonFiles.getInt(file, o, "images", d.numImages()),
                JsonFiles.getString(file, o, "framing", d.framing()),
                path(file, base, o, "checkpoint", d.checkpoint()),
                JsonFiles.getBoolean(file, o, "ema", d.ema()),
                o.has("loras") ? loras(file, base, o.get("loras")) : d.loras(),
                o.has("controls") ? controls(file, base, o.get("controls")) : d.controls(),
                JsonFiles.getString(file, o, "vae_tiling", d.vaeTiling()),
                JsonFiles.getInt(file, o, "cache_interval", d.cacheInterval()),

                path(file, base, o, "motion_adapter", d.motionAdapter()),
                JsonFiles.getInt(file, o, "frames", d.frames()),
                JsonFiles.getDouble(file, o, "frame_interval", d.frameInterval()),
                JsonFiles.getBoolean(file, o, "gif", d.gif()),
                JsonFiles.getBoolean(file, o, "low_memory", d.lowMemory()));
    }

    /**
     * {@code "controls"}: a list of {@code {"image": FILE, "controlnet": DIR, "scale": S, "start": A, "end": B}}
     * objects (all but {@code image} optional: the models folder's controlnet/, 1, 0, 1); paths relative to the job file.
     */
    private static List<ControlSpec> controls(Path file, Path base, JsonElement value) {
        if (!value.isJsonArray()) {
            throw bad(file, "'controls' must be a list of {\"image\": …, \"controlnet\": …, \"scale\": …} objects");
        }
        List<ControlSpec> out = new ArrayList<>();
        JsonArray arr = value.getAsJsonArray();
        for (int i = 0; i < arr.size(); i++) {
            if (!arr.get(i).isJsonObject()) {
                throw bad(file, "controls[" + i + "] must be an object with 'image' and optional 'controlnet', 'scale', 'start', 'end'");
            }
            JsonObject c = arr.get(i).getAsJsonObject();
            checkKeys(file, c, CONTROL_KEYS, "controls[" + i + "]");
            Path image = path(file, base, c, "image", null);
            if (image == null) {
                throw bad(file, "controls[" + i + "] needs an 'image'");
            }
            out.add(new ControlSpec(image, path(file, base, c, "controlnet", null), JsonFiles.getDouble(file, c, "scale", 1.0),
                    JsonFiles.getDouble(file, c, "start", 0.0), JsonFiles.getDouble(file, c, "end", 1.0)));
        }
        return out;
    }

    /**
     * {@code "loras"}: a list whose items are {@code "FILE:WEIGHT"} strings (weight optional, 1 by default) or
     * {@code {"file": FILE, "weight": W}} objects; files relative to the job file.
     */
    private static List<Lora> loras(Path file, Path base, JsonElement value) {
        if (!value.isJsonArray()) {
            throw bad(file, "'loras' must be a list of \"FILE:WEIGHT\" strings or {\"file\": …, \"weight\": …} objects");
        }
        List<Lora> out = new ArrayList<>();
        JsonArray arr = value.getAsJsonArray();
        for (int i = 0; i < arr.size(); i++) {
            JsonElement el = arr.get(i);
            try {
                if (el.isJsonPrimitive() && el.getAsJsonPrimitive().isString()) {
                    out.add(Lora.parse(el.getAsString(), base));
                } else if (el.isJsonObject()) {
                    JsonObject l = el.getAsJsonObject();
                    checkKeys(file, l, LORA_KEYS, "loras[" + i + "]");
                    String f = JsonFiles.getString(file, l, "file", null);
                    if (f == null) {
                        throw bad(file, "loras[" + i + "] needs a 'file'");
                    }
                    out.add(new Lora(resolve(file, base, f, "loras[" + i + "].file"), JsonFiles.getDouble(file, l, "weight", 1.0)));
                } else {
                    throw bad(file, "loras[" + i + "] must be a \"FILE:WEIGHT\" string or a {\"file\": …, \"weight\": …} object");
                }
            } catch (IllegalArgumentException e) {
                throw e.getMessage().startsWith(file.toString()) ? e : bad(file, "loras[" + i + "]: " + e.getMessage());
            }
        }
        return out;
    }

    private static Path path(Path file, Path base, JsonObject o, String key, Path fallback) {
        String s = JsonFiles.getString(file, o, key, null);
        return s == null ? fallback : resolve(file, base, s, "'" + key + "'");
    }

    /** {@code value} relative to the job file's folder; a string no file system accepts is refused naming {@code where}. */
    private static Path resolve(Path file, Path base, String value, String where) {
        try {
            return base.resolve(value);
        } catch (java.nio.file.InvalidPathException e) {
            throw bad(file, where + " is not a valid path: " + e.getMessage());
        }
    }
}
