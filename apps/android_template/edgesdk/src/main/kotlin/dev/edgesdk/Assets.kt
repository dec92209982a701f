package dev.edgesdk

import java.io.File
import java.io.InputStream
import java.io.InputStreamReader
import java.util.Properties

/**
 * Reading the packaged model's assets: vocab.tsv plus java.util.Properties files written by
 * edgesdk (ASCII with \uXXXX escapes, so any label round-trips). Properties and a tab-separated
 * vocabulary need no JSON library: the same loader runs in the app (AssetManager) and on a
 * plain JVM (a directory), which is how edgesdk tests it.
 */
interface AssetSource {
    fun open(name: String): InputStream
    fun exists(name: String): Boolean
}

/** Assets in a directory: the JVM check, or files copied out of the APK. */
class DirectoryAssets(private val dir: File) : AssetSource {
    override fun open(name: String): InputStream = File(dir, name).inputStream()
    override fun exists(name: String): Boolean = File(dir, name).isFile
}

class TokenizerConfig(
    val cleanText: Boolean,
    val handleChineseChars: Boolean,
    val stripAccents: Boolean,
    val lowercase: Boolean,
    val unkToken: String,
    val continuingSubwordPrefix: String,
    val maxInputCharsPerWord: Int,
    val clsId: Int,
    val sepId: Int,
    val padId: Int,
    val maxLength: Int,
    val specialTokens: List<Pair<String, Int>>
) {
    /** The flags as bits, as tokenizer_tables.bin records the ones it was generated for. */
    val normalizerFlags: Int
        get() = (if (cleanText) 1 else 0) or (if (handleChineseChars) 2 else 0) or
            (if (stripAccents) 4 else 0) or (if (lowercase) 8 else 0)
}

/** model.properties: which file, which runtime, the input length, whether it is staged. */
class ModelInfo(val runtime: String, val modelFile: String, val seqLen: Int, val staged: Boolean)

object Assets {
    const val TOKENIZER = "tokenizer.properties"
    const val VOCAB = "vocab.tsv"
    const val LABELS = "labels.properties"
    const val MODEL = "model.properties"
    const val EXITS = "exits.properties"

    fun properties(source: AssetSource, name: String): Properties {
        val props = Properties()
        source.open(name).use { props.load(it) }
        return props
    }

    fun tokenizerConfig(source: AssetSource): TokenizerConfig {
        val p = properties(source, TOKENIZER)
        val specials = (0 until p.int("special.count")).map { p.text("special.$it.token") to p.int("special.$it.id") }
        return TokenizerConfig(
            p.flag("clean_text"), p.flag("handle_chinese_chars"), p.flag("strip_accents"), p.flag("lowercase"),
            p.text("unk_token"), p.text("continuing_subword_prefix"), p.int("max_input_chars_per_word"),
            p.int("cls_id"), p.int("sep_id"), p.int("pad_id"), p.int("max_length"), specials
        )
    }

    /** vocab.tsv: `token<TAB>id` per line; several tokens may share an id (pruned vocabularies). */
    fun vocabulary(source: AssetSource): Map<String, Int> {
        val vocab = HashMap<String, Int>()
        source.open(VOCAB).use { stream ->
            InputStreamReader(stream, Charsets.UTF_8).buffered().forEachLine { line ->
                val tab = line.lastIndexOf('\t')
                require(tab > 0) { "malformed $VOCAB line: $line" }
                vocab[line.substring(0, tab)] = line.substring(tab + 1).toInt()
            }
        }
        return vocab
    }

    /** tokenizer_tables.bin: HF's Unicode decisions for this tokenizer (see BertTables). */
    fun tables(source: AssetSource): BertTables = source.open(BertTables.FILE).use { BertTables.read(it) }

    fun tokenizer(source: AssetSource): WordPieceTokenizer =
        WordPieceTokenizer(tokenizerConfig(source), vocabulary(source), tables(source))

    fun labels(source: AssetSource): List<String> {
        val p = properties(source, LABELS)
        return (0 until p.int("count")).map { p.text("label.$it") }
    }

    fun model(source: AssetSource): ModelInfo {
        val p = properties(source, MODEL)
        return ModelInfo(p.text("runtime"), p.text("model_file"), p.int("seq_len"), p.flag("staged"))
    }

    /** The exit plan of a staged model, or null for a single graph. */
    fun exitPlan(source: AssetSource): ExitPlan? {
        if (!source.exists(EXITS)) return null
        val p = properties(source, EXITS)
        return ExitPlan(
            p.ints("buckets"), p.ints("exit_layers"), p.int("num_layers"),
            p.list("thresholds").map { it.toDouble() }.toDoubleArray(), p.text("confidence")
        )
    }

    private fun Properties.text(key: String): String =
        getProperty(key) ?: throw IllegalArgumentException("asset property '$key' is missing; re-package the app")

    private fun Properties.int(key: String): Int = text(key).toInt()
    private fun Properties.flag(key: String): Boolean = text(key) == "true"
    private fun Properties.list(key: String): List<String> = text(key).split(',').filter { it.isNotEmpty() }
    private fun Properties.ints(key: String): IntArray = list(key).map { it.toInt() }.toIntArray()
}

/** Text in, Classification out: the tokenizer, labels and controller of one packaged model. */
class TextClassifier(source: AssetSource, backend: StageBackend) {
    val model: ModelInfo = Assets.model(source)
    val labels: List<String> = Assets.labels(source)
    private val config = Assets.tokenizerConfig(source)
    private val tokenizer = WordPieceTokenizer(config, Assets.vocabulary(source), Assets.tables(source))
    private val controller = ExitController(backend, Assets.exitPlan(source), model.seqLen)

    fun classify(text: String): Classification {
        val start = System.nanoTime()
        val result = controller.classify(tokenizer.encode(text, model.seqLen), labels, config.padId)
        val ms = (System.nanoTime() - start) / 1e6 // tokenization included: what the user waits for
        return Classification(result.labelIndex, result.label, result.probabilities, result.exitIndex, result.layers, result.bucket, ms)
    }
}
