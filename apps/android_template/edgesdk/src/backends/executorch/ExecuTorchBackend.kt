package dev.edgesdk

import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import java.io.File

/**
 * Runs a .pte through the ExecuTorch Android AAR: one method per (bucket, stage) for a staged
 * model, "forward" for a single graph. Android only (needs the AAR): edgesdk does not compile
 * this file on the build machine, so it is kept to the Module/EValue/Tensor calls of the
 * ExecuTorch Android docs.
 */
class ExecuTorchBackend(modelFile: File) : StageBackend {
    private val module: Module = Module.load(modelFile.absolutePath)

    override fun run(method: String?, input: StageInput): StageOutput {
        val shape = longArrayOf(1, input.mask.size.toLong())
        val first = input.ids?.let { EValue.from(Tensor.fromBlob(it, shape)) } ?: input.hidden as EValue
        val outputs = module.execute(method ?: "forward", first, EValue.from(Tensor.fromBlob(input.mask, shape)))
        val logits = outputs[outputs.size - 1].toTensor().dataAsFloatArray
        // Copy the hidden states into a Java-owned tensor for the next stage.
        val hidden = if (outputs.size > 1) outputs[0].toTensor().let { EValue.from(Tensor.fromBlob(it.dataAsFloatArray, it.shape())) } else null
        return StageOutput(hidden, logits)
    }
}

/** The backend of this package's runtime (the generator ships exactly one). */
fun openBackend(modelFile: File, threads: Int): StageBackend = ExecuTorchBackend(modelFile)
