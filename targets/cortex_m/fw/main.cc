// edgesdk Cortex-M profiling firmware: run the model on N token-id inputs, print raw int8
// outputs, the arena bytes used and the stack high-water mark. edgesdk_mark() brackets each
// Invoke for the qemu instruction-count plugin. Structure after
// ../shared/examples/cortex-m-qemu/fw/main.cc.
// newlib-nano printf has no %llu or %f: only 32-bit integers are printed.
#include <stdio.h>
#include <string.h>

#include "edgesdk_model.h"  // generated: g_model, g_ids/g_mask, g_arena, ModelOpResolver
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

extern "C" uint32_t stack_high_water_bytes(void);

// The plugin records its instruction count whenever this function's first instruction runs.
extern "C" __attribute__((noinline, used)) void edgesdk_mark(uint32_t id) {
  __asm volatile("" ::"r"(id) : "memory");
}

static bool fill_int32(TfLiteTensor* tensor, const int32_t* values, unsigned count) {
  if (tensor->type != kTfLiteInt32 || tensor->bytes != count * sizeof(int32_t)) return false;
  memcpy(tensor->data.i32, values, tensor->bytes);
  return true;
}

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);  // keep ordering with TFLM's stderr logs
  tflite::InitializeTarget();
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    printf("EDGESDK error model schema version %lu, runtime expects %d\n", (unsigned long)model->version(),
           TFLITE_SCHEMA_VERSION);
    return 1;
  }
  static ModelOpResolver resolver;
  if (RegisterModelOps(resolver) != kTfLiteOk) {
    printf("EDGESDK error op registration failed\n");
    return 1;
  }
  static tflite::MicroInterpreter interpreter(model, resolver, g_arena, g_arena_size);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("EDGESDK error AllocateTensors failed with a %u B arena\n", g_arena_size);
    return 2;
  }
  printf("EDGESDK arena_used_bytes=%u\n", (unsigned)interpreter.arena_used_bytes());
  if (interpreter.inputs_size() != 2 || interpreter.output(0)->type != kTfLiteInt8) {
    printf("EDGESDK error expected inputs (ids, mask) and an int8 output\n");
    return 4;
  }
  for (unsigned i = 0; i < g_num_inputs; i++) {
    // The arena planner may reuse input buffers: refill both before every Invoke.
    if (!fill_int32(interpreter.input(0), g_ids + i * g_seq_len, g_seq_len) ||
        !fill_int32(interpreter.input(1), g_mask + i * g_seq_len, g_seq_len)) {
      printf("EDGESDK error inputs are not int32[%u]\n", g_seq_len);
      return 4;
    }
    edgesdk_mark(1);
    TfLiteStatus status = interpreter.Invoke();
    edgesdk_mark(2);
    if (status != kTfLiteOk) {
      printf("EDGESDK error Invoke failed on input %u\n", i);
      return 3;
    }
    const TfLiteTensor* out = interpreter.output(0);
    printf("EDGESDK output %u:", i);
    for (unsigned j = 0; j < out->bytes; j++) printf(" %d", (int)out->data.int8[j]);
    printf("\n");
  }
  printf("EDGESDK stack_high_water_bytes=%lu\n", (unsigned long)stack_high_water_bytes());
  printf("EDGESDK done\n");
  return 0;
}
