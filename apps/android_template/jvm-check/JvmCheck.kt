// The app's pure-Kotlin core (tokenizer, controller, asset loading) run on a plain JVM, so it
// can be checked against edgesdk's Python reference without an Android device. edgesdk's
// tests and bench/tokenizer_parity.py drive it; run.sh beside it rebuilds and runs it.
//
//   tokenize   ASSETS TEXTS MAXLEN  -> one line of space-separated ids per text
//   pretokenize ASSETS TEXTS        -> one line per text: normalized words joined by spaces
//   labels     ASSETS               -> one JSON string per label
//   controller ASSETS RECORDS       -> per record: exit_index label bucket methods confidences
//   benchmark-extras - AM_ARGS...   -> key=value lines: what BenchmarkActivity reads from the
//                                      intent `am start AM_ARGS...` would start it with
//   benchmark-lines MESSAGE         -> BenchmarkActivity's result lines for two made-up texts,
//                                      then its error line for MESSAGE
//
// TEXTS is a Properties file (count, 0, 1, ...); RECORDS has one line per input:
// `length<TAB>stage logits` with stages separated by ';' and values by ','.
package dev.edgesdk.check

import dev.edgesdk.Assets
import dev.edgesdk.BenchmarkExtras
import dev.edgesdk.BenchmarkLines
import dev.edgesdk.BenchmarkOptions
import dev.edgesdk.Classification
import dev.edgesdk.jsonString
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
        "benchmark-extras" -> {
            val intent = AmIntent(args.drop(2))
            val options = BenchmarkOptions.read({ intent.strings[it] }, { k, d -> intent.ints[k] ?: d })
            val files = File("/sdcard/Android/data/${intent.component.substringBefore('/')}/files")
            out.println("component=${intent.component}")
            out.println("activity_is_benchmark=${intent.component.substringAfter('/') == BenchmarkExtras.ACTIVITY}")
            out.println("model=${options.modelFile(files)}")
            out.println("texts=${options.textsFile(files)}")
            out.println("threads=${options.threads}")
            out.println("warmup=${options.warmup}")
            out.println("result_file=${BenchmarkExtras.RESULT_FILE}")
        }
        "benchmark-lines" -> {
            // The activity's output for two made-up classifications and a failure whose message
            // needs escaping: what edgesdk's profiler parses (args[1] is the error message).
            val probs = doubleArrayOf(0.25, 0.75)
            out.println(BenchmarkLines.result(0, Classification(1, "pos", probs, 2, 3, 16, 1.5)))
            out.println(BenchmarkLines.result(1, Classification(0, "neg", probs, 0, 1, 32, 0.25)))
            out.println(BenchmarkLines.done(2))
            out.println(BenchmarkLines.error(IllegalStateException(args[1])))
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

/** The intent `am start` builds from its arguments, as far as BenchmarkActivity is concerned:
 *  `-n COMPONENT`, string extras (`--es KEY VALUE`) and int extras (`--ei KEY VALUE`, parsed as
 *  Android's `am` does, with Integer.parseInt); flags without a value (-W, -S) are skipped and
 *  any other option is refused, so a command the profiler builds cannot silently carry one. */
class AmIntent(args: List<String>) {
    val strings = HashMap<String, String>()
    val ints = HashMap<String, Int>()
    var component = ""

    init {
        require(args.take(2) == listOf("am", "start")) { "not an am start command: $args" }
        var i = 2
        while (i < args.size) {
            when (args[i]) {
                "-W", "-S" -> i += 1
                "-n" -> { component = args[i + 1]; i += 2 }
                "--es" -> { strings[args[i + 1]] = args[i + 2]; i += 3 }
                "--ei" -> { ints[args[i + 1]] = Integer.parseInt(args[i + 2]); i += 3 }
                else -> throw IllegalArgumentException("am option ${args[i]} is not understood by this check")
            }
        }
    }
}
