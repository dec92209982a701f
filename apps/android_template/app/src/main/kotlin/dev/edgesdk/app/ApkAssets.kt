package dev.edgesdk.app

import android.content.Context
import dev.edgesdk.AssetSource
import dev.edgesdk.Assets
import dev.edgesdk.TextClassifier
import dev.edgesdk.openBackend
import dev.edgesdk.runtimeOf
import java.io.File
import java.io.InputStream

/** The packaged assets inside the APK. */
class ApkAssets(private val context: Context) : AssetSource {
    override fun open(name: String): InputStream = context.assets.open(name)
    override fun exists(name: String): Boolean = context.assets.list("")?.contains(name) == true
}

/** The classifier over this APK's model, or over `modelFile` (BenchmarkActivity's `model`
 *  extra) with this APK's tokenizer, labels and exit plan. Runtimes load models from files, so
 *  the model asset is copied to internal storage once (again when its size changes, i.e. a
 *  new model). */
fun openClassifier(context: Context, threads: Int = 2, modelFile: File? = null): TextClassifier {
    val assets = ApkAssets(context)
    val info = Assets.model(assets)
    if (modelFile != null) {
        require(modelFile.isFile) { "model file $modelFile does not exist or is not readable by the app" }
        require(runtimeOf(modelFile) == info.runtime) { "$modelFile is not a ${info.runtime} model; this app runs ${info.runtime}" }
        return TextClassifier(assets, openBackend(modelFile, threads))
    }
    val name = info.modelFile
    val file = File(context.filesDir, name)
    val size = context.assets.openFd(name).use { it.length }
    if (!file.isFile || file.length() != size) {
        context.assets.open(name).use { input -> file.outputStream().use { input.copyTo(it) } }
    }
    return TextClassifier(assets, openBackend(file, threads))
}
