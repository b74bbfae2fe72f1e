/**
 * Diffusion samplers reproducing diffusers 0.23.1: UniPC (the default), DDIM, PNDM (PLMS), Euler, Euler
 * ancestral, DPM-Solver++ 2M and LCM, all configured from a Stable Diffusion {@code scheduler_config.json}.
 * Noise tables are plain Java floats computed with the reference's float32/float64 arithmetic; the latent
 * updates are NDArray operations.
 */
package io.github.ssrencoder.schedule;
