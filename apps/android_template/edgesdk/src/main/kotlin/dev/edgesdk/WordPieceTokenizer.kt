package dev.edgesdk

import java.text.Normalizer

/**
 * The WordPiece tokenizer the model was trained with, re-implemented in plain Kotlin so the
 * app needs no native tokenizer library. It reproduces Hugging Face `tokenizers` exactly:
 * special tokens matched in the raw text, BertNormalizer, BertPreTokenizer, WordPiece
 * (greedy longest match), then [CLS] ... [SEP]. edgesdk's tests compare its ids with the
 * Python reference on whole data sets (jvm-check/).
 *
 * Text is walked by code point, never by UTF-16 char, because the Rust reference counts
 * Unicode scalar values (emoji and rare CJK are two chars in Java). Kept to Kotlin 1.3
 * syntax and JDK/Android APIs only, so the same file compiles with the build machine's
 * kotlinc and a current Android toolchain.
 */
class WordPieceTokenizer(private val config: TokenizerConfig, private val vocab: Map<String, Int>) {
    private val unkId: Int = vocab[config.unkToken]
        ?: throw IllegalArgumentException("vocabulary lacks the unk token ${config.unkToken}")
    private val specials: List<Pair<String, Int>> = config.specialTokens.sortedByDescending { it.first.length }

    /** Token ids with [CLS]/[SEP], truncated to maxLength keeping the final [SEP]. */
    fun encode(text: String, maxLength: Int): IntArray {
        val ids = ArrayList<Int>()
        ids.add(config.clsId)
        for (segment in splitSpecialTokens(text)) {
            if (segment.specialId != null) {
                ids.add(segment.specialId)
                continue
            }
            for (word in preTokenize(normalize(segment.text))) ids.addAll(wordPiece(word))
        }
        ids.add(config.sepId)
        if (ids.size > maxLength) {
            val kept = ArrayList<Int>(ids.subList(0, maxLength - 1))
            kept.add(ids[ids.size - 1])
            return kept.toIntArray()
        }
        return ids.toIntArray()
    }

    private class Segment(val text: String, val specialId: Int?)

    /** Leftmost-longest occurrences of special tokens in the raw text become their ids. */
    private fun splitSpecialTokens(text: String): List<Segment> {
        if (specials.isEmpty()) return listOf(Segment(text, null))
        val out = ArrayList<Segment>()
        var start = 0
        var i = 0
        while (i < text.length) {
            val match = specials.firstOrNull { text.startsWith(it.first, i) }
            if (match == null) {
                i += 1
                continue
            }
            if (i > start) out.add(Segment(text.substring(start, i), null))
            out.add(Segment(match.first, match.second))
            i += match.first.length
            start = i
        }
        if (start < text.length) out.add(Segment(text.substring(start), null))
        return out
    }

    /** BertNormalizer: clean text, space out CJK ideographs, strip accents, lowercase. */
    fun normalize(text: String): String {
        var s = text
        if (config.cleanText) s = mapCodePoints(s) { cp ->
            when {
                cp == 0 || cp == 0xFFFD || BertChars.isControl(cp) -> ""
                BertChars.isWhitespace(cp) -> " "
                else -> null
            }
        }
        if (config.handleChineseChars) s = mapCodePoints(s) { cp ->
            if (BertChars.isChinese(cp)) " " + String(Character.toChars(cp)) + " " else null
        }
        if (config.stripAccents) {
            s = mapCodePoints(Normalizer.normalize(s, Normalizer.Form.NFD)) { cp ->
                if (Character.getType(cp) == Character.NON_SPACING_MARK.toInt()) "" else null
            }
        }
        if (config.lowercase) s = mapCodePoints(s) { cp -> BertChars.lowercase(cp) }
        return s
    }

