package dev.edgesdk

import java.io.File

/**
 * What BenchmarkActivity reads from the intent that starts it. The names are a contract with
 * edgesdk's adb profiler, which starts the activity with
 *
 *   am start -W -S -n APP_ID/dev.edgesdk.app.BenchmarkActivity --es model NAME --es texts NAME
 *       --ei threads N --ei warmup N
 *
 * (targets/adb.py, `benchmark_command`); edgesdk's tests run that very command line through
 * this class on a plain JVM (jvm-check `benchmark-extras`). Plain Kotlin, so it compiles
 * there as in the app.
 */
object BenchmarkExtras {
    const val ACTIVITY = "dev.edgesdk.app.BenchmarkActivity"
    const val MODEL = "model" // --es: a model file to time instead of the APK's own
    const val TEXTS = "texts" // --es: the sentences, one per line
    const val THREADS = "threads" // --ei
    const val WARMUP = "warmup" // --ei: untimed classifications first
    const val RESULT_FILE = "bench.jsonl" // written in the app's external files dir
    const val DEFAULT_TEXTS = "texts.txt"
    const val DEFAULT_THREADS = 2
    const val DEFAULT_WARMUP = 5
}

class BenchmarkOptions(val model: String?, val texts: String, val threads: Int, val warmup: Int) {
    /** The model to time: null for the APK's own; a relative name is looked up in `filesDir`
     *  (the app's external files dir, where `adb push` can write and the app can read). */
    fun modelFile(filesDir: File): File? = model?.let { val f = File(it); if (f.isAbsolute) f else File(filesDir, it) }

    /** The texts file: relative names in `filesDir`, as for the model. */
    fun textsFile(filesDir: File): File = File(texts).let { if (it.isAbsolute) it else File(filesDir, texts) }

    companion object {
        /** From an intent's extras, given as its getStringExtra / getIntExtra. */
        fun read(string: (String) -> String?, int: (String, Int) -> Int): BenchmarkOptions = BenchmarkOptions(
            string(BenchmarkExtras.MODEL)?.takeIf { it.isNotEmpty() },
            string(BenchmarkExtras.TEXTS) ?: BenchmarkExtras.DEFAULT_TEXTS,
            int(BenchmarkExtras.THREADS, BenchmarkExtras.DEFAULT_THREADS),
            int(BenchmarkExtras.WARMUP, BenchmarkExtras.DEFAULT_WARMUP)
        )
    }
}

/** The runtime a model file needs, from its name as edgesdk names artifacts; null if unknown. */
fun runtimeOf(modelFile: File): String? = when {
    modelFile.name.endsWith(".pte") -> "executorch"
    modelFile.name.endsWith(".micro.tflite") -> null // TFLM: not an Android runtime
    modelFile.name.endsWith(".tflite") -> "litert"
    else -> null
}

/** BenchmarkActivity's result file, one JSON object per line (parsed by targets/adb.py). */
object BenchmarkLines {
    fun result(i: Int, c: Classification): String =
        "{\"i\":$i,\"ms\":${c.latencyMs},\"label\":${c.labelIndex},\"exit\":${c.exitIndex},\"layers\":${c.layers},\"bucket\":${c.bucket}}"

    fun done(count: Int): String = "{\"done\":$count}"

    fun error(e: Throwable): String = "{\"error\":${jsonString(e.toString())}}"
}

/** A JSON string literal with non-ASCII and control characters as u-escapes (no JSON library needed). */
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
