package io.github.ssrencoder.demo;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.io.SafetensorsWriter;
import io.github.ssrencoder.io.TorchSaveWriter;
import io.github.ssrencoder.model.AutoencoderKL;
import io.github.ssrencoder.model.ClipImageProcessor;
import io.github.ssrencoder.model.ClipTextConfig;
import io.github.ssrencoder.model.ClipTextEncoder;
import io.github.ssrencoder.model.ClipTokenizer;
import io.github.ssrencoder.model.ClipVisionConfig;
import io.github.ssrencoder.model.ClipVisionEncoder;
import io.github.ssrencoder.model.SsrLayers;
import io.github.ssrencoder.model.TokenToPatchAligner;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.model.UNetConfig;
import io.github.ssrencoder.model.VaeConfig;
import io.github.ssrencoder.nn.Autograd;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.Module;
import io.github.ssrencoder.nn.ModuleWeights;
import io.github.ssrencoder.nn.Parameter;
import io.github.ssrencoder.nn.Scalars;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import io.github.ssrencoder.schedule.SchedulerConfig;
import io.github.ssrencoder.schedule.TrainingSchedule;
import io.github.ssrencoder.train.AdamW;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Function;
import net.imglib2.img.array.ArrayImgs;

/**
 * Builds the demo model folder (Stable Diffusion layout plus image encoder and SSR weights) from a seed, on the CPU,
 * in three stages on {@link ShapeScenes}: (A) the VAE on a reconstruction loss, (B) the UNet on the L_LDM noise
 * prediction loss for one-shape pictures conditioned on their captions through a frozen, randomly initialised CLIP
 * text encoder, and (C) the SSR aligner and UNet SSR layers on L_LDM for a target picture that shows the queried shape
 * of a two-shape reference large and centred, plus an attention term (−log of the aligner's token-to-patch
 * attention inside the queried shape). Run with one libtorch thread; {@code -Ddemo.stages=C} reruns stage C alone on
 * a built folder and {@code -Ddemo.verbose=true} prints every step; {@code -Ddemo.ssrLr}, {@code -Ddemo.ldmWeight}
 * and {@code -Ddemo.attentionWeight} set stage C's learning rate (3e-3) and loss weights (10 and 0.5). The CLIP image
 * encoder stays randomly initialised and frozen, as the SSR training keeps it frozen.
 */
public final class DemoModelBuilder {

    /** Number of steps of each stage and the seed. */
    public record Recipe(long seed, int vaeSteps, int unetSteps, int ssrSteps) {
    }

    /** The prompt used with the subject in stage C and in the quick start. */
    public static final String PROMPT = "a shape";

    private static final int TEXT_WIDTH = 16;
    private static final int VISION_WIDTH = 32;
    private static final int CONTEXT = 77;
    /** Side of the random crops the VAE trains on (it is convolutional, so crops teach it the whole picture). */
    private static final int CROP = 32;
    private static final double MAX_GRAD_NORM = 1.0;
    private static final int MAX_SKIPPED = 50;
    /** Share of the training examples noised at a timestep from the noisier half of the schedule (see {@link #timestep}). */
    private static final double HIGH_T_SHARE = 0.3;
    /** Decay of the moving average that becomes the UNet's weights (stage B). */
    private static final float UNET_EMA = 0.999f;
    /** Decay of the moving average that becomes the aligner's and SSR layers' weights (stage C). */
    private static final float SSR_EMA = 0.995f;
    private static int skipped;

    private final Path root;
    private final Recipe recipe;
    private final Device device = Device.cpu();

    private DemoModelBuilder(Path root, Recipe recipe) {
        this.root = root;
        this.recipe = recipe;
    }

    /**
     * {@code make-demo-model OUT TOKENIZER_FOLDER [seed vaeSteps unetSteps ssrSteps]}: writes the demo model folder
     * {@code OUT} (replacing its weights) and prints each stage's time.
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 2 && args.length != 6) {
            System.err.println("usage: DemoModelBuilder OUT TOKENIZER_FOLDER [SEED VAE_STEPS UNET_STEPS SSR_STEPS]");
            System.exit(2);
        }
        Recipe recipe = args.length == 6
                ? new Recipe(Long.parseLong(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]), Integer.parseInt(args[5]))
                : new Recipe(1, 600, 3000, 2500);
        // one intra-op thread: on a small shared machine libtorch's OpenMP threads wait on each other when descheduled
        EngineRuntime.configureOffline(1);
        build(Path.of(args[0]), Path.of(args[1]), recipe);
    }

    /** Writes the whole folder: layout and initial weights, then the three training stages. */
    public static void build(Path root, Path tokenizer, Recipe recipe) throws IOException {
        DemoModelBuilder b = new DemoModelBuilder(root, recipe);
        String stages = System.getProperty("demo.stages", "ABC");
        long t0 = System.nanoTime();
        if (stages.contains("A")) {
            b.writeLayout(tokenizer);
        }
        long t1 = System.nanoTime();
        if (stages.contains("A")) {
            b.trainVae();
        }
        long t2 = System.nanoTime();
        if (stages.contains("B")) {
            b.trainUnet();
        }
        long t3 = System.nanoTime();
        if (stages.contains("C")) {
            b.trainSsr();
        }
        long t4 = System.nanoTime();
        System.out.printf("stage A (VAE, %d steps): %.0f s%nstage B (UNet, %d steps): %.0f s%nstage C (aligner + SSR layers, %d steps): %.0f s%n"
                        + "total: %.0f s%n", recipe.vaeSteps(), (t2 - t1) / 1e9, recipe.unetSteps(), (t3 - t2) / 1e9,
                recipe.ssrSteps(), (t4 - t3) / 1e9, (t4 - t0) / 1e9);
    }

