import pytest

from edgesdk.fsutil import atomic_dir, atomic_write_text, sha256_dir, sha256_json


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
