package io.github.ssrencoder.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.ssrencoder.io.ImageFiles;
import io.github.ssrencoder.nn.EngineRuntime;
import io.github.ssrencoder.pipeline.AttentionMaps;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.GenerationResult;
import io.github.ssrencoder.pipeline.ProgressListener;
import io.github.ssrencoder.pipeline.SsrPipeline;
import io.github.ssrencoder.pipeline.SubjectQuery;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import net.imglib2.RandomAccessibleInterval;
import net.imglib2.img.array.ArrayImgs;
import net.imglib2.type.numeric.ARGBType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The committed demo model ({@code demo/shapes}) selects the queried subject: on its reference (a red circle left,
 * a blue square right) the query "red circle" puts the aligner's attention on the circle and the generated picture
 * is red, "blue square" the square and blue — the same prompt and seed for both, so only the query decides; on new
 * two-shape scenes most queries give a picture in their subject's colour.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DemoModelSelectionTest {

    static final Path PROJECT = Path.of(System.getProperty("ssr.project.dir", ".")).toAbsolutePath();
    /** The committed demo model, or the folder named by {@code -Dssr.demo.model} (to check a rebuilt one). */
    static final Path MODEL = Path.of(System.getProperty("ssr.demo.model", PROJECT.resolve("demo/shapes").toString()));
    static final ShapeScenes.Shape CIRCLE = ShapeScenes.reference().shapes().get(0);
    static final ShapeScenes.Shape SQUARE = ShapeScenes.reference().shapes().get(1);
    /** Share of the attention a query must put inside its own shape: most of it. */
    static final double SELECTED = 0.5;
    /** How many times more saturated pixels of the queried colour than of the other shape's colour a picture needs. */
    static final double DOMINANT = 3;
    /** Saturated pixels of the queried colour a picture needs at least: 2 % of it. */
    static final int MIN_PIXELS = ShapeScenes.SIZE * ShapeScenes.SIZE / 50;
    /** New two-shape scenes (seeds 2000 on, not the reference) whose two queries are generated. */
    static final int FRESH_SCENES = 8;
    /** How many of their queries must give a picture in the subject's colour. */
    static final int FRESH_FOLLOWED = 12;

    private SsrPipeline pipeline;
    private RandomAccessibleInterval<ARGBType> reference;

    @BeforeAll
    void open() {
        pipeline = SsrPipeline.open(MODEL, EngineRuntime.DeviceChoice.CPU, 0);
        reference = ImageFiles.readRgb(MODEL.resolve("reference.png"));
    }

    @AfterAll
    void close() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void referenceIsTheCommittedPictureOfTheTwoShapes() {
        int[] expected = ShapeScenes.reference().argb();
        int i = 0;
        for (ARGBType p : net.imglib2.view.Views.flatIterable(reference)) {
            assertEquals(expected[i++] & 0xFFFFFF, p.get() & 0xFFFFFF, "reference pixel " + (i - 1));
        }
    }

    @Test
    void redCircleQueryAttendsToTheCircle() {
        AttentionMaps maps = pipeline.attention(SubjectQuery.text(reference, "red circle"), ProgressListener.NONE);
        assertSelects(maps.tokenMap(-1), CIRCLE, SQUARE, "red circle");
    }

    @Test
    void blueSquareQueryAttendsToTheSquare() {
        AttentionMaps maps = pipeline.attention(SubjectQuery.text(reference, "blue square"), ProgressListener.NONE);
        assertSelects(maps.tokenMap(-1), SQUARE, CIRCLE, "blue square");
    }

    @Test
    void everyWordOfTheQueryLeansTowardsItsSubject() {
        for (String query : List.of("red circle", "blue square")) {
            AttentionMaps maps = pipeline.attention(SubjectQuery.text(reference, query), ProgressListener.NONE);
            ShapeScenes.Shape own = query.startsWith("red") ? CIRCLE : SQUARE;
            ShapeScenes.Shape other = own == CIRCLE ? SQUARE : CIRCLE;
            for (int k = 0; k < maps.tokens().size(); k++) {
                double inOwn = Selection.massInside(maps.tokenMap(k), own);
                double inOther = Selection.massInside(maps.tokenMap(k), other);
                assertTrue(inOwn > inOther, query + " / " + maps.tokens().get(k) + ": attention inside the queried " + own.name()
                        + " " + inOwn + ", inside the " + other.name() + " " + inOther);
            }
        }
    }

    @Test
    void swappingTheQuerySwapsTheSelectedShape() {
        float[] red = pipeline.attention(SubjectQuery.text(reference, "red circle"), ProgressListener.NONE).tokenMap(-1);
        float[] blue = pipeline.attention(SubjectQuery.text(reference, "blue square"), ProgressListener.NONE).tokenMap(-1);
        assertTrue(Selection.massInside(red, CIRCLE) > Selection.massInside(blue, CIRCLE)
                && Selection.massInside(blue, SQUARE) > Selection.massInside(red, SQUARE), "the circle gets more attention from "
                + "\"red circle\" and the square more from \"blue square\"");
    }

    @Test
    void generatedPictureTakesTheColourOfTheQueriedSubject() {
        assertDominant(generate(reference, "red circle"), ShapeScenes.Colour.RED, ShapeScenes.Colour.BLUE, "red circle");
        assertDominant(generate(reference, "blue square"), ShapeScenes.Colour.BLUE, ShapeScenes.Colour.RED, "blue square");
    }

    @Test
    void onNewScenesMostQueriesGetTheirSubjectsColour() {
        int followed = 0;
        StringBuilder misses = new StringBuilder();
        for (int i = 0; i < FRESH_SCENES; i++) {
            ShapeScenes.Scene scene = ShapeScenes.pair(new SplittableRandom(2000 + i));
            RandomAccessibleInterval<ARGBType> picture = ArrayImgs.argbs(scene.argb(), ShapeScenes.SIZE, ShapeScenes.SIZE);
            for (int k = 0; k < 2; k++) {
                ShapeScenes.Shape own = scene.shapes().get(k);
                ShapeScenes.Colour other = scene.shapes().get(1 - k).colour();
                RandomAccessibleInterval<ARGBType> image = generate(picture, own.name());
                int ownPixels = Selection.pixelsOf(image, own.colour());
                int otherPixels = Selection.pixelsOf(image, other);
                if (takesColour(ownPixels, otherPixels)) {
                    followed++;
                } else {
                    misses.append(String.format("%n  scene %d, \"%s\": %d %s and %d %s pixels", 2000 + i, own.name(), ownPixels,
                            own.colour().word(), otherPixels, other.word()));
                }
            }
        }
        assertTrue(followed >= FRESH_FOLLOWED, followed + " of " + 2 * FRESH_SCENES + " queries on new scenes gave a picture in "
                + "their subject's colour, at least " + FRESH_FOLLOWED + " needed; missed:" + misses);
    }

    private RandomAccessibleInterval<ARGBType> generate(RandomAccessibleInterval<ARGBType> reference, String query) {
        GenerationRequest request = new GenerationRequest(List.of(SubjectQuery.text(reference, query)), DemoModelBuilder.PROMPT, "",
                GenerationRequest.DEFAULT_SCALE, GenerationRequest.DEFAULT_GUIDANCE, 4, GenerationRequest.DEFAULT_SCHEDULER,
                ShapeScenes.SIZE, ShapeScenes.SIZE, 42L, null, 1);
        GenerationResult result = pipeline.generate(request, ProgressListener.NONE);
        return result.images().get(0);
    }

    static void assertSelects(float[] map, ShapeScenes.Shape own, ShapeScenes.Shape other, String what) {
        double inOwn = Selection.massInside(map, own);
        double inOther = Selection.massInside(map, other);
        assertTrue(inOwn > SELECTED && inOwn > DOMINANT * inOther, what + ": attention inside the queried " + own.name() + " "
                + inOwn + ", inside the " + other.name() + " " + inOther);
    }

    /** Whether a picture with these saturated pixel counts of the queried and of the other colour takes the queried one. */
    static boolean takesColour(int ownPixels, int otherPixels) {
        return ownPixels >= MIN_PIXELS && ownPixels > DOMINANT * otherPixels;
    }

    static void assertDominant(RandomAccessibleInterval<ARGBType> image, ShapeScenes.Colour own, ShapeScenes.Colour other, String what) {
        int ownPixels = Selection.pixelsOf(image, own);
        int otherPixels = Selection.pixelsOf(image, other);
        assertTrue(takesColour(ownPixels, otherPixels), what + ": " + ownPixels + " " + own.word() + " and "
                + otherPixels + " " + other.word() + " pixels in the generated picture (at least " + MIN_PIXELS + " " + own.word()
                + " and " + DOMINANT + "× the " + other.word() + " ones needed)");
    }
}
