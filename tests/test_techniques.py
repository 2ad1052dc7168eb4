"""Training techniques: instance noise, minibatch discrimination, virtual batch norm,
historical averaging, weight EMA and the truncation trick (gankit/techniques.py)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.techniques import (
    HistoricalAverage,
    InstanceNoise,
    MinibatchDiscrimination,
    ModelEMA,
    VirtualBatchNorm,
    add_minibatch_discrimination,
    annealed_sigma,
    truncated_noise,
    use_virtual_batchnorm,
)


class Recorder(nn.Module):
    """An identity-ish critic that remembers what it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x, *args):
        self.seen, self.args = x, args
        return self.scale * x.flatten(1).sum(1, keepdim=True)

    def features(self, x, *args):
        self.seen, self.args = x, args
        return x.flatten(1)


class FeatureCritic(nn.Module):
    """A critic with ``features(x) -> (B, F)`` and ``head = Linear(F, 1)``."""

    def __init__(self, size: int = 2, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(size, width), nn.LeakyReLU(0.2))
        self.head = nn.Linear(width, 1)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


# --- instance noise --------------------------------------------------------------------------


def test_instance_noise_in_training_adds_gaussian_noise_of_std_sigma():
    torch.manual_seed(0)
    critic = InstanceNoise(Recorder(), sigma=0.3)
    x = torch.randn(20000, 4, dtype=torch.float64)
    critic(x)
    noise = critic.critic.seen - x
    assert noise.dtype == torch.float64 and noise.shape == x.shape
    assert noise.std().item() == pytest.approx(0.3, rel=0.02)
    assert abs(noise.mean().item()) < 0.01
    critic(x)
    assert not torch.equal(critic.critic.seen - x, noise)  # fresh noise each call


def test_instance_noise_uses_the_global_rng():
    x = torch.zeros(5, 3)
    critic = InstanceNoise(Recorder(), sigma=1.0)
    torch.manual_seed(7)
    critic(x)
    first = critic.critic.seen.clone()
    torch.manual_seed(7)
    critic(x)
    assert torch.equal(critic.critic.seen, first)


def test_instance_noise_in_eval_mode_or_at_sigma_zero_passes_inputs_unchanged():
    x = torch.randn(8, 2)
    critic = InstanceNoise(Recorder(), sigma=0.5).eval()
    critic(x)
    assert torch.equal(critic.critic.seen, x)
    critic.train()
    critic.sigma = 0.0
    critic(x)
    assert torch.equal(critic.critic.seen, x)


def test_instance_noise_passes_labels_through_and_noises_features():
    torch.manual_seed(0)
    critic = InstanceNoise(Recorder(), sigma=0.5)
    x, labels = torch.zeros(6, 3), torch.arange(6)
    out = critic(x, labels)
    assert out.shape == (6, 1) and critic.critic.args[0] is labels
    feats = critic.features(x, labels)
    assert critic.critic.args[0] is labels
    assert feats.shape == (6, 3) and feats.abs().sum() > 0  # noisy, not x
    assert list(dict(critic.named_parameters())) == ["critic.scale"]


def test_instance_noise_rejects_negative_sigma():
    with pytest.raises(ValueError, match="sigma"):
        InstanceNoise(Recorder(), sigma=-0.1)


def test_annealed_sigma_is_linear_to_zero():
    assert annealed_sigma(0, 2.0, 100) == 2.0
    assert annealed_sigma(25, 2.0, 100) == pytest.approx(1.5)
    assert annealed_sigma(50, 2.0, 100) == pytest.approx(1.0)
    assert annealed_sigma(100, 2.0, 100) == 0.0
    assert annealed_sigma(150, 2.0, 100) == 0.0


def test_annealed_sigma_with_zero_anneal_steps_is_constant():
    assert annealed_sigma(0, 0.1, 0) == 0.1
    assert annealed_sigma(10**6, 0.1, 0) == 0.1
    with pytest.raises(ValueError):
        annealed_sigma(0, 0.1, -1)


# --- minibatch discrimination ----------------------------------------------------------------


def test_minibatch_discrimination_output_shape_and_init():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(32, n_kernels=10, kernel_dim=3)
    assert layer.T.shape == (32, 10, 3)
    assert layer.T.std().item() == pytest.approx(0.05, rel=0.15)
    f = torch.randn(7, 32)
    out = layer(f)
    assert out.shape == (7, 42)
    assert torch.equal(out[:, :32], f)


