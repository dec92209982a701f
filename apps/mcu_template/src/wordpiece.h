/* edgesdk C WordPiece tokenizer: HF `tokenizers` BertNormalizer + BertPreTokenizer + WordPiece
 * + [CLS] ... [SEP], with special tokens matched in the raw text. C99, no malloc, no locale:
 * every table (normalizer, character classes, vocabulary) is generated into
 * tokenizer_tables.c and lives in flash. edgesdk checks its ids against the Python tokenizer
 * on every sentence the build's package check classifies. */
#ifndef EDGESDK_WORDPIECE_H
#define EDGESDK_WORDPIECE_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* Tokenize `len` bytes of UTF-8 (invalid bytes count as U+FFFD, which clean_text drops) into
 * ids[0..n) and mask (1 for the n ids, 0 up to max_length, ids padded with [PAD]); returns n.
 * Truncates as edgesdk does: the first max_length - 1 ids, then [SEP]. max_length >= 2. */
size_t edgesdk_tokenize(const char* text, size_t len, int32_t* ids, int32_t* mask, size_t max_length);

#ifdef __cplusplus
}
#endif
#endif
