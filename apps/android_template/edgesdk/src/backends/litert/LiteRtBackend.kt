package dev.edgesdk

import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Runs a .tflite through LiteRT's Interpreter: one signature per (bucket, stage) for a staged
 * model, the only signature for a single graph. litert-torch names inputs args_0, args_1 and
 * outputs output_0.. in order; the logits are the last output. Android only (needs the LiteRT
 * AAR): edgesdk does not compile this file on the build machine.
 */
class LiteRtBackend(modelFile: File, threads: Int) : StageBackend {
    private val interpreter = Interpreter(modelFile, Interpreter.Options().setNumThreads(threads))

    override fun run(method: String?, input: StageInput): StageOutput {
        val key = method ?: interpreter.signatureKeys[0]
        val first: Any = input.ids?.let { arrayOf(it) } ?: (input.hidden as ByteBuffer).also { it.rewind() }
        val inputs = mapOf<String, Any>("args_0" to first, "args_1" to arrayOf(input.mask))
        val names = interpreter.getSignatureOutputs(key).sorted()
        val outputs = HashMap<String, Any>()
        for (name in names) {
            val size = interpreter.getOutputTensorFromSignature(name, key).numBytes()
            outputs[name] = ByteBuffer.allocateDirect(size).order(ByteOrder.nativeOrder())
        }
        interpreter.runSignature(inputs, outputs, key)
        val logits = floats(outputs[names.last()] as ByteBuffer, names.last(), key)
        return StageOutput(if (names.size > 1) outputs[names[0]] else null, logits)
    }

    /** Float logits, dequantized when the graph's output is int8. */
    private fun floats(buffer: ByteBuffer, name: String, key: String): FloatArray {
        val tensor = interpreter.getOutputTensorFromSignature(name, key)
        buffer.rewind()
        if (tensor.dataType() == DataType.FLOAT32) {
            return FloatArray(tensor.numElements()) { buffer.float }
        }
        val q = tensor.quantizationParams()
        return FloatArray(tensor.numElements()) { (buffer.get() - q.zeroPoint) * q.scale }
    }
}

/** The backend of this package's runtime (the generator ships exactly one). */
fun openBackend(modelFile: File, threads: Int): StageBackend = LiteRtBackend(modelFile, threads)