def test_minibatch_discrimination_matches_hand_computation():
    layer = MinibatchDiscrimination(2, n_kernels=1, kernel_dim=1)
    with torch.no_grad():
        layer.T.copy_(torch.tensor([[[1.0]], [[2.0]]]))  # M_i = f_i0 + 2 f_i1
    f = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # M = 0, 1, 2
    o = layer(f)[:, 2]
    e1, e2 = math.exp(-1), math.exp(-2)
    assert o.tolist() == pytest.approx([e1 + e2, 2 * e1, e1 + e2])


def test_minibatch_discrimination_uses_the_l1_norm_per_kernel():
    layer = MinibatchDiscrimination(1, n_kernels=2, kernel_dim=2)
    with torch.no_grad():  # kernel 0: M = (f, -f), L1 distance 2|f_i - f_j|; kernel 1: M = (3f, 0)
        layer.T.copy_(torch.tensor([[[1.0, -1.0], [3.0, 0.0]]]))
    f = torch.tensor([[0.0], [0.5]])
    o = layer(f)[:, 1:]
    expected = [math.exp(-1.0), math.exp(-1.5)]
    assert o.tolist() == [pytest.approx(expected)] * 2


def test_minibatch_discrimination_is_maximal_for_identical_samples_and_excludes_self():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(8, n_kernels=5, kernel_dim=3)
    same = layer(torch.randn(1, 8).expand(6, 8))[:, 8:]
    assert torch.allclose(same, torch.full((6, 5), 5.0))  # N - 1: self excluded
    spread = layer(torch.randn(6, 8) * 10)[:, 8:]
    assert (spread < 5.0).all()
    assert torch.equal(layer(torch.randn(1, 8))[:, 8:], torch.zeros(1, 5))


def test_minibatch_discrimination_gradients_are_correct():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(3, n_kernels=2, kernel_dim=2).double()
    f = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (f,))


def test_add_minibatch_discrimination_keeps_the_critic_interface():
    torch.manual_seed(0)
    critic = add_minibatch_discrimination(FeatureCritic(width=16), n_kernels=4, kernel_dim=3)
    mbd, linear = critic.head
    assert isinstance(mbd, MinibatchDiscrimination) and mbd.T.shape == (16, 4, 3)
    assert (linear.in_features, linear.out_features) == (20, 1)
    x = torch.randn(5, 2)
    assert critic(x).shape == (5, 1)
    assert critic.features(x).shape == (5, 16)
    # the score of a sample now depends on the rest of its batch
    other = torch.cat([x[:1], torch.randn(4, 2)])
    assert not torch.allclose(critic(x)[0], critic(other)[0])
    critic(x).sum().backward()
    assert mbd.T.grad is not None and mbd.T.grad.abs().sum() > 0


def test_add_minibatch_discrimination_needs_a_linear_head():
    with pytest.raises(ValueError, match="head"):
        add_minibatch_discrimination(nn.Sequential(nn.Linear(2, 1)))
    critic = FeatureCritic()
    critic.head = nn.Sequential(nn.Linear(16, 1))
    with pytest.raises(ValueError, match="Sequential"):
        add_minibatch_discrimination(critic)


# --- virtual batch normalisation -------------------------------------------------------------


def mlp_generator(latent: int = 4) -> nn.Sequential:
    return nn.Sequential(nn.Linear(latent, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 3))


def test_vbn_output_of_an_example_does_not_depend_on_the_rest_of_its_batch():
    torch.manual_seed(0)
    plain = mlp_generator()
    z0, za, zb = torch.randn(1, 4), torch.randn(7, 4), torch.randn(3, 4) * 3
    batch_a, batch_b = torch.cat([z0, za]), torch.cat([z0, zb])
    assert not torch.allclose(plain(batch_a)[0], plain(batch_b)[0], atol=1e-3)  # BatchNorm does depend

    g = use_virtual_batchnorm(plain, torch.randn(16, 4))
    out_a, out_b = g(batch_a), g(batch_b)
    assert out_a.shape == (8, 3) and out_b.shape == (4, 3)
    assert torch.allclose(out_a[0], out_b[0], atol=1e-6)
    assert torch.allclose(g(z0)[0], out_a[0], atol=1e-6)


