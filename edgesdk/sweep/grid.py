"""A sweep grid: recipe overrides by dotted key, one variant per combination.

    # every combination of the axes is one variant
    axes:
      student.embedding_size: [64, 96]
      quantize.precisions: [[int8], [int8-dynamic]]
    # optional: variants by name, beside the product
    variants:
      tiny-table: {student.embedding_size: 32, prune.vocab: train}

Every variant's recipe is validated before anything is built, so a misspelt key is one line
naming it, not a failed build an hour in.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgesdk.errors import SweepError
from edgesdk.fsutil import sha256_json
from edgesdk.recipe import RECIPES_DIR, Recipe, format_validation_error
from edgesdk.steps.base import keyed_recipe

GRIDS_DIR = RECIPES_DIR / "grids"  # a bundled grid per bundled recipe: grids/<recipe name>.yaml
GRID_KEYS = {"axes", "variants"}


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]  # dotted recipe key -> value
    recipe: Recipe

    @property
    def recipe_hash(self) -> str:
        """What a resumed sweep compares: the recipe as step keys see it (new fields at their
        defaults left out, so a code update does not rebuild every finished variant)."""
        return sha256_json(keyed_recipe(self.recipe))


def default_grid(recipe: Recipe) -> Path:
    path = GRIDS_DIR / f"{recipe.name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in GRIDS_DIR.glob("*.yaml")))
        raise SweepError(f"no bundled grid for recipe '{recipe.name}' (bundled: {known}); pass --grid FILE")
    return path


def load_grid(path: Path, base: Recipe) -> list[Variant]:
    """The variants of grid file `path` applied to `base`; raises SweepError naming what is wrong."""
    raw = _read(path)
    axes, named = raw.get("axes") or {}, raw.get("variants") or {}
    if not isinstance(axes, dict) or not isinstance(named, dict):
        raise SweepError(f"grid {path}: 'axes' and 'variants' must be mappings (key: values / name: overrides)")
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"grid {path}: axis '{key}' must be a non-empty list of values")
    combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())] if axes else []
    labelled = [(_name(combo), combo) for combo in combos]
    for name, overrides in named.items():
        if not isinstance(overrides, dict):
            raise SweepError(f"grid {path}: variant '{name}' must be a mapping of recipe keys to values")
        labelled.append((str(name), overrides))
    if not labelled:
        raise SweepError(f"grid {path} has no variants; give 'axes' or 'variants'")
    names = [name for name, _ in labelled]
    if len(set(names)) != len(names):
        raise SweepError(f"grid {path}: two variants are named alike ({names}); rename one")
    return [
        Variant(name, overrides, apply(base, overrides, f"{path} variant '{name}'")) for name, overrides in labelled
    ]


def apply(base: Recipe, overrides: dict[str, Any], source: str) -> Recipe:
    """`base` with the dotted keys set; an unknown key or a bad value is a SweepError."""
    raw = base.model_dump(mode="json")
    for key, value in overrides.items():
        node, parts = raw, str(key).split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise _unknown(source, key)
            node = node[part]
        if parts[-1] not in node:
            raise _unknown(source, key)
        node[parts[-1]] = value
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        raise SweepError(format_validation_error(f"of grid {source}", exc)) from None


def _unknown(source: str, key: str) -> SweepError:
    return SweepError(
        f"grid {source}: unknown key '{key}'; use a recipe key such as student.embedding_size (docs/recipes.md)"
    )


def _read(path: Path) -> dict:
    if not path.is_file():
        raise SweepError(f"grid file {path} not found; give a YAML file (docs/sweep.md shows one)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SweepError(f"grid file {path} cannot be read as YAML ({str(exc).splitlines()[0]}); fix it") from None
    if not isinstance(raw, dict):
        raise SweepError(f"grid file {path} must be a mapping with 'axes' and/or 'variants'")
    unknown = sorted(set(raw) - GRID_KEYS)
    if unknown:
        raise SweepError(f"grid file {path}: unknown key '{unknown[0]}'; a grid has 'axes' and 'variants'")
    return raw


def _name(combo: dict[str, Any]) -> str:
    """'embedding_size=64,precisions=int8': the leaf of each key, the full key where leaves clash."""
    leaves = [str(k).rsplit(".", 1)[-1] for k in combo]
    parts = []
    for (key, value), leaf in zip(combo.items(), leaves):
        shown = "+".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{leaf if leaves.count(leaf) == 1 else key}={shown}")
    return ",".join(parts)


def dir_name(name: str) -> str:
    """A variant's build-dir name: its name with anything but letters, digits, `=,.+-` as `_`."""
    return re.sub(r"[^A-Za-z0-9=,.+_-]", "_", name)[:120] or "variant"
