"""The C tokenizer's data: normalizer and pre-tokenizer tables, and the vocabulary in flash.

The tables are read off Hugging Face `tokenizers` itself, one code point at a time, not off
Python's `unicodedata` (a different Unicode version: 106 punctuation code points differ) or
Java's tables (~463 differ). BertNormalizer works per code point (clean text, CJK spacing,
NFD + drop Mn, lowercase are all per-character maps; NFD's canonical reordering only matters
for two adjacent non-Mn combining marks, which the accent strip leaves almost never), so
normalize(text) == concat(normalize(c) for c in text), and one probe per code point is exact.

Compactly: runs of code points that are dropped (controls, Mn), become a space, get spaces
around them (CJK) or decompose algorithmically (Hangul) are ranges; the ~3k others (case and
accent folds) are a sorted table of code point -> UTF-8 replacement. The vocabulary is one
blob of token strings sorted bytewise with offsets and ids, for binary search.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from edgesdk.apps.escape import c_string
from edgesdk.apps.wordpiece import WordPieceSpec

MAX_CODE_POINT = 0x110000
SURROGATES = range(0xD800, 0xE000)
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3
# Range kinds, as in wordpiece.c (stored in the top byte of a range's start word).
DROP, SPACE, PAD, HANGUL = 1, 2, 3, 4
WHITESPACE, PUNCTUATION = 1, 2
PROBE_CHUNK = 4096


def _code_points() -> list[int]:
    return [c for c in range(MAX_CODE_POINT) if c not in SURROGATES]


def hangul_nfd(cp: int) -> str:
    """The Unicode algorithmic decomposition of a Hangul syllable (L V [T] jamo)."""
    s = cp - HANGUL_FIRST
    lead, vowel, tail = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, 0x11A7 + s % 28
    return chr(lead) + chr(vowel) + (chr(tail) if s % 28 else "")


@lru_cache(maxsize=8)
def normalizer_map(clean_text: bool, chinese: bool, strip_accents: bool, lowercase: bool) -> dict[int, str]:
    """Every code point BertNormalizer changes -> what it becomes (~2.5 s, cached per flags)."""
    from tokenizers.normalizers import BertNormalizer

    normalizer = BertNormalizer(
        clean_text=clean_text, handle_chinese_chars=chinese, strip_accents=strip_accents, lowercase=lowercase
    )
    changed = {}
    for cp in _code_points():
        out = normalizer.normalize_str(chr(cp))
        if out != chr(cp):
            changed[cp] = out
    return changed


@lru_cache(maxsize=1)
def pretokenizer_classes() -> dict[int, int]:
    """Code points BertPreTokenizer splits on: WHITESPACE (dropped) or PUNCTUATION (a word of
    its own). Probed in chunks as "a<c>a<c>...": a code point no token covers is whitespace,
    one covered by a 1-character token is punctuation."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    pre = BertPreTokenizer()
    classes = {}
    points = _code_points()
    for start in range(0, len(points), PROBE_CHUNK):
        chunk = points[start : start + PROBE_CHUNK]
        covered = {}
        for _, (a, b) in pre.pre_tokenize_str("".join("a" + chr(c) for c in chunk)):
            covered.update({p: b - a for p in range(a, b)})
        for k, cp in enumerate(chunk):
            width = covered.get(2 * k + 1)
            if width is None:
                classes[cp] = WHITESPACE
            elif width == 1:
                classes[cp] = PUNCTUATION
    return classes


def runs(kinds: dict[int, int]) -> list[tuple[int, int, int]]:
    """(first, last, kind) for maximal runs of consecutive code points of one kind."""
    out: list[list[int]] = []
    for cp in sorted(kinds):
        if out and out[-1][1] == cp - 1 and out[-1][2] == kinds[cp]:
            out[-1][1] = cp
        else:
            out.append([cp, cp, kinds[cp]])
    return [tuple(r) for r in out]


