package io.github.ssrencoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.testing.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipTokenizerTest {

    private static ClipTokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = ClipTokenizer.load(Golden.tinyA().resolve("sd/tokenizer"));
    }

    private static long[] longs(JsonElement e) {
        JsonArray a = e.getAsJsonArray();
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsLong();
        }
        return out;
    }

    @Test
    void reproducesEveryGoldenCaseExactly() {
        JsonArray cases = Golden.json(Golden.tinyA().resolve("cases/tokenizer_cases.json")).getAsJsonArray();
        assertEquals(21, cases.size());
        for (JsonElement c : cases) {
            JsonObject o = c.getAsJsonObject();
            String text = o.get("text").getAsString();
            ClipTokenizer.TokenizedText t = tokenizer.tokenize(text);
            assertArrayEquals(longs(o.get("input_ids")), t.inputIds(), "input_ids of " + text);
            assertArrayEquals(longs(o.get("attention_mask")), t.attentionMask(), "attention_mask of " + text);
            long[] untruncated = longs(o.get("untruncated_input_ids"));
            assertArrayEquals(untruncated, tokenizer.encodeUntruncated(text), "untruncated ids of " + text);
            List<String> expectedTokens = new ArrayList<>();
            o.get("untruncated_tokens").getAsJsonArray().forEach(x -> expectedTokens.add(x.getAsString()));
            assertEquals(expectedTokens.subList(1, expectedTokens.size() - 1), t.tokens(), "tokens of " + text);
            assertEquals(untruncated.length > 77, t.truncated(), "truncated flag of " + text);
        }
    }

    @Test
    void photoOfACatHasTheDocumentedIds() {
        long[] ids = tokenizer.tokenize("a photo of a cat").inputIds();
        assertEquals(77, ids.length);
        assertArrayEquals(new long[] {49406, 320, 1125, 539, 320, 2368, 49407, 49407}, java.util.Arrays.copyOf(ids, 8));
        assertEquals(49407, tokenizer.padId());
    }

    @Test
    void longTextIsTruncatedTo77WithEosLast() {
        String text = "one two three four five six seven eight nine ten ".repeat(12);
        ClipTokenizer.TokenizedText t = tokenizer.tokenize(text);
        assertTrue(t.truncated());
        assertEquals(120, t.tokens().size());
        assertEquals(77, t.inputIds().length);
        assertEquals(49406, t.inputIds()[0]);
        assertEquals(49407, t.inputIds()[76]);
        for (long m : t.attentionMask()) {
            assertEquals(1, m);
        }
        assertEquals("one", tokenizer.decodeToken(t.inputIds()[1]));
    }

    @Test
    void digitsAreSingleTokensAndUnicodeRoundTripsThroughDecode() {
        assertEquals(List.of("1</w>", "2</w>", "3</w>"), tokenizer.tokenize("123").tokens());
        for (String text : List.of("naïve café", "emoji 😀 and 日本", "Ünïcödé ß", "x² ½ ⅷ")) {
            long[] ids = tokenizer.encodeUntruncated(text);
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            for (int i = 1; i < ids.length - 1; i++) {
                bytes.writeBytes(tokenizer.tokenBytes(ids[i]));
            }
            // The tokens' bytes concatenated give back the cleaned text without its spaces.
            assertEquals(ClipTokenizer.basicClean(text).replace(" ", ""), bytes.toString(java.nio.charset.StandardCharsets.UTF_8),
                    "round trip of " + text);
        }
    }

    @Test
    void accentsAreKeptAndCompositionIsNormalised() {
        // 'e' + combining acute composes to 'é' (NFC) before BPE, so both spellings tokenize alike.
        assertEquals(tokenizer.tokenize("\u00e9clair").tokens(), tokenizer.tokenize("e\u0301clair").tokens());
        assertFalse(tokenizer.tokenize("cafe").tokens().equals(tokenizer.tokenize("café").tokens()));
    }

    @Test
    void whitespaceAndCaseDoNotMatter() {
        assertArrayEquals(tokenizer.tokenize("a red circle").inputIds(), tokenizer.tokenize("  A\tRED\n circle ").inputIds());
        assertArrayEquals(tokenizer.tokenize("").inputIds(), tokenizer.tokenize(" ").inputIds());
    }

    @Test
    void specialTokensAreRecognisedInAnyCaseAndControlCharactersDropped() {
        // Upper case escapes the exact special-token split, but the lower-cased text still matches CLIP's
        // pattern for specials, which BPE leaves whole.
        assertEquals(List.of("<|startoftext|>", "dog</w>"), tokenizer.tokenize("<|STARTOFTEXT|>dog").tokens());
        assertEquals(List.of("a</w>", "<|endoftext|>", "b</w>"), tokenizer.tokenize("a<|endoftext|>b").tokens());
        assertEquals(tokenizer.tokenize("ab cd").tokens(), tokenizer.tokenize("a\u0000b\u0007\u2028cd\u00ad").tokens());
    }

    @Test
    void decodeTokenStripsEndOfWordAndNamesSpecials() {
        assertEquals("photo", tokenizer.decodeToken(1125));
        assertEquals("<|startoftext|>", tokenizer.decodeToken(49406));
        assertEquals("<|endoftext|>", tokenizer.decodeToken(49407));
        assertThrows(IllegalArgumentException.class, () -> tokenizer.decodeToken(49408));
    }

    @Test
    void missingVocabularyIsAClearError(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\n");
        WeightFileException e = assertThrows(WeightFileException.class, () -> ClipTokenizer.load(dir));
        assertTrue(e.getMessage().contains("vocab.json"), e.getMessage());
    }
}
