"""Labelled text in, typed splits out.

Reads CSV, TSV and JSONL (optionally gzip-compressed), finds the text and label columns
(given, or detected from common names), maps labels to contiguous ids with a saved label
map, and carves a stratified, seeded dev split when none is given. Every way input can be
wrong ends in a one-line DataError that names the file and the fix.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

from edgesdk.errors import DataError
from edgesdk.progress import warning
from edgesdk.recipe import DataConfig

TEXT_COLUMN_NAMES = ("sentence", "text", "content", "question", "utterance", "query")
LABEL_COLUMN_NAMES = ("label", "category", "intent", "class", "target")
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # what Excel's and PowerShell's "Unicode" text starts with

# csv's default field limit (128 KiB) rejects long texts; raise it rather than crash.
csv.field_size_limit(1 << 30)


def demo_data_paths() -> tuple[Path, Path]:
    """The bundled SST-2 train/dev files (see edgesdk/demo_data/sst2/README.md)."""
    root = Path(str(resources.files("edgesdk.demo_data"))) / "sst2"
    return root / "train.tsv.gz", root / "dev.tsv.gz"


@dataclass(frozen=True)
class LabelMap:
    """Label names in id order. Integer labels keep numeric order (0, 1, 2 …)."""

    names: tuple[str, ...]

    @classmethod
    def from_values(cls, values: Sequence[str]) -> "LabelMap":
        unique = set(values)
        if all(_is_int(v) for v in unique):
            ordered = sorted(unique, key=int)
        else:
            ordered = sorted(unique)
        return cls(tuple(ordered))

    def id_of(self, name: str) -> int:
        return self.names.index(name)

    def to_json(self) -> str:
        return json.dumps({"labels": list(self.names)}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "LabelMap":
        return cls(tuple(json.loads(text)["labels"]))

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Split:
    texts: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> "Split":
        return Split(tuple(self.texts[i] for i in indices), tuple(self.labels[i] for i in indices))


@dataclass(frozen=True)
class Task:
    train: Split
    dev: Split
    label_map: LabelMap
    text_column: str
    label_column: str
    sources: dict
    # Rows no model ever trains on, carved from train before any training (early-exit
    # thresholds are calibrated on them: confidence on rows the backbone fitted is inflated).
    calibration: Split = Split((), ())
    # Rows no model trains on either, carved from train to score the teacher's fine-tuning:
    # settings are chosen on them, never on dev (bench/teacher_recipe.py).
    validation: Split = Split((), ())
    # Rows skipped for an empty or NaN text, per source file role ("train", "dev").
    skipped_empty_texts: dict = field(default_factory=dict)

    def with_calibration(self, rows: int, seed: int) -> "Task":
        """This task with `rows` stratified, seeded train rows moved to `calibration`
        (at most half of train)."""
        return self._carved("calibration", min(rows, len(self.train) // 2), seed)

    def with_validation(self, rows: int, seed: int) -> "Task":
        """This task with `rows` stratified, seeded train rows moved to `validation` (at most a
        tenth of train: a small data set keeps most of its rows for training)."""
        return self._carved("validation", min(rows, len(self.train) // 10), seed)

    def _carved(self, role: str, rows: int, seed: int) -> "Task":
        keep, held = stratified_split(self.train.labels, rows / max(len(self.train), 1), seed)
        sources = {**self.sources, role: f"carved from train ({len(held)} rows, seed {seed})"}
        return replace(self, train=self.train.subset(keep), sources=sources, **{role: self.train.subset(held)})

    def stats(self) -> dict:
        def split_stats(split: Split) -> dict:
            counts = Counter(split.labels)
            words = [len(t.split()) for t in split.texts]
            return {
                "rows": len(split),
                "mean_words": round(sum(words) / max(len(words), 1), 2),
                "max_words": max(words, default=0),
                "class_counts": {self.label_map.names[k]: counts.get(k, 0) for k in range(len(self.label_map))},
            }

        return {
            "labels": list(self.label_map.names),
            "text_column": self.text_column,
            "label_column": self.label_column,
            "sources": self.sources,
            "train": split_stats(self.train),
            "dev": split_stats(self.dev),
            **({"calibration": split_stats(self.calibration)} if len(self.calibration) else {}),
            **({"validation": split_stats(self.validation)} if len(self.validation) else {}),
            **({"skipped_empty_texts": self.skipped_empty_texts} if self.skipped_empty_texts else {}),
        }


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"data file {path} does not exist; check the path")
    if path.is_dir():
        raise DataError(f"data path {path} is a directory; give a .csv, .tsv or .jsonl file")
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"data file {path} is not valid gzip ({exc}); re-compress or give the plain file") from None
    if raw.startswith(UTF16_BOMS):
        raise DataError(f"data file {path} is UTF-16 text; re-save it as UTF-8")
    if b"\x00" in raw[:65536]:
        raise DataError(f"data file {path} looks binary (NUL bytes); give a UTF-8 .csv, .tsv or .jsonl file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(_not_utf8(path, raw, exc.start)) from None


def _not_utf8(path: Path, raw: bytes, offset: int) -> str:
    """Where the first byte that is not UTF-8 sits, as an editor shows it (line, column), so
    the user can find the row; usually a file saved as Windows-1252 or Latin-1."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    line = raw.count(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return (
        f"data file {path} is not UTF-8: line {line}, column {column} has byte 0x{raw[offset]:02x}; "
        "re-save it as UTF-8 (e.g. iconv -f cp1252 -t utf-8)"
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows as dicts of strings; the header (or JSON keys) gives the column names."""
    kind = _suffix(path)
    if kind not in SUPPORTED_SUFFIXES:
        raise DataError(f"data file {path} has unsupported type '{kind or 'none'}'; use .csv, .tsv or .jsonl")
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"data file {path} is empty; it needs a header and at least one row")
    if kind in (".jsonl", ".json"):
        rows = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not a JSON object per line ({exc.msg}); fix that line") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            rows.append({str(k): "" if v is None else str(v) for k, v in obj.items()})
        return rows
    delimiter = "\t" if kind == ".tsv" else ","
    # GLUE TSVs use bare quotes inside sentences; only CSV gets quote processing.
    quoting = csv.QUOTE_NONE if kind == ".tsv" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    try:
        table = [r for r in reader if r]
    except csv.Error as exc:
        raise DataError(f"data file {path} is malformed {kind[1:].upper()} ({exc}); fix the file") from None
    header = [h.strip() for h in table[0]]
    if len(header) < 2:
        other = "comma" if delimiter == "\t" else "tab"
        raise DataError(
            f"data file {path} has a single column '{header[0][:40]}'; expected {kind[1:].upper()} "
            f"with text and label columns (is it {other}-separated? rename it to match)"
        )
    rows = []
    for lineno, record in enumerate(table[1:], 2):
        if len(record) != len(header):
            raise DataError(
                f"{path}: row {lineno} has {len(record)} fields, header has {len(header)}; fix the row or quoting"
            )
        rows.append(dict(zip(header, record)))
    return rows


def _pick_column(
    columns: Sequence[str], given: Optional[str], candidates: Sequence[str], role: str, path: Path, flag: str
) -> str:
    if given is not None:
        if given not in columns:
            raise DataError(f"{path} has no {role} column '{given}' (columns: {', '.join(columns)}); fix {flag}")
        return given
    lowered = {c.lower(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    raise DataError(f"cannot find a {role} column in {path} (columns: {', '.join(columns)}); pass {flag} COLUMN")


def _columns_of(rows: list[dict[str, str]], path: Path) -> list[str]:
    if not rows:
        raise DataError(f"data file {path} has a header but no rows; add labelled examples")
    return list(rows[0].keys())


def _is_missing(value: str) -> bool:
    """Empty, or NaN: how pandas writes a missing value once a column is turned into strings."""
    return not value or value.lower() == "nan"


def _clean(rows: list[dict[str, str]], text_col: str, label_col: str, path: Path) -> tuple[list[str], list[str], int]:
    """(texts, labels, rows skipped). A row without a label is an error (guessing one would
    train on noise); a row without a text carries no signal and is skipped with a warning, so a
    few blank cells do not stop a build but never go unnoticed."""
    texts, labels, skipped = [], [], []
    for i, row in enumerate(rows):
        text = (row.get(text_col) or "").strip()
        label = (row.get(label_col) or "").strip()
        if _is_missing(label):
            shown = f" ('{label}')" if label else ""
            raise DataError(
                f"{path}: row {i + 1} has an empty label{shown} in column '{label_col}'; label it or drop it"
            )
        if _is_missing(text):
            skipped.append(i + 1)
            continue
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"{path}: every row has an empty text in column '{text_col}'; check --text-column")
    if skipped:
        rows_shown = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
        warning(
            f"{path}: skipped {len(skipped)} rows with an empty or NaN text in column '{text_col}' "
            f"(rows {rows_shown}); fill them in or remove them"
        )
    return texts, labels, len(skipped)


def stratified_split(labels: Sequence[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, held-out) with each class split in the same proportion, seeded."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    train, held = [], []
    for y in sorted(by_class):
        idx = by_class[y]
        rng.shuffle(idx)
        n_held = max(1, round(len(idx) * fraction)) if len(idx) > 1 else 0
        held.extend(idx[:n_held])
        train.extend(idx[n_held:])
    return sorted(train), sorted(held)


def load_task(config: DataConfig, seed: int, overrides: Optional[dict] = None) -> Task:
    """Read train (and dev) per the recipe; CLI overrides win over recipe values."""
    cfg = config.model_copy(update={k: v for k, v in (overrides or {}).items() if v is not None})
    if cfg.train is None and cfg.dev is not None:
        raise DataError("a dev file was given without a train file; pass --train as well")
    if cfg.train is None:
        train_path, dev_path = demo_data_paths()
    else:
        train_path = Path(cfg.train)
        dev_path = Path(cfg.dev) if cfg.dev else None

    train_rows = read_rows(train_path)
    columns = _columns_of(train_rows, train_path)
    text_col = _pick_column(columns, cfg.text_column, TEXT_COLUMN_NAMES, "text", train_path, "--text-column")
    label_col = _pick_column(columns, cfg.label_column, LABEL_COLUMN_NAMES, "label", train_path, "--label-column")
    train_texts, train_labels, train_skipped = _clean(train_rows, text_col, label_col, train_path)

    label_map = LabelMap.from_values(train_labels)
    if len(label_map) < 2:
        after = f" after skipping {train_skipped} rows with empty texts" if train_skipped else ""
        raise DataError(
            f"{train_path} has a single label class ('{label_map.names[0]}'){after}; a classifier needs at least two"
        )
    train_ids = [label_map.id_of(v) for v in train_labels]

    if dev_path is not None:
        dev_rows = read_rows(dev_path)
        dev_columns = _columns_of(dev_rows, dev_path)
        for col, flag in ((text_col, "--text-column"), (label_col, "--label-column")):
            if col not in dev_columns:
                raise DataError(f"{dev_path} has no column '{col}' (columns: {', '.join(dev_columns)}); fix {flag}")
        dev_texts, dev_labels, dev_skipped = _clean(dev_rows, text_col, label_col, dev_path)
        unseen = sorted(set(dev_labels) - set(label_map.names))
        if unseen:
            raise DataError(
                f"{dev_path} has labels not seen in train: {', '.join(unseen[:5])}; add them to train or drop those rows"
            )
        train = Split(tuple(train_texts), tuple(train_ids))
        dev = Split(tuple(dev_texts), tuple(label_map.id_of(v) for v in dev_labels))
        sources = {"train": str(train_path), "dev": str(dev_path)}
    else:
        dev_skipped = 0
        all_rows = Split(tuple(train_texts), tuple(train_ids))
        tr_idx, dev_idx = stratified_split(train_ids, cfg.dev_fraction, seed)
        train, dev = all_rows.subset(tr_idx), all_rows.subset(dev_idx)
        sources = {"train": str(train_path), "dev": f"carved from train ({cfg.dev_fraction:.0%}, seed {seed})"}

    if cfg.max_train_rows is not None and len(train) > cfg.max_train_rows:
        keep = sorted(random.Random(seed).sample(range(len(train)), cfg.max_train_rows))
        train = train.subset(keep)
    if len(dev) == 0:
        raise DataError(f"the dev split of {train_path} is empty; give --dev or more rows")
    skipped = {role: n for role, n in (("train", train_skipped), ("dev", dev_skipped)) if n}
    return Task(train, dev, label_map, text_col, label_col, sources, skipped_empty_texts=skipped)


def read_eval_split(path: Path, label_map: LabelMap, text_column: Optional[str], label_column: Optional[str]) -> Split:
    """A labelled file for `edgesdk eval`, mapped through an artifact's saved label map."""
    rows = read_rows(path)
    columns = _columns_of(rows, path)
    text_col = _pick_column(columns, text_column, TEXT_COLUMN_NAMES, "text", path, "--text-column")
    label_col = _pick_column(columns, label_column, LABEL_COLUMN_NAMES, "label", path, "--label-column")
    texts, labels, _ = _clean(rows, text_col, label_col, path)
    unknown = sorted(set(labels) - set(label_map.names))
    if unknown:
        raise DataError(
            f"{path} has labels the model does not know: {', '.join(unknown[:5])} (model labels: "
            f"{', '.join(label_map.names[:10])}); check --label-column"
        )
    return Split(tuple(texts), tuple(label_map.id_of(v) for v in labels))


def read_texts(path: Path, text_column: Optional[str]) -> list[str]:
    """Just the texts of a file (labels optional), e.g. as profiling inputs."""
    rows = read_rows(path)
    columns = _columns_of(rows, path)
    text_col = _pick_column(columns, text_column, TEXT_COLUMN_NAMES, "text", path, "--text-column")
    texts = [t for t in ((r.get(text_col) or "").strip() for r in rows) if t]
    if not texts:
        raise DataError(f"{path}: column '{text_col}' has no non-empty texts; check --text-column")
    return texts
