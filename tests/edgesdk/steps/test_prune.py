import pytest

from edgesdk.recipe import LossWeights, parse_recipe
from edgesdk.steps.prune import recovery_config, recovery_layer_map


@pytest.mark.parametrize(
    "student_layers, teacher_layers, strategy, removed, expected",
    [
        (6, 6, "uniform", [], [1, 2, 3, 4, 5, 6]),
        (6, 6, "uniform", [1, 3], [1, 3, 5, 6]),  # the teacher pruned into the student: itself
        (4, 12, "uniform", [0], [6, 9, 12]),
        (3, 6, [2, 4, 6], [2], [2, 4]),
    ],
)
def test_recovery_layer_map_keeps_each_layer_on_its_teacher_layer(
    student_layers, teacher_layers, strategy, removed, expected
):
    cfg = parse_recipe(f"distill: {{layer_map: {strategy}}}").distill
    assert recovery_layer_map(cfg, student_layers, teacher_layers, removed) == expected


def test_recovery_uses_prediction_losses_unless_the_recipe_names_its_own():
    recipe = parse_recipe("distill: {losses: {kd: 1.0, ce: 0.5, hidden: 2.0}}\nprune: {heads: 0.5}")
    assert recovery_config(recipe).losses == LossWeights(kd=1.0, ce=0.5)
    own = parse_recipe(
        "distill: {losses: {kd: 1.0, hidden: 2.0}}\nprune: {heads: 0.5, recovery_losses: {kd: 1.0, minilm: 1.0}}"
    )
    assert recovery_config(own).losses == LossWeights(kd=1.0, minilm=1.0)


def test_recovery_keeps_quant_noise_but_not_module_replacement():
    recipe = parse_recipe("distill: {quant_noise: {rate: 0.2}, theseus: {epochs: 1}}\nprune: {heads: 0.5}")
    recovery = recovery_config(recipe)
    assert recovery.quant_noise.rate == 0.2 and recovery.theseus.epochs == 0.0


def test_the_preflight_counts_the_learned_vocabulary_the_student_will_ship():
    from types import SimpleNamespace

    from edgesdk.models.model_dir import default_teacher_dir
    from edgesdk.steps.prune import deployed_tokens
    from edgesdk.tokenizer import Tokenizer
    from tests.conftest import sst2_rows

    texts = [line.split("\t")[0] for line in sst2_rows("train", 300)[1:]]
    task = SimpleNamespace(train=SimpleNamespace(texts=texts))
    learned = parse_recipe("student: {family: cnn, learned_vocab: 600}\ndistill: {losses: {kd: 1.0}}")
    tokens = deployed_tokens(default_teacher_dir(), task, learned)
    assert sorted(tokens) == sorted(Tokenizer.from_dir(default_teacher_dir()).learned(texts, 600).vocabulary())
    assert len(tokens) <= 600 < len(deployed_tokens(default_teacher_dir(), task, parse_recipe("student: {family: cnn}")))
