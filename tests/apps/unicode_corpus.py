"""A tokenizer parity corpus that holds every assigned Unicode code point, for the app tokenizers.

SST-2 and BANKING77 are English: they never reach the places where a device tokenizer's
Unicode tables can disagree with HF `tokenizers` (newer marks, case pairs, punctuation,
canonical reordering). This corpus does, by construction:

- category sentences: every assigned code point (Python 3.11's Unicode 14 database, the newest
  on this machine: a superset of what HF's and Java 17's tables know), grouped by general
  category in code point order, CHUNK per sentence, each chunk twice: spaced (one word per
  code point, so a dropped, kept or split character changes the ids) and joined after an "a"
  (marks stack on one base, so adjacent marks of every kind meet);
- themed sentences: accents, CJK, combining marks, emoji (ZWJ sequences, skin tones, flags,
  keycaps, tags), RTL with bidi controls, control and format characters, NFKC-sensitive
  compatibility forms, whitespace variants, a sample of unassigned code points;
- mark-order sentences: every ordered pair of combining marks (ccc != 0) that BertNormalizer
  keeps, on one base, alone, across a dropped mark or format character (both transparent to
  NFD's canonical reordering) and across a dropped ccc-0 mark (which blocks it). Two kept marks
  whose canonical order differs are the one place where BertNormalizer is not a per-code-point
  map (edgesdk/ondevice/mcu_tables.py).

`char_tokenizer` gives a WordPiece vocabulary holding every character HF's normalizer outputs
for the corpus (as a word and as a ##piece), so the ids spell out the normalized text: with a
real vocabulary most of these words are [UNK] whatever the normalizer did to them.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict

CHUNK = 48
SURROGATES = range(0xD800, 0xE000)
PAIRS_PER_SENTENCE = 24
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

THEMED = {
    "accents": "Café naïve résumé Ångström façade Tiếng Việt Dvořák Łódź Ærøskøbing ÇĞİŞÖÜ çğışöü Ŀŀ ǅǈǋ ẞß",
    "accents-decomposed": "Cafe\u0301 nai\u0308ve A\u030angstro\u0308m Vie\u0323\u0302t o\u0328\u0304 q\u0307\u0323 x\u0301\u0316",
    "cjk": "北京欢迎你 東京タワー ひらがな カタカナ ｶﾀｶﾅ 한국어 텍스트 각 ㄱㅏ 𠀀𠀁 𪜀 \U0002b820 \U0002ceb0 \U00030000 豈 丽 ⺀ ⼀ 〇 々 〆",
    "combining": "a\u0300\u0301\u0302\u0303 \u05e9\u05c1\u05b8 \u0628\u0650\u0651 \u0915\u094d\u0937 \u0915\u093c \u0e01\u0e34\u0e48 "
    "\u1e0b\u0323 \u0061\u0328\u0323\u0301 \u20d7v \u0345\u0301 \u1dc0\u1dff \ufe20\ufe2f \U0001d165\U0001d16d",
    "emoji": "👨‍👩‍👧‍👦 👩🏽‍💻 👍🏻👍🏼👍🏽👍🏾👍🏿 🇫🇷🇯🇵 1️⃣ #️⃣ ❤️ ☺︎ 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f "
    "🧑‍🤝‍🧑 🏳️‍🌈 😀😃😄 🫠 🪷",
    "rtl": "مرحبا بالعالم! שָׁלוֹם, עולם. \u200fRTL\u200e \u202bembedded\u202c \u2067isolate\u2069 ܫܠܡܐ ދިވެހި ߒߞߏ ﷺ ﻻ ﭐ",
    "control-format": "x\u0000y\u0001z\u007f\u0080\u009f\ufffd\u200b w\u00ad\u2060v\u200c\u200d\ufeff\u2061\u2064\u206f"
    "\ufff9\ufffa\ufffb\U0001d173\U000e0001\U000e0020\u180e\u061c\u0600\u06dd\U000110bd",
    "nfkc-sensitive": "ﬁ ﬂ ﬀ ﬃ Ｈｅｌｌｏ ｶﾞ ① ⑳ ⒜ x² H₂O ½ ⅞ Ⅻ ⅻ K Å Ω ℌ ℍ ℵ 𝐀𝐁𝐂 𝔄 𝟘 ㎏ ㍿ ㈱ ſ ǆ ﹏ ︐ ｟ ㋿ ℡ ™",
    "whitespace": "\u00a0nbsp\u2007figure\u202fnarrow\u3000ideographic\u0085nel\u000bvt\u1680ogham\u2028ls\u2029ps\x1c\x1f",
    "case": "İstanbul İ ı ẞ ß Σίσυφος ΣΑΣ ǅ ǲ ᾈ ᾼ Ꭰ ꭰ Ⴀ ⴀ 𐐀 𐐨 Ａ ａ K Ω ſ ϴ ẞ",
    "punctuation": "¡¿?! «» “” ‘’ — – … ‰ § ¶ · ・ 、。 ﹁﹂ ‽ ⁂ ※ ⸮ ⹂ ၊ ። ᠂ ꓾ 𐄀 𖺚 𝪇 $ + ^ ` | ~",
}


def assigned_code_points() -> dict[str, list[int]]:
    """Assigned code points (general category != Cn, no surrogates) by general category."""
    by_category = defaultdict(list)
    for cp in range(0x110000):
        if cp in SURROGATES:
            continue
        category = unicodedata.category(chr(cp))
        if category != "Cn":
            by_category[category].append(cp)
    return dict(by_category)


def category_sentences(chunk: int = CHUNK) -> list[tuple[str, str]]:
    """(label, text): every assigned code point, spaced and joined, CHUNK per sentence."""
    out = []
    for category, points in sorted(assigned_code_points().items()):
        for i in range(0, len(points), chunk):
            part = points[i : i + chunk]
            label = f"{category} U+{part[0]:04X}..U+{part[-1]:04X}"
            out.append((label + " spaced", " ".join(map(chr, part))))
            out.append((label + " joined", "a" + "".join(map(chr, part))))
    return out


def unassigned_sentence(step: int = 4099) -> tuple[str, str]:
    """Every step-th unassigned code point and the noncharacters (HF keeps both as they are)."""
    points = [cp for cp in range(0, 0x110000, step) if cp not in SURROGATES and unicodedata.category(chr(cp)) == "Cn"]
    points += [0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x10FFFF]
    return "unassigned sample", " ".join(map(chr, points))


def kept_marks() -> list[int]:
    """Combining marks (ccc != 0) that HF's BertNormalizer keeps: the only characters whose
    canonical order survives the accent strip (those HF's older category table does not call Mn)."""
    from tokenizers.normalizers import BertNormalizer

    normalizer = BertNormalizer(lowercase=True)
    marks = [cp for cp in range(0x110000) if cp not in SURROGATES and unicodedata.combining(chr(cp))]
    return [cp for cp in marks if normalizer.normalize_str(chr(cp)) == chr(cp)]


def mark_order_sentences() -> list[tuple[str, str]]:
    """Every ordered pair of kept marks, as words on a base and alone, and with what lies
    between them varied: U+0301 (a dropped mark, transparent), U+200B (dropped by clean_text
    before NFD, transparent), U+0941 (a dropped ccc-0 mark: blocks reordering)."""
    marks = kept_marks()
    words = []
    for m1 in marks:
        for m2 in marks:
            a, b = chr(m1), chr(m2)
            words.append(f"x{a}{b}")
            words.append(f"{a}\u0301{b}" if (m1 + m2) % 2 else f"x{a}\u200b{b}")
            if unicodedata.combining(a) > unicodedata.combining(b):
                words.append(f"x{a}\u0941{b}")
    # Decompositions that end in a kept mark (U+1D15F = U+1D158 U+1D165), then a lower/higher one.
    words += ["\U0001d15f\U0001d16d", "\U0001d16d\U0001d15f", "\U0001d164\U0001d16d\U0001d165", "\U0001d1c0\U00011446"]
    words += ["\u1b44\U00011446\u302e\u08d4", "a\u08d4\u302e\u1b44\U00011446\U0001d16d\U0001d165\u0301\u0316\u200b"]
    step = PAIRS_PER_SENTENCE
    return [(f"mark order {i // step}", " ".join(words[i : i + step])) for i in range(0, len(words), step)]


def corpus() -> list[tuple[str, str]]:
    """The whole parity corpus as (label, text)."""
    themed = [(f"themed {name}", text) for name, text in THEMED.items()]
    return themed + [unassigned_sentence()] + mark_order_sentences() + category_sentences()


def covered_code_points(texts) -> set[int]:
    return {ord(ch) for text in texts for ch in text}


def char_tokenizer(texts, lowercase: bool = True):
    """A BERT WordPiece tokenizer (BertNormalizer, BertPreTokenizer, [CLS] $A [SEP]) whose
    vocabulary is every character HF's normalizer outputs for `texts`, as a word and as a
    ##piece: its ids are the normalized text, character by character. lowercase=False also
    turns off the accent strip (HF's default), so no NFD: the cased models' path."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, normalizers, pre_tokenizers, processors

    from edgesdk.tokenizer import Tokenizer

    normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    chars = sorted({ch for text in texts for ch in normalizer.normalize_str(text) if ch.split() == [ch]})
    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault("##" + ch, len(vocab))
    backend = HFTokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = normalizer
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.add_special_tokens(list(SPECIALS))
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return Tokenizer(backend, backend.to_str())
