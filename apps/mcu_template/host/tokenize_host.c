/* Host check driver (not part of the firmware): the C tokenizer on texts from stdin, each
 * ended by a NUL byte, one line of ids per text on stdout (argv[1]: max_length, default the
 * model's); `--labels` prints the label
 * strings as compiled, NUL-terminated, so the escaping is checked byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_config.h"
#include "wordpiece.h"

int main(int argc, char** argv) {
  enum { MAX_IDS = 4096 };
  static int32_t ids[MAX_IDS], mask[MAX_IDS];
  size_t max_length = argc > 1 && strcmp(argv[1], "--labels") != 0 ? (size_t)atoi(argv[1]) : EDGESDK_SEQ_LEN;
  size_t cap = 1 << 20, len = 0, got;
  char* data = malloc(cap);
  if (argc > 1 && strcmp(argv[1], "--labels") == 0) {
    for (unsigned i = 0; i < EDGESDK_NUM_LABELS; i++) fwrite(edgesdk_labels[i], 1, strlen(edgesdk_labels[i]) + 1, stdout);
    return 0;
  }
  while (data && (got = fread(data + len, 1, cap - len, stdin)) > 0) {
    len += got;
    if (len == cap) data = realloc(data, cap *= 2);
  }
  if (!data || max_length < 2 || max_length > MAX_IDS) return 1;
  for (size_t start = 0; start < len;) {
    char* body;
    size_t text_len = (size_t)strtoul(data + start, &body, 10);
    if (*body != '\n' || (size_t)(body + 1 - data) + text_len > len) return 1;
    size_t n = edgesdk_tokenize(body + 1, text_len, ids, mask, max_length);
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
    printf("\n");
    start = (size_t)(body + 1 - data) + text_len;
  }
  return 0;
}
