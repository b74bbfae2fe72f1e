package io.github.ssrencoder.imagej;

import io.github.ssrencoder.pipeline.AttentionMaps;
import io.github.ssrencoder.pipeline.CancelledException;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.GenerationResult;
import io.github.ssrencoder.pipeline.Latents;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.SubjectGenerator;
import io.github.ssrencoder.pipeline.SubjectQuery;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.type.numeric.ARGBType;

/**
 * A generator that records what it was asked and answers with deterministic images and attention maps:
 * pixel (x, y) of image k is {@code rgb(x, y, (seed + k) mod 256)}; the attention of token j peaks at patch j.
 * It reports each step and stops with {@link CancelledException} when the listener cancels.
 */
public final class FakeGenerator implements SubjectGenerator {

    static final int GRID = 4;
    static final int HEADS = 2;
    static final int CONTEXT = 77;

    public final List<GenerationRequest> requests = new CopyOnWriteArrayList<>();
    public final List<SubjectQuery> attentionQueries = new CopyOnWriteArrayList<>();
    public final AtomicInteger closed = new AtomicInteger();
    final AtomicInteger running = new AtomicInteger();
    final AtomicInteger maxRunning = new AtomicInteger();
    /** Step at which {@link #beforeStep} runs (0 = never). */
    volatile int hookAtStep;
    volatile Runnable beforeStep = () -> { };
    volatile long stepMillis;

    @Override
    public GenerationResult generate(GenerationRequest request, ProgressListener progress) {
        requests.add(request);
        maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
        try {
            progress.stage("Encoding subjects");
            for (int s = 1; s <= request.steps(); s++) {
                if (s == hookAtStep) {
                    beforeStep.run();
                }
                if (progress.isCancelled()) {
                    throw new CancelledException();
                }
                if (stepMillis > 0) {
                    Thread.sleep(stepMillis);
                }
                progress.step(s, request.steps());
            }
            List<RandomAccessibleInterval<ARGBType>> images = new ArrayList<>();
            List<Latents> latents = new ArrayList<>();
            for (int k = 0; k < request.numImages(); k++) {
                images.add(image(request.width(), request.height(), request.seed() + k));
                latents.add(new Latents(new long[] {1, 4, request.height() / 8, request.width() / 8},
                        new float[4 * (request.height() / 8) * (request.width() / 8)]));
            }
            List<AttentionMaps> attention = request.subjects().stream().map(FakeGenerator::maps).toList();
            Map<String, String> params = new LinkedHashMap<>();
            params.put("prompt", request.prompt());
            params.put("steps", Integer.toString(request.steps()));
            params.put("generator", "fake");
            return new GenerationResult(images, latents, attention, request.seed(), params);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CancelledException();
        } finally {
            running.decrementAndGet();
        }
    }

    @Override
    public AttentionMaps attention(SubjectQuery query, ProgressListener progress) {
        attentionQueries.add(query);
        return maps(query);
    }

    @Override
    public void close() {
        closed.incrementAndGet();
    }

    /** The low-memory mode last set on this generator, or {@code null} if it was never set. */
    public volatile Boolean lowMemory;

    @Override
    public void setLowMemory(boolean on) {
        lowMemory = on;
    }

    static RandomAccessibleInterval<ARGBType> image(int w, int h, long seed) {
        int[] px = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[y * w + x] = ARGBType.rgba(x & 0xff, y & 0xff, (int) (seed & 0xff), 255);
            }
        }
        return ArrayImgs.argbs(px, w, h);
    }

    /** One token per word of the query; token j puts probability 0.5 on patch j, the rest spread evenly. */
    static AttentionMaps maps(SubjectQuery query) {
        String[] words = query.text().trim().split("\\s+");
        int patches = GRID * GRID;
        float[] p = new float[HEADS * CONTEXT * (1 + patches)];
        Arrays.fill(p, 0.5f / patches);
        int[] positions = new int[words.length];
        for (int j = 0; j < words.length; j++) {
            positions[j] = j + 1;
            for (int h = 0; h < HEADS; h++) {
                int base = (h * CONTEXT + positions[j]) * (1 + patches);
                Arrays.fill(p, base, base + 1 + patches, 0.5f / patches);
                p[base + 1 + (j % patches)] += 0.5f;
            }
        }
        return new AttentionMaps(List.of(words), positions, HEADS, CONTEXT, GRID, GRID, p);
    }
}
