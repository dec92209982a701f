import pytest

from edgesdk.errors import RecipeError
from edgesdk.recipe import Recipe, load_recipe, parse_recipe


def test_bundled_default_recipe_loads_and_round_trips():
    recipe = load_recipe(None)
    assert recipe.name == "default"
    assert set(recipe.export.runtimes) == {"executorch", "litert"}
    # the default build distils: the teacher is pruned and recovered from its unpruned self
    assert recipe.student.family == "teacher" and recipe.prune.structured and recipe.prune.recovery_epochs > 0
    assert parse_recipe(recipe.to_yaml()) == recipe


def test_empty_recipe_gives_defaults():
    assert parse_recipe("") == Recipe()


@pytest.mark.parametrize(
    "text, needle",
    [
        ("teacher: {epohcs: 2}", "unknown key 'teacher.epohcs'"),
        ("bogus: 1", "unknown key 'bogus'"),
        ("teacher: {epochs: many}", "'teacher.epochs'"),
        ("teacher: {min_steps: 0}", "'teacher.min_steps'"),
        ("teacher: {min_steps: lots}", "'teacher.min_steps'"),
        ("export: {seq_len: 2}", "'export.seq_len'"),
        ("export: {runtimes: [coreml]}", "'export.runtimes.0'"),
        ("export: {runtimes: []}", "at least one runtime"),
        ("export: {teacher: maybe}", "'export.teacher'"),
        ("version: 7", "'version'"),
        ("[1, 2]", "must be a YAML mapping"),
        ("teacher: {epochs: [", "not valid YAML"),
        ("student: {hidden: 100, heads: 3}", "divisible by student.heads"),
        ("student: {family: transformer}", "'student.family'"),
        ("distill: {losses: {kd: -1}}", "'distill.losses.kd'"),
        ("distill: {losses: {mse: 1}}", "unknown key 'distill.losses.mse'"),
        ("distill: {layer_map: diagonal}", "'distill.layer_map"),
        ("distill: {soft_labels: int4}", "'distill.soft_labels'"),
        ("distill: {soft_labels: [fp32]}", "'distill.soft_labels'"),
        ("prune: {heads: 1.0}", "'prune.heads'"),
        ("prune: {layers: [1, 1]}", "distinct non-negative"),
        ("prune: {sparsity: 0.5, cluster: 16}", "choose one"),
        ("prune: {vocab_unseen: drop}", "'prune.vocab_unseen'"),
        ("prune: {recovery_augment: -1}", "'prune.recovery_augment'"),
        ("prune: {recovery_augment: two}", "'prune.recovery_augment'"),
        ("prune: {recovery_losses: {hidden: -1}}", "'prune.recovery_losses.hidden'"),
        ("prune: {recovery_losses: {mse: 1}}", "unknown key 'prune.recovery_losses.mse'"),
        ("prune: {recovery_losses: {kd: 0}}", "every prune.recovery_losses weight is 0"),
        ("student: {family: cnn}\nprune: {ffn: 0.5}", "need an encoder student"),
        ("prune: {low_rank: 1.5}", "'prune.low_rank'"),
        ("prune: {low_rank: 0}", "'prune.low_rank'"),
        ("prune: {share_layers: club}", "'prune.share_layers'"),
        ("student: {layers: 3}\nprune: {share_layers: sandwich}", "sandwich needs 4+ layers"),
        ("student: {layers: 4}\nprune: {share_layers: sandwich, layers: [0]}", "the student keeps 3"),
        ("distill: {quant_noise: {rate: 1.5}}", "'distill.quant_noise.rate'"),
        ("distill: {quant_noise: {bits: 16}}", "'distill.quant_noise.bits'"),
        ("distill: {quant_noise: {noise: 1}}", "unknown key 'distill.quant_noise.noise'"),
        ("distill: {theseus: {epochs: -1}}", "'distill.theseus.epochs'"),
        ("distill: {theseus: {start_rate: 0}}", "'distill.theseus.start_rate'"),
        ("student: {family: cnn}\ndistill: {theseus: {epochs: 1}}", "distill.theseus needs an encoder student"),
        ("student: {family: cnn, word_rows: 4}", "'student.word_rows'"),
        ("student: {family: cnn, word_rows: 512, word_table: lsh}", "'student.word_table'"),
        ("student: {family: teacher, word_rows: 512}", "student.word_rows shares a distilled student"),
        ("student: {family: cnn, word_rows: 512}\nprune: {vocab: train}", "no prune section"),
        ("student: {family: cnn, learned_vocab: 10}", "'student.learned_vocab'"),
        ("quantize: {embeddings: int2}", "'quantize.embeddings'"),
        ("student: {family: teacher, learned_vocab: 4000}", "student.family: teacher needs the teacher's ids"),
        ("student: {learned_vocab: 4000}\ndistill: {losses: {kd: 1, minilm: 1}}", "internal distill.losses"),
        ("student: {learned_vocab: 4000}\ndistill: {theseus: {epochs: 1}}", "distill.theseus needs"),
        ("student: {learned_vocab: 4000}\nprune: {heads: 0.5}", "prune reshaping needs"),
        ("student: {family: cnn, learned_vocab: 4000, word_rows: 512}", "student.word_rows needs"),
        ("student: {family: encoder, word_rows: 512, word_table: qr}", "qr needs family cnn or bilstm (not encoder)"),
        ("student: {family: cnn, word_table: qr}", "and student.word_rows (its row budget; here None)"),
        ("exits: {layers: [3, 1]}", "ascending"),
        ("exits: {head: tree}", "'exits.head'"),
        ("exits: {budget_confidence: 0.3}", "'exits.budget_confidence'"),
        ("exits: {budget_confidence: 1.0}", "'exits.budget_confidence'"),
        ("exits: {layers: [1], buckets: [128]}", "longest bucket must fit"),
        ("student: {layers: 4}\nexits: {layers: [2, 4]}", "below student.layers 4"),
        ("student: {family: bilstm}\nexits: {layers: [1]}", "exits need an encoder student"),
    ],
)
def test_bad_recipes_fail_with_one_clear_message(text, needle):
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, "r.yaml")
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_a_bundled_name_is_the_bundled_recipe_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    (tmp_path / "tiny").mkdir()  # e.g. `edgesdk build --recipe tiny --out tiny`, run again
    monkeypatch.chdir(tmp_path)
    assert load_recipe("tiny").name == "tiny"
    with pytest.raises(RecipeError, match="is a directory"):
        load_recipe("./tiny")


def test_missing_recipe_lists_bundled_names(tmp_path):
    with pytest.raises(RecipeError, match="default"):
        load_recipe(str(tmp_path / "nope.yaml"))
    with pytest.raises(RecipeError, match="is a directory"):
        load_recipe(str(tmp_path))


def _keys(model_cls, prefix=""):
    from pydantic import BaseModel

    for name, field in model_cls.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _keys(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def test_every_recipe_key_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "recipes.md").read_text()
    missing = [k for k in _keys(Recipe) if f"`{k}`" not in doc]
    assert not missing, f"undocumented recipe keys: {missing}"


def test_a_qr_table_goes_over_a_learned_vocabulary():
    recipe = parse_recipe("student: {family: cnn, learned_vocab: 4000, word_rows: 128, word_table: qr}")
    assert (recipe.student.word_table, recipe.student.word_rows, recipe.student.learned_vocab) == ("qr", 128, 4000)
