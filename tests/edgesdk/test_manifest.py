"""Step cache: skip when fresh, re-run when the key or an output changes."""

from edgesdk.fsutil import sha256_json
from edgesdk.manifest import Manifest, StepKey

K1, K2 = StepKey.of(recipe={"a": 1}, data="d"), StepKey.of(recipe={"a": 2}, data="d")


def test_step_runs_once_then_is_cached_and_reruns_on_change(tmp_path):
    calls = []

    def work():
        calls.append(1)
        (tmp_path / "out.txt").write_text(f"run {len(calls)}")
        return {"n": len(calls)}

    m = Manifest.load(tmp_path, {})
    assert m.run("s", K1, ["out.txt"], work) == ({"n": 1}, False)
    again = Manifest.load(tmp_path, {})  # a new process reads the saved manifest
    assert again.run("s", K1, ["out.txt"], work) == ({"n": 1}, True)
    assert len(calls) == 1
    assert again.run("s", K2, ["out.txt"], work) == ({"n": 2}, False)  # key changed
    (tmp_path / "out.txt").write_text("tampered")
    assert again.run("s", K2, ["out.txt"], work)[1] is False  # output changed
    (tmp_path / "out.txt").unlink()
    assert again.run("s", K2, ["out.txt"], work)[1] is False  # output missing
    assert len(calls) == 4


def test_damaged_manifest_only_costs_a_rerun(tmp_path):
    (tmp_path / "manifest.json").write_text("{half")
    m = Manifest.load(tmp_path, {})
    (tmp_path / "o").write_text("x")
    assert m.run("s", K1, ["o"], lambda: None)[1] is False


def test_failed_step_is_not_recorded(tmp_path):
    m = Manifest.load(tmp_path, {})

    def boom():
        raise RuntimeError("killed")

    try:
        m.run("s", K1, ["o"], boom)
    except RuntimeError:
        pass
    assert "s" not in Manifest.load(tmp_path, {}).steps


def test_a_step_that_runs_again_says_which_input_or_output_changed(tmp_path):
    reasons = []
    m = Manifest.load(tmp_path, {})

    def work():
        (tmp_path / "o").write_text("x")

    m.run("s", K1, ["o"], work, reasons.append)
    m.run("s", K1, ["o"], work, reasons.append)  # cached: nothing announced
    m.run("s", K2, ["o"], work, reasons.append)
    (tmp_path / "o").write_text("edited")
    m.run("s", K2, ["o"], work, reasons.append)
    (tmp_path / "o").unlink()
    m.run("s", K2, ["o"], work, reasons.append)
    both = StepKey.of(recipe={"a": 3}, data="e")
    m.run("s", both, ["o"], work, reasons.append)
    assert reasons == [
        "",  # never ran
        "changed: recipe",
        "o changed since it was written",
        "o is missing",
        "changed: recipe, data",
    ]


def test_step_keys_hash_the_inputs_as_the_manifest_always_has():
    """Named inputs must not change the key: build dirs and caches from before stay valid."""
    assert StepKey.of(a=1, b=[2]).key == sha256_json([1, [2]])
    assert StepKey.of_mapping({"a": 1, "b": [2]}).key == sha256_json({"a": 1, "b": [2]})
    assert StepKey.of(a=1, b=[2]).parts == {"a": sha256_json(1), "b": sha256_json([2])}
