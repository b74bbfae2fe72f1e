package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.ArrayList;
import java.util.List;

/**
 * Feature caching across denoising steps (DeepCache, Ma et al. 2023, with its Stable Diffusion setting: the
 * branch through the first layer of the first down block). Every {@code interval}-th step runs the whole UNet
 * and keeps the state entering the last up block's second-to-last resnet, which carries everything the deep
 * blocks computed; the steps in between recompute only the shallow branch — {@code conv_in}, the first
 * (resnet, transformer) pair of the first down block, the last two resnets of the last up block and the output
 * convolution — on top of that cached state. ControlNets run on full steps only: the steps in between reuse
 * their residuals for the two recomputed skip connections.
 *
 * <p>Interval 1 makes every step a full one (the uncached result, bit for bit). One cache serves one
 * denoising loop; closing it frees what it holds.
 */
public final class DeepFeatureCache implements AutoCloseable {

    private final int interval;
    private final NDManager manager;
    private NDArray feature;
    private final List<NDArray> controlResiduals = new ArrayList<>();
    private boolean reusing;

    /**
     * @param interval every how many steps the whole UNet runs (≥ 1)
     * @param parent   the manager whose child holds the cached arrays
     */
    public DeepFeatureCache(int interval, NDManager parent) {
        if (interval < 1) {
            throw new IllegalArgumentException("the cache interval must be at least 1, got " + interval);
        }
        this.interval = interval;
        this.manager = parent.newSubManager();
    }

    public int interval() {
        return interval;
    }

    /**
     * Starts denoising step {@code step} (0-based): a full step when it is a multiple of the interval or nothing is
     * cached yet; otherwise the UNet reuses the cached deep features.
     *
     * @return whether this step reuses the cache (ControlNets need not run)
     */
    public boolean startStep(int step) {
        reusing = feature != null && step % interval != 0;
        return reusing;
    }

    /** Whether the current step reuses the cached features. */
    boolean reusing() {
        return reusing;
    }

    NDArray feature() {
        return feature;
    }

    /** The shape of the cached deep features (empty before the first full step), e.g. for memory figures. */
    public long[] featureShape() {
        return feature == null ? new long[0] : feature.getShape().getShape();
    }

    /** The ControlNet residuals of the last full step for the shallow skip connections (empty when none were added). */
    List<NDArray> controlResiduals() {
        return controlResiduals;
    }

    /** Keeps a copy of {@code state} (the deep features of a full step), replacing the previous one. */
    void keepFeature(NDArray state) {
        NDArray old = feature;
        feature = own(state);
        if (old != null) {
            old.close();
        }
    }

    /** Keeps copies of a full step's ControlNet residuals for the shallow skips ({@code null}: none). */
    void keepControlResiduals(List<NDArray> residuals) {
        controlResiduals.forEach(NDArray::close);
        controlResiduals.clear();
        if (residuals != null) {
            residuals.forEach(r -> controlResiduals.add(own(r)));
        }
    }

    /** A copy of {@code a} owned by this cache, outside any {@link NDScope} of the forward pass. */
    private NDArray own(NDArray a) {
        NDArray copy = a.duplicate();
        NDScope.unregister(copy);
        copy.attach(manager);
        return copy;
    }

    @Override
    public void close() {
        manager.close();
        feature = null;
        controlResiduals.clear();
    }
}