def split_normalizer(changed: dict[int, str]) -> tuple[list[tuple[int, int, int]], dict[int, str]]:
    """(range table, explicit map): each changed code point goes to a range kind when its
    output is one the C code computes, else to the explicit map."""
    kinds, explicit = {}, {}
    for cp, out in changed.items():
        if out == "":
            kinds[cp] = DROP
        elif out == " ":
            kinds[cp] = SPACE
        elif out == f" {chr(cp)} ":
            kinds[cp] = PAD
        elif HANGUL_FIRST <= cp <= HANGUL_LAST and out == hangul_nfd(cp):
            kinds[cp] = HANGUL
        else:
            explicit[cp] = out
    return runs(kinds), explicit


@dataclass(frozen=True)
class TableSizes:
    normalizer_bytes: int
    classes_bytes: int
    vocab_bytes: int


def vocab_id_type(spec: WordPieceSpec) -> str:
    """uint16_t ids when they fit (half the flash of int32_t for a 30k vocabulary)."""
    return "uint16_t" if max(i for _, i in spec.vocab) < 1 << 16 else "int32_t"


def _words(values, per_line: int = 12) -> str:
    items = [str(v) for v in values]
    return ",\n".join("  " + ", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line))


def _range_table(name: str, table: list[tuple[int, int, int]]) -> str:
    body = _words((f"{{0x{(kind << 24) | first:08x}u, 0x{last:06x}u}}" for first, last, kind in table), 4)
    return f"const uint32_t {name}[][2] = {{\n{body}\n}};\nconst uint32_t {name}_count = {len(table)};\n"


def _blob(name: str, strings: list[bytes]) -> tuple[str, list[int]]:
    """A char array of the concatenated strings (one literal per string) and their offsets."""
    offsets, total = [], 0
    for s in strings:
        offsets.append(total)
        total += len(s)
    offsets.append(total)
    body = "\n".join("  " + c_string(s) for s in strings) if strings else '  ""'
    return f"const char {name}[{total + 1}] =\n{body};\n", offsets


def tables_source(spec: WordPieceSpec, max_length: int) -> tuple[str, TableSizes]:
    """tokenizer_tables.c: the configuration and every table wordpiece.c reads."""
    ranges, explicit = split_normalizer(
        normalizer_map(spec.clean_text, spec.handle_chinese_chars, spec.strip_accents, spec.lowercase)
    )
    classes = runs(pretokenizer_classes())
    map_keys = sorted(explicit)
    map_blob, map_offsets = _blob("k_norm_map_utf8", [explicit[cp].encode() for cp in map_keys])
    vocab = sorted((token.encode(), i) for token, i in spec.vocab)
    vocab_blob, vocab_offsets = _blob("k_vocab_utf8", [t for t, _ in vocab])
    id_type = vocab_id_type(spec)
    specials = sorted(spec.special_tokens, key=lambda p: (-len(p[0].encode()), p[0]))
    unk = dict(spec.vocab).get(spec.unk_token)
    parts = [
        "/* Generated by edgesdk (apps/mcu_tables.py) from the model's tokenizer.json and HF tokenizers. */\n",
        '#include "tokenizer_tables.h"\n\n',
        f"const int32_t k_cls_id = {spec.cls_id};\nconst int32_t k_sep_id = {spec.sep_id};\n",
        f"const int32_t k_pad_id = {spec.pad_id};\nconst int32_t k_unk_id = {unk};\n",
        f"const uint32_t k_max_input_chars_per_word = {spec.max_input_chars_per_word};\n",
        f"const uint32_t k_max_length = {max_length};\n",
        f"const char k_subword_prefix[] = {c_string(spec.continuing_subword_prefix)};\n",
        f"const uint32_t k_subword_prefix_len = {len(spec.continuing_subword_prefix.encode())};\n\n",
        "/* Special tokens, longest first: matched verbatim in the raw text. */\n",
        f"const char* const k_special_tokens[] = {{{', '.join(c_string(t) for t, _ in specials) or '0'}}};\n",
        f"const int32_t k_special_ids[] = {{{', '.join(str(i) for _, i in specials) or '0'}}};\n",
        f"const uint32_t k_special_count = {len(specials)};\n\n",
        "/* Normalizer ranges: {kind << 24 | first, last}; kinds 1 drop, 2 space, 3 pad, 4 hangul. */\n",
        _range_table("k_norm_ranges", ranges),
        "\n/* Normalizer map: code point -> UTF-8 replacement (k_norm_map_utf8[offsets[i]..offsets[i+1]]). */\n",
        f"const uint32_t k_norm_map_keys[] = {{\n{_words(map_keys) or '  0'}\n}};\n",
        f"const uint32_t k_norm_map_count = {len(map_keys)};\n",
        f"const uint16_t k_norm_map_offsets[] = {{\n{_words(map_offsets)}\n}};\n",
        map_blob,
        "\n/* Pre-tokenizer classes: {class << 24 | first, last}; 1 whitespace, 2 punctuation. */\n",
        _range_table("k_char_classes", classes),
        "\n/* Vocabulary, sorted bytewise: token i is k_vocab_utf8[offsets[i]..offsets[i+1]], id ids[i]. */\n",
        f"const uint32_t k_vocab_count = {len(vocab)};\n",
        f"const uint32_t k_vocab_offsets[] = {{\n{_words(vocab_offsets)}\n}};\n",
        f"const vocab_id_t k_vocab_ids[] = {{\n{_words(i for _, i in vocab)}\n}};\n",
        vocab_blob,
    ]
    if map_offsets[-1] >= 1 << 16:
        raise ValueError("normalizer map blob exceeds 64 KiB; widen k_norm_map_offsets")
    sizes = TableSizes(
        normalizer_bytes=8 * len(ranges) + 4 * len(map_keys) + 2 * len(map_offsets) + map_offsets[-1] + 1,
        classes_bytes=8 * len(classes),
        vocab_bytes=4 * len(vocab_offsets) + (2 if id_type == "uint16_t" else 4) * len(vocab) + vocab_offsets[-1] + 1,
    )
    return "".join(parts), sizes


def tables_header(spec: WordPieceSpec) -> str:
    """tokenizer_tables.h: the declarations (the id type depends on the vocabulary)."""
    id_type = vocab_id_type(spec)
    return (
        "/* Generated by edgesdk (apps/mcu_tables.py): the tables wordpiece.c reads. */\n"
        "#ifndef EDGESDK_TOKENIZER_TABLES_H\n#define EDGESDK_TOKENIZER_TABLES_H\n#include <stdint.h>\n"
        '#ifdef __cplusplus\nextern "C" {\n#endif\n'
        "extern const int32_t k_cls_id, k_sep_id, k_pad_id, k_unk_id;\n"
        "extern const uint32_t k_max_input_chars_per_word, k_max_length, k_subword_prefix_len;\n"
        "extern const char k_subword_prefix[];\n"
        "extern const char* const k_special_tokens[];\nextern const int32_t k_special_ids[];\n"
        "extern const uint32_t k_special_count;\n"
        "extern const uint32_t k_norm_ranges[][2];\nextern const uint32_t k_norm_ranges_count;\n"
        "extern const uint32_t k_norm_map_keys[];\nextern const uint32_t k_norm_map_count;\n"
        "extern const uint16_t k_norm_map_offsets[];\nextern const char k_norm_map_utf8[];\n"
        "extern const uint32_t k_char_classes[][2];\nextern const uint32_t k_char_classes_count;\n"
        "extern const uint32_t k_vocab_count;\nextern const uint32_t k_vocab_offsets[];\n"
        f"typedef {id_type} vocab_id_t;\nextern const vocab_id_t k_vocab_ids[];\nextern const char k_vocab_utf8[];\n"
        f"#define EDGESDK_MAX_WORD_CHARS {spec.max_input_chars_per_word}\n"
        "#ifdef __cplusplus\n}\n#endif\n#endif\n"
    )
