"""Atomic file output and content hashing.

Every artifact is written to a temporary sibling and renamed into place, so a build killed at
any moment leaves either the old file or the new one, never half of one; the step cache
then trusts only files whose hash it recorded. A SIGKILL skips the temp file's cleanup, so the
next build sweeps such leftovers (`remove_stale_temps`), recognised by their name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from edgesdk.errors import OutputError

TEMP_SUFFIX = ".tmp"
# ".<final name>.<tempfile's 8 random characters>.tmp": what the atomic writers below create.
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def cache_root() -> Path:
    """Where builds share what is costly to redo (fine-tuned teachers, soft labels, compiled
    firmware libraries): $EDGESDK_CACHE_DIR, else ~/.cache/edgesdk."""
    return Path(os.environ.get("EDGESDK_CACHE_DIR") or Path.home() / ".cache" / "edgesdk")


CACHE_FIX = "set EDGESDK_CACHE_DIR to a writable directory"


def check_output_dir(path: Path, role: str, fix: str) -> None:
    """Fail with one line, before any work, when `path` cannot become a writable directory.

    mkdir(exist_ok=True) on a path that is a file (or under one) raises FileExistsError or
    NotADirectoryError: a traceback, and after the slow steps if it happens late. Checked up
    front instead, with the path and `fix` (the option or variable that chooses another) named.
    Nothing is created here: a failed check leaves the disk as it was.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        why = "is a file, not a directory" if existing == path else f"cannot be created: {existing} is a file"
        raise OutputError(f"{role} {path} {why}; {fix}")
    if not os.access(existing, os.W_OK | os.X_OK):  # a read-only dir or filesystem (access() sees EROFS, even as root)
        raise OutputError(f"cannot write {role} {path}: {existing} is not writable; {fix}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # name the file the user must make room for (a write error has none)
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False, ensure_ascii=False) + "\n")


def atomic_write_npy(path: Path, array) -> None:
    """A numpy array as .npy (never pickled; read it back with allow_pickle=False)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temp dir; on success it replaces `path` whole, on failure it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def stale_temps(root: Path) -> list[Path]:
    """Temp files and dirs of the atomic writers under `root` (outermost first)."""
    return sorted((p for p in root.rglob(".*") if _TEMP_NAME.match(p.name)), key=lambda p: len(p.parts))


def remove_stale_temps(root: Path) -> int:
    """Delete what killed writers left under `root` (a build dir: one build writes it at a
    time); returns how many entries went. Only names the atomic writers make are touched."""
    removed = 0
    for path in stale_temps(root):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink(missing_ok=True)
        else:
            continue  # inside a temp dir removed above
        removed += 1
    return removed


def atomic_copy_dir(src: Path, dst: Path) -> Path:
    """Copy the files of the flat dir `src` so that `dst` is replaced whole or not at all."""
    with atomic_dir(dst) as tmp:
        for f in src.iterdir():
            shutil.copy2(f, tmp / f.name)
    return dst


def publish_dir(src: Path, dst: Path) -> Path:
    """Copy the flat dir `src` to `dst` unless another writer got there first (`first_writer_dir`)."""
    with first_writer_dir(dst) as tmp:
        for f in src.iterdir():
            shutil.copy2(f, tmp / f.name)
    return dst


@contextmanager
def first_writer_dir(dst: Path) -> Iterator[Path]:
    """Yield a temp dir that becomes `dst` unless another writer got there first: for
    content-keyed caches that two builds may fill at once (same key, same content). Unlike
    atomic_dir, an existing `dst` is never removed, so a build reading it meanwhile cannot see
    it half gone; the rename either lands the whole copy or finds the other writer's and keeps
    that."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=TEMP_SUFFIX, dir=dst.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, dst)  # fails on a non-empty dst: the first copy stays
        except OSError:
            if not dst.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_dir(path: Path) -> str:
    """Hash of every file's relative path and content, in sorted order."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
