package dev.edgesdk.app

import android.app.Activity
import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import dev.edgesdk.TextClassifier
import java.util.concurrent.Executors

/** Type a sentence, see the label, its confidence, the exit that answered and the latency.
 *  Views are built in code: the app needs no AndroidX or layout resources. */
class MainActivity : Activity() {
    private val worker = Executors.newSingleThreadExecutor()
    private var classifier: TextClassifier? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val input = EditText(this).apply { setHint(R.string.hint) }
        val result = TextView(this).apply { textSize = 18f }
        val button = Button(this).apply { setText(R.string.classify) }
        val layout = LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(32, 32, 32, 32)
            addView(input)
            addView(button)
            addView(result)
        }
        setContentView(layout)
        button.setOnClickListener {
            val text = input.text.toString()
            worker.execute {
                val model = classifier ?: openClassifier(this).also { classifier = it }
                val c = model.classify(text)
                val exit = if (c.layers < 0) "single graph" else "exit ${c.exitIndex} after ${c.layers} layers"
                val line = "${c.label}\nconfidence %.3f\n$exit, %d tokens bucket\n%.2f ms".format(c.confidence, c.bucket, c.latencyMs)
                runOnUiThread { result.text = line }
            }
        }
    }

    override fun onDestroy() {
        worker.shutdown()
        super.onDestroy()
    }
}
