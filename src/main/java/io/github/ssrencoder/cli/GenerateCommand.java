package io.github.ssrencoder.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.ClipFiles;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.io.ModelsFolder;
import io.github.ssrencoder.io.SafetensorsFile;
import io.github.ssrencoder.io.SafetensorsWriter;
import io.github.ssrencoder.io.TensorInfo;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.model.ControlNetModel;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.pipeline.Animation;
import io.github.ssrencoder.pipeline.Control;
import io.github.ssrencoder.pipeline.AttentionMaps;
import io.github.ssrencoder.pipeline.AttentionRendering;
import io.github.ssrencoder.pipeline.CancelledException;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.GenerationResult;
import io.github.ssrencoder.pipeline.Latents;
import io.github.ssrencoder.pipeline.Lora;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import io.github.ssrencoder.pipeline.SsrPipeline;
import io.github.ssrencoder.pipeline.SubjectQuery;
import io.github.ssrencoder.pipeline.VaeTiling;
import io.github.ssrencoder.schedule.Schedulers;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.time.Instant;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.img.array.ArrayImg;
import net.imglib2.img.basictypeaccess.array.FloatArray;
import net.imglib2.img.basictypeaccess.array.IntArray;
import net.imglib2.type.numeric.ARGBType;
import net.imglib2.type.numeric.real.FloatType;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ssr generate}: one generation from flags, or a job file with one or many jobs (DESIGN §4). */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate images of a subject (reference image + text or mask query) from a prompt.")
final class GenerateCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--models", required = true, description = "Models folder (sd/, image_encoder/, ssr/).")
    Path models;
    @Option(names = "--checkpoint", description = "Single-file SD1.x checkpoint (.safetensors or .ckpt, original layout; "
            + "a same-named .yaml beside it describes a non-standard architecture) supplying the weights of sd/.")
    Path checkpoint;
    @Option(names = "--ema", description = "Use the checkpoint's EMA copy of the UNet weights (default: the regular weights).")
    boolean ema;
    @Option(names = "--image", description = "Reference image of the subject.")
    Path image;
    @Option(names = "--query", description = "Text naming the subject to pick (also with --mask).")
    String query;
    @Option(names = "--mask", description = "Mask image of the subject (white = subject); makes a mask query.")
    Path mask;
    @Option(names = "--mask-weight", defaultValue = "1.0", description = "Mask weight (default ${DEFAULT-VALUE}).")
    double maskWeight;
    @Option(names = "--prompt", description = "Text prompt.")
    String prompt;
    @Option(names = "--negative-prompt", defaultValue = "", description = "Negative prompt.")
    String negativePrompt;
    @Option(names = "--scale", defaultValue = "1.0", description = "SSR attention scale (default ${DEFAULT-VALUE}).")
    double scale;
    @Option(names = "--guidance", defaultValue = "7.5", description = "Guidance scale (default ${DEFAULT-VALUE}).")
    double guidance;
    @Option(names = "--steps", defaultValue = "30", description = "Denoising steps (default ${DEFAULT-VALUE}).")
    int steps;
    @Option(names = "--scheduler", defaultValue = "unipc",
            description = "unipc, ddim, pndm, euler, euler-a, dpmpp-2m or lcm (default ${DEFAULT-VALUE}). "
                    + "lcm is for LCM-distilled weights (LCM-LoRA): 4 to 8 steps, guidance 1 to 2.")
    String scheduler;
    @Option(names = "--width", defaultValue = "512", description = "Width in pixels, multiple of 8.")
    int width;
    @Option(names = "--height", defaultValue = "512", description = "Height in pixels, multiple of 8.")
    int height;
    @Option(names = "--seed", description = "Seed of the random generator (as torch.Generator().manual_seed): the initial "
            + "noise, then the noise euler-a and lcm add at each step. With --init-latents it still seeds that step noise.")
    Long seed;
    @Option(names = "--init-latents", description = "safetensors file with a float32 tensor 'latents' [1,4,H/8,W/8] "
            + "([1,4,frames,H/8,W/8] for a clip): the initial noise, instead of drawing it from --seed.")
    Path initLatents;
    @Option(names = "--images", defaultValue = "1", description = "Number of images (default ${DEFAULT-VALUE}).")
    int numImages;
    @Option(names = "--framing", defaultValue = "center-crop",
            description = "How the reference is framed: center-crop (official), pad-to-square.")
    String framing;
    @Option(names = "--output", description = "Output PNG (several images: NAME-1.png, NAME-2.png, …).")
    Path output;
    @Option(names = "--save-latents", description = "Write the final latents (before decoding) as safetensors.")
    Path saveLatents;
    @Option(names = "--save-attention", description = "Folder for attention maps (PNG heat maps, overlays, raw tensors).")
    Path saveAttention;
    @Option(names = "--lora", paramLabel = "FILE[:WEIGHT]",
            description = "LoRA (kohya/A1111 or diffusers .safetensors) fused into the UNet and text encoder at WEIGHT "
                    + "(default 1); repeatable, applied in order.")
    List<String> loras = new ArrayList<>();
    @CommandLine.ArgGroup(exclusive = false, multiplicity = "0..*", heading = "ControlNet (repeat the group for several nets):%n")
    List<ControlArgs> controls = new ArrayList<>();
    @Option(names = "--vae-tiling", defaultValue = "auto",
            description = "Decode the image in tiles: auto (above 512², default), on or off. Tiling bounds the decoder's "
                    + "memory and changes the image slightly.")
    String vaeTiling;
    @Option(names = "--cache-interval", defaultValue = "1", paramLabel = "N",
            description = "Feature caching: run the whole UNet every N-th step and reuse its deep features in between "
                    + "(DeepCache; faster, changes the image slightly). 1 = off (default).")
    int cacheInterval;
    // Clips (AnimateDiff)
    @Option(names = "--low-memory", description = "Release the image encoder (CLIP vision, 1.2 GB) between runs: it is "
            + "loaded for each run's subject encoding and freed before denoising (a few seconds more per run, same images).")
    boolean lowMemory;

    @Option(names = "--motion-adapter", paramLabel = "DIR", description = "diffusers MotionAdapter folder (AnimateDiff): "
            + "generate a clip of --frames frames; --output clip.tif (ImageJ stack), clip.gif or a folder of PNGs.")
    Path motionAdapter;
    @Option(names = "--frames", defaultValue = "16", description = "Frames of a clip (default ${DEFAULT-VALUE}; at most the "
            + "adapter's motion_max_seq_length).")
    int frames;
    @Option(names = "--frame-interval", defaultValue = "0.125",
            description = "Seconds between frames in the clip's metadata and GIF (default ${DEFAULT-VALUE}).")
    double frameInterval;
    @Option(names = "--gif", description = "Also write the clip as an animated GIF beside a .tif or PNG-folder output.")
    boolean gif;
    @Option(names = "--job", description = "Job file (JSON): subjects, prompt and options; may hold \"jobs\": [...].")
    Path job;
    @Option(names = "--shard", paramLabel = "I/N|auto", description = "Run every N-th job starting at I (0-based), for job "
            + "arrays; auto: I and N from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (or SLURM_ARRAY_TASK_MIN/_MAX).")
    String shard;
    @Option(names = "--skip-existing", description = "Skip the jobs that the manifest records as done and whose outputs "
            + "are unchanged (size and SHA-256): resumes an interrupted or preempted batch.")
    boolean skipExisting;
    @Option(names = "--manifest", paramLabel = "FILE", description = "JSON Lines record of each job run (job, outputs, seed, "
            + "parameters, status, seconds, host), appended to safely by concurrent tasks (default with --job: "
            + "NAME.manifest.jsonl beside the job file NAME.json).")
    Path manifest;
    @Option(names = "--device", defaultValue = "cpu", description = "cpu, gpu, mps or auto (default ${DEFAULT-VALUE}).")
    String device;
    @Option(names = "--libtorch", description = "Folder of an installed libtorch (e.g. torch/lib of a pip install with "
            + "CUDA) instead of the bundled CPU libtorch.")
    Path libtorch;
    @Option(names = "--threads", description = "Intra-op threads (default: SLURM_CPUS_PER_TASK when set, else the "
            + "engine's default; 0 = engine default).")
    Integer threads;

    @CommandLine.ParentCommand
    SsrCli parent;

    /** One {@code --control IMAGE [--controlnet DIR] [--control-scale S] [--control-start A --control-end B]} group. */
    static final class ControlArgs {
        @Option(names = "--control", required = true, paramLabel = "IMAGE",
                description = "Control image (edges, depth, segmentation …), stretched to the output size.")
        Path image;
        @Option(names = "--controlnet", paramLabel = "DIR",
                description = "diffusers ControlNet folder for this control image (default: the models folder's controlnet/).")
        Path controlnet;
        @Option(names = "--control-scale", paramLabel = "S", description = "Conditioning scale (default 1).")
        double scale = 1.0;
        @Option(names = "--control-start", paramLabel = "A", description = "Fraction of the steps before the ControlNet acts (default 0).")
        double start = 0.0;
        @Option(names = "--control-end", paramLabel = "B", description = "Fraction of the steps after which it stops (default 1).")
        double end = 1.0;
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Map<String, String> env = parent == null ? System.getenv() : parent.env;
        int threadCount = threads(threads, env);
        if (libtorch != null) {
            EngineRuntime.useLibtorch(libtorch); // logs when environment variables take precedence
        }
        List<JobSpec> all = jobs();
        Shard part = shard == null ? null : Shard.parse(shard, env);
        List<Integer> indices = IntStream.range(0, all.size()).boxed().toList();
        if (part != null) {
            indices = part.select(indices);
        }
        Path manifestFile = manifest != null ? manifest : job != null ? RunManifest.besideJobFile(job) : null;
        RunManifest record = manifestFile == null ? null
                : new RunManifest(manifestFile, w -> err.println("ssr: warning: " + w));
        if (skipExisting && record == null) {
            throw new IllegalArgumentException("--skip-existing checks outputs against a manifest: give --manifest FILE "
                    + "(a --job file has one beside it by default)");
        }
        List<Prepared> prepared = toRun(all, indices, skipExisting ? record.entries() : List.of(), err);
        if (part != null) {
            err.println("ssr: shard " + part + ": " + indices.size() + " of " + all.size() + " jobs, "
                    + prepared.size() + " to run");
        }
        EngineRuntime.DeviceChoice choice = EngineRuntime.DeviceChoice.parse(device);
        ProgressListener progress = new ConsoleProgress(err);
        Recorder recorder = Recorder.of(record, job, part, env);
        int start = 0;
        while (start < prepared.size()) {
            // consecutive jobs on the same weights share one loaded pipeline
            JobSpec first = prepared.get(start).job();
            int end = start + 1;
            while (end < prepared.size() && sameWeights(first, prepared.get(end).job())) {
                end++;
            }
            try (SsrPipeline pipeline = SsrPipeline.open(models, first.checkpoint(), first.ema(), first.lowMemory(), choice,
                    threadCount, progress)) {
                err.println("ssr: " + EngineRuntime.describe(pipeline.device()));
                // Every SD 1.x network has the same layers: the first one loaded checks the LoRAs of all jobs.
                List<Prepared> loraJobs = start == 0 ? prepared : prepared.subList(start, end);
                pipeline.checkLoras(loraJobs.stream().flatMap(p -> p.request().loras().stream()).distinct().toList());
                for (int i = start; i < end; i++) {
                    if (prepared.size() > 1) {
                        err.println("ssr: job " + (i + 1) + " of " + prepared.size());
                    }
                    pipeline.setLowMemory(prepared.get(i).job().lowMemory());
                    run(pipeline, prepared.get(i), progress, recorder, out);
                }
            }
            start = end;
        }
        return 0;
    }

    /**
     * The jobs at {@code indices}, read and checked, without those that {@code recorded} shows done with unchanged
     * outputs (with {@code --skip-existing}).
     */
    private List<Prepared> toRun(List<JobSpec> all, List<Integer> indices, List<JsonObject> recorded, PrintWriter err) {
        List<Prepared> prepared = new ArrayList<>();
        for (int index : indices) {
            JobSpec j = all.get(index);
            JsonObject described = j.describe(models);
            String key = RunManifest.sha256(RunManifest.toJson(described));
            if (skipExisting && RunManifest.completed(recorded, key)) {
                err.println("ssr: job " + (index + 1) + " of " + all.size() + " is done (" + j.output() + "), skipped");
                continue;
            }
            prepared.add(prepareNamingJobFile(j, index, all.size(), described, key));
        }
        return prepared;
    }

    /** Runs one job, writes its outputs and records it in the manifest (also when it fails). */
    private static void run(SsrPipeline pipeline, Prepared p, ProgressListener progress, Recorder recorder, PrintWriter out) {
        long t0 = System.nanoTime();
        GenerationResult result;
        List<Path> files;
        try {
            result = pipeline.generate(p.request(), progress);
            files = writeOutputs(p.job(), p.request().subjects(), result, out);
        } catch (RuntimeException e) {
            try {
                recorder.failed(p, e, t0);
            } catch (RuntimeException notRecorded) {
                e.addSuppressed(notRecorded);
            }
            throw e;
        }
        recorder.done(p, result.seed(), files, t0);
    }

    /** Writes a run's manifest lines ({@code manifest} {@code null}: none); the same host, shard and SLURM job for each. */
    private record Recorder(RunManifest manifest, Path jobFile, Shard shard, String host, String slurmJob) {

        static Recorder of(RunManifest manifest, Path jobFile, Shard shard, Map<String, String> env) {
            String array = env.get("SLURM_ARRAY_JOB_ID");
            String task = env.get(Shard.TASK_ID);
            String slurmJob = array != null && task != null ? array + "_" + task : env.get("SLURM_JOB_ID");
            return new Recorder(manifest, jobFile, shard, manifest == null ? null : host(env), slurmJob);
        }

        void done(Prepared p, Long seed, List<Path> files, long t0) {
            if (manifest != null) {
                manifest.append(entry(p, RunManifest.DONE, seed, files, t0));
            }
        }

        void failed(Prepared p, RuntimeException e, long t0) {
            if (manifest != null) {
                JsonObject entry = entry(p, RunManifest.FAILED, null, List.of(), t0);
                entry.addProperty("error", e instanceof CancelledException ? "cancelled"
                        : e.getMessage() == null ? e.toString() : e.getMessage());
                manifest.append(entry);
            }
        }

        private JsonObject entry(Prepared p, String status, Long seed, List<Path> files, long t0) {
            JsonObject e = new JsonObject();
            e.addProperty("job", p.index());
            e.addProperty("status", status);
            JsonArray outputs = new JsonArray();
            for (Path f : files) {
                outputs.add(RunManifest.output(f));
            }
            e.add("outputs", outputs);
            e.addProperty("seed", seed);
            e.add("parameters", p.described());
            e.addProperty("seconds", Math.round((System.nanoTime() - t0) / 1e6) / 1e3);
            e.addProperty("host", host);
            e.addProperty("key", p.key());
            e.addProperty("job_file", jobFile == null ? null : jobFile.toAbsolutePath().normalize().toString());
            e.addProperty("shard", shard == null ? null : shard.toString());
            e.addProperty("slurm_job", slurmJob);
            e.addProperty("time", Instant.now().toString());
            return e;
        }

        /** The node's name: SLURM's, else the shell's, else the network's. */
        private static String host(Map<String, String> env) {
            for (String name : List.of("SLURMD_NODENAME", "HOSTNAME")) {
                String v = env.get(name);
                if (v != null && !v.isBlank()) {
                    return v;
                }
            }
            try {
                return InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                return "unknown";
            }
        }
    }

    /** {@code --threads} when given, else {@code SLURM_CPUS_PER_TASK} (the CPUs SLURM gave the task), else 0 (engine default). */
    static int threads(Integer option, Map<String, String> env) {
        if (option != null) {
            if (option < 0) {
                throw new IllegalArgumentException("--threads must be 0 (engine default) or more, got " + option);
            }
            return option;
        }
        String v = env.get("SLURM_CPUS_PER_TASK");
        if (v == null || v.isBlank()) {
            return 0;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("SLURM_CPUS_PER_TASK must be a whole number of at least 1, got '" + v
                + "' (or give --threads N)");
    }

    private static boolean sameWeights(JobSpec a, JobSpec b) {
        return java.util.Objects.equals(a.checkpoint(), b.checkpoint()) && a.ema() == b.ema();
    }

    /**
     * A job whose inputs were read and validated before any model is loaded, with its place in the job file, its
     * description and key for the manifest.
     */
    private record Prepared(JobSpec job, GenerationRequest request, int index, JsonObject described, String key) {
    }

    private List<JobSpec> jobs() {
        List<JobSpec.Subject> subjects = new ArrayList<>();
        if (image != null) {
            subjects.add(new JobSpec.Subject(image, query == null ? "" : query, mask, 1.0));
        } else if (mask != null || query != null && job == null) {
            throw new IllegalArgumentException("--query and --mask need --image (the reference image of the subject)");
        }
        JobSpec flags = new JobSpec(subjects, prompt, negativePrompt, scale, maskWeight, guidance, steps, scheduler, width,
                height, seed, initLatents, output, saveLatents, saveAttention, numImages, framing, checkpoint, ema,
                loras.stream().map(Lora::parse).toList(),
                controls.stream().map(c -> new JobSpec.ControlSpec(c.image, c.controlnet, c.scale, c.start, c.end)).toList(),
                vaeTiling, cacheInterval, motionAdapter, frames, frameInterval, gif, lowMemory);
        if (job == null) {
            if (prompt == null) {
                throw new IllegalArgumentException("--prompt is required (or give a --job file)");
            }
            if (output == null) {
                throw new IllegalArgumentException("--output is required (or set \"output\" in a --job file)");
            }
            return List.of(flags);
        }
        return JobSpec.readJobs(job, flags);
    }

    private static ReferenceFraming framing(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "center-crop", "center_crop" -> ReferenceFraming.CENTER_CROP;
            case "pad-to-square", "pad_to_square" -> ReferenceFraming.PAD_TO_SQUARE;
            default -> throw new IllegalArgumentException("unknown framing '" + s + "' (use center-crop or pad-to-square)");
        };
    }

    /**
     * As {@link #prepare}; a value of a job file that the request refuses (a negative weight, an unknown scheduler, …)
     * is reported with the job file and the job's position, as the job file's own syntax errors are.
     */
    private Prepared prepareNamingJobFile(JobSpec j, int index, int count, JsonObject described, String key) {
        try {
            return prepare(j, index, described, key);
        } catch (WeightFileException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            if (job == null || String.valueOf(e.getMessage()).startsWith(job.toString())) {
                throw e;
            }
            String where = count > 1 ? " (jobs[" + index + "])" : "";
            throw new IllegalArgumentException(job + where + ": " + e.getMessage(), e);
        }
    }

    private Prepared prepare(JobSpec j, int index, JsonObject described, String key) {
        if (j.output() == null) {
            throw new IllegalArgumentException("no output file given (--output or \"output\")");
        }
        if (!Schedulers.names().contains(j.scheduler())) {
            throw new IllegalArgumentException("unknown scheduler '" + j.scheduler() + "' (supported: "
                    + String.join(", ", Schedulers.names()) + ")");
        }
        ReferenceFraming fr = framing(j.framing());
        Map<Path, ArrayImg<ARGBType, IntArray>> images = new HashMap<>();
        List<SubjectQuery> subjects = new ArrayList<>();
        for (JobSpec.Subject s : j.subjects()) {
            ArrayImg<ARGBType, IntArray> img = images.computeIfAbsent(s.image().toAbsolutePath(), ImageFiles::readRgb);
            ArrayImg<FloatType, FloatArray> m = s.mask() == null ? null : ImageFiles.readMask(s.mask());
            subjects.add(new SubjectQuery(img, s.query(), m, s.weight(), j.maskWeight(), fr, null));
        }
        Latents init = j.initLatents() == null ? null : readLatents(j.initLatents(), j.motionAdapter() != null);
        for (Lora l : j.loras()) {
            if (!java.nio.file.Files.isRegularFile(l.file())) {
                throw new IllegalArgumentException(l.file() + ": LoRA file not found (expected FILE or FILE:WEIGHT, "
                        + "a kohya or diffusers .safetensors LoRA and an optional numeric weight)");
            }
        }
        List<Control> controlList = new ArrayList<>();
        for (JobSpec.ControlSpec c : j.controls()) {
            controlList.add(control(c, images));
        }
        GenerationRequest request = new GenerationRequest(subjects, j.prompt(), j.negativePrompt(), j.scale(), j.guidance(),
                j.steps(), j.scheduler(), j.width(), j.height(), j.seed(), j.motionAdapter() == null ? init : null, j.numImages(),
                j.loras(), controlList)
                .withVaeTiling(VaeTiling.parse(j.vaeTiling())).withCacheInterval(j.cacheInterval());
        if (j.motionAdapter() != null) {
            if (!java.nio.file.Files.isDirectory(j.motionAdapter())) {
                throw new IllegalArgumentException(j.motionAdapter() + ": motion adapter folder not found (a diffusers "
                        + "MotionAdapter folder with config.json and diffusion_pytorch_model.safetensors)");
            }
            ClipFiles.Format.of(j.output());
            request = request.withAnimation(new Animation(j.motionAdapter(), j.frames(), j.frameInterval())).withInitLatents(init);
        }
        return new Prepared(j, request, index, described, key);
    }

    /**
     * Reads a control image and checks its ControlNet folder (the given one or the models folder's controlnet/: config,
     * weight keys and shapes) before any model is loaded; whether it fits the UNet is checked when the pipeline loads it.
     */
    private Control control(JobSpec.ControlSpec c, Map<Path, ArrayImg<ARGBType, IntArray>> images) {
        Path net = c.controlnet() != null ? c.controlnet() : ModelsFolder.defaultControlNet(models).orElseThrow(() ->
                new IllegalArgumentException(c.image() + ": no ControlNet for this control image (give --controlnet DIR, "
                        + "\"controlnet\" in the job file, or put a diffusers ControlNet in " + models.toAbsolutePath().normalize()
                        .resolve("controlnet") + ")"));
        ControlNetModel.check(net);
        ArrayImg<ARGBType, IntArray> img = images.computeIfAbsent(c.image().toAbsolutePath(), ImageFiles::readRgb);
        return new Control(img, net, c.scale(), c.start(), c.end(), c.image().getFileName().toString());
    }

    /** Reads the tensor {@code latents} of a safetensors file: [1, C, h, w], or [1, C, frames, h, w] for a {@code clip}. */
    static Latents readLatents(Path file, boolean clip) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            if (!f.contains("latents")) {
                throw WeightFileException.of(file, "no tensor named 'latents' (found: " + String.join(", ", f.keys()) + ")");
            }
            TensorInfo info = f.info("latents");
            if (info.dtype() != io.github.ssrencoder.io.DType.F32) {
                throw WeightFileException.of(file, "'latents' must be float32, got " + info.dtype());
            }
            if (info.shape().length != (clip ? 5 : 4) || info.shape()[0] != 1) {
                throw WeightFileException.of(file, "'latents' must have shape " + (clip ? "[1, C, frames, H/8, W/8]" : "[1, C, H/8, W/8]")
                        + ", got " + info.shapeString());
            }
            float[] values = new float[(int) info.numel()];
            ByteBuffer.wrap(f.readBytes("latents")).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
            return new Latents(info.shape(), values);
        }
    }

    private static Path numbered(Path file, int index, int count) {
        if (count == 1) {
            return file;
        }
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        String ext = dot > 0 ? name.substring(dot) : ".png";
        return file.resolveSibling(stem + "-" + (index + 1) + ext);
    }

    /** Writes a job's outputs, each atomically; returns the files written. */
    private static List<Path> writeOutputs(JobSpec j, List<SubjectQuery> subjects, GenerationResult result, PrintWriter out) {
        List<Path> files = new ArrayList<>();
        int n = result.images().size();
        Map<String, String> text = new java.util.LinkedHashMap<>();
        text.put("Software", "ssr-encoder-fiji");
        text.put("parameters", new com.google.gson.GsonBuilder().disableHtmlEscaping().create().toJson(result.parameters()));
        boolean clip = j.motionAdapter() != null;
        if (clip) {
            files.addAll(writeClip(j, result, text, out));
        }
        for (int k = 0; k < (clip ? 0 : n); k++) {
            Path file = numbered(j.output(), k, n);
            ImageFiles.writePng(result.images().get(k), file, text);
            files.add(file);
            out.println(file);
        }
        if (j.saveLatents() != null) {
            SafetensorsWriter w = new SafetensorsWriter();
            int count = result.latents().size();
            for (int k = 0; k < count; k++) {
                Latents l = result.latents().get(k);
                w.add(count == 1 ? "latents" : "latents." + k, l.shape(), l.data());
            }
            w.write(j.saveLatents());
            files.add(j.saveLatents());
            out.println(j.saveLatents());
        }
        if (j.saveAttention() != null) {
            files.addAll(saveAttention(j.saveAttention(), subjects, result.attention()));
            out.println(j.saveAttention());
        }
        return files;
    }

    /** Writes a clip as the output's name asks (TIFF stack, GIF or PNG folder), plus a GIF beside it with {@code gif}. */
    private static List<Path> writeClip(JobSpec j, GenerationResult result, Map<String, String> text, PrintWriter out) {
        List<Path> files = new ArrayList<>();
        Path output = j.output();
        ClipFiles.Format format = ClipFiles.Format.of(output);
        String info = clipInfo(result.parameters());
        switch (format) {
            case TIFF -> ClipFiles.writeTiff(result.images(), output, j.frameInterval(), info);
            case GIF -> ClipFiles.writeGif(result.images(), output, j.frameInterval());
            case PNG_FOLDER -> files.addAll(ClipFiles.writePngFolder(result.images(), output, text));
            default -> throw new IllegalStateException(format.toString());
        }
        out.println(output);
        if (format != ClipFiles.Format.PNG_FOLDER) {
            files.add(output);
        }
        if (j.gif() && format != ClipFiles.Format.GIF) {
            String name = output.getFileName().toString();
            int dot = format == ClipFiles.Format.TIFF ? name.lastIndexOf('.') : -1;
            Path gifFile = output.resolveSibling((dot > 0 ? name.substring(0, dot) : name) + ".gif");
            ClipFiles.writeGif(result.images(), gifFile, j.frameInterval());
            out.println(gifFile);
            files.add(gifFile);
        }
        return files;
    }

    /** The parameters as ImageJ Info lines ({@code key = value}). */
    static String clipInfo(Map<String, String> parameters) {
        StringBuilder b = new StringBuilder("Generated by ssr-encoder-fiji (AnimateDiff clip)\n");
        parameters.forEach((k, v) -> b.append(k).append(" = ").append(v).append('\n'));
        return b.toString();
    }

    private static List<Path> saveAttention(Path dir, List<SubjectQuery> subjects, List<AttentionMaps> maps) {
        List<Path> files = new ArrayList<>();
        SafetensorsWriter raw = new SafetensorsWriter();
        for (int s = 0; s < maps.size(); s++) {
            AttentionMaps m = maps.get(s);
            String prefix = "subject" + (s + 1);
            raw.add(prefix + ".A_t2p", new long[] {m.heads(), m.contextLength(), 1L + (long) m.gridHeight() * m.gridWidth()},
                    m.probabilities());
            RandomAccessibleInterval<ARGBType> ref = subjects.get(s).image();
            for (int k = -1; k < m.tokens().size(); k++) {
                String label = k < 0 ? "mean" : (k + 1) + "-" + safe(m.tokens().get(k));
                Path map = dir.resolve(prefix + "-map-" + label + ".png");
                ImageFiles.writePng(AttentionRendering.heatMap(m.tokenMap(k), m.gridWidth(), m.gridHeight(), 224), map, Map.of());
                files.add(map);
            }
            Path overlay = dir.resolve(prefix + "-overlay.png");
            ImageFiles.writePng(AttentionRendering.overlay(ref, m, -1, subjects.get(s), 0.6), overlay, Map.of());
            files.add(overlay);
        }
        if (!maps.isEmpty()) {
            raw.write(dir.resolve("attention.safetensors"));
            files.add(dir.resolve("attention.safetensors"));
        }
        return files;
    }

    private static String safe(String token) {
        String s = token.replaceAll("[^A-Za-z0-9_-]", "_");
        return s.isEmpty() ? "token" : s;
    }

    /** Progress on stderr: stages and one line per denoising step. */
    private static final class ConsoleProgress implements ProgressListener {
        private final PrintWriter err;

        ConsoleProgress(PrintWriter err) {
            this.err = err;
        }

        @Override
        public void stage(String message) {
            err.println("ssr: " + message);
            err.flush();
        }

        @Override
        public void step(int step, int total) {
            err.println("ssr: step " + step + "/" + total);
            err.flush();
        }

        @Override
        public void warning(String message) {
            err.println("ssr: warning: " + message);
            err.flush();
        }
    }
}
