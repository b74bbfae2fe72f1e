package io.github.ssrencoder.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.ssrencoder.io.LdmConfig;
import io.github.ssrencoder.io.LoraFile;
import io.github.ssrencoder.io.ModelsFolder;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.model.AutoencoderKL;
import io.github.ssrencoder.model.ClipImageProcessor;
import io.github.ssrencoder.model.ClipTextEncoder;
import io.github.ssrencoder.model.ClipTokenizer;
import io.github.ssrencoder.model.ClipVisionConfig;
import io.github.ssrencoder.model.ClipVisionEncoder;
import io.github.ssrencoder.model.VaeConfig;
import io.github.ssrencoder.model.ControlImageProcessor;
import io.github.ssrencoder.model.ControlNetModel;
import io.github.ssrencoder.model.ControlResiduals;
import io.github.ssrencoder.model.DeepFeatureCache;
import io.github.ssrencoder.model.MotionAdapter;
import io.github.ssrencoder.model.SingleFileModels;
import io.github.ssrencoder.model.SsrLayers;
import io.github.ssrencoder.model.TokenToPatchAligner;
import io.github.ssrencoder.model.UNet2DCondition;
import io.github.ssrencoder.model.UNetConfig;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.nn.KeyValueCache;
import io.github.ssrencoder.nn.LoraFusion;
import io.github.ssrencoder.schedule.NoiseSource;
import io.github.ssrencoder.schedule.Scheduler;
import io.github.ssrencoder.schedule.SchedulerConfig;
import io.github.ssrencoder.schedule.Schedulers;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * SSR-Encoder on Stable Diffusion 1.5: encodes subjects (reference image + text or mask query) into subject
 * embeddings, denoises with classifier-free guidance through the SSR cross-attention, and decodes with the
 * VAE. A plain Java API: no ImageJ types, images in and out as imglib2. Models are loaded once by
 * {@link #open}; every run keeps its arrays in its own manager, released at the end, on error and on cancel.
 */
public final class SsrPipeline implements SubjectGenerator {

    private final Path modelsRoot;
    private final Device device;
    private final NDManager weights;
    private final PromptEncoder prompts;
    private final SubjectEncoder subjects;
    private final UNet2DCondition unet;
    private final SsrLayers ssrLayers;
    /** The VAE's module tree without weights: its configuration, for everything but decoding. */
    private final AutoencoderKL vae;
    private final NetworkSlot<AutoencoderKL> decoder;
    private final SchedulerConfig schedulerConfig;
    /** The file {@link #schedulerConfig} was read from (named when a scheduler refuses it). */
    private final Path schedulerFile;
    private final ClipTextEncoder textEncoder;
    private final NetworkSlot<ClipVisionEncoder> vision;
    private final ClipVisionConfig visionConfig;
    /** The memory a run may use (replaced in tests). */
    private Function<Device, OptionalLong> memoryProbe = AvailableMemory::on;
    private final LoraFusion unetLoras;
    private final LoraFusion textLoras;
    /** The UNet's diffusers {@code config.json}, or null for a UNet from a single-file checkpoint. */
    private final Path unetConfigFile;
    private final Object lock = new Object();
    /**
     * ControlNets by folder. Those of the latest run stay loaded for the next one (a batch on the same nets loads
     * them once); a run that no longer uses one releases it.
     */
    private final Map<Path, ControlNetModel> controlNets = new LinkedHashMap<>();
    /** The motion adapter of the latest clip (kept for the next clip with the same folder), or null. */
    private MotionAdapter motionAdapter;
    /** The LoRAs fused now; a run asking for the same list (files and weights) fuses nothing. */
    private List<Lora> fusedLoras = List.of();
    private boolean closed;

    private SsrPipeline(Path modelsRoot, Device device, NDManager weights, PromptEncoder prompts, SubjectEncoder subjects,
                        UNet2DCondition unet, SsrLayers ssrLayers, NetworkSlot<AutoencoderKL> decoder, VaeConfig vaeConfig,
                        SchedulerConfig schedulerConfig, Path schedulerFile, ClipTextEncoder textEncoder,
                        NetworkSlot<ClipVisionEncoder> vision, ClipVisionConfig visionConfig, Path unetConfigFile) {
        this.modelsRoot = modelsRoot;
        this.device = device;
        this.weights = weights;
        this.prompts = prompts;
        this.subjects = subjects;
        this.unet = unet;
        this.ssrLayers = ssrLayers;
        this.vae = new AutoencoderKL(vaeConfig);
        this.decoder = decoder;
        this.schedulerConfig = schedulerConfig;
        this.schedulerFile = schedulerFile;
        this.textEncoder = textEncoder;
        this.vision = vision;
        this.visionConfig = visionConfig;
        this.unetConfigFile = unetConfigFile;
        this.unetLoras = new LoraFusion(unet, weights);
        this.textLoras = new LoraFusion(textEncoder, weights);
    }

    /**
     * Loads every network of a models folder (DESIGN layout: {@code sd/}, {@code image_encoder/}, {@code ssr/}).
     *
     * @param modelsRoot the models folder
     * @param choice     CPU, GPU or AUTO
     * @param threads    intra-op threads (0 = engine default)
     */
    public static SsrPipeline open(Path modelsRoot, EngineRuntime.DeviceChoice choice, int threads) {
        return open(modelsRoot, choice, threads, ProgressListener.NONE);
    }

    /** As {@link #open(Path, EngineRuntime.DeviceChoice, int)}, reporting each loading stage. */
    public static SsrPipeline open(Path modelsRoot, EngineRuntime.DeviceChoice choice, int threads, ProgressListener progress) {
        return open(modelsRoot, null, false, choice, threads, progress);
    }

    /**
     * As {@link #open(Path, EngineRuntime.DeviceChoice, int, ProgressListener)}, with Stable Diffusion's weights
     * from a single-file checkpoint ({@link ModelsFolder#open(Path, Path)}).
     *
     * @param checkpoint a single-file checkpoint replacing {@code sd/}'s weights, or {@code null} for the folder's own
     *                   (a diffusers {@code sd/}, or the one checkpoint file in {@code sd/})
     * @param ema        take the UNet's EMA weights from a checkpoint that has them (diffusers' {@code extract_ema})
     */
    public static SsrPipeline open(Path modelsRoot, Path checkpoint, boolean ema, EngineRuntime.DeviceChoice choice,
                                   int threads, ProgressListener progress) {
        return open(modelsRoot, checkpoint, ema, false, choice, threads, progress);
    }

    /**
     * As {@link #open(Path, Path, boolean, EngineRuntime.DeviceChoice, int, ProgressListener)}, in low-memory mode
     * when {@code lowMemory} is set ({@link #setLowMemory}): the image encoder and the VAE are then released as soon
     * as they have been loaded and checked, so that loading does not peak higher than the generations.
     */
    public static SsrPipeline open(Path modelsRoot, Path checkpoint, boolean ema, boolean lowMemory,
                                   EngineRuntime.DeviceChoice choice, int threads, ProgressListener progress) {
        EngineRuntime.configureOffline(threads);
        ModelsFolder folder = ModelsFolder.open(modelsRoot, checkpoint);
        Path single = folder.checkpoint().orElse(null);
        if (ema && single == null) {
            throw new IllegalArgumentException("the EMA option applies to single-file checkpoints; " + folder.sd()
                    + " is a diffusers folder");
        }
        Device device = EngineRuntime.device(choice);
        NDManager weights = EngineRuntime.newManager(device);
        try {
            SingleFileModels sd = null;
            if (single != null) {
                progress.stage("Loading " + single.getFileName());
                sd = SingleFileModels.load(single, folder.textEncoderConfig(), ema, weights);
            }
            progress.stage("Loading tokenizer and text encoder");
            ClipTokenizer tokenizer = ClipTokenizer.load(folder.tokenizer());
            ClipTextEncoder textEncoder = sd != null ? sd.textEncoder() : ClipTextEncoder.load(folder.textEncoder(), weights);
            if (tokenizer.maxLength() > textEncoder.maxLength()) {
                throw WeightFileException.of(folder.tokenizer().resolve("tokenizer_config.json"), "model_max_length "
                        + tokenizer.maxLength() + " is more than the text encoder's " + textEncoder.maxLength()
                        + " positions (max_position_embeddings)");
            }
            if (tokenizer.vocabularySize() > textEncoder.config().vocabSize()) {
                throw WeightFileException.of(folder.tokenizer().resolve("vocab.json"), "the vocabulary has "
                        + tokenizer.vocabularySize() + " token ids, but the text encoder embeds only "
                        + textEncoder.config().vocabSize() + " (vocab_size)");
            }
            PromptEncoder prompts = new PromptEncoder(tokenizer, textEncoder);
            progress.stage("Loading image encoder and aligner");
            NetworkSlot<ClipVisionEncoder> vision = NetworkSlot.load("image encoder", folder.imageEncoder(), weights,
                    ClipVisionEncoder::load, ClipVisionEncoder::config);
            ClipVisionConfig visionConfig = vision.get(progress).config();
            TokenToPatchAligner aligner = TokenToPatchAligner.load(folder.ssrAligner().getParent(), weights);
            SubjectEncoder subjects = new SubjectEncoder(vision, visionConfig, ClipImageProcessor.defaults(), aligner, prompts);
            vision.setKeepLoaded(!lowMemory);
            progress.stage("Loading UNet");
            UNet2DCondition unet = sd != null ? sd.unet() : UNet2DCondition.load(folder.unet(), weights);
            checkCompatible(folder, textEncoder, visionConfig, aligner, unet);
            SsrLayers ssr = SsrLayers.load(folder.ssrLayers(), unet, weights);
            progress.stage("Loading VAE");
            NetworkSlot<AutoencoderKL> vae = sd != null ? NetworkSlot.pinned("VAE", sd.vae(), AutoencoderKL::config)
                    : NetworkSlot.load("VAE", folder.vae(), weights, AutoencoderKL::load, AutoencoderKL::config);
            VaeConfig vaeConfig = vae.get(progress).config();
            vae.setKeepLoaded(!lowMemory);
            SchedulerConfig sched = schedulerConfig(folder);
            return new SsrPipeline(folder.root(), device, weights, prompts, subjects, unet, ssr, vae, vaeConfig, sched,
                    folder.schedulerConfig(), textEncoder, vision, visionConfig,
                    sd == null ? folder.unet().resolve("config.json") : null);
        } catch (RuntimeException | Error e) {
            weights.close();
            throw e;
        }
    }

    /**
     * {@code sd/scheduler/scheduler_config.json}; for a single-file checkpoint without one, SD1.5's with the training
     * betas and prediction type of the checkpoint's config (as diffusers' {@code from_single_file} derives them).
     */
    private static SchedulerConfig schedulerConfig(ModelsFolder folder) {
        SchedulerConfig config = SchedulerConfig.read(folder.schedulerConfig());
        Path single = folder.checkpoint().orElse(null);
        if (single == null || java.nio.file.Files.isRegularFile(folder.scheduler().resolve("scheduler_config.json"))) {
            return config;
        }
        LdmConfig ldm = LdmConfig.forCheckpoint(single);
        return config.withBetas("scaled_linear", ldm.linearStart(), ldm.linearEnd()).withPredictionType(ldm.predictionType());
    }

    /**
     * The networks of one folder must fit together: a UNet from another architecture (e.g. SD 2.x, whose
     * cross-attention expects 1024-wide text states) or an aligner trained for other encoders is refused here
     * with the file and the sizes, rather than failing deep inside a forward pass.
     */
    private static void checkCompatible(ModelsFolder folder, ClipTextEncoder text, ClipVisionConfig vision,
                                        TokenToPatchAligner aligner, UNet2DCondition unet) {
        int textWidth = text.hiddenSize();
        if (unet.config().crossAttentionDim() != textWidth) {
            Path unetSource = folder.checkpoint().orElse(folder.unet().resolve("config.json"));
            throw io.github.ssrencoder.io.WeightFileException.of(unetSource, "cross_attention_dim "
                    + unet.config().crossAttentionDim() + " does not match the text encoder's hidden size " + textWidth
                    + " (a UNet of another Stable Diffusion version?)");
        }
        if (aligner.queryDim() != textWidth || aligner.imageDim() != vision.hiddenSize()) {
            throw io.github.ssrencoder.io.WeightFileException.of(folder.ssrAligner(), "the aligner expects text width "
                    + aligner.queryDim() + " and image width " + aligner.imageDim() + ", but the text encoder gives "
                    + textWidth + " and the image encoder " + vision.hiddenSize());
        }
        int scales = vision.numHiddenLayers() / 4; // ClipVisionEncoder.ssrScales
        if (aligner.numScales() != scales) {
            throw io.github.ssrencoder.io.WeightFileException.of(folder.ssrAligner(), "the aligner pools " + aligner.numScales()
                    + " vision scales (aligner.processor.to_v.*), but the image encoder's " + vision.numHiddenLayers()
                    + " layers give " + scales + " (hidden states 4, 8, …)");
        }
    }

    /** The device the networks run on. */
    public Device device() {
        return device;
    }

    /**
     * {@inheritDoc}
     *
     * @throws InsufficientMemoryException when the run's estimated working memory exceeds what is available (and tiling
     *                                     the decoder does not bring it within), or when libtorch fails to allocate
     *                                     memory during the run; the loaded models remain usable
     */
    @Override
    public GenerationResult generate(GenerationRequest request, ProgressListener progress) {
        synchronized (lock) {
            ensureOpen();
            GenerationRequest fitted = fitToMemory(request, progress);
            fuseLoras(fitted.loras(), progress);
            loadControlNets(fitted.controls(), progress);
            loadMotionAdapter(fitted.animation(), progress);
            try (NDManager run = weights.newSubManager()) {
                return generateIn(run, fitted, progress);
            } catch (RuntimeException e) {
                // libtorch's failure arrives as an EngineException, possibly wrapped by the code that called it
                if (!(e instanceof InsufficientMemoryException) && isAllocationFailure(e)) {
                    throw new InsufficientMemoryException("ran out of memory during the generation ("
                            + firstLine(e.getMessage()) + "); the run's memory was released and the loaded models stay "
                            + "usable: choose a smaller size or fewer images, or tile the VAE decode", e);
                }
                throw e;
            } finally {
                vision.releaseUnlessKept();
                decoder.releaseUnlessKept();
            }
        }
    }

    /**
     * Low-memory mode: the networks needed only at one end of a run are not kept between runs. The image encoder
     * (CLIP vision, 1.2 GB in float32 for SD 1.5's ViT-L/14) is loaded for each run's subject encoding and released
     * right after it, before denoising; the VAE (0.3 GB) is loaded for decoding and released after it. The next run
     * loads them again from the same files (a few seconds). The images do not change. The VAE of a single-file
     * checkpoint stays loaded (it cannot be read on its own). Off by default; turning it on releases both now,
     * turning it off keeps them from their next load on.
     */
    @Override
    public void setLowMemory(boolean on) {
        synchronized (lock) {
            ensureOpen();
            vision.setKeepLoaded(!on);
            decoder.setKeepLoaded(!on);
        }
    }

    /** Whether low-memory mode is on ({@link #setLowMemory}). */
    public boolean isLowMemory() {
        synchronized (lock) {
            return !vision.keepsLoaded();
        }
    }

    /** Whether the image encoder's weights are in memory now (always between runs, except in low-memory mode). */
    public boolean isImageEncoderLoaded() {
        synchronized (lock) {
            return vision.isLoaded();
        }
    }

    /** Whether the VAE's weights are in memory now (always between runs, except in low-memory mode). */
    public boolean isVaeLoaded() {
        synchronized (lock) {
            return decoder.isLoaded();
        }
    }

    /**
     * {@code request}, or the same with the VAE decode tiled when only that fits (automatic tiling); refuses a request
     * whose estimated working memory exceeds what is available.
     */
    private GenerationRequest fitToMemory(GenerationRequest request, ProgressListener progress) {
        OptionalLong available = memoryProbe.apply(device);
        if (available.isEmpty()) {
            return request;
        }
        long free = available.getAsLong();
        boolean tiled = request.vaeTiling().tiles(request.width(), request.height());
        MemoryEstimate estimate = estimate(request);
        if (estimate.peakBytes() <= free) {
            return request;
        }
        if (!tiled && request.vaeTiling() == VaeTiling.AUTO && estimate.tiledPeakBytes() <= free) {
            progress.warning("decoding the image in tiles: in one piece it needs about "
                    + MemoryEstimate.format(estimate.peakBytes()) + ", " + MemoryEstimate.format(free) + " is available");
            return request.withVaeTiling(VaeTiling.ON);
        }
        long needed = request.vaeTiling() == VaeTiling.OFF ? estimate.peakBytes() : estimate.tiledPeakBytes();
        throw new InsufficientMemoryException("a " + request.width() + "×" + request.height() + " generation"
                + (request.numImages() > 1 ? " (images are made one after the other)" : "") + " needs about "
                + MemoryEstimate.format(needed) + " of working memory besides the loaded models, but only "
                + MemoryEstimate.format(free) + " is available" + (device.isGpu() ? " on the GPU" : "")
                + "; choose a smaller size" + (request.vaeTiling() == VaeTiling.OFF ? " or let the VAE decode in tiles" : "")
                + " or free memory");
    }

    /** Whether {@code e} is libtorch failing to allocate (CPU or CUDA). */
    static boolean isAllocationFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (m.contains("not enough memory") || m.contains("out of memory") || m.contains("failed to allocate")
                    || m.contains("bad_alloc") || m.contains("can't allocate memory")) {
                return true;
            }
        }
        return false;
    }

    private static String firstLine(String s) {
        String line = s == null ? "" : s.strip().lines().findFirst().orElse("");
        return line.length() > 200 ? line.substring(0, 200) + "…" : line;
    }

    /** The working-memory estimate of {@code request} on these networks, with its own tiling choice. */
    MemoryEstimate estimate(GenerationRequest request) {
        return MemoryEstimate.of(request, unet, vae, visionConfig, vision.isLoaded() ? 0 : vision.weightBytes(),
                decoder.isLoaded() ? 0 : decoder.weightBytes(), unet.computeType().getNumOfBytes(),
                request.vaeTiling().tiles(request.width(), request.height()));
    }

    /** Replaces how the available memory is measured (tests). */
    void setMemoryProbe(Function<Device, OptionalLong> probe) {
        synchronized (lock) {
            this.memoryProbe = probe;
        }
    }

    /** The query's attention maps, with the text encoder as the last run left it (with that run's LoRAs fused). */
    @Override
    public AttentionMaps attention(SubjectQuery query, ProgressListener progress) {
        synchronized (lock) {
            ensureOpen();
            try (NDManager run = weights.newSubManager()) {
                return subjects.encode(List.of(query), run, weights, progress).get(0).attention();
            } finally {
                vision.releaseUnlessKept();
            }
        }
    }

    /**
     * Fuses {@code loras} into the UNet and the text encoder (as the official SSR code must: {@code fuse_lora}
     * after loading, see the golden README), replacing the LoRAs fused before; nothing is done when the list
     * equals the fused one. Every file is read and checked before any weight changes; if fusing fails the
     * networks are restored to their original weights.
     */
    private void fuseLoras(List<Lora> loras, ProgressListener progress) {
        if (loras.equals(fusedLoras)) {
            return;
        }
        progress.stage(loras.isEmpty() ? "Removing LoRA weights" : "Fusing LoRA weights");
        Map<String, Map<String, long[]>> targets = loraTargets();
        try (NDManager files = weights.newSubManager()) {
            List<LoraFusion.Scaled> unetLayers = new ArrayList<>();
            List<LoraFusion.Scaled> textLayers = new ArrayList<>();
            for (Lora lora : loras) {
                for (LoraFile.Layer layer : LoraFile.read(lora.file(), targets, files)) {
                    (LoraFile.UNET.equals(layer.component()) ? unetLayers : textLayers).add(new LoraFusion.Scaled(layer, lora.weight()));
                }
            }
            try {
                unetLoras.fuse(unetLayers);
                textLoras.fuse(textLayers);
                fusedLoras = List.copyOf(loras);
            } catch (RuntimeException | Error e) {
                fusedLoras = List.of();
                try {
                    unetLoras.unfuse();
                    textLoras.unfuse();
                } catch (RuntimeException | Error restore) {
                    e.addSuppressed(restore);
                }
                throw e;
            }
        }
    }

    /**
     * Checks that every file of {@code loras} is a LoRA for these networks (keys and shapes, from the headers),
     * so that a batch can refuse a bad file before its first run.
     *
     * @throws io.github.ssrencoder.io.WeightFileException naming the file and the entries that do not fit
     */
    public void checkLoras(List<Lora> loras) {
        synchronized (lock) {
            ensureOpen();
            Map<String, Map<String, long[]>> targets = loraTargets();
            for (Lora lora : loras) {
                LoraFile.check(lora.file(), targets);
            }
        }
    }

    /**
     * Loads the ControlNets {@code controls} name that are not loaded yet, checked against the UNet and the VAE,
     * and releases those no longer named. A folder that fails leaves nothing of itself loaded.
     */
    private void loadControlNets(List<Control> controls, ProgressListener progress) {
        Set<Path> wanted = new LinkedHashSet<>();
        controls.forEach(c -> wanted.add(c.controlnet()));
        controlNets.keySet().removeIf(folder -> {
            if (!wanted.contains(folder)) {
                controlNets.get(folder).close();
                return true;
            }
            return false;
        });
        for (Path folder : wanted) {
            if (!controlNets.containsKey(folder)) {
                progress.stage("Loading ControlNet " + folder.getFileName());
                ControlNetModel net = ControlNetModel.load(folder, weights);
                try {
                    checkControlNet(folder, net);
                } catch (RuntimeException | Error e) {
                    net.close();
                    throw e;
                }
                controlNets.put(folder, net);
            }
        }
    }

    /**
     * A ControlNet's residuals are added to the UNet's skip connections, so its blocks must have the UNet's
     * channels and layout, and its conditioning embedding must shrink the image to the latent size.
     */
    private void checkControlNet(Path folder, ControlNetModel net) {
        UNetConfig c = net.config().unet();
        UNetConfig u = unet.config();
        Path config = folder.resolve("config.json");
        String expected = " does not fit this Stable Diffusion UNet: ";
        if (!c.blockOutChannels().equals(u.blockOutChannels())) {
            throw WeightFileException.of(config, "block_out_channels " + c.blockOutChannels() + expected
                    + "expected " + u.blockOutChannels() + " (a ControlNet for another Stable Diffusion version?)");
        }
        if (c.crossAttentionDim() != u.crossAttentionDim()) {
            throw WeightFileException.of(config, "cross_attention_dim " + c.crossAttentionDim() + expected
                    + "expected " + u.crossAttentionDim() + " (a ControlNet for another Stable Diffusion version?)");
        }
        if (!c.layersPerBlock().equals(u.layersPerBlock()) || c.inChannels() != u.inChannels()) {
            throw WeightFileException.of(config, "layers_per_block " + c.layersPerBlock() + " and in_channels "
                    + c.inChannels() + expected + "expected " + u.layersPerBlock() + " and " + u.inChannels());
        }
        if (net.config().embeddingDownscale() != vae.spatialScaleFactor()) {
            throw WeightFileException.of(config, "conditioning_embedding_out_channels "
                    + net.config().embeddingChannels() + " shrink the control image " + net.config().embeddingDownscale()
                    + "×, but the VAE's latents are " + vae.spatialScaleFactor() + "× smaller than the image");
        }
    }

    /**
     * Loads the motion adapter {@code animation} names unless it is loaded already, and releases one that the run
     * does not use. The adapter must fit the UNet ({@link MotionAdapter#load}); a failed load leaves nothing loaded.
     */
    private void loadMotionAdapter(Animation animation, ProgressListener progress) {
        Path wanted = animation == null ? null : animation.motionAdapter();
        if (motionAdapter != null && !motionAdapter.folder().equals(wanted)) {
            motionAdapter.close();
            motionAdapter = null;
        }
        if (wanted != null && motionAdapter == null) {
            progress.stage("Loading motion adapter " + wanted.getFileName());
            motionAdapter = MotionAdapter.load(wanted, unet.config(), unetConfigFile, weights);
        }
        if (animation != null && animation.frames() > motionAdapter.maxFrames()) {
            throw new IllegalArgumentException(animation.frames() + " frames requested, but the motion adapter " + wanted
                    + " allows at most " + motionAdapter.maxFrames() + " (motion_max_seq_length)");
        }
    }

    /** Releases every loaded ControlNet (they are loaded again by the next run that names them). */
    public void releaseControlNets() {
        synchronized (lock) {
            controlNets.values().forEach(ControlNetModel::close);
            controlNets.clear();
        }
    }

    private Map<String, Map<String, long[]>> loraTargets() {
        return Map.of(LoraFile.UNET, LoraFusion.targets(unet), LoraFile.TEXT_ENCODER, LoraFusion.targets(textEncoder));
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("the SSR pipeline was closed (models unloaded)");
        }
    }

    private GenerationResult generateIn(NDManager run, GenerationRequest request, ProgressListener progress) {
        long[] latentShape = latentShape(request);
        Scheduler scheduler = createScheduler(request.scheduler());
        // a step count the scheduler refuses (lcm: more than its distillation schedule) fails before any model runs
        scheduler.setTimesteps(request.steps());
        KeyValueCache keysAndValues = new KeyValueCache();
        unet.setKeyValueCache(keysAndValues);
        try {
            long seed = request.seed() != null ? request.seed() : new SecureRandom().nextLong() & Long.MAX_VALUE;
            // One generator per run, as diffusers passes one to the pipeline: it draws the initial noise (unless
            // explicit latents are given) and then the noise euler-a and lcm add at each step, so with explicit
            // latents the seed still decides those schedulers' results.
            TorchGenerator generator = new TorchGenerator(seed);
            AtomicBoolean stepNoiseDrawn = new AtomicBoolean();
            NoiseSource stepNoise = (shape, manager) -> {
                stepNoiseDrawn.set(true);
                return generator.randn(shape, manager);
            };
            progress.stage("Encoding prompt");
            NDArray promptEmbeds = prompts.encode(request.prompt(), "prompt", run, progress);
            NDArray negativeEmbeds = prompts.encode(request.negativePrompt(), "negative prompt", run, progress);
            List<AttentionMaps> maps = new ArrayList<>();
            if (!request.subjects().isEmpty()) {
                List<SubjectEncoder.Encoded> encoded = subjects.encode(request.subjects(), run, weights, progress);
                vision.releaseUnlessKept();
                NDList cond = new NDList(promptEmbeds);
                NDList uncond = new NDList(negativeEmbeds);
                for (SubjectEncoder.Encoded e : encoded) {
                    cond.add(e.conditional());
                    uncond.add(e.unconditional());
                    maps.add(e.attention());
                }
                promptEmbeds = NDArrays.concat(cond, 1);
                negativeEmbeds = NDArrays.concat(uncond, 1);
                ssrLayers.attach(unet, (float) request.scale(), prompts.contextLength());
            } else {
                SsrLayers.detach(unet);
            }
            boolean guided = request.guidance() > 1.0;
            NDArray context = UNet2DCondition.typed(
                    guided ? NDArrays.concat(new NDList(negativeEmbeds, promptEmbeds), 0) : promptEmbeds, unet.computeType());

            List<ActiveControl> controls = new ArrayList<>();
            for (Control c : request.controls()) {
                ControlNetModel net = controlNets.get(c.controlnet());
                net.setKeyValueCache(keysAndValues);
                NDArray image = ControlImageProcessor.prepare(c.image(), request.width(), request.height(), guided ? 2 : 1, run);
                controls.add(new ActiveControl(c, net, image));
            }

            NDArray allNoise = request.initLatents() != null
                    ? run.create(request.initLatents().data(), new Shape(request.initLatents().shape()))
                    : request.animation() != null ? generator.randn(new Shape(latentShape), run)
                    : generator.randn(new Shape(request.numImages(), latentShape[1], latentShape[2], latentShape[3]), run);
            List<net.imglib2.RandomAccessibleInterval<net.imglib2.type.numeric.ARGBType>> images = new ArrayList<>();
            List<Latents> finals = new ArrayList<>();
            for (int k = 0; k < request.numImages(); k++) {
                if (k > 0) {
                    scheduler.close();
                    scheduler = createScheduler(request.scheduler());
                }
                NDArray noise = allNoise.get(k).expandDims(0);
                NDArray latents = denoise(run, scheduler, noise, context, controls, request, guided, stepNoise, k, progress);
                finals.add(new Latents(latents.getShape().getShape(), latents.toFloatArray()));
                if (request.animation() != null) {
                    images.addAll(decodeFrames(run, latents, request, progress));
                    latents.close();
                    continue;
                }
                AutoencoderKL loadedVae = decoder.get(progress);
                progress.stage("Decoding image " + (k + 1) + " of " + request.numImages());
                try (NDManager decode = run.newSubManager()) {
                    NDArray z = latents.div(vae.scalingFactor());
                    z.attach(decode);
                    NDArray decoded = request.vaeTiling().tiles(request.width(), request.height())
                            ? loadedVae.decodeTiled(z, VaeTiling.tileSize(vae)) : loadedVae.decode(z);
                    decoded.attach(decode);
                    images.add(ImageConversion.toRgb(decoded));
                }
                latents.close();
            }
            decoder.releaseUnlessKept();
            Long usedSeed = request.initLatents() != null && request.seed() == null && !stepNoiseDrawn.get() ? null : seed;
            return new GenerationResult(images, finals, maps, usedSeed, parameters(request, usedSeed));
        } finally {
            controlNets.values().forEach(n -> n.setKeyValueCache(null));
            unet.setKeyValueCache(null);
            keysAndValues.close();
            scheduler.close();
        }
    }

    /** The scheduler {@code name} on the models' scheduler config; a config it cannot work with is reported with its file. */
    private Scheduler createScheduler(String name) {
        try {
            return Schedulers.create(name, schedulerConfig);
        } catch (IllegalArgumentException e) {
            if (!Schedulers.names().contains(name)) {
                throw e;
            }
            throw WeightFileException.of(schedulerFile, e.getMessage(), e);
        }
    }

    /**
     * The latent shape [1, C, H/f, W/f] of one image of {@code request} for these models (C the UNet's input
     * channels, f the VAE's {@link AutoencoderKL#spatialScaleFactor()}, as diffusers' {@code prepare_latents});
     * explicit initial latents must have it.
     */
    private long[] latentShape(GenerationRequest request) {
        int f = vae.spatialScaleFactor();
        long[] shape = {1, unet.config().inChannels(), request.height() / f, request.width() / f};
        if (request.animation() != null) {
            shape = new long[] {1, shape[1], request.animation().frames(), shape[2], shape[3]};
        }
        if (shape[shape.length - 2] < 1 || shape[shape.length - 1] < 1) {
            throw new IllegalArgumentException("a " + request.width() + "×" + request.height() + " image is smaller than one latent ("
                    + f + "×" + f + " pixels with these models)");
        }
        if (request.initLatents() != null && !Arrays.equals(request.initLatents().shape(), shape)) {
            throw new IllegalArgumentException("initial latents must have shape " + Arrays.toString(shape) + " for a "
                    + request.width() + "×" + request.height() + (request.animation() != null ? " clip" : " image")
                    + " with these models, got "
                    + Arrays.toString(request.initLatents().shape()));
        }
        return shape;
    }

    /**
     * The frames of final clip latents [1, C, F, h, w]: {@code latents · (1 / scaling_factor)} (the official video
     * decoding multiplies by the reciprocal), then each frame decoded alone, so that the VAE's memory is that of one
     * image whatever the clip's length (the VAE treats every frame independently).
     */
    private List<net.imglib2.RandomAccessibleInterval<net.imglib2.type.numeric.ARGBType>> decodeFrames(
            NDManager run, NDArray latents, GenerationRequest request, ProgressListener progress) {
        List<net.imglib2.RandomAccessibleInterval<net.imglib2.type.numeric.ARGBType>> frames = new ArrayList<>();
        int count = (int) latents.getShape().get(2);
        boolean tiled = request.vaeTiling().tiles(request.width(), request.height());
        for (int k = 0; k < count; k++) {
            if (progress.isCancelled()) {
                throw new CancelledException();
            }
            AutoencoderKL loadedVae = decoder.get(progress);
            progress.stage("Decoding frame " + (k + 1) + " of " + count);
            try (NDManager decode = run.newSubManager()) {
                NDArray z = latents.get(new ai.djl.ndarray.index.NDIndex(":, :, {}", k)).mul(1f / vae.scalingFactor());
                z.attach(decode);
                NDArray decoded = tiled ? loadedVae.decodeTiled(z, VaeTiling.tileSize(vae)) : loadedVae.decode(z);
                decoded.attach(decode);
                frames.add(ImageConversion.toRgb(decoded));
            }
        }
        return frames;
    }

    /** A control of the request with its loaded network and its prepared image ({@code controlnet_cond}). */
    private record ActiveControl(Control control, ControlNetModel net, NDArray image) {
    }

    /**
     * The summed residuals of the ControlNets active at step {@code i} of {@code total}, or {@code null} when none
     * is. diffusers also runs a net whose scale is 0 at this step; its residuals are then zeros, and adding zeros
     * leaves the UNet's states unchanged, so such a net is skipped.
     */
    private static ControlResiduals controlResiduals(List<ActiveControl> controls, NDArray input, float t, NDArray context,
                                                     int i, int total) {
        ControlResiduals sum = null;
        for (ActiveControl c : controls) {
            float scale = c.control().activeAt(i, total) ? (float) c.control().scale() : 0f;
            if (scale == 0f) {
                continue;
            }
            ControlResiduals r = c.net().forward(input, t, context, c.image(), scale);
            sum = sum == null ? r : sum.plus(r);
        }
        return sum;
    }

    private NDArray denoise(NDManager run, Scheduler scheduler, NDArray noise, NDArray context, List<ActiveControl> controls,
                            GenerationRequest request, boolean guided, NoiseSource stepNoise, int imageIndex,
                            ProgressListener progress) {
        scheduler.setTimesteps(request.steps());
        float[] timesteps = scheduler.timesteps();
        NDArray latents = noise.mul(scheduler.initNoiseSigma());
        int total = timesteps.length;
        progress.stage(request.animation() != null ? "Denoising " + request.animation().frames() + " frames"
                : "Denoising image " + (imageIndex + 1) + " of " + request.numImages());
        try (DeepFeatureCache cache = request.cacheInterval() > 1 ? new DeepFeatureCache(request.cacheInterval(), run) : null) {
            for (int i = 0; i < total; i++) {
                if (progress.isCancelled()) {
                    throw new CancelledException();
                }
                NDArray next = denoisingStep(run, scheduler, latents, context, controls, cache, request, guided, stepNoise,
                        timesteps, i);
                latents.close();
                latents = next;
                progress.step(i + 1, total);
            }
        }
        return latents;
    }

    /** One step from {@code latents} to the next latents (in {@code run}); {@code cache} may be {@code null}. */
    private NDArray denoisingStep(NDManager run, Scheduler scheduler, NDArray latents, NDArray context,
                                  List<ActiveControl> controls, DeepFeatureCache cache, GenerationRequest request,
                                  boolean guided, NoiseSource stepNoise, float[] timesteps, int i) {
        int total = timesteps.length;
        try (NDManager step = run.newSubManager()) {
            NDArray input = guided ? NDArrays.concat(new NDList(latents, latents), 0) : latents.duplicate();
            input.attach(step);
            NDArray scaled = scheduler.scaleModelInput(input, i);
            scaled.attach(step);
            boolean reusing = cache != null && cache.startStep(i);
            ControlResiduals residuals = reusing ? null : controlResiduals(controls, scaled, timesteps[i], context, i, total);
            NDArray eps = request.animation() != null
                    ? unet.forwardVideo(scaled, timesteps[i], context, motionAdapter, null)
                    : unet.forward(scaled, timesteps[i], context, residuals, cache, null);
            eps.attach(step);
            NDArray guidedEps;
            if (guided) {
                NDArray uncond = eps.get(0).expandDims(0);
                NDArray cond = eps.get(1).expandDims(0);
                guidedEps = uncond.add(cond.sub(uncond).mul((float) request.guidance()));
            } else {
                guidedEps = eps;
            }
            guidedEps.attach(step);
            NDArray next = scheduler.step(guidedEps, i, latents, stepNoise);
            next.attach(run);
            return next;
        }
    }

    private Map<String, String> parameters(GenerationRequest r, Long seed) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("prompt", r.prompt());
        p.put("negative_prompt", r.negativePrompt());
        for (int i = 0; i < r.subjects().size(); i++) {
            SubjectQuery q = r.subjects().get(i);
            String prefix = r.subjects().size() == 1 ? "" : "subject" + (i + 1) + ".";
            p.put(prefix + "query", q.text());
            p.put(prefix + "query_type", q.hasMask() ? "mask" : "text");
            if (q.hasMask()) {
                p.put(prefix + "mask_weight", fmt(q.maskWeight()));
            }
            p.put(prefix + "weight", fmt(q.weight()));
            p.put(prefix + "framing", q.framing().name().toLowerCase(Locale.ROOT).replace('_', '-'));
        }
        p.put("scale", fmt(r.scale()));
        p.put("guidance", fmt(r.guidance()));
        p.put("steps", Integer.toString(r.steps()));
        p.put("scheduler", r.scheduler());
        p.put("width", Integer.toString(r.width()));
        p.put("height", Integer.toString(r.height()));
        p.put("seed", seed == null ? "explicit initial latents" : Long.toString(seed));
        p.put("images", Integer.toString(r.numImages()));
        if (!r.loras().isEmpty()) {
            p.put("loras", String.join(";", r.loras().stream().map(Lora::toString).toList()));
        }
        for (int i = 0; i < r.controls().size(); i++) {
            Control c = r.controls().get(i);
            String prefix = r.controls().size() == 1 ? "control" : "control" + (i + 1);
            p.put(prefix, c.source());
            p.put(prefix + ".controlnet", c.controlnet().toString());
            p.put(prefix + ".scale", fmt(c.scale()));
            p.put(prefix + ".start", fmt(c.start()));
            p.put(prefix + ".end", fmt(c.end()));
        }
        if (r.cacheInterval() > 1) {
            p.put("cache_interval", Integer.toString(r.cacheInterval()));
        }
        if (r.animation() != null) {
            p.put("frames", Integer.toString(r.animation().frames()));
            p.put("frame_interval", fmt(r.animation().frameInterval()));
            p.put("motion_adapter", r.animation().motionAdapter().toString());
        }
        p.put("vae_tiling", r.vaeTiling().toString());
        if (r.vaeTiling().tiles(r.width(), r.height())) {
            p.put("vae_tile_size", Integer.toString(VaeTiling.tileSize(vae)));
        }
        p.put("models", modelsRoot.toString());
        p.put("device", device.toString());
        return p;
    }

    private static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    /** Native arrays currently alive in the models' own memory (weights and caches); for leak checks. */
    long liveModelArrays() {
        synchronized (lock) {
            return weights.getManagedArrays().stream().filter(a -> !a.isReleased()).count();
        }
    }

    /** Frees every native array held by the loaded networks. */
    @Override
    public void close() {
        synchronized (lock) {
            if (!closed) {
                closed = true;
                subjects.clearCache();
                vision.unload();
                decoder.unload();
                controlNets.values().forEach(ControlNetModel::close);
                controlNets.clear();
                if (motionAdapter != null) {
                    motionAdapter.close();
                    motionAdapter = null;
                }
                weights.close();
            }
        }
    }
}
