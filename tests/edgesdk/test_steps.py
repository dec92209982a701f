"""Step cache: skip when fresh, re-run when the key or an output changes."""

from edgesdk.steps import Manifest


def test_step_runs_once_then_is_cached_and_reruns_on_change(tmp_path):
    calls = []

    def work():
        calls.append(1)
        (tmp_path / "out.txt").write_text(f"run {len(calls)}")
        return {"n": len(calls)}

    m = Manifest.load(tmp_path, {})
    assert m.run("s", "k1", ["out.txt"], work) == ({"n": 1}, False)
    again = Manifest.load(tmp_path, {})  # a new process reads the saved manifest
    assert again.run("s", "k1", ["out.txt"], work) == ({"n": 1}, True)
    assert len(calls) == 1
    assert again.run("s", "k2", ["out.txt"], work) == ({"n": 2}, False)  # key changed
    (tmp_path / "out.txt").write_text("tampered")
    assert again.run("s", "k2", ["out.txt"], work)[1] is False  # output changed
    (tmp_path / "out.txt").unlink()
    assert again.run("s", "k2", ["out.txt"], work)[1] is False  # output missing
    assert len(calls) == 4


def test_damaged_manifest_only_costs_a_rerun(tmp_path):
    (tmp_path / "manifest.json").write_text("{half")
    m = Manifest.load(tmp_path, {})
    (tmp_path / "o").write_text("x")
    assert m.run("s", "k", ["o"], lambda: None)[1] is False


def test_failed_step_is_not_recorded(tmp_path):
    m = Manifest.load(tmp_path, {})

    def boom():
        raise RuntimeError("killed")

    try:
        m.run("s", "k", ["o"], boom)
    except RuntimeError:
        pass
    assert "s" not in Manifest.load(tmp_path, {}).steps
