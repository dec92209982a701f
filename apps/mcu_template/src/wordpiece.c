/* See wordpiece.h. The pipeline streams: raw text -> special-token split -> per-code-point
 * normalizer (tokenizer_tables.c) -> whitespace/punctuation split into a word buffer ->
 * greedy longest-match WordPiece with binary search over the sorted vocabulary. The one
 * cross-character step of BertNormalizer, NFD's sort of a run of combining marks by class,
 * happens in the word buffer as marks arrive (add_mark). */
#include "wordpiece.h"

#include <string.h>

#include "tokenizer_tables.h"

enum { KIND_DROP = 1, KIND_SPACE = 2, KIND_PAD = 3, KIND_HANGUL = 4, KIND_BLOCK = 5 };
enum { CLASS_WHITESPACE = 1, CLASS_PUNCTUATION = 2 };
#define WORD_BYTES (EDGESDK_MAX_WORD_CHARS * 4 + 4)

typedef struct {
  int32_t* ids;
  size_t count, limit; /* limit = max_length - 1: room before the final [SEP] */
  char word[WORD_BYTES];
  size_t word_bytes, word_chars; /* chars keep counting past the buffer: too long -> [UNK] */
  size_t run_start;              /* byte offset of the open run of kept combining marks */
  int in_run;
} Tokenizer;

/* One code point from UTF-8 at *p (advanced); malformed or truncated sequences -> U+FFFD. */
static uint32_t next_code_point(const unsigned char** p, const unsigned char* end) {
  const unsigned char* s = *p;
  uint32_t c = s[0];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (n == 0 || (size_t)(end - s) < n) {
    *p = s + 1;
    return 0xFFFD;
  }
  if (n > 1) c &= 0x7F >> n;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *p = s + i;
      return 0xFFFD;
    }
    c = (c << 6) | (s[i] & 0x3F);
  }
  *p = s + n;
  if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000)) return 0xFFFD;
  return c;
}

static size_t put_utf8(uint32_t c, char* out) {
  if (c < 0x80) { out[0] = (char)c; return 1; }
  if (c < 0x800) { out[0] = (char)(0xC0 | c >> 6); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | c >> 12); out[1] = (char)(0x80 | ((c >> 6) & 0x3F)); out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | c >> 18); out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

/* The kind of the range holding c in a {kind << 24 | first, last} table, 0 if none. */
static uint32_t range_kind(const uint32_t (*table)[2], uint32_t count, uint32_t c) {
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    uint32_t first = table[mid][0] & 0xFFFFFFu;
    if (c < first) hi = mid;
    else if (c > table[mid][1]) lo = mid + 1;
    else return table[mid][0] >> 24;
  }
  return 0;
}

static void push_id(Tokenizer* t, int32_t id) {
  if (t->count < t->limit) t->ids[t->count++] = id;
}

