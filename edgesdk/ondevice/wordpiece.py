"""The tokenizer as the apps see it: a WordPieceSpec extracted from edgesdk's Tokenizer.

The Kotlin (and later C) tokenizers implement exactly one pipeline: HF `tokenizers`'
BertNormalizer, BertPreTokenizer, WordPiece and the [CLS] ... [SEP] template, with special
tokens matched in the raw text. Anything else in tokenizer.json would make the device tokenize
differently from training, so it is refused here, before an app is written.

The device vocabulary is a list of (token, id) pairs, not a line-numbered vocab.txt: a pruned
("remapped") vocabulary sends several token strings to one id (the word table keeps only the
ids the task uses), so line number != id.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesdk.errors import PackageError
from edgesdk.ondevice.escape import properties_file
from edgesdk.tokenizer import Tokenizer

VOCAB_FILE = "vocab.tsv"
TOKENIZER_PROPERTIES = "tokenizer.properties"


@dataclass(frozen=True)
class WordPieceSpec:
    clean_text: bool
    handle_chinese_chars: bool
    strip_accents: bool  # resolved: tokenizers' None means "as lowercase"
    lowercase: bool
    unk_token: str
    continuing_subword_prefix: str
    max_input_chars_per_word: int
    cls_id: int
    sep_id: int
    pad_id: int
    special_tokens: tuple[tuple[str, int], ...]  # matched verbatim in the raw text, before normalizing
    vocab: tuple[tuple[str, int], ...]  # sorted by (id, token)

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer) -> "WordPieceSpec":
        spec = tokenizer._spec()
        normalizer = _typed(spec, "normalizer", "BertNormalizer")
        _typed(spec, "pre_tokenizer", "BertPreTokenizer")
        model = _typed(spec, "model", "WordPiece")
        cls_id, sep_id = _cls_sep_ids(spec.get("post_processor"))
        vocab = tuple(sorted(((t, int(i)) for t, i in model["vocab"].items()), key=lambda p: (p[1], p[0])))
        _check_tokens([t for t, _ in vocab], "vocabulary")
        if model["unk_token"] not in model["vocab"]:
            raise PackageError(
                f"the WordPiece vocabulary lacks its unk_token {model['unk_token']!r}; re-save the tokenizer"
            )
        lowercase = bool(normalizer.get("lowercase", True))
        strip = normalizer.get("strip_accents")
        return cls(
            clean_text=bool(normalizer.get("clean_text", True)),
            handle_chinese_chars=bool(normalizer.get("handle_chinese_chars", True)),
            strip_accents=lowercase if strip is None else bool(strip),
            lowercase=lowercase,
            unk_token=model["unk_token"],
            continuing_subword_prefix=model.get("continuing_subword_prefix", "##"),
            max_input_chars_per_word=int(model.get("max_input_chars_per_word", 100)),
            cls_id=cls_id,
            sep_id=sep_id,
            pad_id=tokenizer.pad_id,
            special_tokens=_special_tokens(spec.get("added_tokens") or []),
            vocab=vocab,
        )

    def vocab_tsv(self) -> str:
        """`token<TAB>id` lines (tokens never hold whitespace: checked on extraction)."""
        return "".join(f"{t}\t{i}\n" for t, i in self.vocab)

    def properties(self, max_length: int) -> str:
        entries = {
            "clean_text": _flag(self.clean_text),
            "handle_chinese_chars": _flag(self.handle_chinese_chars),
            "strip_accents": _flag(self.strip_accents),
            "lowercase": _flag(self.lowercase),
            "unk_token": self.unk_token,
            "continuing_subword_prefix": self.continuing_subword_prefix,
            "max_input_chars_per_word": str(self.max_input_chars_per_word),
            "cls_id": str(self.cls_id),
            "sep_id": str(self.sep_id),
            "pad_id": str(self.pad_id),
            "max_length": str(max_length),
            "special.count": str(len(self.special_tokens)),
        }
        for n, (token, i) in enumerate(self.special_tokens):
            entries[f"special.{n}.token"], entries[f"special.{n}.id"] = token, str(i)
        return properties_file(entries, "edgesdk WordPiece tokenizer (BertNormalizer + BertPreTokenizer + WordPiece)")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _typed(spec: dict, part: str, expected: str) -> dict:
    section = spec.get(part) or {}
    if section.get("type") != expected:
        raise PackageError(
            f"the app tokenizer supports {part} {expected} only, this tokenizer has {section.get('type')!r}; "
            "use a BERT WordPiece tokenizer"
        )
    return section


def _cls_sep_ids(post: dict | None) -> tuple[int, int]:
    """[CLS] and [SEP] ids from a BertProcessing or a TemplateProcessing `[CLS] $A [SEP]`."""
    post = post or {}
    if post.get("type") == "BertProcessing":
        return int(post["cls"][1]), int(post["sep"][1])
    if post.get("type") == "TemplateProcessing":
        single = post.get("single") or []
        pieces = [next(iter(p)) for p in single]
        if pieces == ["SpecialToken", "Sequence", "SpecialToken"]:
            first, last = single[0]["SpecialToken"]["id"], single[2]["SpecialToken"]["id"]
            ids = post.get("special_tokens") or {}
            if len(ids.get(first, {}).get("ids", [])) == 1 and len(ids.get(last, {}).get("ids", [])) == 1:
                return int(ids[first]["ids"][0]), int(ids[last]["ids"][0])
    raise PackageError(
        f"the app tokenizer supports a [CLS] text [SEP] post-processor only, this tokenizer has {post.get('type')!r}"
    )


def _special_tokens(added: list[dict]) -> tuple[tuple[str, int], ...]:
    """Added tokens as HF matches them: verbatim in the raw text. Options that change the
    matching (normalized, single_word, lstrip, rstrip) are not implemented on device."""
    for token in added:
        if token.get("normalized") or token.get("single_word") or token.get("lstrip") or token.get("rstrip"):
            raise PackageError(
                f"added token {token.get('content')!r} uses normalized/single_word/lstrip/rstrip matching, "
                "which the app tokenizer does not implement"
            )
    pairs = tuple(sorted((t["content"], int(t["id"])) for t in added))
    _check_tokens([t for t, _ in pairs], "special tokens")
    return pairs


def _check_tokens(tokens: list[str], where: str) -> None:
    bad = next((t for t in tokens if not t or t.split() != [t] or "\t" in t or "\n" in t), None)
    if bad is not None:
        raise PackageError(f"{where} token {bad!r} is empty or holds whitespace; the device vocabulary cannot carry it")
