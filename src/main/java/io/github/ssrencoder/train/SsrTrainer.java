package io.github.ssrencoder.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.io.ModelsFolder;
import io.github.ssrencoder.model.AutoencoderKL;
import io.github.ssrencoder.model.ClipImageProcessor;
import io.github.ssrencoder.model.ClipTextEncoder;
import io.github.ssrencoder.model.ClipTokenizer;
import io.github.ssrencoder.model.ClipVisionEncoder;
import io.github.ssrencoder.model.SsrLayers;
import io.github.ssrencoder.model.TokenToPatchAligner;
import io.github.ssrencoder.model.TrainingImageProcessor;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.nn.Autograd;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.Parameter;
import io.github.ssrencoder.nn.Scalars;
import io.github.ssrencoder.pipeline.ReferenceFraming;
import io.github.ssrencoder.schedule.SchedulerConfig;
import io.github.ssrencoder.schedule.TrainingSchedule;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.type.numeric.ARGBType;

/**
 * One step of the official {@code train.py} at a time: the batch's augmentation draws and inputs, the frozen
 * VAE / CLIP encoders (run without gradient bookkeeping), the token-to-patch aligner and the UNet with the SSR
 * cross-attention under gradient recording, L = L_LDM + reg·L_reg, back-propagation into the aligner and the
 * SSR layers only, and an AdamW update. The trainable parameters are named {@code pytorch_model.<key>} and
 * {@code pytorch_model_1.<key>} after the files and keys they are saved under.
 */
public final class SsrTrainer implements AutoCloseable {

    /** Prefix of the aligner's parameters (its file {@code pytorch_model.bin}). */
    public static final String ALIGNER = "pytorch_model";
    /** Prefix of the SSR layers' parameters (their file {@code pytorch_model_1.bin}). */
    public static final String LAYERS = "pytorch_model_1";

    private final NDManager weights;
    private final ClipTokenizer tokenizer;
    private final ClipTextEncoder text;
    private final ClipVisionEncoder vision;
    private final ClipImageProcessor clipProcessor = ClipImageProcessor.defaults();
    private final AutoencoderKL vae;
    private final UNet2DCondition unet;
    private final TokenToPatchAligner aligner;
    private final SsrLayers layers;
    private final TrainingImageProcessor imageProcessor;
    private final float[] alphasCumprod;
    private final String predictionType;
    private final TrainingOptions options;
    private final Map<String, NDArray> trainable = new LinkedHashMap<>();
    private final AdamW optimizer;
    private final Path ssrConfig;

    private SsrTrainer(NDManager weights, ModelsFolder folder, Path ssrFolder, TrainingOptions options) {
        this.weights = weights;
        this.options = options;
        this.tokenizer = ClipTokenizer.load(folder.tokenizer());
        this.text = ClipTextEncoder.load(folder.textEncoder(), weights);
        this.vision = ClipVisionEncoder.load(folder.imageEncoder(), weights);
        this.vae = AutoencoderKL.load(folder.vae(), weights);
        this.unet = UNet2DCondition.load(folder.unet(), weights);
        Path config = ssrFolder.resolve("config.json");
        this.ssrConfig = Files.isRegularFile(config) ? config : folder.ssrConfig().orElse(null);
        this.aligner = TokenToPatchAligner.load(ssrFolder, ssrConfig == null ? config : ssrConfig, weights);
        this.layers = SsrLayers.load(WeightFilesOf.layers(ssrFolder), unet, weights);
        if (aligner.queryDim() != text.hiddenSize()) {
            throw new IllegalArgumentException("the SSR aligner expects " + aligner.queryDim() + "-wide text embeddings but the "
                    + "text encoder gives " + text.hiddenSize());
        }
        SchedulerConfig sched = SchedulerConfig.read(folder.schedulerConfig());
        this.alphasCumprod = TrainingSchedule.alphasCumprod(sched);
        this.predictionType = sched.predictionType();
        this.imageProcessor = new TrainingImageProcessor(options.resolution());
        unet.setSsr(layers, 1f, tokenizer.maxLength());
        Set<String> noDecay = new java.util.HashSet<>();
        collect(ALIGNER, aligner.namedParameters(), noDecay);
        collect(LAYERS, layers.namedParameters(), noDecay);
        this.optimizer = new AdamW(trainable, options.decayNorms() ? Set.of() : noDecay, options.optimizer(), weights);
    }

