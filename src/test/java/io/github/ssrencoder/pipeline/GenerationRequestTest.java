package io.github.ssrencoder.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.function.Supplier;
import net.imglib2.img.array.ArrayImgs;
import org.junit.jupiter.api.Test;

/** Requests are validated once, at the boundary, with messages that say what was expected. */
class GenerationRequestTest {

    private static GenerationRequest request(double scale, double guidance, int steps, int width, int height, int images) {
        return new GenerationRequest(List.of(), "p", "", scale, guidance, steps, "ddim", width, height, 1L, null, images);
    }

    private static void rejected(String expected, Supplier<?> build) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, build::get);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void outOfRangeNumbersAreRejectedNamingTheParameter() {
        rejected("scale must be between 0.0 and 10.0", () -> request(-0.1, 7.5, 10, 64, 64, 1));
        rejected("scale must be between", () -> request(Double.NaN, 7.5, 10, 64, 64, 1));
        rejected("guidance must be between 0.0 and 50.0", () -> request(1, 51, 10, 64, 64, 1));
        rejected("steps must be between 1 and 1000", () -> request(1, 7.5, 0, 64, 64, 1));
        rejected("steps must be between 1 and 1000", () -> request(1, 7.5, 1001, 64, 64, 1));
        rejected("number of images must be between 1 and 64", () -> request(1, 7.5, 10, 64, 64, 0));
    }

    @Test
    void sizesMustBeMultiplesOfEight() {
        rejected("width must be a multiple of 8", () -> request(1, 7.5, 10, 60, 64, 1));
        rejected("height must be a multiple of 8", () -> request(1, 7.5, 10, 64, 0, 1));
    }

    @Test
    void initialLatentsMustBeOneImageOfChannelPlanes() {
        Latents wrong = new Latents(new long[] {2, 4, 8, 8}, new float[512]);
        rejected("initial latents must have shape [1, C, h, w]", () -> new GenerationRequest(List.of(), "p", "", 1, 7.5, 1,
                "ddim", 64, 64, null, wrong, 1));
        Latents one = new Latents(new long[] {1, 4, 8, 8}, new float[256]);
        rejected("exactly one image", () -> new GenerationRequest(List.of(), "p", "", 1, 7.5, 1, "ddim", 64, 64, null, one, 2));
    }

    @Test
    void defaultsFollowTheOfficialInferenceScripts() {
        GenerationRequest r = GenerationRequest.of(null, "a mug", 3);
        assertEquals("unipc", r.scheduler());
        assertEquals(30, r.steps());
        assertEquals(7.5, r.guidance());
        assertEquals(1.0, r.scale());
        assertEquals(512, r.width());
    }

    @Test
    void subjectWeightsAndMaskWeightsMustBeFiniteAndNonNegative() {
        var img = ArrayImgs.argbs(32, 32);
        rejected("subject weight must be a finite number", () -> SubjectQuery.text(img, "x").withWeight(-1));
        rejected("mask weight must be a finite number", () -> SubjectQuery.mask(img, "x", ArrayImgs.floats(32, 32), Double.NaN));
        rejected("CROP_TO_BOX framing needs a crop box", () -> SubjectQuery.text(img, "x").withFraming(ReferenceFraming.CROP_TO_BOX, null));
    }
}
