package io.github.ssrencoder.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A short run of the fuzz campaign ({@code scripts/fuzz} runs the full one): every mutated input ends, within the
 * bound, either accepted or in a documented error naming its file — never another exception, exit code, error or an
 * output file.
 */
class FuzzTest {

    /**
     * The bound on one case, as in the script: generous, since test machines are shared (the slowest cases load the
     * tiny models and generate, about a second on an idle machine).
     */
    private static final long BOUND_SECONDS = 60;

    @TempDir
    Path tmp;

    @Test
    void mutatedInputsEndInDocumentedErrors() {
        FuzzCampaign campaign = new FuzzCampaign(20261130L, BOUND_SECONDS);
        for (FuzzKind kind : FuzzKind.values()) {
            campaign.run(kind, kind.layer == FuzzKind.Layer.CLI_MODELS ? 3 : 25, tmp, o -> { });
        }
        String failures = campaign.failures().stream()
                .map(o -> o.input().kind() + " #" + o.input().index() + " (" + o.input().mutation() + "): " + o.detail())
                .collect(Collectors.joining("\n"));
        assertTrue(failures.isEmpty(), failures + "\n" + campaign.summary());
        int total = campaign.tallies().values().stream().mapToInt(FuzzCampaign.Tally::total).sum();
        assertEquals(9 * 25 + 4 * 3, total);
    }

    @Test
    void corpusIsDeterministicForASeed(@TempDir Path a, @TempDir Path b) throws Exception {
        for (FuzzKind kind : FuzzKind.values()) {
            FuzzCorpus.FuzzInput x = new FuzzCorpus(5).make(kind, 3, a.resolve(kind.name()));
            FuzzCorpus.FuzzInput y = new FuzzCorpus(5).make(kind, 3, b.resolve(kind.name()));
            assertEquals(x.mutation(), y.mutation(), kind.name());
            if (x.file() != null) {
                assertTrue(java.util.Arrays.equals(java.nio.file.Files.readAllBytes(x.file()),
                        java.nio.file.Files.readAllBytes(y.file())), kind + " files differ");
            } else {
                assertEquals(x.text(), y.text());
            }
        }
    }
}
