"""WordPiece tokenization shared by training, export, verification and eval.

One tokenizer object is saved with the teacher and copied beside every artifact, so
`edgesdk eval` and the apps tokenize exactly as training did. Ids come out as int32 because
that is what every deployment runtime (LiteRT, TFLM, the Kotlin and C apps) feeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from tokenizers import Tokenizer as _HFTokenizer

from edgesdk.errors import ArtifactError, TeacherError
from edgesdk.fsutil import atomic_write_text

TOKENIZER_FILE = "tokenizer.json"


class Tokenizer:
    def __init__(self, backend: _HFTokenizer, source: Optional[str] = None):
        # The JSON it was built from, written back verbatim by save(): `tokenizers` serializes
        # a WordPiece vocab through its id -> token map, which would drop the extra strings of
        # a remapped vocabulary (several tokens sharing one id).
        self._source = source
        self._backend = backend
        self._backend.no_padding()
        self._backend.no_truncation()
        self.pad_id = backend.token_to_id("[PAD]") or 0

    @classmethod
    def from_dir(cls, directory: Path, error: type = TeacherError) -> "Tokenizer":
        path = directory / TOKENIZER_FILE
        if path.exists():
            try:
                text = path.read_text(encoding="utf-8")
                return cls(_HFTokenizer.from_str(text), text)
            except Exception as exc:  # noqa: BLE001 - tokenizers raises plain Exception
                raise error(f"cannot read {path} ({str(exc)[:120]}); re-save the tokenizer") from None
        vocab = directory / "vocab.txt"
        if vocab.exists():
            from tokenizers import BertWordPieceTokenizer

            return cls(BertWordPieceTokenizer(str(vocab), lowercase=True)._tokenizer)
        raise error(f"{directory} has neither {TOKENIZER_FILE} nor vocab.txt; the tokenizer must ship with the model")

    def save(self, directory: Path) -> Path:
        path = directory / TOKENIZER_FILE
        atomic_write_text(path, self._source if self._source is not None else self._backend.to_str())
        return path

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size()

    def vocabulary(self) -> dict[str, int]:
        return self._backend.get_vocab()

    @property
    def subword_prefix(self) -> str:
        """What marks a piece that continues a word (`##` in BERT's WordPiece)."""
        return self._spec()["model"].get("continuing_subword_prefix", "##")

    def special_ids(self) -> set[int]:
        """[PAD], [UNK], [CLS], [SEP], [MASK] and any other token the tokenizer marks special."""
        return {i for i, t in self._backend.get_added_tokens_decoder().items() if t.special}

    def restricted(self, keep_ids: Sequence[int]) -> "Tokenizer":
        """The same tokenizer over only `keep_ids` (renumbered in their original order).

        WordPiece's greedy longest match over the smaller vocabulary gives the same pieces for
        every word whose pieces were all kept, and other pieces or [UNK] for the rest.
        """
        spec = self._spec()
        id_to_token = {i: t for t, i in spec["model"]["vocab"].items()}
        new_id = {old: new for new, old in enumerate(sorted(keep_ids))}
        return _renumbered(spec, {id_to_token[old]: new for old, new in new_id.items()}, new_id)

    def decode(self, encoded: Sequence[Sequence[int]]) -> list[str]:
        """Rows of ids as text again (special tokens dropped, pieces joined)."""
        return self._backend.decode_batch([list(ids) for ids in encoded], skip_special_tokens=True)

    def pieces_of(self, text: str) -> list[int]:
        """The ids of `text`'s pieces, without [CLS]/[SEP]."""
        return self._backend.encode(text, add_special_tokens=False).ids

    def learned(self, texts: Sequence[str], size: int) -> "Tokenizer":
        """A WordPiece vocabulary of at most `size` pieces chosen on `texts`, read with this
        tokenizer's normalizer, pre-tokenizer and greedy longest match: every character the
        texts use (word-initial and `##` forms, so nothing they contain is [UNK]), then the
        most frequent candidates, a candidate being a whole word of the texts or one of this
        tokenizer's pieces of a word, counted by the word's frequency. Frequent words the
        teacher splits (`cliches` = `cl ##iche ##s`) become one piece; rare words keep the
        teacher's frequent pieces. Ties break on the string and ids follow the sorted pieces,
        so the same texts give the same tokenizer (HF tokenizers' WordPiece trainer does not:
        its piece set changes between runs on ties)."""
        from collections import Counter

        spec, prefix = self._spec(), self.subword_prefix
        by_id = {i: t for t, i in spec["model"]["vocab"].items()}
        specials = [by_id[i] for i in sorted(self.special_ids(), key=lambda i: (i != self.pad_id, i))]
        words: Counter = Counter()
        for text in texts:
            normal = self._backend.normalizer.normalize_str(text)
            words.update(w for w, _ in self._backend.pre_tokenizer.pre_tokenize_str(normal))
        chars, candidates = set(), Counter()
        for word, n in words.items():
            chars.update([word[0]] + [prefix + c for c in word[1:]])
            candidates[word] += n
            for piece in {t.value for t in self._backend.model.tokenize(word)} - {word}:
                candidates[piece] += n
        chars = sorted(chars - set(specials))
        room = max(0, size - len(specials) - len(chars))
        ranked = sorted((c for c in candidates if c not in chars and c not in specials), key=lambda c: (-candidates[c], c))
        pieces = sorted(set(chars) | set(ranked[:room]))
        vocab = {token: i for i, token in enumerate(specials + pieces)}
        return _renumbered(spec, vocab, {old: vocab[by_id[old]] for old in self.special_ids()})

    def remapped(self, new_ids: Sequence[int]) -> "Tokenizer":
        """The same tokenization with token id i emitted as new_ids[i]. Several tokens may share
        an id (a pruned token sent to [UNK] or to a kept neighbour): every word still splits
        into the same pieces, only the ids change."""
        spec = self._spec()
        new_id = {i: int(v) for i, v in enumerate(new_ids)}
        return _renumbered(spec, {t: new_id[i] for t, i in spec["model"]["vocab"].items()}, new_id)

    def _spec(self) -> dict:
        """The tokenizer's JSON as a dict (from its source text: see __init__ on why)."""
        import json

        return json.loads(self._source if self._source is not None else self._backend.to_str())

    def encode(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        """Token ids with [CLS]/[SEP], truncated to max_length (keeping the final [SEP])."""
        out = []
        for enc in self._backend.encode_batch(list(texts)):
            ids = enc.ids
            if len(ids) > max_length:
                ids = ids[: max_length - 1] + ids[-1:]
            out.append(ids)
        return out

    def pad(self, batch: Sequence[Sequence[int]], length: int) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad to `length` -> (ids, mask), both int32 [N, length]."""
        ids = np.full((len(batch), length), self.pad_id, dtype=np.int32)
        mask = np.zeros((len(batch), length), dtype=np.int32)
        for i, seq in enumerate(batch):
            ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1
        return ids, mask


def _renumbered(spec: dict, vocab: dict[str, int], new_id: dict[int, int]) -> Tokenizer:
    """`spec` with WordPiece `vocab` and every special-token id passed through `new_id`
    (special tokens without a new id are dropped)."""
    import json

    spec["model"]["vocab"] = vocab
    spec["added_tokens"] = [{**t, "id": new_id[t["id"]]} for t in spec["added_tokens"] if t["id"] in new_id]
    post = spec.get("post_processor") or {}
    for special in (post.get("special_tokens") or {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    text = json.dumps(spec)
    return Tokenizer(_HFTokenizer.from_str(text), text)


def load_artifact_tokenizer(directory: Path) -> Tokenizer:
    return Tokenizer.from_dir(directory, error=ArtifactError)
