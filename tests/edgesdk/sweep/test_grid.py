"""Grid files: the product of the axes plus named variants, each a validated recipe."""

from __future__ import annotations

import pytest

from edgesdk.errors import SweepError
from edgesdk.recipe import load_recipe
from edgesdk.sweep.grid import default_grid, dir_name, load_grid


def write(tmp_path, text: str):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def test_axes_make_the_product_and_named_variants_join_it(tmp_path):
    grid = write(
        tmp_path,
        "axes:\n  student.embedding_size: [32, 64]\n  prune.vocab_unseen: [pieces, nearest]\n"
        "variants:\n  wide: {student.embedding_size: 128, student.filters: 64}\n",
    )
    variants = load_grid(grid, load_recipe("mcu"))
    assert [v.name for v in variants] == [
        "embedding_size=32,vocab_unseen=pieces",
        "embedding_size=32,vocab_unseen=nearest",
        "embedding_size=64,vocab_unseen=pieces",
        "embedding_size=64,vocab_unseen=nearest",
        "wide",
    ]
    assert variants[3].recipe.student.embedding_size == 64 and variants[3].recipe.prune.vocab_unseen == "nearest"
    assert variants[4].recipe.student.filters == 64
    assert len({v.recipe_hash for v in variants}) == 5  # each variant is a different recipe


def test_clashing_leaves_keep_the_full_key_and_lists_join_with_plus(tmp_path):
    grid = write(tmp_path, "axes:\n  exits.layers: [[1, 2]]\n  prune.layers: [[3]]\n")
    (variant,) = load_grid(grid, load_recipe("default"))
    assert variant.name == "exits.layers=1+2,prune.layers=3"
    assert dir_name("a/b c") == "a_b_c"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("axes:\n  student.embeding_size: [32]\n", "unknown key 'student.embeding_size'"),
        ("axes:\n  nosection.x: [1]\n", "unknown key 'nosection.x'"),
        ("axis:\n  student.embedding_size: [32]\n", "unknown key 'axis'"),
        ("axes:\n  student.embedding_size: 32\n", "must be a non-empty list"),
        ("axes:\n  student.embedding_size: [-4]\n", "student.embedding_size"),
        ("axes: {}\n", "has no variants"),
        ("axes: [1, 2\n", "cannot be read as YAML"),
        ("- 1\n", "must be a mapping"),
    ],
)
def test_a_bad_grid_is_one_sweep_error_naming_it(tmp_path, text, needle):
    with pytest.raises(SweepError) as err:
        load_grid(write(tmp_path, text), load_recipe("mcu"))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_bundled_grids_load_and_hold_six_variants():
    for name in ("default", "mcu", "mcu-512k"):
        recipe = load_recipe(name)
        assert len(load_grid(default_grid(recipe), recipe)) == {"mcu-512k": 4}.get(name, 6)
    with pytest.raises(SweepError, match="pass --grid"):
        default_grid(load_recipe("student"))


def test_a_recipe_field_added_later_at_its_default_keeps_finished_variants_finished(tmp_path):
    """A sweep resumed after a code update that added recipe fields (student.learned_vocab, ...)
    must not rebuild every variant: the hash leaves such fields out while at their defaults."""
    from edgesdk.fsutil import sha256_json
    from edgesdk.steps.base import UNKEYED_DEFAULTS

    grid = tmp_path / "g.yaml"
    grid.write_text("variants:\n  a: {student.embedding_size: 96, student.learned_vocab: null}\n")
    (variant,) = load_grid(grid, load_recipe("tiny"))  # every field of UNKEYED_DEFAULTS at its default
    older_code = variant.recipe.model_dump(mode="json")  # the dump before those fields existed
    for section, fields in UNKEYED_DEFAULTS.items():
        for field in fields:
            del older_code[section][field]
    assert variant.recipe_hash == sha256_json(older_code)
    grid.write_text("variants:\n  a: {student.embedding_size: 96, student.learned_vocab: 4000}\n")
    (learned,) = load_grid(grid, load_recipe("tiny"))
    assert learned.recipe_hash != variant.recipe_hash
