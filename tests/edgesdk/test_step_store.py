"""The step store: finished steps shared between builds by key, restored only when intact."""

from __future__ import annotations

from edgesdk.manifest import Manifest, StepKey
from edgesdk.step_store import StepStore


def finished_build(root, name="b", text="weights"):
    out = root / name
    out.mkdir(parents=True)
    manifest = Manifest(out)

    def make():
        (out / "student").mkdir()
        (out / "student" / "model.bin").write_text(text)
        (out / "student" / "sub").mkdir()
        (out / "student" / "sub" / "x.json").write_text("{}")
        (out / "stats.json").write_text("[1]")
        return {"loss": 0.5}

    manifest.run("student", StepKey.of(recipe=text), ["student", "stats.json"], make)
    return manifest


def test_a_published_step_restores_into_another_build_as_fresh(tmp_path):
    store = StepStore(tmp_path / "store")
    first = finished_build(tmp_path)
    store.publish(first, "student")
    other = Manifest(tmp_path / "other")
    (tmp_path / "other").mkdir()
    key = StepKey.of(recipe="weights")
    assert other.stale_reason("student", key) == ""
    assert store.restore(other, "student", key)
    assert other.stale_reason("student", key) is None  # the manifest now holds it fresh
    assert (tmp_path / "other" / "student" / "sub" / "x.json").read_text() == "{}"
    assert other.steps["student"]["info"] == {"loss": 0.5} and other.steps["student"]["restored"] == "step store"
    assert not store.restore(other, "student", StepKey.of(recipe="other weights"))  # another key: absent


def test_a_damaged_entry_is_not_restored_and_the_first_writer_wins(tmp_path):
    store = StepStore(tmp_path / "store")
    store.publish(finished_build(tmp_path, "a"), "student")
    entry = next((tmp_path / "store" / "student").iterdir())
    (entry / "files" / "student" / "model.bin").write_text("tampered")
    (tmp_path / "c").mkdir()
    assert not store.restore(Manifest(tmp_path / "c"), "student", StepKey.of(recipe="weights"))
    store.publish(finished_build(tmp_path, "b"), "student")  # same key: the stored copy stays
    assert (entry / "files" / "student" / "model.bin").read_text() == "tampered"


def test_add_build_publishes_only_the_steps_still_fresh(tmp_path):
    fresh, stale = finished_build(tmp_path, "fresh"), finished_build(tmp_path, "stale", "w2")
    (tmp_path / "stale" / "stats.json").write_text("[2]")  # edited after the build: not its output any more
    fresh.save()
    stale.save()
    store = StepStore(tmp_path / "store")
    assert store.add_build(tmp_path / "fresh") == 1
    assert store.add_build(tmp_path / "stale") == 0
    assert store.add_build(tmp_path / "nothing-here") == 0