def test_vbn_matches_the_closed_form_on_a_tiny_example():
    linear, bn = nn.Linear(1, 1), nn.BatchNorm1d(1)
    with torch.no_grad():
        linear.weight.fill_(1.0), linear.bias.fill_(0.0)
        bn.weight.fill_(2.0), bn.bias.fill_(0.5)
    g = use_virtual_batchnorm(nn.Sequential(linear, bn), torch.tensor([[0.0], [1.0], [2.0], [3.0]]))
    out = g(torch.tensor([[5.0], [-1.0]]))
    # R = {0, 1, 2, 3}: n = 4, mean 1.5, E[x^2] = 3.5
    for row, x in enumerate([5.0, -1.0]):
        mean = (4 * 1.5 + x) / 5
        var = (4 * 3.5 + x * x) / 5 - mean**2
        assert out[row, 0].item() == pytest.approx(2.0 * (x - mean) / math.sqrt(var + bn.eps) + 0.5, rel=1e-6)


def test_vbn_on_feature_maps_uses_batch_and_spatial_statistics():
    torch.manual_seed(0)
    n, c = 5, 3
    vbn = VirtualBatchNorm(c, n_reference=n)
    with torch.no_grad():
        vbn.weight.uniform_(0.5, 2.0), vbn.bias.normal_()
    x = torch.randn(n + 2, c, 4, 4) * 2 + 1
    out = vbn(x)
    ref, examples = x[:n], x[n:]
    # the reference rows: BatchNorm on the reference batch alone
    assert torch.allclose(out[:n], F.batch_norm(ref, None, None, vbn.weight, vbn.bias, training=True), atol=1e-5)
    # an example: BatchNorm over the reference batch plus that example, i.e. n + 1 rows
    for i in range(len(examples)):
        joint = F.batch_norm(torch.cat([ref, examples[i : i + 1]]), None, None, vbn.weight, vbn.bias, training=True)
        assert torch.allclose(out[n + i], joint[-1], atol=1e-5)


def test_vbn_gives_the_same_output_in_train_and_eval_mode():
    torch.manual_seed(0)
    g = use_virtual_batchnorm(mlp_generator(), torch.randn(16, 4))
    z = torch.randn(5, 4)
    train_out = g.train()(z)
    eval_out = g.eval()(z)
    assert torch.equal(train_out, eval_out)


def test_vbn_reuses_the_batchnorm_parameters_and_saves_the_reference_batch():
    torch.manual_seed(0)
    plain = mlp_generator()
    bn, names = plain[1], [name for name, _ in plain.named_parameters()]
    reference = torch.randn(16, 4)
    g = use_virtual_batchnorm(plain, reference)
    vbn = g.generator[1]
    assert isinstance(vbn, VirtualBatchNorm) and vbn.eps == bn.eps
    assert vbn.weight is bn.weight and vbn.bias is bn.bias
    assert [name for name, _ in g.named_parameters()] == ["generator." + name for name in names]
    state = g.state_dict()
    assert torch.equal(state["reference_z"], reference)
    assert not any("running" in key for key in state)

    torch.manual_seed(1)
    copy = use_virtual_batchnorm(mlp_generator(), torch.zeros(16, 4))
    copy.load_state_dict(state)
    z = torch.randn(3, 4)
    assert torch.equal(copy(z), g(z))

    g(z).sum().backward()
    assert bn.weight.grad is not None and bn.weight.grad.abs().sum() > 0


def test_vbn_handles_batchnorm2d_in_a_convolutional_generator():
    torch.manual_seed(0)
    gen = nn.Sequential(
        nn.Unflatten(1, (4, 1, 1)), nn.ConvTranspose2d(4, 6, 4), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 1, 3, padding=1)
    )
    g = use_virtual_batchnorm(gen, torch.randn(8, 4))
    z0 = torch.randn(1, 4)
    out_a, out_b = g(torch.cat([z0, torch.randn(2, 4)])), g(torch.cat([z0, torch.randn(5, 4)]))
    assert out_a.shape == (3, 1, 4, 4)
    assert torch.allclose(out_a[0], out_b[0], atol=1e-6)


class LabelledGenerator(nn.Module):
    """G(z, y) = body([z, one_hot(y)]), with BatchNorm in the body."""

    def __init__(self, latent: int = 4, n_classes: int = 3) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.body = mlp_generator(latent + n_classes)

    def forward(self, z, y):
        return self.body(torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], 1))


