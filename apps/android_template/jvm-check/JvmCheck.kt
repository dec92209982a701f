// The app's pure-Kotlin core (tokenizer, controller, asset loading) run on a plain JVM, so it
// can be checked against edgesdk's Python reference without an Android device. edgesdk's
// tests and bench/tokenizer_parity.py drive it; run.sh beside it rebuilds and runs it.
//
//   tokenize   ASSETS TEXTS MAXLEN  -> one line of space-separated ids per text
//   pretokenize ASSETS TEXTS        -> one line per text: normalized words joined by spaces
//   labels     ASSETS               -> one JSON string per label
//   controller ASSETS RECORDS       -> per record: exit_index label bucket methods confidences
//
// TEXTS is a Properties file (count, 0, 1, ...); RECORDS has one line per input:
// `length<TAB>stage logits` with stages separated by ';' and values by ','.
package dev.edgesdk.check

import dev.edgesdk.Assets
import dev.edgesdk.Confidence
import dev.edgesdk.DirectoryAssets
import dev.edgesdk.ExitController
import dev.edgesdk.StageBackend
import dev.edgesdk.StageInput
import dev.edgesdk.StageOutput
import java.io.BufferedOutputStream
import java.io.File
import java.io.FileOutputStream
import java.io.FileDescriptor
import java.io.PrintStream
import java.util.Properties

fun main(args: Array<String>) {
    val out = PrintStream(BufferedOutputStream(FileOutputStream(FileDescriptor.out), 1 shl 16), false, "UTF-8")
    val assets = DirectoryAssets(File(args[1]))
    when (args[0]) {
        "tokenize" -> {
            val tokenizer = Assets.tokenizer(assets)
            val maxLength = args[3].toInt()
            for (text in texts(File(args[2]))) out.println(tokenizer.encode(text, maxLength).joinToString(" "))
        }
        "pretokenize" -> {
            val tokenizer = Assets.tokenizer(assets)
            for (text in texts(File(args[2]))) out.println(tokenizer.preTokenize(tokenizer.normalize(text)).joinToString(" "))
        }
        "labels" -> for (label in Assets.labels(assets)) out.println(jsonString(label))
        "controller" -> {
            val plan = Assets.exitPlan(assets) ?: throw IllegalArgumentException("no exits.properties in ${args[1]}")
            val labels = Assets.labels(assets)
            File(args[2]).forEachLine { line ->
                val (length, stages) = line.split('\t')
                val logits = stages.split(';').map { s -> s.split(',').map { it.toFloat() }.toFloatArray() }
                val replay = ReplayBackend(logits)
                val result = ExitController(replay, plan, plan.buckets.last()).classify(IntArray(length.toInt()), labels)
                val confidences = replay.seen.map { Confidence.of(Confidence.softmax(it), plan.confidence) }
                out.println("${result.exitIndex} ${result.labelIndex} ${result.bucket} ${replay.methods.joinToString(",")} ${confidences.joinToString(",")}")
            }
        }
        else -> throw IllegalArgumentException("unknown command ${args[0]}")
    }
    out.flush()
}

/** Recorded stage logits played back in order; remembers which methods the controller asked for. */
class ReplayBackend(private val logits: List<FloatArray>) : StageBackend {
    val methods = ArrayList<String>()
    val seen = ArrayList<FloatArray>()

    override fun run(method: String?, input: StageInput): StageOutput {
        methods.add(method ?: "forward")
        val stage = seen.size
        seen.add(logits[stage])
        return StageOutput(if (stage + 1 < logits.size) stage else null, logits[stage])
    }
}

fun texts(file: File): List<String> {
    val props = Properties()
    file.inputStream().use { props.load(it) }
    return (0 until props.getProperty("count").toInt()).map { props.getProperty(it.toString()) }
}

/** A JSON string literal, ASCII only. */
fun jsonString(text: String): String {
    val sb = StringBuilder("\"")
    for (ch in text) {
        when {
            ch == '"' -> sb.append("\\\"")
            ch == '\\' -> sb.append("\\\\")
            ch < ' ' || ch > '~' -> sb.append(String.format("\\u%04x", ch - '\u0000'))
            else -> sb.append(ch)
        }
    }
    return sb.append('"').toString()
}
