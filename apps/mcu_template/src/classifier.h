/* edgesdk classifier: text -> on-device WordPiece ids -> TFLM Invoke -> label and
 * probabilities. One static interpreter over the model in flash and the arena in RAM
 * (classifier.cc), or for a staged model the early-exit controller (staged_classifier.cc). */
#ifndef EDGESDK_CLASSIFIER_H
#define EDGESDK_CLASSIFIER_H
#include <stddef.h>
#include <stdint.h>

#include "classifier_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int label;                                   /* argmax of the logits (first on ties) */
  float probabilities[EDGESDK_NUM_LABELS];     /* softmax of the dequantized logits */
  int8_t logits_int8[EDGESDK_NUM_LABELS];      /* the model's raw int8 output */
  int32_t ids[EDGESDK_SEQ_LEN], mask[EDGESDK_SEQ_LEN];
  size_t num_ids;                              /* real tokens in ids (the rest is [PAD]) */
  int exit_index;  /* staged models: which exit answered (the number of exits = the final classifier) */
  int layers;      /* staged models: encoder layers run; 0 for a single-graph model */
  int bucket;      /* input length the model ran at (the smallest bucket holding the sentence) */
} edgesdk_result;

/* 0 on success; 1 bad model schema, 2 op registration, 3 AllocateTensors (arena too small),
 * 4 unexpected input/output tensors. Call once before edgesdk_classify. */
int edgesdk_classifier_init(void);
/* 0 on success, 5 if Invoke failed. `text` is UTF-8, `len` bytes. */
int edgesdk_classify(const char* text, size_t len, edgesdk_result* out);
size_t edgesdk_arena_used_bytes(void);

#ifdef __cplusplus
}
#endif
#endif