def test_vbn_on_a_conditional_generator_uses_reference_labels():
    torch.manual_seed(0)
    reference_z, reference_y = torch.randn(12, 4), torch.arange(12) % 3
    g = use_virtual_batchnorm(LabelledGenerator(), reference_z, reference_y)
    assert torch.equal(g.state_dict()["reference_y"], reference_y)
    z0, y0 = torch.randn(1, 4), torch.tensor([2])
    out_a = g(torch.cat([z0, torch.randn(4, 4)]), torch.cat([y0, torch.tensor([0, 1, 1, 0])]))
    out_b = g(torch.cat([z0, torch.randn(2, 4)]), torch.cat([y0, torch.tensor([2, 2])]))
    assert out_a.shape == (5, 3)
    assert torch.allclose(out_a[0], out_b[0], atol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        use_virtual_batchnorm(LabelledGenerator(), reference_z)(z0, y0)
    with pytest.raises(ValueError, match="labels"):
        g(z0)


def test_use_virtual_batchnorm_errors():
    with pytest.raises(ValueError, match="no BatchNorm"):
        use_virtual_batchnorm(nn.Sequential(nn.Linear(4, 2)), torch.randn(8, 4))
    g = use_virtual_batchnorm(mlp_generator(), torch.randn(8, 4))
    with pytest.raises(ValueError, match="reference_y"):
        g(torch.randn(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="reference labels"):
        use_virtual_batchnorm(mlp_generator(), torch.randn(8, 4), torch.zeros(7, dtype=torch.long))
    with pytest.raises(ValueError, match="reference"):
        g.generator(torch.randn(8, 4))  # the reference rows alone: no example


# --- historical averaging --------------------------------------------------------------------


def set_linear(module: nn.Linear, weight: list[float], bias: list[float]) -> None:
    with torch.no_grad():
        module.weight.copy_(torch.tensor([weight])), module.bias.copy_(torch.tensor(bias))


def test_historical_average_penalty_is_zero_before_the_first_update():
    module = nn.Linear(2, 1)
    hist = HistoricalAverage(module, weight=0.5)
    penalty = hist.penalty()
    assert penalty.item() == 0.0
    penalty.backward()
    assert module.weight.grad.abs().sum() == 0


def test_historical_average_running_mean_penalty_and_gradient():
    module = nn.Linear(2, 1)
    hist = HistoricalAverage(module, weight=0.5)
    for w, b in [([1.0, 2.0], [3.0]), ([3.0, 4.0], [5.0]), ([2.0, 0.0], [-2.0])]:
        set_linear(module, w, b)
        hist.update()
    assert hist.t == 3
    assert hist.means["weight"].tolist() == [[2.0, 2.0]]
    assert hist.means["bias"].tolist() == [2.0]
    set_linear(module, [0.0, 1.0], [4.0])
    penalty = hist.penalty()
    assert penalty.item() == pytest.approx(0.5 * (4 + 1 + 4))
    penalty.backward()
    assert module.weight.grad.tolist() == [[2 * 0.5 * -2.0, 2 * 0.5 * -1.0]]
    assert module.bias.grad.tolist() == [2 * 0.5 * 2.0]


def test_historical_average_state_round_trip_continues_identically():
    torch.manual_seed(0)
    module, other = nn.Linear(3, 2), nn.Linear(3, 2)
    hist = HistoricalAverage(module, weight=1.0)
    for _ in range(3):
        with torch.no_grad():
            module.weight.add_(torch.randn(2, 3))
        hist.update()
    state = hist.state_dict()
    resumed = HistoricalAverage(other, weight=1.0)
    resumed.load_state_dict(state)
    other.load_state_dict(module.state_dict())
    for _ in range(2):
        step = torch.randn(2, 3)
        for m, h in [(module, hist), (other, resumed)]:
            with torch.no_grad():
                m.weight.add_(step)
            h.update()
        assert resumed.t == hist.t
        assert torch.equal(resumed.penalty(), hist.penalty())
    assert state["t"] == 3  # a snapshot, not a view of the live means
    assert not torch.equal(state["means"]["weight"], hist.means["weight"])


def test_historical_average_rejects_a_foreign_state():
    hist = HistoricalAverage(nn.Linear(2, 1), weight=1.0)
    with pytest.raises(ValueError, match="names"):
        hist.load_state_dict({"t": 1, "means": {"w": torch.zeros(1)}})


# --- weight EMA ------------------------------------------------------------------------------


def test_model_ema_matches_the_closed_form():
    model = nn.Linear(2, 1)
    set_linear(model, [1.0, -1.0], [0.0])
    ema = ModelEMA(model, decay=0.9)
    sequence = [([2.0, 0.0], [1.0]), ([4.0, 2.0], [-1.0]), ([0.0, 6.0], [3.0])]
    for w, b in sequence:
        set_linear(model, w, b)
        ema.update(model)
    k, d = len(sequence), 0.9
    expected_w = [d**k * w0 + sum((1 - d) * d ** (k - 1 - i) * s[0][j] for i, s in enumerate(sequence)) for j, w0 in enumerate([1.0, -1.0])]
    expected_b = sum((1 - d) * d ** (k - 1 - i) * s[1][0] for i, s in enumerate(sequence))
    assert ema.module.weight[0].tolist() == pytest.approx(expected_w, abs=1e-6)  # float32 rounding
    assert ema.module.bias.item() == pytest.approx(expected_b, abs=1e-6)
    assert model.weight.tolist() == [[0.0, 6.0]]  # the trained model is untouched


def test_model_ema_copies_buffers_and_has_no_gradients():
    torch.manual_seed(0)
    model = mlp_generator()
    ema = ModelEMA(model)
    assert ema.module is not model and not ema.module.training and model.training
    assert not any(p.requires_grad for p in ema.module.parameters())
    model(torch.randn(32, 4))  # training mode: BatchNorm running statistics move
    ema.update(model)
    for (name, buffer), (_, own) in zip(ema.module.named_buffers(), model.named_buffers()):
        assert torch.equal(buffer, own), name
    assert torch.equal(ema.module[0].weight, model[0].weight)  # an average of equal values
    assert ema.module(torch.randn(3, 4)).requires_grad is False


def test_model_ema_state_round_trip():
    torch.manual_seed(0)
    model = mlp_generator()
    ema = ModelEMA(model, decay=0.5)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model)
    resumed = ModelEMA(mlp_generator(), decay=0.5)
    resumed.load_state_dict(ema.state_dict())
    with torch.no_grad():
        model[3].bias.sub_(2.0)
    ema.update(model)
    resumed.update(model)
    for a, b in zip(ema.module.state_dict().values(), resumed.module.state_dict().values()):
        assert torch.equal(a, b)
    fresh = mlp_generator()
    fresh.load_state_dict(ema.state_dict())  # a plain generator state dict


def test_model_ema_rejects_a_bad_decay_or_model():
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(nn.Linear(2, 1), decay=1.5)
    ema = ModelEMA(nn.Linear(2, 1))
    with pytest.raises(ValueError, match="parameters"):
        ema.update(nn.Sequential(nn.Linear(2, 1)))


# --- truncation trick ------------------------------------------------------------------------


def test_truncated_noise_is_bounded_and_deterministic():
    z = truncated_noise(2000, 64, 0.5, generator=torch.Generator().manual_seed(3))
    assert z.shape == (2000, 64) and z.dtype == torch.float32
    assert z.abs().max().item() <= 0.5
    assert abs(z.mean().item()) < 0.005
    again = truncated_noise(2000, 64, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(z, again)
    assert not torch.equal(z, truncated_noise(2000, 64, 0.5, generator=torch.Generator().manual_seed(4)))


def test_truncated_noise_resamples_rather_than_clamps():
    z = truncated_noise(4000, 50, 1.0, generator=torch.Generator().manual_seed(0))
    # the variance of N(0, 1) truncated to [-1, 1] is 1 - 2 phi(1) / (Phi(1) - Phi(-1))
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    assert z.var().item() == pytest.approx(1 - 2 * phi / math.erf(1 / math.sqrt(2)), rel=0.01)
    assert (z.abs() > 0.999).float().mean() < 0.001  # no pile-up at the bounds


def test_truncated_noise_with_a_loose_threshold_is_plain_normal_noise():
    z = truncated_noise(10, 8, 50.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(z, torch.randn(10, 8, generator=torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("threshold", [0.0, -1.0, float("nan")])
def test_truncated_noise_rejects_a_non_positive_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        truncated_noise(4, 2, threshold)


def test_public_names():
    import gankit.techniques as techniques

    assert all(hasattr(techniques, name) for name in techniques.__all__)
    assert {"InstanceNoise", "annealed_sigma", "use_virtual_batchnorm", "truncated_noise"} <= set(techniques.__all__)
