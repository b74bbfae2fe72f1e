package io.github.ssrencoder.train;

/**
 * The outcome of one training step.
 *
 * @param step     the optimizer step just taken (1 for the first)
 * @param lossMse  L_LDM
 * @param lossReg  L_reg
 * @param loss     L_LDM + reg·L_reg
 * @param lr       the learning rate used
 * @param seconds  wall-clock time of the step
 */
public record StepResult(long step, double lossMse, double lossReg, double loss, double lr, double seconds) {
}
