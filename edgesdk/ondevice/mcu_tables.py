"""The device tokenizers' Unicode data (C firmware and Kotlin app), and the C vocabulary in flash.

The tables are read off Hugging Face `tokenizers` itself, one code point at a time, not off
Python's `unicodedata` (a different Unicode version: 106 punctuation code points differ) or
Java's tables (~463 differ). BertNormalizer is a per-code-point map (clean text, CJK spacing,
NFD + drop Mn, lowercase) except for one thing: NFD's canonical reordering sorts each run of
combining marks (ccc != 0) by combining class. Most marks are Mn and dropped, so order only
shows for the 83 marks the accent strip keeps (Mc like U+1D16D, and marks newer than HF's
category table, like U+08D4): "x U+1D16D U+1D165" normalizes to "x U+1D165 U+1D16D". So
normalize(text) == concat(normalize(c) for c in text) up to that sort, and the tables carry
what the sort needs: each kept mark's rank (its class order, `mark_ranks`) and which dropped
code points end a run (BLOCK: ccc-0 marks; dropped Mn and cleaned controls do not).

Compactly: runs of code points that are dropped (controls, Mn), become a space, get spaces
around them (CJK) or decompose algorithmically (Hangul) are ranges; the ~3k others (case and
accent folds) are a sorted table of code point -> UTF-8 replacement. The vocabulary is one
blob of token strings sorted bytewise with offsets and ids, for binary search. The Android
package ships the same tables as one binary asset (apps/assets.py, `tables_binary`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from edgesdk.ondevice.escape import c_string
from edgesdk.ondevice.wordpiece import WordPieceSpec

MAX_CODE_POINT = 0x110000
SURROGATES = range(0xD800, 0xE000)
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3
# Range kinds, as in wordpiece.c (stored in the top byte of a range's start word).
DROP, SPACE, PAD, HANGUL, BLOCK = 1, 2, 3, 4, 5
WHITESPACE, PUNCTUATION = 1, 2
PROBE_CHUNK = 4096
# NFD probes: U+0345 has the highest combining class (240), U+0334 the lowest (1); a line feed
# (a starter no decomposition contains) separates the probes of one chunk.
HIGH_MARK, LOW_MARK, PROBE_SEPARATOR = "\u0345", "\u0334", "\n"


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


@lru_cache(maxsize=1)
def combining_code_points() -> frozenset[int]:
    """Code points whose NFD (HF's) holds no starter, i.e. only combining marks: they extend
    a run of marks instead of ending it. Probed as "<U+0345><c><U+0334>" per code point: only
    if c holds no starter does NFD sort the class-1 mark before the class-240 one. The line
    feed separates probes, so it is left out (it is a starter, as every ASCII character)."""
    from tokenizers.normalizers import NFD

    nfd = NFD()
    points = [c for c in _code_points() if chr(c) != PROBE_SEPARATOR]
    combining = set()
    for start in range(0, len(points), PROBE_CHUNK):
        chunk = points[start : start + PROBE_CHUNK]
        probes = "".join(PROBE_SEPARATOR + HIGH_MARK + chr(c) + LOW_MARK for c in chunk)
        for cp, out in zip(chunk, nfd.normalize_str(probes).split(PROBE_SEPARATOR)[1:], strict=True):
            if out.rfind(LOW_MARK) < out.find(HIGH_MARK):
                combining.add(cp)
    return frozenset(combining)


def mark_ranks(marks: list[int]) -> dict[int, int]:
    """Each mark's rank among `marks` = how many of them have a lower combining class, from
    HF's NFD on every ordered pair ("x<m1><m2>" comes back swapped iff ccc(m1) > ccc(m2)).
    A stable sort by rank orders a run of these marks exactly as NFD's sort by class does."""
    from tokenizers.normalizers import NFD

    pairs = [(a, b) for a in marks for b in marks if a != b]
    probes = "".join(f"{PROBE_SEPARATOR}x{chr(a)}{chr(b)}" for a, b in pairs)
    swapped = NFD().normalize_str(probes).split(PROBE_SEPARATOR)[1:]
    below = {m: 0 for m in marks}
    for (a, b), out in zip(pairs, swapped, strict=True):
        if out == f"x{chr(b)}{chr(a)}":
            below[a] += 1
    return below


@dataclass(frozen=True)
class NormalizerTables:
    """BertNormalizer for one flag set, as the device tokenizers read it (see the module doc)."""

    ranges: list[tuple[int, int, int]]  # (first, last, DROP | SPACE | PAD | HANGUL | BLOCK)
    explicit: dict[int, str]  # code point -> replacement (case and accent folds)
    marks: list[tuple[int, int, int]]  # (first, last, rank + 1) of the marks the accent strip keeps
    classes: list[tuple[int, int, int]]  # BertPreTokenizer: (first, last, WHITESPACE | PUNCTUATION)


@lru_cache(maxsize=8)
def normalizer_tables(clean_text: bool, chinese: bool, strip_accents: bool, lowercase: bool) -> NormalizerTables:
    """The tables for one flag set. Without strip_accents there is no NFD, hence no reordering:
    no marks, and every dropped code point (cleaned text) is transparent."""
    changed = normalizer_map(clean_text, chinese, strip_accents, lowercase)
    ranks: dict[int, int] = {}
    blocks: set[int] = set()
    if strip_accents:
        combining = combining_code_points()
        cleaned = {cp for cp, out in normalizer_map(clean_text, False, False, False).items() if out == ""}
        kept = {ord(ch) for cp in _code_points() for ch in changed.get(cp, chr(cp))}
        ranks = mark_ranks(sorted(kept & combining))
        blocks = {cp for cp, out in changed.items() if out == "" and cp not in combining and cp not in cleaned}
    classes = pretokenizer_classes()
    split = [hex(m) for m in ranks if m in classes]
    if split:
        raise ValueError(f"kept combining marks {split} split words; the device tokenizers sort marks inside a word")
    ranges, explicit = split_normalizer(changed, blocks)
    return NormalizerTables(ranges, explicit, runs({m: r + 1 for m, r in ranks.items()}), runs(classes))


def split_normalizer(
    changed: dict[int, str], blocks: frozenset[int] | set[int] = frozenset()
) -> tuple[list[tuple[int, int, int]], dict[int, str]]:
    """(range table, explicit map): each changed code point goes to a range kind when its
    output is one the C code computes, else to the explicit map. Dropped code points in
    `blocks` end a run of combining marks (BLOCK), the other dropped ones do not (DROP)."""
    kinds, explicit = {}, {}
    for cp, out in changed.items():
        if out == "":
            kinds[cp] = BLOCK if cp in blocks else DROP
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
    """{kind << 24 | first, last} rows; an empty table gets one unused row (C has no empty arrays)."""
    body = (
        _words((f"{{0x{(kind << 24) | first:08x}u, 0x{last:06x}u}}" for first, last, kind in table), 4) or "  {0u, 0u}"
    )
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
    tables = normalizer_tables(spec.clean_text, spec.handle_chinese_chars, spec.strip_accents, spec.lowercase)
    ranges, explicit, classes = tables.ranges, tables.explicit, tables.classes
    map_keys = sorted(explicit)
    map_blob, map_offsets = _blob("k_norm_map_utf8", [explicit[cp].encode() for cp in map_keys])
    vocab = sorted((token.encode(), i) for token, i in spec.vocab)
    vocab_blob, vocab_offsets = _blob("k_vocab_utf8", [t for t, _ in vocab])
    id_type = vocab_id_type(spec)
    specials = sorted(spec.special_tokens, key=lambda p: (-len(p[0].encode()), p[0]))
    unk = dict(spec.vocab).get(spec.unk_token)
    parts = [
        "/* Generated by edgesdk (edgesdk/ondevice/mcu_tables.py) from the model's tokenizer.json and HF tokenizers. */\n",
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
        "/* Normalizer ranges: {kind << 24 | first, last}; kinds 1 drop, 2 space, 3 pad, 4 hangul,\n"
        " * 5 drop and end a run of combining marks. */\n",
        _range_table("k_norm_ranges", ranges),
        "\n/* Kept combining marks: {(rank + 1) << 24 | first, last}; NFD sorts a run of them by rank. */\n",
        _range_table("k_mark_ranks", tables.marks),
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
        normalizer_bytes=8 * (len(ranges) + len(tables.marks))
        + 4 * len(map_keys)
        + 2 * len(map_offsets)
        + map_offsets[-1]
        + 1,
        classes_bytes=8 * len(classes),
        vocab_bytes=4 * len(vocab_offsets) + (2 if id_type == "uint16_t" else 4) * len(vocab) + vocab_offsets[-1] + 1,
    )
    return "".join(parts), sizes


def tables_header(spec: WordPieceSpec) -> str:
    """tokenizer_tables.h: the declarations (the id type depends on the vocabulary)."""
    id_type = vocab_id_type(spec)
    return (
        "/* Generated by edgesdk (edgesdk/ondevice/mcu_tables.py): the tables wordpiece.c reads. */\n"
        "#ifndef EDGESDK_TOKENIZER_TABLES_H\n#define EDGESDK_TOKENIZER_TABLES_H\n#include <stdint.h>\n"
        '#ifdef __cplusplus\nextern "C" {\n#endif\n'
        "extern const int32_t k_cls_id, k_sep_id, k_pad_id, k_unk_id;\n"
        "extern const uint32_t k_max_input_chars_per_word, k_max_length, k_subword_prefix_len;\n"
        "extern const char k_subword_prefix[];\n"
        "extern const char* const k_special_tokens[];\nextern const int32_t k_special_ids[];\n"
        "extern const uint32_t k_special_count;\n"
        "extern const uint32_t k_norm_ranges[][2];\nextern const uint32_t k_norm_ranges_count;\n"
        "extern const uint32_t k_mark_ranks[][2];\nextern const uint32_t k_mark_ranks_count;\n"
        "extern const uint32_t k_norm_map_keys[];\nextern const uint32_t k_norm_map_count;\n"
        "extern const uint16_t k_norm_map_offsets[];\nextern const char k_norm_map_utf8[];\n"
        "extern const uint32_t k_char_classes[][2];\nextern const uint32_t k_char_classes_count;\n"
        "extern const uint32_t k_vocab_count;\nextern const uint32_t k_vocab_offsets[];\n"
        f"typedef {id_type} vocab_id_t;\nextern const vocab_id_t k_vocab_ids[];\nextern const char k_vocab_utf8[];\n"
        f"#define EDGESDK_MAX_WORD_CHARS {spec.max_input_chars_per_word}\n"
        "#ifdef __cplusplus\n}\n#endif\n#endif\n"
    )