    private Path sd(String part) {
        return root.resolve("sd").resolve(part);
    }

    // ---- layout and initial weights

    private void writeLayout(Path tokenizer) throws IOException {
        Files.createDirectories(sd("tokenizer"));
        for (String f : List.of("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json")) {
            if (Files.isRegularFile(tokenizer.resolve(f))) {
                Files.copy(tokenizer.resolve(f), sd("tokenizer").resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        writeJson(root.resolve("sd/model_index.json"), modelIndex());
        writeJson(sd("scheduler").resolve("scheduler_config.json"), scheduler());
        writeJson(sd("text_encoder").resolve("config.json"), textConfig());
        writeJson(sd("vae").resolve("config.json"), vaeConfig(1f));
        writeJson(sd("unet").resolve("config.json"), unetConfig());
        writeJson(root.resolve("image_encoder/config.json"), visionConfig());
        writeJson(root.resolve("image_encoder/preprocessor_config.json"), preprocessor());
        writeJson(root.resolve("ssr/config.json"), ssrConfig());
        SplittableRandom random = new SplittableRandom(recipe.seed());
        writeInitial(new ClipTextEncoder(ClipTextConfig.read(sd("text_encoder").resolve("config.json"))),
                sd("text_encoder").resolve("model.safetensors"), random);
        writeInitial(new ClipVisionEncoder(ClipVisionConfig.read(root.resolve("image_encoder/config.json"))),
                root.resolve("image_encoder/model.safetensors"), random);
        writeInitial(new AutoencoderKL(VaeConfig.read(sd("vae").resolve("config.json"))),
                sd("vae").resolve("diffusion_pytorch_model.safetensors"), random);
        writeInitial(new UNet2DCondition(UNetConfig.read(sd("unet").resolve("config.json"))),
                sd("unet").resolve("diffusion_pytorch_model.safetensors"), random);
        ImageFiles.writePng(ArrayImgs.argbs(ShapeScenes.reference().argb(), ShapeScenes.SIZE, ShapeScenes.SIZE),
                root.resolve("reference.png"), Map.of());
    }

    /** The aligner's and SSR layers' starting weights (seeded on their own, so stage C can be rerun alone). */
    private void writeInitialSsr() {
        SplittableRandom random = new SplittableRandom(recipe.seed() + 4);
        Map<String, long[]> aligner = new LinkedHashMap<>();
        aligner.put("aligner.to_q.weight", new long[] {VISION_WIDTH, TEXT_WIDTH});
        aligner.put("aligner.to_k.weight", new long[] {VISION_WIDTH, VISION_WIDTH});
        aligner.put("aligner.processor.to_out.0.weight", new long[] {TEXT_WIDTH, VISION_WIDTH});
        aligner.put("aligner.processor.to_v.0.weight", new long[] {VISION_WIDTH, VISION_WIDTH});
        aligner.put("norm.weight", new long[] {TEXT_WIDTH});
        aligner.put("norm.bias", new long[] {TEXT_WIDTH});
        Map<String, TorchSaveWriter.Tensor> tensors = new LinkedHashMap<>();
        aligner.forEach((k, s) -> tensors.put(k, new TorchSaveWriter.Tensor(initial(k, s, random), s)));
        TorchSaveWriter.save(root.resolve("ssr/pytorch_model.bin"), TorchSaveWriter.stateDict(tensors));
        try (NDManager m = EngineRuntime.newManager(device)) {
            UNet2DCondition unet = UNet2DCondition.load(sd("unet"), m);
            writeSsrLayers(new SsrLayers(unet), unet);
        }
    }

    /** SSR layers initialised as the official training does: each subject key/value projection a copy of the UNet's. */
    private void writeSsrLayers(SsrLayers layers, UNet2DCondition unet) {
        Map<String, Parameter> unetParams = unet.namedParameters();
        Map<String, TorchSaveWriter.Tensor> tensors = new LinkedHashMap<>();
        for (SsrLayers.Entry e : layers.entries()) {
            if (e.toK() == null) {
                continue;
            }
            String attn = e.processor().substring(0, e.processor().length() - ".processor".length());
            tensors.put(e.index() + ".to_k_SSR.weight", tensor(unetParams.get(attn + ".to_k.weight").get()));
            NDArray v = unetParams.get(attn + ".to_v.weight").get();
            tensors.put(e.index() + ".to_v_SSR.weight", "zero".equals(System.getProperty("demo.ssrInit"))
                    ? new TorchSaveWriter.Tensor(new float[Math.toIntExact(v.size())], v.getShape().getShape()) : tensor(v));
        }
        TorchSaveWriter.save(root.resolve("ssr/pytorch_model_1.bin"), TorchSaveWriter.stateDict(tensors));
    }

    private static TorchSaveWriter.Tensor tensor(NDArray a) {
        return new TorchSaveWriter.Tensor(a.toFloatArray(), a.getShape().getShape());
    }

    private static void writeInitial(Module module, Path file, SplittableRandom random) {
        SafetensorsWriter w = new SafetensorsWriter();
        ModuleWeights.shapes(module).forEach((k, s) -> w.add(k, s, initial(k, s, random)));
        w.write(file);
    }

    private static void writeTrained(Module module, Path file) {
        SafetensorsWriter w = new SafetensorsWriter();
        module.namedParameters().forEach((k, p) -> w.add(k, p.get().getShape().getShape(), p.get().toFloatArray()));
        w.write(file);
    }

    /**
     * Initial values: normalisation gains 1, biases 0, embeddings N(0, 0.02) (token embeddings N(0, 1) so that the
     * frozen text encoder keeps words apart), other weights N(0, 1/fan-in).
     */
    static float[] initial(String key, long[] shape, SplittableRandom random) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[Math.toIntExact(n)];
        double std;
        if (key.endsWith("token_embedding.weight")) {
            std = 1.0;
        } else if (key.contains("embedding") && !key.contains("patch_embedding")) {
            std = 0.02;
        } else if (shape.length == 1) {
            java.util.Arrays.fill(v, key.endsWith("weight") ? 1f : 0f);
            return v;
        } else {
            std = 1.0 / Math.sqrt((double) n / shape[0]);
        }
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (gaussian(random) * std);
        }
        return v;
    }

    private static double gaussian(SplittableRandom r) {
        double u = 1 - r.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.nextDouble());
    }

