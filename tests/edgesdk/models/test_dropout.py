"""The cheaper dropout keeps nn.Dropout's contract: rate, scaling, gradient, seeding, eval."""

import math

import pytest
import torch

from edgesdk.models.dropout import Dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drops_the_requested_fraction_and_rescales_the_rest(p):
    torch.manual_seed(0)
    x = torch.full((1001, 999), 2.0)  # odd size: not a multiple of the four words per draw
    y = Dropout(p).train()(x)
    kept = y != 0
    n = x.numel()
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    assert torch.allclose(y[kept], torch.tensor(2.0 / (1 - p)))
    assert abs(y.mean().item() - 2.0) < 0.01  # expectation preserved


def test_mask_is_not_shared_across_positions():
    torch.manual_seed(0)
    y = Dropout(0.5).train()(torch.ones(64, 4, 32))
    assert not torch.equal(y[0], y[1])
    assert not torch.equal(y[:, :, 0], y[:, :, 1])


def test_gradient_flows_through_kept_elements_only():
    torch.manual_seed(0)
    x = torch.randn(8, 16, 32, requires_grad=True)
    y = Dropout(0.3).train()(x)
    y.sum().backward()
    expected = (y != 0).float() / 0.7
    assert torch.allclose(x.grad, expected)


def test_seeded_like_torch():
    layer = Dropout(0.1).train()
    x = torch.ones(4, 10, 48)
    torch.manual_seed(3)
    a = layer(x)
    torch.manual_seed(3)
    b = layer(x)
    torch.manual_seed(4)
    c = layer(x)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_identity_in_eval_and_at_zero():
    x = torch.randn(3, 5)
    assert Dropout(0.1).eval()(x) is x
    assert Dropout(0.0).train()(x) is x


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_rejects_probabilities_outside_zero_one(p):
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(p)
