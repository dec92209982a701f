// See classifier.h. The early-exit controller for a staged model (the C twin of
// converters/controller.py): pick the smallest length bucket that holds the sentence, run its
// stages in order, and stop at the first exit whose softmax confidence reaches its threshold
// (exit_plan.h); the last stage always answers.
//
// Each stage is a flatbuffer of its own inside the packed model (TFLM invokes subgraph 0 only),
// so one interpreter is re-created over the one arena for every stage it runs: the arena is the
// largest stage's, not their sum, at the price of an AllocateTensors per stage (counted in the
// instructions the package check reports). The hidden state crosses stages as the int8 tensor
// the previous stage produced, as the Python and Kotlin controllers pass it.
#include <math.h>
#include <new>
#include <string.h>

#include "classifier.h"
#include "exit_plan.h"  // generated: buckets, stage offsets, thresholds, confidence kind
#include "model_ops.h"  // generated: ModelOpResolver, RegisterModelOps (exactly the model's ops)
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "wordpiece.h"

extern "C" const unsigned char g_model[];  // model_data.c: the packed stages, 16-byte aligned
alignas(16) static uint8_t g_arena[EDGESDK_ARENA_BYTES];
alignas(tflite::MicroInterpreter) static uint8_t g_interpreter_storage[sizeof(tflite::MicroInterpreter)];
static tflite::MicroInterpreter* g_interpreter = nullptr;
static ModelOpResolver g_resolver;
static int8_t g_hidden[EDGESDK_HIDDEN_BYTES];
static size_t g_arena_used_max = 0;

extern "C" __attribute__((noinline, used)) void edgesdk_mark(uint32_t id) {
  __asm volatile("" ::"r"(id) : "memory");
}
extern "C" __attribute__((noipa, used)) void edgesdk_mark_tokenize(uint32_t id) {
  __asm volatile("@ tokenize" ::"r"(id) : "memory");
}

// The interpreter of stage `stage` of bucket `bucket` (indices), allocated over the arena.
static int open_stage(int bucket, int stage) {
  if (g_interpreter != nullptr) {
    g_interpreter->~MicroInterpreter();
    g_interpreter = nullptr;
  }
  const tflite::Model* model = tflite::GetModel(g_model + edgesdk_stage_offsets[bucket][stage]);
  if (model->version() != TFLITE_SCHEMA_VERSION) return 1;
  g_interpreter = new (g_interpreter_storage) tflite::MicroInterpreter(model, g_resolver, g_arena, sizeof(g_arena));
  if (g_interpreter->AllocateTensors() != kTfLiteOk) return 3;
  if (g_interpreter->arena_used_bytes() > g_arena_used_max) g_arena_used_max = g_interpreter->arena_used_bytes();
  return 0;
}

static bool is_tensor(const TfLiteTensor* t, TfLiteType type, size_t bytes) { return t->type == type && t->bytes == bytes; }

// Every stage opened once: its tensors must be what the controller feeds and reads.
static int check_stage(int bucket, int stage) {
  const size_t length = (size_t)edgesdk_buckets[bucket];
  const bool first = stage == 0, last = stage == EDGESDK_NUM_STAGES - 1;
  tflite::MicroInterpreter& in = *g_interpreter;
  if (in.inputs_size() != 2 || in.outputs_size() != (last ? 1u : 2u)) return 4;
  if (!is_tensor(in.input(1), kTfLiteInt32, length * sizeof(int32_t))) return 4;
  if (first ? !is_tensor(in.input(0), kTfLiteInt32, length * sizeof(int32_t))
            : !is_tensor(in.input(0), kTfLiteInt8, length * EDGESDK_HIDDEN_WIDTH))
    return 4;
  if (!last && !is_tensor(in.output(0), kTfLiteInt8, length * EDGESDK_HIDDEN_WIDTH)) return 4;
  if (!is_tensor(in.output(last ? 0 : 1), kTfLiteInt8, EDGESDK_NUM_LABELS)) return 4;
  return 0;
}

