"""Staged TFLite Micro artifacts: one .micro.tflite flatbuffer per (length bucket, stage),
packed into one file, and the runner that executes them one interpreter per stage.

Why one flatbuffer per stage and not the signatures LiteRT uses: TFLM's MicroInterpreter
invokes subgraph 0 only, so a firmware (apps/mcu_template/src/staged_classifier.cc) runs each
stage as a model of its own, and the Python runner here does the same. The pack keeps the
artifact one file like every other (hashed, sized, verified, guarded as one):

    offset 0   uint32 little-endian: length N of the index
    offset 4   b"EDST" (where a flatbuffer keeps its file identifier)
    offset 8   N bytes of UTF-8 JSON: {"methods": [[name, offset, length], ...]}
    then each stage's flatbuffer at a 16-byte aligned offset (TFLM requires the alignment)

Hidden states pass from one stage to the next as the int8 tensor the stage produced (the C,
Kotlin and Python controllers all do this); only exit logits are dequantized, because the
exit rule compares their softmax with a threshold.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from edgesdk.converters.tflm_session import TFLMSession

from edgesdk.errors import ArtifactError

STAGED_MAGIC = b"EDST"
ALIGN = 16


def pack_methods(flatbuffers: dict[str, bytes]) -> bytes:
    """{method name: .micro.tflite bytes} -> one staged file (names in the given order)."""
    names = list(flatbuffers)
    # The index holds the offsets, which depend on the index's length: grow until stable.
    index_len = 0
    while True:
        offset, table = _aligned(8 + index_len), []
        for name in names:
            table.append([name, offset, len(flatbuffers[name])])
            offset = _aligned(offset + len(flatbuffers[name]))
        index = json.dumps({"methods": table}, separators=(",", ":")).encode("utf-8")
        if len(index) == index_len:
            break
        index_len = len(index)
    out = bytearray(struct.pack("<I", len(index)) + STAGED_MAGIC + index)
    for (_, offset, _), name in zip(table, names):
        out += b"\0" * (offset - len(out))
        out += flatbuffers[name]
    return bytes(out)


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def unpack_methods(data: bytes, source: object = "staged artifact") -> dict[str, bytes]:
    """The inverse of pack_methods, with every offset and length checked against the file."""
    return {name: data[offset : offset + length] for name, (offset, length) in _index(data, source).items()}


def _index(data: bytes, source: object) -> dict[str, tuple[int, int]]:
    corrupt = f"{source} is corrupt"
    if len(data) < 8 or data[4:8] != STAGED_MAGIC:
        raise ArtifactError(f"{corrupt} (no {STAGED_MAGIC!r} staged TFLM header); rebuild it with edgesdk build")
    (index_len,) = struct.unpack_from("<I", data, 0)
    if 8 + index_len > len(data):
        raise ArtifactError(f"{corrupt} (index runs past the end of the file); rebuild it with edgesdk build")
    try:
        table = json.loads(data[8 : 8 + index_len].decode("utf-8"))["methods"]
        methods = {str(name): (int(offset), int(length)) for name, offset, length in table}
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ArtifactError(f"{corrupt} (unreadable stage index); rebuild it with edgesdk build") from None
    for name, (offset, length) in methods.items():
        if offset < 8 + index_len or offset % ALIGN or length < 8 or offset + length > len(data):
            raise ArtifactError(f"{corrupt} (stage {name} lies outside the file); rebuild it with edgesdk build")
    if not methods:
        raise ArtifactError(f"{corrupt} (no stages); rebuild it with edgesdk build")
    return methods


class TFLMMethods:
    """A staged .micro.tflite behind the MethodRunner interface: one tflite-micro interpreter
    per stage, created when the stage first runs (a sentence reaches few of them)."""

    def __init__(self, path: Path, threads: int):
        # registry -> tflm -> this module at import: the registry is only reachable from here lazily
        from edgesdk.converters.registry import check_artifact_file, get_backend

        check_artifact_file(path, get_backend("tflm"))
        data = path.read_bytes()
        index = _index(data, path)
        self._path = path
        self.offsets = {name: offset for name, (offset, _) in index.items()}  # for a firmware holding the file
        self.stages = {name: data[offset : offset + length] for name, (offset, length) in index.items()}
        self._sessions: dict = {}
        self.last_raw: list[np.ndarray] = []  # the last run's outputs as the stage produced them

    def session(self, name: str):
        if name not in self._sessions:
            if name not in self.stages:
                raise ArtifactError(
                    f"{self._path} has no stage '{name}' (has {sorted(self.stages)}); its exits.json "
                    "belongs to another build, rebuild the artifact"
                )
            self._sessions[name] = TFLMSession.from_bytes(self.stages[name], f"{self._path} stage {name}")
        return self._sessions[name]

    def run(self, name: str, *inputs: np.ndarray) -> list[np.ndarray]:
        session = self.session(name)
        outputs = self.last_raw = session.invoke(*inputs)
        return [*outputs[:-1], session.dequantize(len(outputs) - 1, outputs[-1])]

    def hidden_width(self) -> int:
        """Bytes per token of the hidden state stage 0 hands on (its first output's last dim)."""
        first = next(name for name in self.stages if name.endswith("_s0"))
        return int(self.session(first).output_details()[0]["shape"][-1])

    def arena_bytes(self) -> int:
        """The largest arena any stage needed in the Python interpreter (every stage is run
        once on zeros first): a firmware that re-plans its one arena per stage needs this."""
        sizes = []
        for name in self.stages:
            session = self.session(name)
            session.invoke(*(np.zeros(d["shape"], d["dtype"]) for d in session.input_details()))
            sizes.append(session.memory()["arena_bytes"])
        return max(sizes)
