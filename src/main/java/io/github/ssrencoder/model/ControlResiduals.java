package io.github.ssrencoder.model;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;

/**
 * What ControlNets add to the UNet: one residual per skip connection (in the UNet's skip order) and one for
 * the mid block's output, already multiplied by the conditioning scale.
 */
public record ControlResiduals(List<NDArray> down, NDArray mid) {

    public ControlResiduals {
        down = List.copyOf(down);
    }

    /** The elementwise sum {@code this + other}, left to right (several ControlNets, as diffusers sums them in net order). */
    public ControlResiduals plus(ControlResiduals other) {
        if (other.down.size() != down.size()) {
            throw new IllegalArgumentException("ControlNets give " + down.size() + " and " + other.down.size() + " residuals");
        }
        List<NDArray> sum = new ArrayList<>();
        for (int j = 0; j < down.size(); j++) {
            sum.add(down.get(j).add(other.down.get(j)));
        }
        return new ControlResiduals(sum, mid.add(other.mid));
    }
}
