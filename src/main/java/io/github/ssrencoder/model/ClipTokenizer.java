package io.github.ssrencoder.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import io.github.ssrencoder.io.WeightFileException;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's byte-level BPE tokenizer, as transformers' slow {@code CLIPTokenizer} behaves without {@code ftfy}:
 * the text is cleaned like BERT's basic tokenizer (control characters dropped, whitespace normalised, NFC,
 * spaces around CJK ideographs, lower case), split by CLIP's pre-tokenisation pattern, and every piece is
 * merged by the BPE ranks of {@code merges.txt}, its last symbol marked with {@code </w>}. The special
 * tokens written literally in the text are recognised as such. Output is padded (or truncated, keeping
 * EOS) to {@code model_max_length}, as Stable Diffusion's prompt encoding asks for.
 */
public final class ClipTokenizer {

    /** Result of {@link #tokenize(String)}. */
    public record TokenizedText(long[] inputIds, long[] attentionMask, List<String> tokens, boolean truncated) {
    }

    /** How many merges the reference reads from merges.txt at most (CLIP's 49152 entries minus bytes and specials). */
    private static final int MAX_MERGES = 49152 - 256 - 2;

    private static final Pattern PRE_TOKENIZE = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS);

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final Map<Character, Integer> CHAR_TO_BYTE = new HashMap<>();

    static {
        // GPT-2's reversible byte → printable character table: printable Latin-1 bytes map to themselves,
        // the others to 256 + n in order.
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_TO_CHAR[b] = printable ? (char) b : (char) (256 + n++);
            CHAR_TO_BYTE.put(BYTE_TO_CHAR[b], b);
        }
    }

    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final Map<String, Integer> mergeRanks;
    private final String bosToken;
    private final String eosToken;
    private final int bosId;
    private final int eosId;
    private final int padId;
    private final int unkId;
    private final int maxLength;
    private final Map<String, String[]> cache = new ConcurrentHashMap<>();

    private ClipTokenizer(Map<String, Integer> vocab, Map<String, Integer> mergeRanks, String bos, String eos, String pad,
                          String unk, int maxLength, Path folder) {
        this.vocab = vocab;
        this.mergeRanks = mergeRanks;
        this.bosToken = bos;
        this.eosToken = eos;
        this.bosId = idOf(vocab, bos, folder, "bos_token");
        this.eosId = idOf(vocab, eos, folder, "eos_token");
        this.padId = idOf(vocab, pad, folder, "pad_token");
        this.unkId = idOf(vocab, unk, folder, "unk_token");
        this.maxLength = maxLength;
        int size = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        this.idToToken = new String[size];
        vocab.forEach((t, i) -> idToToken[i] = t);
    }

    private static int idOf(Map<String, Integer> vocab, String token, Path folder, String what) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw WeightFileException.of(folder.resolve("vocab.json"), what + " '" + token + "' is not in the vocabulary");
        }
        return id;
    }

    /**
     * Loads {@code vocab.json}, {@code merges.txt} and the special tokens and maximum length from
     * {@code tokenizer_config.json} / {@code special_tokens_map.json} of a tokenizer folder.
     */
    public static ClipTokenizer load(Path folder) {
        if (!Files.isDirectory(folder)) {
            throw WeightFileException.of(folder, "tokenizer folder not found");
        }
        Path vocabFile = folder.resolve("vocab.json");
        JsonObject vocabJson = JsonFiles.readObject(vocabFile);
        Map<String, Integer> vocab = new HashMap<>(vocabJson.size() * 2);
        for (Map.Entry<String, JsonElement> e : vocabJson.entrySet()) {
            int id;
            try {
                id = e.getValue().getAsJsonPrimitive().getAsBigDecimal().intValueExact();
            } catch (RuntimeException ex) {
                throw WeightFileException.of(vocabFile, "token '" + e.getKey() + "' must map to an integer id, got " + e.getValue());
            }
            if (id < 0 || id >= vocabJson.size()) {
                // ids number the entries: a larger one would also size the id-to-token table
                throw WeightFileException.of(vocabFile, "token '" + e.getKey() + "' has id " + id + ", outside 0.."
                        + (vocabJson.size() - 1) + " (one id per entry)");
            }
            vocab.put(e.getKey(), id);
        }
        Map<String, Integer> ranks = readMerges(folder.resolve("merges.txt"));

        JsonObject config = new JsonObject();
        Map<String, Path> source = new HashMap<>(); // which file each special token was taken from
        Path special = folder.resolve("special_tokens_map.json");
        Path tokConfig = folder.resolve("tokenizer_config.json");
        if (Files.isRegularFile(special)) {
            JsonFiles.readObject(special).entrySet().forEach(e -> {
                config.add(e.getKey(), e.getValue());
                source.put(e.getKey(), special);
            });
        }
        int maxLength = 77;
        if (Files.isRegularFile(tokConfig)) {
            JsonObject tc = JsonFiles.readObject(tokConfig);
            for (String k : List.of("bos_token", "eos_token", "pad_token", "unk_token")) {
                if (tc.has(k) && !tc.get(k).isJsonNull()) {
                    config.add(k, tc.get(k));
                    source.put(k, tokConfig);
                }
            }
            double ml = JsonFiles.getDouble(tokConfig, tc, "model_max_length", 77);
            // transformers writes a huge sentinel when no length is known; CLIP's context is 77 positions.
            maxLength = ml > 0 && ml < 1e6 ? (int) ml : 77;
        }
        String bos = tokenString(source.getOrDefault("bos_token", special), config, "bos_token", "<|startoftext|>");
        String eos = tokenString(source.getOrDefault("eos_token", special), config, "eos_token", "<|endoftext|>");
        String unk = tokenString(source.getOrDefault("unk_token", special), config, "unk_token", "<|endoftext|>");
        String pad = tokenString(source.getOrDefault("pad_token", special), config, "pad_token", "<|endoftext|>");
        if (maxLength < 2) {
            throw WeightFileException.of(tokConfig, "model_max_length must be at least 2, got " + maxLength);
        }
        return new ClipTokenizer(vocab, ranks, bos, eos, pad, unk, maxLength, folder);
    }

    private static String tokenString(Path file, JsonObject o, String key, String fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (e.isJsonPrimitive()) {
            return e.getAsString();
        }
        if (e.isJsonObject() && e.getAsJsonObject().has("content") && e.getAsJsonObject().get("content").isJsonPrimitive()) {
            return e.getAsJsonObject().get("content").getAsString();
        }
        throw WeightFileException.of(file, "'" + key + "' must be a string or an AddedToken object, got " + e);
    }

    private static Map<String, Integer> readMerges(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw WeightFileException.of(file, "file not found");
        } catch (IOException e) {
            throw WeightFileException.of(file, "cannot read: " + e.getMessage(), e);
        }
        // Like the reference: strip, split on newlines, skip the #version header, keep at most MAX_MERGES; a
        // repeated pair takes its last rank, as a Python dict built from the list does.
        String[] lines = text.strip().split("\n", -1);
        Map<String, Integer> ranks = new HashMap<>();
        int end = Math.min(lines.length, MAX_MERGES + 1);
        for (int i = 1; i < end; i++) {
            String[] pair = lines[i].trim().split("\\s+");
            if (pair.length != 2) {
                throw WeightFileException.of(file, "line " + (i + 1) + " is not a merge of two symbols: '" + lines[i] + "'");
            }
            ranks.put(pair[0] + " " + pair[1], i - 1);
        }
        return ranks;
    }

    /** The number of token ids (the largest id plus one). */
    public int vocabularySize() {
        return idToToken.length;
    }

    /** Sequence length of {@link TokenizedText#inputIds()} (the text encoder's number of positions). */
    public int maxLength() {
        return maxLength;
    }

    public int bosId() {
        return bosId;
    }

    public int eosId() {
        return eosId;
    }

    public int padId() {
        return padId;
    }

    /**
     * Tokenizes {@code text} to exactly {@link #maxLength()} ids: BOS, at most {@code maxLength - 2} text
     * tokens, EOS, then padding.
     */
    public TokenizedText tokenize(String text) {
        if (text == null) {
            throw new IllegalArgumentException("text must not be null");
        }
        List<String> tokens = bpeTokens(text);
        int keep = Math.min(tokens.size(), maxLength - 2);
        long[] ids = new long[maxLength];
        long[] mask = new long[maxLength];
        Arrays.fill(ids, padId);
        ids[0] = bosId;
        for (int i = 0; i < keep; i++) {
            ids[i + 1] = idOfToken(tokens.get(i));
        }
        ids[keep + 1] = eosId;
        Arrays.fill(mask, 0, keep + 2, 1);
        return new TokenizedText(ids, mask, List.copyOf(tokens), keep < tokens.size());
    }

    /** BOS, every text token, EOS — no truncation or padding (transformers' {@code tokenizer(text).input_ids}). */
    public long[] encodeUntruncated(String text) {
        List<String> tokens = bpeTokens(text);
        long[] ids = new long[tokens.size() + 2];
        ids[0] = bosId;
        for (int i = 0; i < tokens.size(); i++) {
            ids[i + 1] = idOfToken(tokens.get(i));
        }
        ids[ids.length - 1] = eosId;
        return ids;
    }

    private int idOfToken(String token) {
        Integer id = vocab.get(token);
        return id == null ? unkId : id;
    }

    /** A readable label for one id: the token's text with the end-of-word marker removed. */
    public String decodeToken(long id) {
        if (id < 0 || id >= idToToken.length || idToToken[(int) id] == null) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (idToToken.length - 1) + ")");
        }
        String token = idToToken[(int) id];
        if (token.equals(bosToken) || token.equals(eosToken)) {
            return token;
        }
        byte[] bytes = tokenBytes(id);
        int n = bytes.length;
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes, 0, n)).toString();
        } catch (CharacterCodingException e) {
            // A piece of a multi-byte character: show its bytes rather than a replacement character.
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < n; i++) {
                sb.append(String.format(Locale.ROOT, "<0x%02X>", bytes[i] & 0xFF));
            }
            return sb.toString();
        }
    }

    /** The UTF-8 bytes a (non-special) token stands for, without its end-of-word marker. */
    byte[] tokenBytes(long id) {
        String token = idToToken[(int) id];
        String body = token.endsWith("</w>") ? token.substring(0, token.length() - 4) : token;
        byte[] bytes = new byte[body.length()];
        for (int i = 0; i < body.length(); i++) {
            Integer b = CHAR_TO_BYTE.get(body.charAt(i));
            if (b == null) {
                return body.getBytes(StandardCharsets.UTF_8);
            }
            bytes[i] = (byte) (int) b;
        }
        return bytes;
    }

    /** The BPE token strings of {@code text} without BOS/EOS, untruncated. */
    public List<String> bpeTokens(String text) {
        List<String> out = new ArrayList<>();
        int pos = 0;
        while (pos <= text.length()) {
            int sb = text.indexOf(bosToken, pos);
            int se = text.indexOf(eosToken, pos);
            int next;
            String special;
            if (sb < 0 && se < 0) {
                next = text.length();
                special = null;
            } else if (se < 0 || (sb >= 0 && sb <= se)) {
                next = sb;
                special = bosToken;
            } else {
                next = se;
                special = eosToken;
            }
            tokenizeChunk(text.substring(pos, next), out);
            if (special == null) {
                break;
            }
            out.add(special);
            pos = next + special.length();
        }
        return out;
    }

    private void tokenizeChunk(String chunk, List<String> out) {
        String cleaned = basicClean(chunk);
        Matcher m = PRE_TOKENIZE.matcher(cleaned);
        while (m.find()) {
            String piece = m.group();
            byte[] utf8 = piece.getBytes(StandardCharsets.UTF_8);
            char[] mapped = new char[utf8.length];
            for (int i = 0; i < utf8.length; i++) {
                mapped[i] = BYTE_TO_CHAR[utf8[i] & 0xFF];
            }
            out.addAll(Arrays.asList(bpe(new String(mapped))));
        }
    }

    /** BERT-style cleanup without accent stripping or punctuation splitting (transformers' BasicTokenizer). */
    static String basicClean(String text) {
        StringBuilder sb = new StringBuilder(text.length() + 8);
        text.codePoints().forEach(cp -> {
            if (cp == 0 || cp == 0xFFFD || isControl(cp)) {
                return;
            }
            if (isBasicWhitespace(cp)) {
                sb.append(' ');
            } else if (isCjk(cp)) {
                sb.append(' ').appendCodePoint(cp).append(' ');
            } else {
                sb.appendCodePoint(cp);
            }
        });
        String nfc = Normalizer.normalize(sb, Normalizer.Form.NFC);
        List<String> words = pythonSplit(nfc);
        List<String> lowered = new ArrayList<>(words.size());
        for (String w : words) {
            lowered.add(w.toLowerCase(Locale.ROOT));
        }
        return String.join(" ", pythonSplit(String.join(" ", lowered)));
    }

    private static boolean isBasicWhitespace(int cp) {
        return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || Character.getType(cp) == Character.SPACE_SEPARATOR;
    }

    private static boolean isControl(int cp) {
        if (cp == '\t' || cp == '\n' || cp == '\r') {
            return false;
        }
        int t = Character.getType(cp);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.SURROGATE
                || t == Character.PRIVATE_USE || t == Character.UNASSIGNED;
    }

    private static boolean isCjk(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
                || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }

    /** Python's {@code str.isspace()}: the characters {@code str.split()} splits on. */
    private static boolean isPythonSpace(int cp) {
        if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85) {
            return true;
        }
        int t = Character.getType(cp);
        return t == Character.SPACE_SEPARATOR || t == Character.LINE_SEPARATOR || t == Character.PARAGRAPH_SEPARATOR;
    }

    private static List<String> pythonSplit(String s) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        s.codePoints().forEach(cp -> {
            if (isPythonSpace(cp)) {
                if (cur.length() > 0) {
                    out.add(cur.toString());
                    cur.setLength(0);
                }
            } else {
                cur.appendCodePoint(cp);
            }
        });
        if (cur.length() > 0) {
            out.add(cur.toString());
        }
        return out;
    }

    /** Merges one byte-mapped piece by rank, lowest first, until no ranked pair remains. */
    private String[] bpe(String piece) {
        if (piece.equals(bosToken) || piece.equals(eosToken)) {
            return new String[] {piece};
        }
        String[] cached = cache.get(piece);
        if (cached != null) {
            return cached;
        }
        List<String> word = new ArrayList<>(piece.length());
        for (int i = 0; i < piece.length() - 1; i++) {
            word.add(String.valueOf(piece.charAt(i)));
        }
        word.add(piece.charAt(piece.length() - 1) + "</w>");
        while (word.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String first = null;
            String second = null;
            for (int i = 0; i < word.size() - 1; i++) {
                Integer r = mergeRanks.get(word.get(i) + " " + word.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    first = word.get(i);
                    second = word.get(i + 1);
                }
            }
            if (first == null) {
                break;
            }
            List<String> merged = new ArrayList<>(word.size());
            int i = 0;
            while (i < word.size()) {
                if (i < word.size() - 1 && word.get(i).equals(first) && word.get(i + 1).equals(second)) {
                    merged.add(first + second);
                    i += 2;
                } else {
                    merged.add(word.get(i));
                    i++;
                }
            }
            word = merged;
        }
        String[] result = word.toArray(new String[0]);
        if (cache.size() < 100_000) {
            cache.put(piece, result);
        }
        return result;
    }
}
