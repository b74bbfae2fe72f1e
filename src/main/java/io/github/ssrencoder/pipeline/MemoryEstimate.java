package io.github.ssrencoder.pipeline;

import io.github.ssrencoder.model.AutoencoderKL;
import io.github.ssrencoder.model.ClipVisionConfig;
import io.github.ssrencoder.model.UNet2DCondition;
import java.util.Locale;

/**
 * The working memory a generation needs beyond the loaded weights, estimated from the request and the networks'
 * configurations before anything runs.
 *
 * <p>Attention runs through the fused kernel (no score matrix), so every activation grows linearly with the pixels:
 * <ul>
 * <li>denoising: {@value #UNET_COPIES} copies of the UNet's first-level feature map (batch × first block's channels ×
 * latent pixels), batch 2 with classifier-free guidance; each ControlNet adds half of that (its down half);</li>
 * <li>decoding: {@value #VAE_COPIES} copies of the decoder's full-resolution feature map (last block's channels ×
 * pixels), or of one tile's when tiled, plus the blended output;</li>
 * <li>subject encoding: the image encoder's hidden states of every layer for each subject, twice, plus the
 * encoder's weights when they are loaded for the run (low-memory mode; likewise the VAE's for decoding).</li>
 * </ul>
 * The two constants were calibrated on {@code scripts/bench}'s peaks with the full-size SD 1.5 networks, float32
 * (README, tiled VAE): a 512² SSR generation peaked 1.0 GiB above the loaded models with the decoder tiled (the
 * denoising side: 1.0 GiB / (2 · 320 · 64² · 4 B) ≈ 100 copies) and the untiled decode 1.0 GiB above its weights
 * (1.0 GiB / (128 · 512² · 4 B) ≈ 8 copies). The peak is the larger of the stages, as each stage's arrays are
 * freed before the next, plus a margin of a quarter for the allocator.
 *
 * @param denoiseBytes    the denoising stage's peak
 * @param decodeBytes     the decoding stage's peak
 * @param encodeBytes     the subject encoding's peak
 * @param tiledDecodeBytes the decoding stage's peak when tiled
 */
public record MemoryEstimate(long denoiseBytes, long decodeBytes, long encodeBytes, long tiledDecodeBytes) {

    /** Copies of the UNet's first-level feature map alive at the denoising peak (calibrated, see above). */
    static final int UNET_COPIES = 100;
    /** Copies of the VAE decoder's full-resolution feature map alive at the decoding peak (calibrated, see above). */
    static final int VAE_COPIES = 8;

    /**
     * The estimate for {@code request} on these networks, computed in {@code elementBytes}-byte elements;
     * {@code encoderLoadBytes} and {@code vaeLoadBytes} are the image encoder's and the VAE's weights when the run
     * loads them (0 when they stay loaded).
     */
    static MemoryEstimate of(GenerationRequest request, UNet2DCondition unet, AutoencoderKL vae, ClipVisionConfig vision,
                             long encoderLoadBytes, long vaeLoadBytes, int elementBytes, boolean tiled) {
        long w = request.width();
        long h = request.height();
        int f = vae.spatialScaleFactor();
        long latentPixels = (w / f) * (h / f);
        int batch = request.guidance() > 1.0 ? 2 : 1;
        long unetMap = batch * unet.config().blockOutChannels().get(0) * latentPixels * elementBytes;
        long denoise = unetMap * UNET_COPIES + request.controls().size() * unetMap * UNET_COPIES / 2;
        int decoderChannels = vae.config().blockOutChannels().get(0); // the decoder's last (full-resolution) block
        long output = 3 * w * h * Float.BYTES * 2;
        long decode = decoderChannels * w * h * elementBytes * VAE_COPIES + output + vaeLoadBytes;
        long tile = Math.min(w, VaeTiling.tileSize(vae) * 5L / 4) * Math.min(h, VaeTiling.tileSize(vae) * 5L / 4);
        long tiledDecode = decoderChannels * tile * elementBytes * VAE_COPIES + output * 2 + vaeLoadBytes;
        long tokens = vision.numTokens();
        long encode = 2L * request.subjects().size() * tokens * vision.hiddenSize()
                * (vision.numHiddenLayers() + 1) * Float.BYTES + (request.subjects().isEmpty() ? 0 : encoderLoadBytes);
        return new MemoryEstimate(denoise, tiled ? tiledDecode : decode, encode, tiledDecode);
    }

    /** The estimated peak, with a quarter added for the allocator's slack. */
    public long peakBytes() {
        return Math.max(Math.max(denoiseBytes, decodeBytes), encodeBytes) * 5 / 4;
    }

    /** The estimated peak with the decoder tiled. */
    public long tiledPeakBytes() {
        return Math.max(Math.max(denoiseBytes, tiledDecodeBytes), encodeBytes) * 5 / 4;
    }

    /** Bytes as {@code 1.23 GiB} or {@code 45 MiB}. */
    public static String format(long bytes) {
        double mib = bytes / (1024.0 * 1024.0);
        return mib >= 1024 ? String.format(Locale.ROOT, "%.2f GiB", mib / 1024) : String.format(Locale.ROOT, "%.0f MiB", mib);
    }
}
