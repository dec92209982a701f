package dev.edgesdk

/**
 * The early-exit / length-bucket controller: the Kotlin twin of converters/controller.py.
 *
 * Early exit is not control flow inside the model (the runtimes cannot lower it), so the
 * model file holds one straight-line method per (length bucket, stage), named b{bucket}_s{stage},
 * and this controller decides: take the smallest bucket that holds the sentence, run stage 0,
 * and keep running stages until an exit's confidence reaches its threshold or the final
 * classifier answers. The rule must agree with Python's bit for bit, so softmax and the sums
 * are computed in double exactly as numpy does (including its pairwise summation order).
 */
interface StageBackend {
    /** Runs one method. Stage 0 gets ids; later stages get the previous stage's hidden states.
     *  A null method is the single-graph model's only entry point. */
    fun run(method: String?, input: StageInput): StageOutput
}

/** ids (stage 0 / single graph) or the previous stage's opaque hidden states, plus the mask. */
class StageInput(val ids: IntArray?, val hidden: Any?, val mask: IntArray)

/** hidden is the backend's own tensor handed to the next stage untouched; null after the last stage. */
class StageOutput(val hidden: Any?, val logits: FloatArray)

class ExitPlan(
    val buckets: IntArray,
    val exitLayers: IntArray,
    val numLayers: Int,
    val thresholds: DoubleArray,
    val confidence: String
) {
    init {
        require(buckets.isNotEmpty() && buckets.toList() == buckets.sorted()) { "buckets must be ascending" }
        require(thresholds.size == exitLayers.size) { "one threshold per exit" }
        require(confidence == "maxprob" || confidence == "entropy") { "confidence must be maxprob or entropy" }
    }

    val stageEnds: IntArray get() = exitLayers + numLayers

    /** The smallest bucket that holds `length` tokens, else the largest. */
    fun bucketFor(length: Int): Int = buckets.firstOrNull { it >= length } ?: buckets[buckets.size - 1]

    /** Stop at an exit when its confidence reaches that exit's threshold; the last stage always answers. */
    fun stops(stage: Int, logits: FloatArray): Boolean =
        stage >= exitLayers.size || Confidence.of(Confidence.softmax(logits), confidence) >= thresholds[stage]

    companion object {
        fun methodName(bucket: Int, stage: Int): String = "b${bucket}_s$stage"
    }
}

class Classification(
    val labelIndex: Int,
    val label: String,
    val probabilities: DoubleArray,
    val exitIndex: Int, // which exit answered; exitLayers.size = the final classifier
    val layers: Int, // encoder layers executed
    val bucket: Int, // input length the model ran at
    val latencyMs: Double
) {
    val confidence: Double get() = probabilities[labelIndex]
}

/** Softmax and confidence in double, in numpy's order of operations. */
object Confidence {
    fun softmax(logits: FloatArray): DoubleArray {
        var max = Double.NEGATIVE_INFINITY
        for (v in logits) if (v.toDouble() > max) max = v.toDouble()
        val z = DoubleArray(logits.size) { Math.exp(logits[it].toDouble() - max) }
        val total = numpySum(z)
        return DoubleArray(z.size) { z[it] / total }
    }

    /** Higher is surer: the max probability, or one minus the normalised entropy. */
    fun of(probs: DoubleArray, kind: String): Double {
        if (kind == "maxprob") {
            var best = Double.NEGATIVE_INFINITY
            for (p in probs) if (p > best) best = p
            return best
        }
        val terms = DoubleArray(probs.size) { probs[it] * Math.log(Math.min(Math.max(probs[it], 1e-12), 1.0)) }
        val entropy = -numpySum(terms)
        return 1.0 - entropy / Math.log(probs.size.toDouble())
    }

    /** numpy's pairwise summation of a contiguous float64 array (8 accumulators up to 128
     *  values, halves beyond), so the sum is bit-identical to np.sum and the threshold
     *  comparison never flips between Python and Kotlin. */
    fun numpySum(a: DoubleArray, from: Int = 0, n: Int = a.size): Double {
        if (n < 8) {
            var res = 0.0
            for (i in from until from + n) res += a[i]
            return res
        }
        if (n <= 128) {
            val r = DoubleArray(8) { a[from + it] }
            var i = 8
            while (i < n - n % 8) {
                for (j in 0 until 8) r[j] += a[from + i + j]
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while (i < n) {
                res += a[from + i]
                i += 1
            }
            return res
        }
        var half = n / 2
        half -= half % 8
        return numpySum(a, from, half) + numpySum(a, from + half, n - half)
    }
}

/** Runs a staged model (plan != null) through its exits, or a single-graph model once. */
class ExitController(private val backend: StageBackend, private val plan: ExitPlan?, private val seqLen: Int) {
    /** ids: one sentence's token ids with [CLS]/[SEP], at most seqLen long; padId fills the bucket. */
    fun classify(ids: IntArray, labels: List<String>, padId: Int = 0): Classification {
        val start = System.nanoTime()
        val length = ids.size
        val bucket = plan?.bucketFor(length) ?: seqLen
        val x = IntArray(bucket) { if (it < length) ids[it] else padId }
        val mask = IntArray(bucket) { if (it < length) 1 else 0 }
        var stage = 0
        var logits: FloatArray
        if (plan == null) {
            logits = backend.run(null, StageInput(x, null, mask)).logits
        } else {
            var hidden: Any? = null
            while (true) {
                val out = backend.run(ExitPlan.methodName(bucket, stage), StageInput(if (stage == 0) x else null, hidden, mask))
                logits = out.logits
                if (plan.stops(stage, logits)) break
                hidden = out.hidden
                stage += 1
            }
        }
        val probs = Confidence.softmax(logits)
        var best = 0
        for (i in probs.indices) if (probs[i] > probs[best]) best = i
        val layers = plan?.stageEnds?.get(stage) ?: -1
        val ms = (System.nanoTime() - start) / 1e6
        return Classification(best, labels.getOrElse(best) { best.toString() }, probs, stage, layers, bucket, ms)
    }
}