    /** Locates the SSR layer weights beside the aligner's. */
    private static final class WeightFilesOf {
        static Path layers(Path ssrFolder) {
            for (String name : List.of("pytorch_model_1.bin", "pytorch_model_1.safetensors")) {
                if (Files.isRegularFile(ssrFolder.resolve(name))) {
                    return ssrFolder.resolve(name);
                }
            }
            throw new IllegalArgumentException("no SSR layer weights (pytorch_model_1.bin) in " + ssrFolder);
        }
    }

    private void collect(String prefix, Map<String, Parameter> params, Set<String> noDecay) {
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            NDArray value = e.getValue().get();
            if (value.getDataType() != ai.djl.ndarray.types.DataType.FLOAT32) {
                throw new IllegalStateException("trainable weights must be float32 (run training with float32 precision), '"
                        + e.getKey() + "' is " + value.getDataType());
            }
            value.setRequiresGradient(true);
            String name = prefix + "." + e.getKey();
            trainable.put(name, value);
            if (value.getShape().dimension() == 1) {
                noDecay.add(name);
            }
        }
    }

    /**
     * Loads the frozen networks from a models folder and the trainable ones from {@code ssrFolder} (a folder with
     * {@code pytorch_model.bin} and {@code pytorch_model_1.bin}; {@code null}: the models folder's {@code ssr/}).
     */
    public static SsrTrainer load(Path modelsRoot, Path ssrFolder, Device device, TrainingOptions options) {
        ModelsFolder folder = ModelsFolder.open(modelsRoot);
        Path ssr = ssrFolder != null ? ssrFolder : folder.ssrAligner().getParent();
        NDManager weights = EngineRuntime.newManager(device);
        try {
            return new SsrTrainer(weights, folder, ssr, options);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public TrainingOptions options() {
        return options;
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /** The trainable parameters by name ({@code pytorch_model.<key>}, {@code pytorch_model_1.<key>}), optimizer order. */
    public Map<String, NDArray> trainableParameters() {
        return java.util.Collections.unmodifiableMap(trainable);
    }

    /** Every frozen weight array (text and image encoders, VAE, UNet), for checks that they take no gradient. */
    List<NDArray> frozenParameters() {
        List<NDArray> out = new ArrayList<>();
        for (io.github.ssrencoder.nn.Module module : List.of(text, vision, vae, unet)) {
            module.namedParameters().values().forEach(p -> out.add(p.get()));
        }
        return out;
    }

    /** The number of trainable weights. */
    public long trainableCount() {
        return trainable.values().stream().mapToLong(NDArray::size).sum();
    }

    /** The SSR {@code config.json} to copy beside saved weights (the aligner's head split), or null. */
    Path ssrConfig() {
        return ssrConfig;
    }

    /**
     * Prepares a batch as {@code train.py}'s dataset transform and {@code collate_fn} do, drawing from
     * {@code random} in its order: the flips of all images, then each example's caption drop-out (and list
     * choice when kept), then each example's query choice.
     */
    public TrainingBatch prepare(List<TrainingExample> examples, TrainingRandom random, NDManager manager) {
        int b = examples.size();
        List<RandomAccessibleInterval<ARGBType>> images = new ArrayList<>();
        for (TrainingExample e : examples) {
            images.add(ImageFiles.readRgb(e.image()));
        }
        boolean[] flipped = new boolean[b];
        for (int i = 0; i < b; i++) {
            flipped[i] = random.uniform() < 0.5f;
        }
        List<String> captions = new ArrayList<>();
        for (TrainingExample e : examples) {
            if (random.uniform() < (float) options.captionDropout()) {
                captions.add("");
            } else {
                captions.add(e.captionList() ? e.captions().get((int) random.randint(e.captions().size())) : e.captions().get(0));
            }
        }
        List<String> queries = new ArrayList<>();
        for (TrainingExample e : examples) {
            queries.add(e.queryList() ? e.queries().get((int) random.randint(e.queries().size())) : e.queries().get(0));
        }
        int r = imageProcessor.resolution();
        float[] pixels = new float[b * 3 * r * r];
        for (int i = 0; i < b; i++) {
            System.arraycopy(imageProcessor.pixelValues(images.get(i), flipped[i]), 0, pixels, i * 3 * r * r, 3 * r * r);
        }
        List<float[]> clip = new ArrayList<>();
        for (RandomAccessibleInterval<ARGBType> img : images) {
            clip.add(clipProcessor.preprocessToArray(img, ReferenceFraming.CENTER_CROP, null));
        }
        int plane = clip.get(0).length;
        float[] clipPixels = new float[b * plane];
        for (int i = 0; i < b; i++) {
            System.arraycopy(clip.get(i), 0, clipPixels, i * plane, plane);
        }
        int side = (int) Math.round(Math.sqrt(plane / 3.0));
        return new TrainingBatch(
                manager.create(pixels, new Shape(b, 3, r, r)),
                manager.create(clipPixels, new Shape(b, 3, side, side)),
                ids(captions, manager), ids(queries, manager), List.copyOf(captions), List.copyOf(queries), flipped);
    }

    private NDArray ids(List<String> texts, NDManager manager) {
        int len = tokenizer.maxLength();
        long[] out = new long[texts.size() * len];
        for (int i = 0; i < texts.size(); i++) {
            System.arraycopy(tokenizer.tokenize(texts.get(i)).inputIds(), 0, out, i * len, len);
        }
        return manager.create(out, new Shape(texts.size(), len));
    }

    /** One training step on {@code batch}: forward, backward, AdamW update. */
    public StepResult step(TrainingBatch batch, TrainingRandom random) {
        return step(batch, random, (k, v) -> { });
    }

    /**
     * {@link #step(TrainingBatch, TrainingRandom)}, handing intermediates to {@code probe} (valid during the call):
     * {@code latents}, {@code noisy_latents}, {@code concepts}, {@code prompts}, {@code image_embeds},
     * {@code image_prompts}, {@code model_pred}, {@code reg.terms}, and {@code grad.<parameter>} before the update.
     */
    StepResult step(TrainingBatch batch, TrainingRandom random, BiConsumer<String, NDArray> probe) {
        long start = System.nanoTime();
        double lr = options.optimizer().lr();
        try (NDManager m = weights.newSubManager()) {
            int b = batch.size();
            NDArray pixels = batch.pixelValues().toDevice(m.getDevice(), false);
            NDArray moments = vae.encodeMoments(pixels, null);
            moments.attach(m);
            long lc = vae.config().latentChannels();
            NDArray mean = moments.get(new NDIndex(":, :{}", lc));
            NDArray logvar = moments.get(new NDIndex(":, {}:", lc)).clip(-30f, 20f);
            NDArray std = logvar.mul(0.5f).exp();
            Shape latentShape = mean.getShape();
            NDArray eps = m.create(random.randn(latentShape.getShape()), latentShape);
            NDArray latents = mean.add(std.mul(eps)).mul(vae.scalingFactor());
            probe.accept("latents", latents);
            NDArray noise = m.create(random.randn(latentShape.getShape()), latentShape);
            long[] t = new long[b];
            for (int i = 0; i < b; i++) {
                t[i] = random.randint(alphasCumprod.length);
            }
            float[] sa = new float[b];
            float[] s1a = new float[b];
            for (int i = 0; i < b; i++) {
                float a = alphasCumprod[(int) t[i]];
                sa[i] = (float) Math.sqrt(a);
                s1a[i] = (float) Math.sqrt(1f - a);
            }
            NDArray noisy = latents.mul(m.create(sa, new Shape(b, 1, 1, 1))).add(noise.mul(m.create(s1a, new Shape(b, 1, 1, 1))));
            probe.accept("noisy_latents", noisy);
            NDArray concepts = text.forward(batch.conceptIds().toDevice(m.getDevice(), false));
            NDArray prompts = text.forward(batch.promptIds().toDevice(m.getDevice(), false));
            NDList hidden = vision.forward(batch.clipPixelValues().toDevice(m.getDevice(), false));
            NDArray imageEmbeds = ClipVisionEncoder.ssrImageEmbeds(hidden);
            probe.accept("concepts", concepts);
            probe.accept("prompts", prompts);
            probe.accept("image_embeds", imageEmbeds);
            NDArray target = noise;
            if (options.predictionTarget() && "v_prediction".equals(predictionType)) {
                target = noise.mul(m.create(sa, new Shape(b, 1, 1, 1))).sub(latents.mul(m.create(s1a, new Shape(b, 1, 1, 1))));
            }
            float[] losses;
            Map<String, NDArray> grads = new LinkedHashMap<>();
            try (Autograd.Recording rec = Autograd.record()) {
                TokenToPatchAligner.AlignerOutput out = aligner.forward(concepts, imageEmbeds, null);
                NDArray subject = out.subjectEmbeds();
                probe.accept("image_prompts", subject);
                NDArray context = prompts.concat(subject, 1);
                NDList preds = new NDList();
                List<UNet2DCondition.Checkpointed> passes = new ArrayList<>();
                for (int i = 0; i < b; i++) {
                    NDIndex row = new NDIndex("{}:{}", i, i + 1);
                    if (options.gradientCheckpointing()) {
                        UNet2DCondition.Checkpointed pass = unet.forwardCheckpointed(noisy.get(row), t[i], context.get(row));
                        passes.add(pass);
                        preds.add(pass.output());
                    } else {
                        preds.add(unet.forward(noisy.get(row), t[i], context.get(row)));
                    }
                }
                NDArray pred = preds.size() == 1 ? preds.get(0) : NDArrays.concat(preds, 0);
                probe.accept("model_pred", pred);
                NDArray lossMse = pred.sub(target).square().mean();
                NDArray regTerms = regularisation(subject, concepts, batch.conceptIds());
                probe.accept("reg.terms", regTerms);
                NDArray lossReg = regTerms.sum();
                NDArray loss = lossMse.add(Scalars.mul(lossReg, options.reg()));
                losses = new float[] {lossMse.getFloat(), lossReg.getFloat(), loss.getFloat()};
                if (!Float.isFinite(losses[2])) {
                    throw new IllegalStateException("the training loss is not finite (" + losses[2] + "); lower the learning rate");
                }
                if (passes.isEmpty()) {
                    rec.backward(loss);
                } else {
                    // dL_LDM/dpred of the mean squared error, back through the UNet block by block, then on into the
                    // aligner together with L_reg through the encoder states' gradient
                    NDArray gradPred = pred.sub(target).mul(2f / pred.size());
                    NDList contextGrads = new NDList();
                    for (int i = 0; i < b; i++) {
                        contextGrads.add(passes.get(i).backward(gradPred.get(new NDIndex("{}:{}", i, i + 1))));
                    }
                    NDArray contextGrad = contextGrads.size() == 1 ? contextGrads.get(0) : NDArrays.concat(contextGrads, 0);
                    rec.backward(Scalars.mul(lossReg, options.reg()).add(context.mul(contextGrad).sum()));
                }
            }
            for (Map.Entry<String, NDArray> e : trainable.entrySet()) {
                NDArray g = e.getValue().getGradient();
                g.attach(m);
                grads.put(e.getKey(), g);
                probe.accept("grad." + e.getKey(), g);
            }
            Autograd.withoutGradients(() -> {
                optimizer.update(grads, lr);
                grads.values().forEach(g -> g.subi(g));
            });
            return new StepResult(optimizer.step(), losses[0], losses[1], losses[2], lr, (System.nanoTime() - start) / 1e9);
        }
    }

    /**
     * L_reg's terms per scale: mean over examples and positions of 1 − cos(ŝₙ, ĉ), with ŝₙ the scale-n subject tokens
     * and ĉ the query embeddings, each normalised per token, the cosine computed as torch's (with its 1e-8 floor).
     */
    private NDArray regularisation(NDArray subject, NDArray concepts, NDArray conceptIds) {
        long len = concepts.getShape().get(1);
        int scales = aligner.numScales();
        NDArray c = concepts.div(concepts.square().sum(new int[] {-1}, true).sqrt());
        NDArray s = subject.div(subject.square().sum(new int[] {-1}, true).sqrt());
        NDArray cUnit = c.div(Scalars.maximum(c.square().sum(new int[] {-1}, true), 1e-16f).sqrt());
        NDArray mask = options.regTextTokensOnly() ? realTokens(conceptIds, concepts.getManager()) : null;
        NDList terms = new NDList();
        for (int n = 0; n < scales; n++) {
            NDArray sn = s.get(new NDIndex(":, {}:{}, :", n * len, (n + 1) * len));
            NDArray snUnit = sn.div(Scalars.maximum(sn.square().sum(new int[] {-1}, true), 1e-16f).sqrt());
            NDArray cos = snUnit.mul(cUnit).sum(new int[] {-1});
            NDArray oneMinus = cos.neg().add(1f);
            terms.add(mask == null ? oneMinus.mean() : oneMinus.mul(mask).sum().div(mask.sum()));
        }
        return NDArrays.stack(terms);
    }

    /** 1 for positions up to and including each query's end-of-text token, 0 for the padding after it. */
    private NDArray realTokens(NDArray ids, NDManager manager) {
        long[] v = ids.toLongArray();
        long[] shape = ids.getShape().getShape();
        float[] mask = new float[v.length];
        for (int b = 0; b < shape[0]; b++) {
            boolean ended = false;
            for (int j = 0; j < shape[1]; j++) {
                int i = (int) (b * shape[1] + j);
                mask[i] = ended ? 0f : 1f;
                ended |= v[i] == tokenizer.eosId();
            }
        }
        return manager.create(mask, new Shape(shape[0], shape[1]));
    }

    @Override
    public void close() {
        optimizer.close();
        unet.clearSsr();
        weights.close();
    }
}
