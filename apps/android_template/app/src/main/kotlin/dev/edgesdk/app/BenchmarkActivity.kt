package dev.edgesdk.app

import android.app.Activity
import android.os.Bundle
import android.util.Log
import dev.edgesdk.BenchmarkExtras
import dev.edgesdk.BenchmarkLines
import dev.edgesdk.BenchmarkOptions
import java.io.File

/**
 * Latency over a texts file, for edgesdk's adb profiler (no instrumentation APK needed):
 *
 *   adb push texts.txt /sdcard/Android/data/APP_ID/files/texts.txt
 *   adb shell am start -W -n APP_ID/dev.edgesdk.app.BenchmarkActivity --ei warmup 5 --ei threads 2
 *   adb pull /sdcard/Android/data/APP_ID/files/bench.jsonl
 *
 * `--es model NAME` times another model file with this app's own code (tokenizer, controller,
 * runtime): a name in the same files dir (where `adb push` writes), or an absolute path the
 * app may read. It must be an artifact of the same build (same tokenizer, labels and exit
 * plan as the APK's assets) for this app's runtime. `edgesdk profile --device SERIAL --app
 * APP_ID` pushes the artifact and texts there and runs exactly this (targets/adb.py).
 *
 * One JSON line per text (also logged under the tag edgesdk-bench), then a "done" line; a
 * failure is one {"error": ...} line instead, so the profiler can say what went wrong.
 */
class BenchmarkActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        Thread {
            val dir = getExternalFilesDir(null)!!
            File(dir, BenchmarkExtras.RESULT_FILE).printWriter().use { out ->
                try {
                    val options = BenchmarkOptions.read({ intent.getStringExtra(it) }, { k, d -> intent.getIntExtra(k, d) })
                    val texts = options.textsFile(dir).readLines(Charsets.UTF_8)
                    val classifier = openClassifier(this, options.threads, options.modelFile(dir))
                    for (i in 0 until options.warmup) classifier.classify(texts[i % texts.size])
                    for ((i, text) in texts.withIndex()) {
                        val line = BenchmarkLines.result(i, classifier.classify(text))
                        out.println(line)
                        Log.i(TAG, line)
                    }
                    out.println(BenchmarkLines.done(texts.size))
                    Log.i(TAG, BenchmarkLines.done(texts.size))
                } catch (e: Exception) {
                    out.println(BenchmarkLines.error(e))
                    Log.e(TAG, "benchmark failed", e)
                }
            }
            runOnUiThread { finish() }
        }.start()
    }

    companion object {
        const val TAG = "edgesdk-bench"
    }
}