    /** BertPreTokenizer: split on whitespace (dropped) and around each punctuation mark. */
    fun preTokenize(text: String): List<String> {
        val words = ArrayList<String>()
        val word = StringBuilder()
        var i = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            i += Character.charCount(cp)
            val space = BertChars.isWhitespace(cp)
            if (space || BertChars.isPunctuation(cp)) {
                if (word.length > 0) words.add(word.toString())
                word.setLength(0)
                if (!space) words.add(String(Character.toChars(cp)))
            } else {
                word.appendCodePoint(cp)
            }
        }
        if (word.length > 0) words.add(word.toString())
        return words
    }

    /** WordPiece: greedy longest match; one unmatched piece makes the whole word [UNK]. */
    fun wordPiece(word: String): List<Int> {
        if (word.codePointCount(0, word.length) > config.maxInputCharsPerWord) return listOf(unkId)
        val pieces = ArrayList<Int>()
        var start = 0
        while (start < word.length) {
            var end = word.length
            var found: Int? = null
            while (start < end) {
                val piece = if (start > 0) config.continuingSubwordPrefix + word.substring(start, end) else word.substring(start, end)
                found = vocab[piece]
                if (found != null) break
                end -= Character.charCount(word.codePointBefore(end))
            }
            if (found == null) return listOf(unkId)
            pieces.add(found)
            start = end
        }
        return pieces
    }

    private inline fun mapCodePoints(text: String, replace: (Int) -> String?): String {
        val out = StringBuilder(text.length + 8)
        var i = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            i += Character.charCount(cp)
            val replacement = replace(cp)
            if (replacement == null) out.appendCodePoint(cp) else out.append(replacement)
        }
        return out.toString()
    }
}

/** The character classes of HF `tokenizers`' BERT normalizer and pre-tokenizer. */
internal object BertChars {
    /** Rust `char::is_whitespace` (Unicode White_Space), which differs from Java's isWhitespace. */
    fun isWhitespace(cp: Int): Boolean = when (cp) {
        in 0x09..0x0D, 0x20, 0x85, 0xA0, 0x1680, in 0x2000..0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000 -> true
        else -> false
    }

    /** Categories Cc, Cf, Co, Cs (not Cn: unassigned code points are kept, as HF keeps them),
     *  except the tab and newlines BERT treats as whitespace. */
    fun isControl(cp: Int): Boolean {
        if (cp == 0x09 || cp == 0x0A || cp == 0x0D) return false
        return when (Character.getType(cp)) {
            Character.CONTROL.toInt(), Character.FORMAT.toInt(), Character.PRIVATE_USE.toInt(), Character.SURROGATE.toInt() -> true
            else -> false
        }
    }

    /** The CJK ideograph blocks BERT surrounds with spaces (the ranges of HF `tokenizers`). */
    fun isChinese(cp: Int): Boolean =
        cp in 0x4E00..0x9FFF || cp in 0x3400..0x4DBF || cp in 0x20000..0x2A6DF || cp in 0x2A700..0x2B81F ||
            cp in 0x2B920..0x2CEAF || cp in 0xF900..0xFAFF || cp in 0x2F800..0x2FA1F

    /** ASCII punctuation (33-47, 58-64, 91-96, 123-126) or any Unicode P* category. */
    fun isPunctuation(cp: Int): Boolean {
        if (cp in 33..47 || cp in 58..64 || cp in 91..96 || cp in 123..126) return true
        return when (Character.getType(cp)) {
            Character.CONNECTOR_PUNCTUATION.toInt(), Character.DASH_PUNCTUATION.toInt(),
            Character.START_PUNCTUATION.toInt(), Character.END_PUNCTUATION.toInt(),
            Character.INITIAL_QUOTE_PUNCTUATION.toInt(), Character.FINAL_QUOTE_PUNCTUATION.toInt(),
            Character.OTHER_PUNCTUATION.toInt() -> true
            else -> false
        }
    }

    /** Rust `char::to_lowercase`: Java's per-code-point mapping plus the one unconditional
     *  multi-character mapping of SpecialCasing.txt (U+0130 -> "i" + combining dot above). */
    fun lowercase(cp: Int): String =
        if (cp == 0x130) "i\u0307" else String(Character.toChars(Character.toLowerCase(cp)))
}
