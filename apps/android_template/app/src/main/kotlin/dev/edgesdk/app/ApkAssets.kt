package dev.edgesdk.app

import android.content.Context
import dev.edgesdk.AssetSource
import dev.edgesdk.Assets
import dev.edgesdk.TextClassifier
import dev.edgesdk.openBackend
import java.io.File
import java.io.InputStream

/** The packaged assets inside the APK. */
class ApkAssets(private val context: Context) : AssetSource {
    override fun open(name: String): InputStream = context.assets.open(name)
    override fun exists(name: String): Boolean = context.assets.list("")?.contains(name) == true
}

/** The classifier over this APK's model. Runtimes load models from files, so the model asset
 *  is copied to internal storage once (again when its size changes, i.e. a new model). */
fun openClassifier(context: Context, threads: Int = 2): TextClassifier {
    val assets = ApkAssets(context)
    val name = Assets.model(assets).modelFile
    val file = File(context.filesDir, name)
    val size = context.assets.openFd(name).use { it.length }
    if (!file.isFile || file.length() != size) {
        context.assets.open(name).use { input -> file.outputStream().use { input.copyTo(it) } }
    }
    return TextClassifier(assets, openBackend(file, threads))
}
