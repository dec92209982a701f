import pytest

from edgesdk.fsutil import atomic_dir, atomic_write_text, publish_dir, sha256_dir, sha256_json, stale_temps


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_failed_atomic_dir_keeps_the_old_dir(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a").write_text("half")
            raise RuntimeError("killed mid-step")
    assert (target / "a").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the temp dir is gone


def test_dir_hash_sees_content_and_names(tmp_path):
    (tmp_path / "a").write_text("x")
    before = sha256_dir(tmp_path)
    (tmp_path / "a").write_text("y")
    changed = sha256_dir(tmp_path)
    (tmp_path / "a").rename(tmp_path / "b")
    assert len({before, changed, sha256_dir(tmp_path)}) == 3
    assert sha256_json({"b": 1, "a": 2}) == sha256_json({"a": 2, "b": 1})


KILLED_WRITER = """
import os, signal, sys, tempfile
from pathlib import Path
from edgesdk.fsutil import TEMP_SUFFIX, atomic_dir

root = Path(sys.argv[1])
with atomic_dir(root / "artifacts") as tmp:
    (tmp / "model.pte").write_bytes(b"half a model")
    # what atomic_write_bytes holds while it writes report.json
    tempfile.mkstemp(prefix=".report.json.", suffix=TEMP_SUFFIX, dir=root)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_writers_temp_files_are_swept_and_nothing_else(tmp_path):
    import subprocess
    import sys

    from edgesdk.fsutil import remove_stale_temps, stale_temps

    keep = [tmp_path / ".gitignore", tmp_path / "notes.tmp", tmp_path / ".cache.tmp", tmp_path / "data" / ".hidden"]
    for path in keep:
        path.parent.mkdir(exist_ok=True)
        path.write_text("mine")
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    left = stale_temps(tmp_path)
    assert sorted(p.name.split(".")[1] for p in left) == ["artifacts", "report"], left
    assert remove_stale_temps(tmp_path) == 2
    assert stale_temps(tmp_path) == [] and not (tmp_path / "artifacts").exists()
    assert all(path.read_text() == "mine" for path in keep)


def test_published_dir_never_disappears_under_a_reader_while_others_publish(tmp_path):
    """Two builds filling one cache key at once: the first copy lands and stays; later
    publishers leave it (and no temp dir) in place, so a reader never finds it half gone."""
    import threading

    sources = []
    for i in range(2):
        src = tmp_path / f"src{i}"
        src.mkdir()
        for name in "abcdef":
            (src / name).write_text(f"{i}{name}" * 1000)
        sources.append(src)
    dst = tmp_path / "cache" / "key"
    publish_dir(sources[0], dst)
    failures: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                assert [(dst / n).read_text()[:2] for n in "abcdef"] == [f"0{n}" for n in "abcdef"]
            except (OSError, AssertionError) as exc:
                failures.append(repr(exc))

    def write(src) -> None:
        for _ in range(50):
            publish_dir(src, dst)

    threads = [threading.Thread(target=read)] + [threading.Thread(target=write, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    done.set()
    threads[0].join()
    assert not failures, failures[:3]
    assert not stale_temps(tmp_path / "cache")
