package io.github.ssrencoder.imagej;

import ij.gui.Plot;
import ij.gui.PlotWindow;
import io.github.ssrencoder.train.StepResult;
import java.awt.GraphicsEnvironment;
import java.util.List;

/**
 * The training loss curve as an ImageJ plot window (total loss and L_LDM against the step), redrawn after every
 * step; nothing is shown when headless.
 */
public final class LossPlot {

    static final String TITLE = "SSR-Encoder training loss";

    private PlotWindow window;

    /** The plot of {@code steps}: the total loss as a line, L_LDM as a second, lighter line. */
    public static Plot of(List<StepResult> steps) {
        double[] x = new double[steps.size()];
        double[] loss = new double[steps.size()];
        double[] mse = new double[steps.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = steps.get(i).step();
            loss[i] = steps.get(i).loss();
            mse[i] = steps.get(i).lossMse();
        }
        Plot plot = new Plot(TITLE, "step", "loss");
        plot.setColor(java.awt.Color.GRAY);
        plot.add("line", x, mse);
        plot.setColor(java.awt.Color.BLUE);
        plot.add(x.length == 1 ? "circle" : "line", x, loss);
        plot.setLegend("L_LDM\tL = L_LDM + reg·L_reg", Plot.AUTO_POSITION);
        plot.setLimitsToFit(false);
        return plot;
    }

    /** Shows or redraws the window with {@code steps} (no-op when headless or empty). */
    public void update(List<StepResult> steps) {
        if (steps.isEmpty() || GraphicsEnvironment.isHeadless()) {
            return;
        }
        Plot plot = of(steps);
        if (window == null || window.isClosed()) {
            window = plot.show();
        } else {
            window.drawPlot(plot);
        }
    }
}
