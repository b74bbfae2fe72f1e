package io.github.ssrencoder.testing;

import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Seeded random checkpoints for a given parameter table (key → shape), for tests that run networks of shapes
 * no golden file has. Values are small (N(0, 0.02)) so activations stay tame through many layers; 1-D
 * {@code weight} tensors are normalisation gains and stay close to 1.
 */
public final class RandomWeights {

    private RandomWeights() {
    }

    /** The values of one tensor. */
    public static float[] values(String key, long[] shape, SplittableRandom random) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[Math.toIntExact(n)];
        boolean gain = shape.length == 1 && key.endsWith("weight");
        for (int i = 0; i < v.length; i++) {
            double g = gaussian(random) * 0.02;
            v[i] = (float) (gain ? 1 + g : g);
        }
        return v;
    }

    /** Writes every tensor of {@code shapes} to a safetensors file. */
    public static Path writeSafetensors(Path file, Map<String, long[]> shapes, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        SafetensorsWriter w = new SafetensorsWriter();
        shapes.forEach((k, s) -> w.addF32(k, s, values(k, s, random)));
        return w.write(file);
    }

    /** Writes every tensor of {@code shapes} to a {@code torch.save} zip file. */
    public static Path writeTorch(Path file, Map<String, long[]> shapes, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        TorchZipWriter w = new TorchZipWriter();
        shapes.forEach((k, s) -> w.contiguous(k, s, values(k, s, random)));
        return w.write(file);
    }

    private static double gaussian(SplittableRandom r) {
        double u = 1 - r.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.nextDouble());
    }
}