    // ---- training

    /** The trainable float32 weights of {@code module} (marked as requiring gradients), named with {@code prefix}. */
    private static Map<String, NDArray> trainable(String prefix, Module module, Set<String> noDecay) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : module.namedParameters().entrySet()) {
            NDArray v = e.getValue().get();
            v.setRequiresGradient(true);
            out.put(prefix + e.getKey(), v);
            if (v.getShape().dimension() == 1) {
                noDecay.add(prefix + e.getKey());
            }
        }
        return out;
    }

    /**
     * One optimisation step: {@code loss} is computed under gradient recording, the gradients are clipped to a global
     * norm of 1, then AdamW updates the weights. A step whose loss or gradients are not finite is skipped (its
     * gradients dropped); returns the loss, NaN for a skipped step.
     */
    private static float step(NDManager m, Map<String, NDArray> params, AdamW optimizer, double lr, Function<NDManager, NDArray> loss) {
        float value;
        try (Autograd.Recording rec = Autograd.record()) {
            NDArray l = loss.apply(m);
            value = l.getFloat();
            if (Float.isFinite(value)) {
                rec.backward(l);
            }
        }
        Map<String, NDArray> grads = new LinkedHashMap<>();
        double squares = 0;
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray g = e.getValue().getGradient();
            g.attach(m);
            grads.put(e.getKey(), g);
            squares += g.square().sum().getFloat();
        }
        double norm = Math.sqrt(squares);
        boolean finite = Float.isFinite(value) && Double.isFinite(norm);
        Autograd.withoutGradients(() -> {
            if (finite) {
                if (norm > MAX_GRAD_NORM) {
                    grads.values().forEach(g -> g.muli((float) (MAX_GRAD_NORM / norm)));
                }
                optimizer.update(grads, lr);
            }
            // gradients add up across backward passes: reset them (in place; NaN-safe for a skipped step)
            grads.values().forEach(g -> g.set(new NDIndex("..."), 0f));
        });
        if (!finite && ++skipped > MAX_SKIPPED) {
            throw new IllegalStateException("more than " + MAX_SKIPPED + " demo training steps had a non-finite loss or gradient");
        }
        return finite ? value : Float.NaN;
    }

    /** Linear warm-up over the first 5% of the steps, then cosine decay to a tenth. */
    private static double lr(double base, int step, int steps) {
        int warm = Math.max(1, steps / 20);
        if (step < warm) {
            return base * (step + 1) / warm;
        }
        double p = (double) (step - warm) / Math.max(1, steps - warm);
        return base * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * p)));
    }

    private static void report(String stage, int step, int steps, double loss, long start) {
        if (step % 100 == 0 || step == steps - 1 || Boolean.getBoolean("demo.verbose")) {
            System.out.printf("%s step %d/%d loss %.4f (%.0f s)%n", stage, step + 1, steps, loss, (System.nanoTime() - start) / 1e9);
        }
    }

    private static NDArray pixels(NDManager m, List<ShapeScenes.Scene> scenes) {
        int plane = 3 * ShapeScenes.SIZE * ShapeScenes.SIZE;
        float[] all = new float[scenes.size() * plane];
        for (int i = 0; i < scenes.size(); i++) {
            System.arraycopy(scenes.get(i).chw(), 0, all, i * plane, plane);
        }
        return m.create(all, new Shape(scenes.size(), 3, ShapeScenes.SIZE, ShapeScenes.SIZE));
    }

    private static List<ShapeScenes.Scene> scenes(SplittableRandom random, int n) {
        List<ShapeScenes.Scene> out = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(random.nextBoolean() ? ShapeScenes.single(random) : ShapeScenes.pair(random));
        }
        return out;
    }

    /** Stage B's pictures: one shape each, half of them anywhere at the scenes' size, half as a subject portrait. */
    private static List<ShapeScenes.Scene> singleShapes(SplittableRandom random, int n) {
        List<ShapeScenes.Scene> out = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            ShapeScenes.Scene one = ShapeScenes.single(random);
            out.add(random.nextBoolean() ? ShapeScenes.portrait(one.shapes().get(0), random) : one);
        }
        return out;
    }

    /**
     * A training timestep: with probability {@link #HIGH_T_SHARE} from the noisier half of the schedule, where the
     * picture's colours and layout are decided and the ε-loss says least about them, otherwise uniform.
     */
    private static int timestep(SplittableRandom random, int steps) {
        return random.nextDouble() < HIGH_T_SHARE ? steps / 2 + random.nextInt(steps - steps / 2) : random.nextInt(steps);
    }

    /** An exponential moving average of weights, written in place of the weights at the end of a stage. */
    private static final class Ema {
        private final Map<String, NDArray> weights;
        private final Map<String, NDArray> average = new LinkedHashMap<>();
        private final float decay;
        private int updates;

        Ema(Map<String, NDArray> weights, float decay) {
            this.weights = weights;
            this.decay = decay;
            weights.forEach((k, v) -> average.put(k, v.duplicate()));
            average.values().forEach(v -> v.setRequiresGradient(false));
        }

        /** Moves the average towards the current weights (a shorter memory for the first updates). */
        void update() {
            updates++;
            float d = Math.min(decay, updates / (9f + updates));
            Autograd.withoutGradients(() -> weights.forEach((k, v) -> {
                try (NDArray part = v.mul(1 - d)) {
                    average.get(k).muli(d).addi(part);
                }
            }));
        }

        /** Replaces the weights by their average. */
        void apply() {
            Autograd.withoutGradients(() -> weights.forEach((k, v) -> v.set(new NDIndex("..."), average.get(k))));
        }
    }

    private static NDArray randn(NDManager m, SplittableRandom random, Shape shape) {
        float[] v = new float[Math.toIntExact(shape.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) gaussian(random);
        }
        return m.create(v, shape);
    }

    /** Stage A: VAE reconstruction (MSE) with a small KL term; then sets the scaling factor to 1/std of the latents. */
    private void trainVae() {
        SplittableRandom random = new SplittableRandom(recipe.seed() + 1);
        try (NDManager weights = EngineRuntime.newManager(device)) {
            AutoencoderKL vae = AutoencoderKL.load(sd("vae"), weights);
            Set<String> noDecay = new HashSet<>();
            Map<String, NDArray> params = trainable("", vae, noDecay);
            long lc = vae.config().latentChannels();
            long start = System.nanoTime();
            try (AdamW opt = new AdamW(params, noDecay, new AdamW.Settings(2e-3, 0.9, 0.999, 0, 1e-8), weights)) {
                for (int s = 0; s < recipe.vaeSteps(); s++) {
                    List<ShapeScenes.Scene> batch = scenes(random, 8);
                    int cx = random.nextInt(ShapeScenes.SIZE - CROP + 1);
                    int cy = random.nextInt(ShapeScenes.SIZE - CROP + 1);
                    float loss;
                    try (NDManager m = weights.newSubManager()) {
                        NDArray x = pixels(m, batch).get(new NDIndex(":, :, {}:{}, {}:{}", cy, cy + CROP, cx, cx + CROP));
                        loss = step(m, params, opt, lr(2e-3, s, recipe.vaeSteps()), mm -> {
                            NDArray moments = vae.encodeMoments(x, null);
                            NDArray mean = moments.get(new NDIndex(":, :{}", lc));
                            NDArray logvar = moments.get(new NDIndex(":, {}:", lc)).clip(-30f, 20f);
                            NDArray z = mean.add(Scalars.mul(logvar, 0.5f).exp().mul(randn(mm, random, mean.getShape())));
                            NDArray rec = vae.decode(z);
                            NDArray kl = Scalars.mul(mean.square().add(logvar.exp()).sub(1f).sub(logvar).mean(), 0.5f);
                            return rec.sub(x).square().mean().add(Scalars.mul(kl, 1e-4f));
                        });
                    }
                    report("VAE", s, recipe.vaeSteps(), loss, start);
                }
            }
            float std;
            try (NDManager m = weights.newSubManager()) {
                NDArray means = Autograd.withoutGraph(() -> vae.encodeMean(pixels(m, scenes(new SplittableRandom(7), 64))));
                float mu = means.mean().getFloat();
                std = (float) Math.sqrt(means.sub(mu).square().mean().getFloat());
            }
            writeTrained(vae, sd("vae").resolve("diffusion_pytorch_model.safetensors"));
            writeJson(sd("vae").resolve("config.json"), vaeConfig(1f / std));
        }
    }

    /**
     * Stage B: the UNet on L_LDM (ε prediction) for pictures of one shape (half of them subject portraits) with their
     * captions through the frozen text encoder; the batch of 8 is split into {@code demo.unetGroups} groups, each
     * noised at its own {@link #timestep}. The UNet keeps the moving average of its weights.
     */
    private void trainUnet() {
        SplittableRandom random = new SplittableRandom(recipe.seed() + 2);
        float[] alphas = TrainingSchedule.alphasCumprod(SchedulerConfig.read(sd("scheduler").resolve("scheduler_config.json")));
        try (NDManager weights = EngineRuntime.newManager(device)) {
            AutoencoderKL vae = AutoencoderKL.load(sd("vae"), weights);
            ClipTokenizer tokenizer = ClipTokenizer.load(sd("tokenizer"));
            ClipTextEncoder text = ClipTextEncoder.load(sd("text_encoder"), weights);
            UNet2DCondition unet = UNet2DCondition.load(sd("unet"), weights);
            Map<String, NDArray> captions = new HashMap<>();
            Set<String> noDecay = new HashSet<>();
            Map<String, NDArray> params = trainable("", unet, noDecay);
            boolean trainText = Boolean.getBoolean("demo.trainText");
            if (trainText) {
                params.putAll(trainable("text.", text, noDecay));
            }
            long start = System.nanoTime();
            int groups = Integer.getInteger("demo.unetGroups", 1);
            if (groups < 1 || 8 % groups != 0) {
                throw new IllegalArgumentException("demo.unetGroups must divide the batch of 8, got " + groups);
            }
            Map<String, NDArray> unetWeights = new LinkedHashMap<>();
            unet.namedParameters().forEach((k, v) -> unetWeights.put(k, v.get()));
            Ema ema = new Ema(unetWeights, UNET_EMA);
            try (AdamW opt = new AdamW(params, noDecay, new AdamW.Settings(1e-3, 0.9, 0.999, 1e-2, 1e-8), weights)) {
                for (int s = 0; s < recipe.unetSteps(); s++) {
                    List<ShapeScenes.Scene> batch = singleShapes(random, 8);
                    float loss;
                    try (NDManager m = weights.newSubManager()) {
                        NDList ctx = new NDList();
                        long[] ids = new long[batch.size() * CONTEXT];
                        for (int i = 0; i < batch.size(); i++) {
                            double u = random.nextDouble();
                            String c = u < 0.1 ? "" : u < 0.2 ? PROMPT : batch.get(i).caption();
                            if (trainText) {
                                long[] one = tokenizer.tokenize(c).inputIds();
                                System.arraycopy(one, 0, ids, i * CONTEXT, CONTEXT);
                            } else {
                                ctx.add(captions.computeIfAbsent(c, k -> embed(tokenizer, text, k, weights)));
                            }
                        }
                        NDArray idsArray = trainText ? ownedIds(m, ids, batch.size()) : null;
                        NDArray cached = trainText ? null : ai.djl.ndarray.NDArrays.concat(ctx, 0);
                        NDArray latents = vae.encodeMean(pixels(m, batch)).mul(vae.scalingFactor());
                        // the batch in groups, each at its own timestep (the UNet takes one timestep per call)
                        int size = batch.size() / groups;
                        int[] t = new int[groups];
                        NDList noises = new NDList();
                        NDList noisy = new NDList();
                        for (int g = 0; g < groups; g++) {
                            t[g] = timestep(random, alphas.length);
                            NDArray x0 = latents.get(new NDIndex("{}:{}", g * size, (g + 1) * size));
                            NDArray noise = randn(m, random, x0.getShape());
                            noises.add(noise);
                            noisy.add(x0.mul((float) Math.sqrt(alphas[t[g]])).add(noise.mul((float) Math.sqrt(1 - alphas[t[g]]))));
                        }
                        loss = step(m, params, opt, lr(1e-3, s, recipe.unetSteps()), mm -> {
                            NDArray context = trainText ? text.forward(idsArray) : cached;
                            NDArray sum = null;
                            for (int g = 0; g < groups; g++) {
                                NDArray c = context.get(new NDIndex("{}:{}", g * size, (g + 1) * size));
                                NDArray l = unet.forward(noisy.get(g), t[g], c).sub(noises.get(g)).square().mean();
                                sum = sum == null ? l : sum.add(l);
                            }
                            return Scalars.div(sum, groups);
                        });
                    }
                    ema.update();
                    report("UNet", s, recipe.unetSteps(), loss, start);
                }
            }
            ema.apply();
            writeTrained(unet, sd("unet").resolve("diffusion_pytorch_model.safetensors"));
            if (trainText) {
                writeTrained(text, sd("text_encoder").resolve("model.safetensors"));
            }
        }
    }

    /** Token ids [rows, 77] in memory libtorch owns (the embedding's backward keeps them). */
    private static NDArray ownedIds(NDManager m, long[] ids, int rows) {
        try (NDArray borrowed = m.create(ids, new Shape(rows, CONTEXT))) {
            return borrowed.duplicate();
        }
    }

    private static NDArray embed(ClipTokenizer tokenizer, ClipTextEncoder text, String caption, NDManager manager) {
        NDArray ids = manager.create(tokenizer.tokenize(caption).inputIds(), new Shape(1, CONTEXT));
        NDArray e = text.forward(ids);
        e.attach(manager);
        return e;
    }

    /**
     * Stage C: the aligner and the SSR layers. Each example is a two-shape reference, the query naming one of its
     * shapes, the prompt {@link #PROMPT} and the target picture, a {@link ShapeScenes#portrait} of the queried shape
     * (large and centred, so that the subject's colour dominates the loss and its place in the reference does not
     * matter); timesteps as {@link #timestep}, and the weights kept are their moving average. By default everything
     * learns at once on 10·L_LDM + 0.5 × (the mean over heads and non-start text positions of −log(attention mass
     * inside the queried shape) + the same mean over the query's two words). {@code -Ddemo.ssrMode=split} trains in two
     * phases instead: selection ({@code demo.selectSteps}, a quarter of the stage's steps by default), where only the
     * aligner's query and key projections learn, on the attention term; then transfer, where those two are frozen and
     * the rest learns on L_LDM + {@code demo.regWeight}·L_reg (1 − cos between each subject token and the query's text
     * embedding at its position, as the official regularisation).
     */
    private void trainSsr() throws IOException {
        writeInitialSsr();
        SplittableRandom random = new SplittableRandom(recipe.seed() + 3);
        float[] alphas = TrainingSchedule.alphasCumprod(SchedulerConfig.read(sd("scheduler").resolve("scheduler_config.json")));
        ClipImageProcessor processor = ClipImageProcessor.defaults();
        try (NDManager weights = EngineRuntime.newManager(device)) {
            AutoencoderKL vae = AutoencoderKL.load(sd("vae"), weights);
            ClipTokenizer tokenizer = ClipTokenizer.load(sd("tokenizer"));
            ClipTextEncoder text = ClipTextEncoder.load(sd("text_encoder"), weights);
            ClipVisionEncoder vision = ClipVisionEncoder.load(root.resolve("image_encoder"), weights);
            UNet2DCondition unet = UNet2DCondition.load(sd("unet"), weights);
            TokenToPatchAligner aligner = TokenToPatchAligner.load(root.resolve("ssr"), weights);
            SsrLayers layers = SsrLayers.load(root.resolve("ssr/pytorch_model_1.bin"), unet, weights);
            unet.setSsr(layers, 1f, CONTEXT);
            int grid = vision.imageSize() / vision.patchSize();
            int heads = aligner.heads();
            Map<String, NDArray> texts = new HashMap<>();
            Set<String> noDecay = new HashSet<>();
            Map<String, NDArray> params = new LinkedHashMap<>(trainable("pytorch_model.", aligner, noDecay));
            params.putAll(trainable("pytorch_model_1.", layers, noDecay));
            // selection (which patches a query picks): the aligner's query and key projections; transfer (what the
            // picked patches tell the UNet): everything else
            Map<String, NDArray> select = new LinkedHashMap<>();
            Map<String, NDArray> transfer = new LinkedHashMap<>();
            params.forEach((k, v) -> (k.equals("pytorch_model.aligner.to_q.weight") || k.equals("pytorch_model.aligner.to_k.weight")
                    ? select : transfer).put(k, v));
            boolean split = "split".equals(System.getProperty("demo.ssrMode", "joint"));
            int selectSteps = split ? Integer.getInteger("demo.selectSteps", recipe.ssrSteps() / 4) : 0;
            long start = System.nanoTime();
            double ssrLr = Double.parseDouble(System.getProperty("demo.ssrLr", "3e-3"));
            double selectLr = Double.parseDouble(System.getProperty("demo.selectLr", "3e-3"));
            float ldmWeight = Float.parseFloat(System.getProperty("demo.ldmWeight", split ? "1" : "10"));
            float attentionWeight = Float.parseFloat(System.getProperty("demo.attentionWeight", "0.5"));
            float regWeight = Float.parseFloat(System.getProperty("demo.regWeight", "0"));
            Ema ema = null;
            try (AdamW opt = new AdamW(split ? transfer : params, noDecay, new AdamW.Settings(ssrLr, 0.9, 0.999, 1e-2, 1e-8), weights);
                 AdamW selectOpt = new AdamW(select, noDecay, new AdamW.Settings(selectLr, 0.9, 0.999, 1e-2, 1e-8), weights)) {
                int total = selectSteps + recipe.ssrSteps();
                for (int s = 0; s < total; s++) {
                    if (s == selectSteps) {
                        // the average starts with the transfer phase, when the selection weights are final
                        ema = new Ema(params, SSR_EMA);
                    }
                    int b = 4;
                    float loss;
                    try (NDManager m = weights.newSubManager()) {
                        NDList queries = new NDList();
                        NDList prompts = new NDList();
                        List<ShapeScenes.Scene> targets = new java.util.ArrayList<>();
                        float[] clip = new float[b * 3 * 224 * 224];
                        float[] mask = new float[b * (1 + grid * grid)];
                        for (int i = 0; i < b; i++) {
                            if (random.nextDouble() < 0.1) {
                                // the unconditional branch of classifier-free guidance: empty prompt and query, zero pixels
                                queries.add(texts.computeIfAbsent("", k -> embed(tokenizer, text, k, weights)));
                                prompts.add(texts.computeIfAbsent("", k -> embed(tokenizer, text, k, weights)));
                                targets.add(random.nextBoolean() ? ShapeScenes.single(random) : ShapeScenes.pair(random));
                                java.util.Arrays.fill(mask, i * (1 + grid * grid), (i + 1) * (1 + grid * grid), 1f);
                                continue;
                            }
                            ShapeScenes.Scene scene = ShapeScenes.pair(random);
                            int pick = random.nextInt(2);
                            ShapeScenes.Shape shape = scene.shapes().get(pick);
                            queries.add(texts.computeIfAbsent(shape.name(), k -> embed(tokenizer, text, k, weights)));
                            prompts.add(texts.computeIfAbsent(PROMPT, k -> embed(tokenizer, text, k, weights)));
                            targets.add(ShapeScenes.portrait(shape, random));
                            float[] px = processor.preprocessToArray(ArrayImgs.argbs(scene.argb(), ShapeScenes.SIZE, ShapeScenes.SIZE),
                                    ReferenceFraming.CENTER_CROP, null);
                            System.arraycopy(px, 0, clip, i * px.length, px.length);
                            float[] cover = ShapeScenes.coverage(shape, grid);
                            for (int p = 0; p < cover.length; p++) {
                                mask[i * (1 + grid * grid) + 1 + p] = cover[p] >= 0.5f ? 1f : 0f;
                            }
                        }
                        NDArray concepts = ai.djl.ndarray.NDArrays.concat(queries, 0);
                        NDArray promptEmbeds = ai.djl.ndarray.NDArrays.concat(prompts, 0);
                        // the cached embeddings live in the long-lived manager: without this the step's whole graph would too
                        concepts.attach(m);
                        promptEmbeds.attach(m);
                        NDArray imageEmbeds = ClipVisionEncoder.ssrImageEmbeds(vision.forward(m.create(clip, new Shape(b, 3, 224, 224))));
                        NDArray masks = m.create(mask, new Shape(b, 1, 1, 1 + grid * grid));
                        NDArray latents = vae.encodeMean(pixels(m, targets)).mul(vae.scalingFactor());
                        int t = timestep(random, alphas.length);
                        NDArray noise = randn(m, random, latents.getShape());
                        NDArray noisy = latents.mul((float) Math.sqrt(alphas[t])).add(noise.mul((float) Math.sqrt(1 - alphas[t])));
                        boolean selecting = s < selectSteps;
                        if (split && s == selectSteps) {
                            select.values().forEach(v -> v.setRequiresGradient(false));
                        }
                        Map<String, NDArray> stepParams = selecting ? select : split ? transfer : params;
                        AdamW stepOpt = selecting ? selectOpt : opt;
                        double stepLr = selecting ? lr(selectLr, s, selectSteps) : lr(ssrLr, s - selectSteps, recipe.ssrSteps());
                        loss = step(m, stepParams, stepOpt, stepLr, mm -> {
                            TokenToPatchAligner.AlignerOutput out = aligner.forward(concepts, imageEmbeds, null);
                            NDArray attention = null;
                            if (!split || selecting) {
                                NDArray probs = out.probabilities().reshape(b, heads, CONTEXT, 1 + grid * grid);
                                NDArray inside = probs.mul(masks).sum(new int[] {-1}).get(new NDIndex(":, :, 1:"));
                                NDArray nll = inside.add(1e-6f).log().neg();
                                // every query is "colour kind": its two words (positions 1 and 2) count as much as the rest
                                attention = Scalars.mul(nll.mean().add(nll.get(new NDIndex(":, :, 0:2")).mean()), attentionWeight);
                                if (selecting) {
                                    return attention;
                                }
                            }
                            NDArray context = promptEmbeds.concat(out.subjectEmbeds(), 1);
                            NDArray ldm = Scalars.mul(unet.forward(noisy, t, context).sub(noise).square().mean(), ldmWeight);
                            if (regWeight > 0) {
                                // L_reg: 1 − cos between each subject token and the query's text embedding at its position
                                NDArray subject = out.subjectEmbeds();
                                NDArray su = subject.div(Scalars.maximum(subject.square().sum(new int[] {-1}, true), 1e-16f).sqrt());
                                NDArray cu = concepts.div(Scalars.maximum(concepts.square().sum(new int[] {-1}, true), 1e-16f).sqrt());
                                ldm = ldm.add(Scalars.mul(su.mul(cu).sum(new int[] {-1}).neg().add(1f).mean(), regWeight));
                            }
                            return attention == null ? ldm : ldm.add(attention);
                        });
                    }
                    if (ema != null) {
                        ema.update();
                    }
                    report(s < selectSteps ? "SSR selection" : "SSR", s, total, loss, start);
                }
            }
            if (ema != null) {
                ema.apply();
            }
            Map<String, TorchSaveWriter.Tensor> a = new LinkedHashMap<>();
            aligner.namedParameters().forEach((k, p) -> a.put(k, tensor(p.get())));
            TorchSaveWriter.save(root.resolve("ssr/pytorch_model.bin"), TorchSaveWriter.stateDict(a));
            Map<String, TorchSaveWriter.Tensor> l = new LinkedHashMap<>();
            layers.namedParameters().forEach((k, p) -> l.put(k, tensor(p.get())));
            TorchSaveWriter.save(root.resolve("ssr/pytorch_model_1.bin"), TorchSaveWriter.stateDict(l));
            unet.clearSsr();
        }
    }

    // ---- configs

    private static void writeJson(Path file, JsonObject o) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, new GsonBuilder().setPrettyPrinting().create().toJson(o) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    private static JsonArray ints(int... v) {
        JsonArray a = new JsonArray();
        for (int x : v) {
            a.add(x);
        }
        return a;
    }

    private static JsonArray strings(String... v) {
        JsonArray a = new JsonArray();
        for (String x : v) {
            a.add(x);
        }
        return a;
    }

    private static JsonObject modelIndex() {
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "StableDiffusionPipeline");
        o.addProperty("_diffusers_version", "0.23.1");
        o.add("scheduler", strings("diffusers", "PNDMScheduler"));
        o.add("text_encoder", strings("transformers", "CLIPTextModel"));
        o.add("tokenizer", strings("transformers", "CLIPTokenizer"));
        o.add("unet", strings("diffusers", "UNet2DConditionModel"));
        o.add("vae", strings("diffusers", "AutoencoderKL"));
        return o;
    }

    private static JsonObject scheduler() {
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "PNDMScheduler");
        o.addProperty("beta_end", 0.012);
        o.addProperty("beta_schedule", "scaled_linear");
        o.addProperty("beta_start", 0.00085);
        o.addProperty("clip_sample", false);
        o.addProperty("num_train_timesteps", 1000);
        o.addProperty("set_alpha_to_one", false);
        o.addProperty("skip_prk_steps", true);
        o.addProperty("steps_offset", 1);
        return o;
    }

    private static JsonObject textConfig() {
        JsonObject o = new JsonObject();
        o.add("architectures", strings("CLIPTextModel"));
        o.addProperty("model_type", "clip_text_model");
        o.addProperty("hidden_act", "quick_gelu");
        o.addProperty("hidden_size", TEXT_WIDTH);
        o.addProperty("intermediate_size", 2 * TEXT_WIDTH);
        o.addProperty("num_attention_heads", 2);
        o.addProperty("num_hidden_layers", 2);
        o.addProperty("max_position_embeddings", CONTEXT);
        o.addProperty("vocab_size", 49408);
        o.addProperty("layer_norm_eps", 1e-5);
        o.addProperty("bos_token_id", 49406);
        o.addProperty("eos_token_id", 49407);
        return o;
    }

    private static JsonObject vaeConfig(float scaling) {
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "AutoencoderKL");
        o.addProperty("act_fn", "silu");
        o.add("block_out_channels", ints(16, 32, 32));
        o.add("down_block_types", strings("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"));
        o.add("up_block_types", strings("UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"));
        o.addProperty("in_channels", 3);
        o.addProperty("out_channels", 3);
        o.addProperty("latent_channels", 4);
        o.addProperty("layers_per_block", 1);
        o.addProperty("norm_num_groups", 8);
        o.addProperty("sample_size", ShapeScenes.SIZE);
        o.addProperty("scaling_factor", scaling);
        return o;
    }

    private static JsonObject unetConfig() {
        JsonObject o = new JsonObject();
        o.addProperty("_class_name", "UNet2DConditionModel");
        o.addProperty("act_fn", "silu");
        o.addProperty("attention_head_dim", 4);
        o.add("block_out_channels", ints(32, 64));
        o.addProperty("cross_attention_dim", TEXT_WIDTH);
        o.add("down_block_types", strings("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"));
        o.add("up_block_types", strings("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"));
        o.addProperty("in_channels", 4);
        o.addProperty("out_channels", 4);
        o.addProperty("layers_per_block", 1);
        o.addProperty("norm_num_groups", 8);
        o.addProperty("sample_size", ShapeScenes.SIZE / 4);
        o.addProperty("flip_sin_to_cos", true);
        o.addProperty("freq_shift", 0);
        return o;
    }

    private static JsonObject visionConfig() {
        JsonObject o = new JsonObject();
        o.addProperty("model_type", "clip_vision_model");
        o.addProperty("hidden_size", VISION_WIDTH);
        o.addProperty("intermediate_size", 2 * VISION_WIDTH);
        o.addProperty("num_attention_heads", 4);
        o.addProperty("num_hidden_layers", 4);
        o.addProperty("patch_size", 14);
        o.addProperty("image_size", 224);
        o.addProperty("hidden_act", "quick_gelu");
        o.addProperty("layer_norm_eps", 1e-5);
        return o;
    }

    private static JsonObject preprocessor() {
        JsonObject o = new JsonObject();
        o.addProperty("crop_size", 224);
        o.addProperty("do_center_crop", true);
        o.addProperty("do_normalize", true);
        o.addProperty("do_resize", true);
        o.addProperty("feature_extractor_type", "CLIPFeatureExtractor");
        JsonArray mean = new JsonArray();
        for (double v : new double[] {0.48145466, 0.4578275, 0.40821073}) {
            mean.add(v);
        }
        JsonArray std = new JsonArray();
        for (double v : new double[] {0.26862954, 0.26130258, 0.27577711}) {
            std.add(v);
        }
        o.add("image_mean", mean);
        o.add("image_std", std);
        o.addProperty("resample", 3);
        o.addProperty("size", 224);
        return o;
    }

    private static JsonObject ssrConfig() {
        JsonObject o = new JsonObject();
        o.addProperty("query_dim", TEXT_WIDTH);
        o.addProperty("cross_attention_dim", VISION_WIDTH);
        o.addProperty("heads", 4);
        o.addProperty("dim_head", VISION_WIDTH / 4);
        o.addProperty("num_scales", 1);
        o.addProperty("text_context_len", CONTEXT);
        return o;
    }
}
