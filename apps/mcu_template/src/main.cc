// edgesdk demo firmware: classify the sentences in texts.c (tokenized here, on the device) and
// print ids, raw int8 logits and the label over semihosting stdout. Under qemu this is the
// package's check (edgesdk compares every line with Python); on a board, replace texts.c with
// your input (UART, sensor text) and printf with your console (see README.md).
// newlib-nano printf has no %f: probabilities are printed in parts per million.
#include <stdio.h>

#include "classifier.h"

extern "C" uint32_t stack_high_water_bytes(void);  // board/startup.c
extern "C" const char* const edgesdk_texts[];      // texts.c
extern "C" const uint32_t edgesdk_text_lengths[];
extern "C" const uint32_t edgesdk_text_count;

static edgesdk_result g_result;

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  int status = edgesdk_classifier_init();
  if (status == 3) {
    printf("EDGESDK error AllocateTensors failed with a %u B arena\n", (unsigned)EDGESDK_ARENA_BYTES);
    return 2;
  }
  if (status != 0) {
    printf("EDGESDK error classifier init failed (%d, see classifier.h)\n", status);
    return 1;
  }
  printf("EDGESDK arena_used_bytes=%u\n", (unsigned)edgesdk_arena_used_bytes());
  for (uint32_t i = 0; i < edgesdk_text_count; i++) {
    if (edgesdk_classify(edgesdk_texts[i], edgesdk_text_lengths[i], &g_result) != 0) {
      printf("EDGESDK error Invoke failed on input %u\n", (unsigned)i);
      return 3;
    }
    printf("EDGESDK ids %u:", (unsigned)i);
    for (size_t j = 0; j < g_result.num_ids; j++) printf(" %d", (int)g_result.ids[j]);
    printf("\nEDGESDK output %u:", (unsigned)i);
    for (int j = 0; j < EDGESDK_NUM_LABELS; j++) printf(" %d", (int)g_result.logits_int8[j]);
    printf("\nEDGESDK label %u: %d ppm=%ld %s\n", (unsigned)i, g_result.label,
           (long)(g_result.probabilities[g_result.label] * 1e6f), edgesdk_labels[g_result.label]);
#if EDGESDK_STAGED
    printf("EDGESDK exit %u: %d %d %d\n", (unsigned)i, g_result.exit_index, g_result.bucket, g_result.layers);
#endif
  }
  printf("EDGESDK stack_high_water_bytes=%lu\n", (unsigned long)stack_high_water_bytes());
  printf("EDGESDK done\n");
  return 0;
}
