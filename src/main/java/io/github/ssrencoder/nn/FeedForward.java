package io.github.ssrencoder.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/** diffusers' {@code FeedForward} with GEGLU: {@code net.0.proj} (dim → 2·inner), gate by GELU, {@code net.2} (inner → dim). */
public final class FeedForward extends Module {

    private final Linear proj;
    private final Linear out;

    public FeedForward(long dim, long inner) {
        ModuleList<Module> net = child("net", new ModuleList<>());
        Geglu geglu = new Geglu(dim, inner);
        net.add(geglu);
        net.add(new Dropout());
        Linear last = new Linear(inner, dim, true);
        net.add(last);
        this.proj = geglu.proj;
        this.out = last;
    }

    public NDArray forward(NDArray x) {
        return PassTimings.time("feed-forward", () -> Scoped.compute(() -> {
            NDArray projected = proj.forward(x);
            NDList halves = projected.split(2, projected.getShape().dimension() - 1);
            NDArray gate = Activations.gelu(halves.get(1));
            // in place, the product would change the projection that the GELU's backward reads
            return out.forward(Autograd.recording() ? halves.get(0).mul(gate) : halves.get(0).muli(gate));
        }));
    }

    /** The {@code GEGLU} container whose only parameter holder is {@code proj}. */
    private static final class Geglu extends Module {
        private final Linear proj;

        Geglu(long dim, long inner) {
            this.proj = child("proj", new Linear(dim, 2 * inner, true));
        }
    }

    /** Dropout has no parameters and is the identity at inference; it only keeps the list indices of the reference. */
    private static final class Dropout extends Module {
    }
}
