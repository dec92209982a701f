package dev.edgesdk

import java.io.BufferedInputStream
import java.io.DataInputStream
import java.io.InputStream

/**
 * The WordPiece tokenizer the model was trained with, re-implemented in plain Kotlin so the
 * app needs no native tokenizer library. It reproduces Hugging Face `tokenizers` exactly:
 * special tokens matched in the raw text, BertNormalizer, BertPreTokenizer, WordPiece
 * (greedy longest match), then [CLS] ... [SEP]. edgesdk's tests compare its ids with the
 * Python reference on whole data sets and on a corpus holding every assigned code point
 * (jvm-check/). Every Unicode decision (what is dropped, spaced, folded, split) comes from
 * [BertTables], generated from HF `tokenizers` itself: Java's and Android's own Unicode
 * tables are other versions than HF's (463 code points differ).
 *
 * Text is walked by code point, never by UTF-16 char, because the Rust reference counts
 * Unicode scalar values (emoji and rare CJK are two chars in Java). Kept to Kotlin 1.3
 * syntax and JDK/Android APIs only, so the same file compiles with the build machine's
 * kotlinc and a current Android toolchain.
 */
class WordPieceTokenizer(
    private val config: TokenizerConfig,
    private val vocab: Map<String, Int>,
    private val tables: BertTables
) {
    private val unkId: Int = vocab[config.unkToken]
        ?: throw IllegalArgumentException("vocabulary lacks the unk token ${config.unkToken}")
    private val specials: List<Pair<String, Int>> = config.specialTokens.sortedByDescending { it.first.length }

    init {
        require(tables.flags == config.normalizerFlags) {
            "${BertTables.FILE} was generated for other normalizer settings than ${Assets.TOKENIZER}; re-package the app"
        }
    }

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
    fun normalize(text: String): String = tables.normalize(text)

    /** BertPreTokenizer: split on whitespace (dropped) and around each punctuation mark. */
    fun preTokenize(text: String): List<String> {
        val words = ArrayList<String>()
        val word = StringBuilder()
        var i = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            i += Character.charCount(cp)
            val charClass = tables.charClass(cp)
            val space = charClass == BertTables.WHITESPACE
            if (space || charClass == BertTables.PUNCTUATION) {
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
}

/**
 * HF `tokenizers`' BertNormalizer and BertPreTokenizer for one tokenizer, as the tables edgesdk
 * generates from HF itself (tokenizer_tables.bin; the C firmware tokenizer compiles the same
 * tables). The normalizer is a map per code point (ranges of dropped, spaced, CJK-padded and
 * Hangul code points; an explicit map for case and accent folds) plus the one step that spans
 * characters: NFD sorts each run of combining marks by combining class, which shows for the
 * few marks the accent strip keeps (their ranks are a table too). Read once, ~40 KB.
 */
class BertTables private constructor(
    val flags: Int,
    private val ranges: IntArray,
    private val marks: IntArray,
    private val classes: IntArray,
    private val mapKeys: IntArray,
    private val mapValues: Array<String>
) {
    companion object {
        const val FILE = "tokenizer_tables.bin"
        const val WHITESPACE = 1
        const val PUNCTUATION = 2
        private const val MAGIC = 0x45444754 // "EDGT"
        private const val VERSION = 1
        private const val DROP = 1
        private const val SPACE = 2
        private const val PAD = 3
        private const val HANGUL = 4
        private const val BLOCK = 5

        fun read(stream: InputStream): BertTables {
            val data = DataInputStream(BufferedInputStream(stream, 1 shl 16))
            require(data.readInt() == MAGIC) { "$FILE is not an edgesdk tokenizer table; re-package the app" }
            val version = data.readInt()
            require(version == VERSION) { "$FILE has version $version, this tokenizer reads $VERSION; re-package the app" }
            val flags = data.readInt()
            val ranges = pairs(data)
            val marks = pairs(data)
            val classes = pairs(data)
            val keys = ints(data, data.readInt())
            val offsets = ints(data, keys.size + 1)
            val blob = ByteArray(offsets[keys.size])
            data.readFully(blob)
            val values = Array(keys.size) { String(blob, offsets[it], offsets[it + 1] - offsets[it], Charsets.UTF_8) }
            return BertTables(flags, ranges, marks, classes, keys, values)
        }

        private fun ints(data: DataInputStream, count: Int): IntArray = IntArray(count) { data.readInt() }

        private fun pairs(data: DataInputStream): IntArray = ints(data, 2 * data.readInt())

        /** The kind of the range holding cp in a {kind << 24 | first, last} table, 0 if none. */
        private fun rangeKind(table: IntArray, cp: Int): Int {
            var lo = 0
            var hi = table.size / 2
            while (lo < hi) {
                val mid = (lo + hi) ushr 1
                val first = table[2 * mid] and 0xFFFFFF
                when {
                    cp < first -> hi = mid
                    cp > table[2 * mid + 1] -> lo = mid + 1
                    else -> return table[2 * mid] ushr 24
                }
            }
            return 0
        }
    }

    /** BertPreTokenizer's class of a normalized code point: WHITESPACE, PUNCTUATION or 0. */
    fun charClass(cp: Int): Int = rangeKind(classes, cp)

    /** BertNormalizer on a text (one special-token-free segment, as HF normalizes it). */
    fun normalize(text: String): String {
        val out = StringBuilder(text.length + 8)
        var runStart = -1 // where the open run of kept combining marks starts in `out`, or -1
        var i = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            i += Character.charCount(cp)
            when (rangeKind(ranges, cp)) {
                DROP -> {}
                BLOCK -> runStart = -1
                SPACE -> runStart = emit(out, 0x20, runStart)
                PAD -> for (c in intArrayOf(0x20, cp, 0x20)) runStart = emit(out, c, runStart)
                HANGUL -> {
                    val s = cp - 0xAC00
                    runStart = emit(out, 0x1100 + s / 588, runStart)
                    runStart = emit(out, 0x1161 + (s % 588) / 28, runStart)
                    if (s % 28 != 0) runStart = emit(out, 0x11A7 + s % 28, runStart)
                }
                else -> {
                    val k = java.util.Arrays.binarySearch(mapKeys, cp)
                    if (k < 0) {
                        runStart = emit(out, cp, runStart)
                    } else {
                        val value = mapValues[k]
                        var j = 0
                        while (j < value.length) {
                            val c = value.codePointAt(j)
                            j += Character.charCount(c)
                            runStart = emit(out, c, runStart)
                        }
                    }
                }
            }
        }
        return out.toString()
    }

    /**
     * Appends one normalized code point and returns the new run start. A kept combining mark
     * joins the open run after its marks of lower or equal rank (NFD's stable sort by class);
     * anything else is a starter and ends the run.
     */
    private fun emit(out: StringBuilder, cp: Int, runStart: Int): Int {
        val rank = rangeKind(marks, cp)
        if (rank == 0) {
            out.appendCodePoint(cp)
            return -1
        }
        val start = if (runStart < 0) out.length else runStart
        var at = start
        while (at < out.length) {
            val mark = out.codePointAt(at)
            if (rangeKind(marks, mark) > rank) break
            at += Character.charCount(mark)
        }
        out.insert(at, Character.toChars(cp))
        return start
    }
}
