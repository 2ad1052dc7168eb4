"""The WGAN loss and weight clipping against hand-computed values (REFERENCES.md §1, §3)."""
import math

import pytest
import torch
from torch import nn

from gankit.constraints import WeightClip
from gankit.losses import WassersteinLoss


def linear_critic(w, b=0.0):
    critic = nn.Linear(len(w), 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([w]))
        critic.bias.fill_(b)
    return critic


def test_wasserstein_loss_values():
    critic = linear_critic([1.0, 2.0], b=0.5)
    real = torch.tensor([[1.0, 1.0], [3.0, 0.0]])  # scores 3.5, 3.5
    fake = torch.tensor([[0.0, 0.0], [1.0, -1.0]])  # scores 0.5, -0.5
    out = WassersteinLoss().critic_loss(critic, real, fake)
    assert out.loss.item() == pytest.approx(0.0 - 3.5)  # mean f(fake) - mean f(real)
    assert (out.real_scores.mean() - out.fake_scores.mean()).item() == pytest.approx(3.5)
    assert WassersteinLoss().generator_loss(critic, fake, real).item() == pytest.approx(0.0)


def test_wasserstein_loss_gradient_pushes_scores_apart():
    critic = linear_critic([0.0])
    real, fake = torch.tensor([[2.0]]), torch.tensor([[-1.0]])
    WassersteinLoss().critic_loss(critic, real, fake).loss.backward()
    assert critic.weight.grad.item() == pytest.approx(-3.0)  # d/dw (w·(-1) - w·2)


def test_clip_clamps_every_parameter_including_biases():
    critic = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    with torch.no_grad():
        for p in critic.parameters():
            p.normal_(0, 1)
    WeightClip(0.01).after_step(critic)
    for p in critic.parameters():
        assert p.abs().max().item() <= 0.01
    assert any((p.abs() == 0.01).any() for p in critic.parameters())


def test_clip_at_build_time_and_nan_stays_nan():
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[float("nan"), 5.0]]))
    assert WeightClip(0.5).wrap(critic) is critic
    assert math.isnan(critic.weight[0, 0].item()) and critic.weight[0, 1].item() == 0.5


def test_clip_value_must_be_positive():
    with pytest.raises(ValueError, match="clip_value must be > 0"):
        WeightClip(0.0)


def test_clipped_pytorch_gan_critic_is_at_most_3_67_lipschitz():
    """With |w| <= c, ||W||_2 <= c·sqrt(mn); the 784-512-256-1 critic is <= 3.67-Lipschitz."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    with torch.no_grad():
        for p in critic.parameters():
            p.uniform_(-1, 1)
    WeightClip(0.01).after_step(critic)
    bound = math.prod(0.01 * math.sqrt(lin.in_features * lin.out_features) for lin in critic if isinstance(lin, nn.Linear))
    assert bound == pytest.approx(3.67, abs=0.01)
    x = torch.randn(256, 784, requires_grad=True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    assert grad.norm(dim=1).max().item() < bound
