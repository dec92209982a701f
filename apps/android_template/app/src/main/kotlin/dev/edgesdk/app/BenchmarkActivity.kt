package dev.edgesdk.app

import android.app.Activity
import android.os.Bundle
import android.util.Log
import java.io.File

/**
 * Latency over a texts file, for edgesdk's adb profiler (no instrumentation APK needed):
 *
 *   adb push texts.txt /sdcard/Android/data/APP_ID/files/texts.txt
 *   adb shell am start -W -n APP_ID/dev.edgesdk.app.BenchmarkActivity --ei warmup 5 --ei threads 2
 *   adb pull /sdcard/Android/data/APP_ID/files/bench.jsonl
 *
 * One JSON line per text (also logged under the tag edgesdk-bench), then a "done" line.
 */
class BenchmarkActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        Thread {
            val dir = getExternalFilesDir(null)!!
            val texts = File(dir, intent.getStringExtra("texts") ?: "texts.txt").readLines(Charsets.UTF_8)
            val classifier = openClassifier(this, intent.getIntExtra("threads", 2))
            val warmup = intent.getIntExtra("warmup", 5)
            for (i in 0 until warmup) classifier.classify(texts[i % texts.size])
            File(dir, "bench.jsonl").printWriter().use { out ->
                for ((i, text) in texts.withIndex()) {
                    val c = classifier.classify(text)
                    val line = "{\"i\":$i,\"ms\":${c.latencyMs},\"label\":${c.labelIndex},\"exit\":${c.exitIndex},\"layers\":${c.layers},\"bucket\":${c.bucket}}"
                    out.println(line)
                    Log.i(TAG, line)
                }
                out.println("{\"done\":${texts.size}}")
            }
            Log.i(TAG, "{\"done\":${texts.size}}")
            runOnUiThread { finish() }
        }.start()
    }

    companion object {
        const val TAG = "edgesdk-bench"
    }
}