/* Vocabulary id of bytes[0..n), or -1 (binary search over the bytewise-sorted blob). */
static int32_t vocab_lookup(const char* bytes, size_t n) {
  size_t lo = 0, hi = k_vocab_count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char* token = k_vocab_utf8 + k_vocab_offsets[mid];
    size_t token_len = k_vocab_offsets[mid + 1] - k_vocab_offsets[mid];
    int cmp = memcmp(token, bytes, token_len < n ? token_len : n);
    if (cmp == 0) cmp = token_len < n ? -1 : token_len > n ? 1 : 0;
    if (cmp == 0) return (int32_t)k_vocab_ids[mid];
    if (cmp < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/* WordPiece on the buffered word: greedy longest match, one unmatched piece -> one [UNK]. */
static void flush_word(Tokenizer* t) {
  int32_t pieces[EDGESDK_MAX_WORD_CHARS];
  char candidate[WORD_BYTES + 16];
  size_t n = 0, start = 0, len = t->word_bytes;
  int ok = t->word_chars <= k_max_input_chars_per_word;
  if (t->word_chars == 0) return;
  while (ok && start < len) {
    size_t end = len, prefix = start > 0 ? k_subword_prefix_len : 0;
    int32_t found = -1;
    memcpy(candidate, k_subword_prefix, prefix);
    while (start < end) {
      memcpy(candidate + prefix, t->word + start, end - start);
      found = vocab_lookup(candidate, prefix + end - start);
      if (found >= 0) break;
      do end--; while (end > start && ((unsigned char)t->word[end] & 0xC0) == 0x80);
    }
    if (found < 0) ok = 0;
    else pieces[n++] = found;
    start = end;
  }
  if (!ok) push_id(t, k_unk_id);
  for (size_t i = 0; ok && i < n; i++) push_id(t, pieces[i]);
  t->word_bytes = t->word_chars = 0;
  t->in_run = 0;
}

/* BertPreTokenizer on one normalized code point. */
static void pre_tokenize(Tokenizer* t, uint32_t c) {
  uint32_t cls = range_kind(k_char_classes, k_char_classes_count, c);
  if (cls != 0) {
    flush_word(t);
    if (cls == CLASS_WHITESPACE) return;
  }
  if (t->word_chars < EDGESDK_MAX_WORD_CHARS + 1) t->word_bytes += put_utf8(c, t->word + t->word_bytes);
  t->word_chars++;
  if (cls == CLASS_PUNCTUATION) flush_word(t);
}

/* A combining mark the accent strip keeps (rank > 0). NFD sorts each run of marks by
 * combining class, stably; dropped marks and cleaned controls do not end a run, starters and
 * BLOCK code points do. Kept marks are word characters (the table generator checks), so the
 * open run lies at the end of the word buffer: the mark goes after the run's marks of lower or
 * equal rank. A word past the buffer is [UNK] whatever its order, so it is only counted. */
static void add_mark(Tokenizer* t, uint32_t c, uint32_t rank) {
  char bytes[4];
  size_t n, at = t->word_bytes;
  if (!t->in_run) {
    t->in_run = 1;
    t->run_start = t->word_bytes;
  }
  if (t->word_chars >= EDGESDK_MAX_WORD_CHARS + 1) {
    t->word_chars++;
    return;
  }
  for (const unsigned char *p = (const unsigned char*)t->word + t->run_start, *end = p + (t->word_bytes - t->run_start);
       p < end;) {
    const unsigned char* here = p;
    if (range_kind(k_mark_ranks, k_mark_ranks_count, next_code_point(&p, end)) > rank) {
      at = (size_t)(here - (const unsigned char*)t->word);
      break;
    }
  }
  n = put_utf8(c, bytes);
  memmove(t->word + at + n, t->word + at, t->word_bytes - at);
  memcpy(t->word + at, bytes, n);
  t->word_bytes += n;
  t->word_chars++;
}

/* One normalized code point: a kept combining mark joins the open run, anything else ends it. */
static void emit(Tokenizer* t, uint32_t c) {
  uint32_t rank = range_kind(k_mark_ranks, k_mark_ranks_count, c);
  if (rank != 0) {
    add_mark(t, c, rank);
    return;
  }
  t->in_run = 0;
  pre_tokenize(t, c);
}

static void emit_utf8(Tokenizer* t, const char* s, size_t n) {
  const unsigned char *p = (const unsigned char*)s, *end = p + n;
  while (p < end) emit(t, next_code_point(&p, end));
}

/* BertNormalizer on one raw code point, feeding what it becomes to the pre-tokenizer. */
static void normalize(Tokenizer* t, uint32_t c) {
  size_t lo = 0, hi = k_norm_map_count;
  switch (range_kind(k_norm_ranges, k_norm_ranges_count, c)) {
    case KIND_DROP: return;
    case KIND_BLOCK: t->in_run = 0; return;
    case KIND_SPACE: emit(t, ' '); return;
    case KIND_PAD: emit(t, ' '); emit(t, c); emit(t, ' '); return;
    case KIND_HANGUL: {
      uint32_t s = c - 0xAC00;
      emit(t, 0x1100 + s / 588);
      emit(t, 0x1161 + (s % 588) / 28);
      if (s % 28) emit(t, 0x11A7 + s % 28);
      return;
    }
    default: break;
  }
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (k_norm_map_keys[mid] < c) lo = mid + 1;
    else hi = mid;
  }
  if (lo < k_norm_map_count && k_norm_map_keys[lo] == c) {
    emit_utf8(t, k_norm_map_utf8 + k_norm_map_offsets[lo], k_norm_map_offsets[lo + 1] - k_norm_map_offsets[lo]);
  } else {
    emit(t, c);
  }
}

/* The special token starting at text[i], longest first (the table is sorted so), or -1. */
static int32_t special_at(const char* text, size_t i, size_t len, size_t* matched) {
  for (uint32_t k = 0; k < k_special_count; k++) {
    size_t n = strlen(k_special_tokens[k]);
    if (n <= len - i && memcmp(text + i, k_special_tokens[k], n) == 0) {
      *matched = n;
      return k_special_ids[k];
    }
  }
  return -1;
}

size_t edgesdk_tokenize(const char* text, size_t len, int32_t* ids, int32_t* mask, size_t max_length) {
  Tokenizer t;
  const unsigned char* p = (const unsigned char*)text;
  const unsigned char* end = p + len;
  t.ids = ids;
  t.count = 0;
  t.limit = max_length - 1;
  t.word_bytes = t.word_chars = t.run_start = 0;
  t.in_run = 0;
  push_id(&t, k_cls_id);
  while (p < end && t.count < t.limit) {
    size_t matched = 0;
    int32_t special = special_at(text, (size_t)(p - (const unsigned char*)text), len, &matched);
    if (special >= 0) {
      flush_word(&t);
      push_id(&t, special);
      p += matched;
    } else {
      normalize(&t, next_code_point(&p, end));
    }
  }
  flush_word(&t);
  t.ids[t.count++] = k_sep_id;
  for (size_t i = 0; i < max_length; i++) {
    if (i >= t.count) ids[i] = k_pad_id;
    mask[i] = i < t.count;
  }
  return t.count;
}