extern "C" int edgesdk_classifier_init(void) {
  tflite::InitializeTarget();
  if (RegisterModelOps(g_resolver) != kTfLiteOk) return 2;
  for (int b = 0; b < EDGESDK_NUM_BUCKETS; b++) {
    for (int s = 0; s < EDGESDK_NUM_STAGES; s++) {
      int status = open_stage(b, s);
      if (status == 0) status = check_stage(b, s);
      if (status != 0) return status;
    }
  }
  return 0;
}

// The largest arena any stage kept allocated (each re-plans the same arena).
extern "C" size_t edgesdk_arena_used_bytes(void) { return g_arena_used_max; }

// Softmax of the dequantized logits; the confidence the exit rule compares (edgesdk/exit_rule.py).
static double confidence(const int8_t* q, float scale, int zero_point, float* probabilities) {
  float logits[EDGESDK_NUM_LABELS];
  double z[EDGESDK_NUM_LABELS], top = -INFINITY, sum = 0.0, best = 0.0, entropy = 0.0;
  for (int i = 0; i < EDGESDK_NUM_LABELS; i++) {
    logits[i] = (float)(q[i] - zero_point) * scale;  // float32, as numpy dequantizes
    if (logits[i] > top) top = logits[i];
  }
  for (int i = 0; i < EDGESDK_NUM_LABELS; i++) sum += z[i] = exp((double)logits[i] - top);
  for (int i = 0; i < EDGESDK_NUM_LABELS; i++) {
    double p = z[i] / sum;
    probabilities[i] = (float)p;
    if (p > best) best = p;
    entropy -= p * log(p < 1e-12 ? 1e-12 : p);
  }
  return EDGESDK_CONFIDENCE_ENTROPY ? 1.0 - entropy / log((double)EDGESDK_NUM_LABELS) : best;
}

extern "C" int edgesdk_classify(const char* text, size_t len, edgesdk_result* out) {
  edgesdk_mark_tokenize(1);
  out->num_ids = edgesdk_tokenize(text, len, out->ids, out->mask, EDGESDK_SEQ_LEN);
  edgesdk_mark_tokenize(2);
  edgesdk_mark(1);
  size_t real = 0;
  for (int i = 0; i < EDGESDK_SEQ_LEN; i++) real += out->mask[i] != 0;
  int bucket = EDGESDK_NUM_BUCKETS - 1;
  for (int b = 0; b < EDGESDK_NUM_BUCKETS; b++) {
    if ((size_t)edgesdk_buckets[b] >= real) {
      bucket = b;
      break;
    }
  }
  const size_t length = (size_t)edgesdk_buckets[bucket];
  const TfLiteTensor* logits = nullptr;
  int stage = 0;
  for (;; stage++) {
    if (open_stage(bucket, stage) != 0) return 5;
    // The arena planner may reuse input buffers: fill both before every Invoke.
    if (stage == 0) {
      memcpy(g_interpreter->input(0)->data.i32, out->ids, length * sizeof(int32_t));
    } else {
      memcpy(g_interpreter->input(0)->data.int8, g_hidden, length * EDGESDK_HIDDEN_WIDTH);
    }
    memcpy(g_interpreter->input(1)->data.i32, out->mask, length * sizeof(int32_t));
    if (g_interpreter->Invoke() != kTfLiteOk) return 5;
    const bool last = stage == EDGESDK_NUM_STAGES - 1;
    logits = g_interpreter->output(last ? 0 : 1);
    double sure = confidence(logits->data.int8, logits->params.scale, logits->params.zero_point, out->probabilities);
#ifndef EDGESDK_NEVER_EXIT  // build with -DEDGESDK_NEVER_EXIT to run every stage (the no-exit baseline)
    if (!last && sure >= edgesdk_thresholds[stage]) break;
#else
    (void)sure;
#endif
    if (last) break;
    memcpy(g_hidden, g_interpreter->output(0)->data.int8, length * EDGESDK_HIDDEN_WIDTH);
  }
  edgesdk_mark(2);
  memcpy(out->logits_int8, logits->data.int8, EDGESDK_NUM_LABELS);
  out->label = 0;
  for (int i = 1; i < EDGESDK_NUM_LABELS; i++)
    if (out->logits_int8[i] > out->logits_int8[out->label]) out->label = i;
  out->exit_index = stage;
  out->layers = edgesdk_stage_layers[stage];
  out->bucket = (int)length;
  return 0;
}
