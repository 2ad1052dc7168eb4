"""The GAN objectives of gankit.losses against hand-computed values and known optima
(REFERENCES.md §2; the papers cited in each class's docstring).

Most tests use a critic whose score *is* its input (``identity`` on (B, 1) tensors) or a
lookup table of learnable scores per support point (``Table``), so every number can be
worked out by hand; the arithmetic is in the comments.
"""
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from conftest import REPO
from gankit.losses import (
    F_DIVERGENCES,
    CriticLoss,
    CTransformLoss,
    EnergyLoss,
    FDivergenceLoss,
    FeatureMatchingLoss,
    GANQPLoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    RelativisticAverageLoss,
    RelativisticLoss,
    WassersteinLoss,
)

LOG2 = math.log(2.0)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def identity(x):
    return x


def col(*values):
    """A (B, 1) float64 tensor."""
    return torch.tensor(values, dtype=torch.float64).reshape(-1, 1)


class Table(nn.Module):
    """A critic on a finite support {0, 1, 2, ...}: x (B, 1) holds the point's index and the
    score is a learnable entry per point (logits, raw scores, V of f-GAN...)."""

    def __init__(self, values):
        super().__init__()
        self.v = nn.Parameter(torch.tensor(values, dtype=torch.float64))

    def forward(self, x):
        return self.v[x.long().flatten()].unsqueeze(1)


# Discrete example used for the optimal critics: support {0, 1, 2},
# p_d = (1/2, 1/4, 1/4) (real batch [0, 0, 1, 2]), p_g = (1/4, 1/4, 1/2) (fake batch [0, 1, 2, 2]).
P_D, P_G = (0.5, 0.25, 0.25), (0.25, 0.25, 0.5)
REAL_IDX, FAKE_IDX = col(0, 0, 1, 2), col(0, 1, 2, 2)
SCORES_REAL, SCORES_FAKE = col(2.0, 0.0), col(0.0, -1.0)  # scores used by the value tests


def critic_grad(loss_fn, table, real=REAL_IDX, fake=FAKE_IDX):
    out = loss_fn.critic_loss(table, real, fake)
    (grad,) = torch.autograd.grad(out.loss, table.v)
    return out, grad


# --- MMGAN / NSGAN ----------------------------------------------------------------------------


def test_minimax_and_nonsaturating_values():
    # logits real (2, 0), fake (0, -1); -log σ(l) = softplus(-l), -log(1-σ(l)) = softplus(l)
    # L_D = mean(softplus(-2), softplus(0)) + mean(softplus(0), softplus(-1))
    #     = (0.126928 + 0.693147)/2 + (0.693147 + 0.313262)/2 = 0.410038 + 0.503205 = 0.913243
    expected = (softplus(-2) + LOG2) / 2 + (LOG2 + softplus(-1)) / 2
    assert expected == pytest.approx(0.913243, abs=1e-6)
    for loss in (MinimaxLoss(), NonSaturatingLoss()):
        out = loss.critic_loss(identity, SCORES_REAL, SCORES_FAKE)
        assert out.loss.item() == pytest.approx(expected, abs=1e-12)
    # same thing written with D = σ(l): -[mean log D(x) + mean log(1 - D(G(z)))]
    d_real, d_fake = [sigmoid(2), sigmoid(0)], [sigmoid(0), sigmoid(-1)]
    v = sum(math.log(d) for d in d_real) / 2 + sum(math.log(1 - d) for d in d_fake) / 2
    assert MinimaxLoss().critic_loss(identity, SCORES_REAL, SCORES_FAKE).loss.item() == pytest.approx(-v, abs=1e-12)
    # saturating G: mean log(1 - σ(l_fake)) = -mean softplus(l_fake) = -(0.693147 + 0.313262)/2 = -0.503205
    g_mm = MinimaxLoss().generator_loss(identity, SCORES_FAKE, SCORES_REAL)
    assert g_mm.item() == pytest.approx(-(LOG2 + softplus(-1)) / 2, abs=1e-12)
    # non-saturating G: -mean log σ(l_fake) = mean softplus(-l_fake) = (0.693147 + 1.313262)/2 = 1.003205
    g_ns = NonSaturatingLoss().generator_loss(identity, SCORES_FAKE, SCORES_REAL)
    assert g_ns.item() == pytest.approx((LOG2 + softplus(1)) / 2, abs=1e-12)
    assert g_ns.item() == pytest.approx(1.003205, abs=1e-6)


def test_saturating_generator_gradient_vanishes_where_nonsaturating_does_not():
    # at a confidently rejected fake, l = -10: d/dl[-softplus(l)] = -σ(-10) ≈ -4.5e-5,
    # while d/dl[softplus(-l)] = -σ(10) ≈ -0.99995
    fake = col(-10.0).requires_grad_()
    (g_mm,) = torch.autograd.grad(MinimaxLoss().generator_loss(identity, fake, col(0.0)), fake)
    (g_ns,) = torch.autograd.grad(NonSaturatingLoss().generator_loss(identity, fake, col(0.0)), fake)
    assert g_mm.item() == pytest.approx(-sigmoid(-10), rel=1e-9)
    assert g_ns.item() == pytest.approx(-sigmoid(10), rel=1e-9)


def test_label_smoothing_values():
    # real target 0.9: BCE(l, 0.9) = 0.9·softplus(-l) + 0.1·softplus(l)
    # l = 2: 0.9·0.126928 + 0.1·2.126928 = 0.326928; l = 0: log 2 = 0.693147; mean 0.510038
    # fake targets stay 0: mean(softplus(0), softplus(-1)) = 0.503205; total 1.013243
    bce = lambda l: 0.9 * softplus(-l) + 0.1 * softplus(l)  # noqa: E731
    expected = (bce(2) + bce(0)) / 2 + (LOG2 + softplus(-1)) / 2
    assert expected == pytest.approx(1.013243, abs=1e-6)
    out = MinimaxLoss(real_label=0.9).critic_loss(identity, SCORES_REAL, SCORES_FAKE)
    assert out.loss.item() == pytest.approx(expected, abs=1e-12)
    # the generator's objective is untouched by the smoothing
    for cls in (MinimaxLoss, NonSaturatingLoss):
        g = cls(real_label=0.9).generator_loss(identity, SCORES_FAKE, SCORES_REAL)
        assert g.item() == pytest.approx(cls().generator_loss(identity, SCORES_FAKE, SCORES_REAL).item())


def test_optimal_discriminator_gives_minus_log4_plus_2_jsd():
    # D*(x) = p_d/(p_d+p_g) = (2/3, 1/2, 1/3): logits log(D/(1-D)) = (log 2, 0, -log 2)
    table = Table([LOG2, 0.0, -LOG2])
    out, grad = critic_grad(MinimaxLoss(), table)
    # V(D*, G) = Σ p_d log D* + Σ p_g log(1-D*)
    #          = ½log(2/3) + ¼log(1/2) + ¼log(1/3) + ¼log(1/3) + ¼log(1/2) + ½log(2/3)
    #          = ½log 2 - (3/2)log 3 = -1.301344
    v = 0.5 * LOG2 - 1.5 * math.log(3)
    # JSD with M = (3/8, 1/4, 3/8): KL(P‖M) = KL(Q‖M) = ½log(4/3) + ¼log(2/3) = 0.042475
    jsd = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3)
    assert jsd == pytest.approx(0.042475, abs=1e-6)
    assert -out.loss.item() == pytest.approx(v, abs=1e-12)
    assert -out.loss.item() == pytest.approx(-math.log(4) + 2 * jsd, abs=1e-12)
    # D* is a stationary point: d L_D / d l_k = p_d,k (σ(l_k) - 1) + p_g,k σ(l_k) = 0
    assert torch.allclose(grad, torch.zeros(3, dtype=torch.float64), atol=1e-12)
    # and moving off it increases the loss (the critic loss is convex in the logits)
    for k in range(3):
        nudged = Table([LOG2, 0.0, -LOG2])
        with torch.no_grad():
            nudged.v[k] += 0.1
        assert MinimaxLoss().critic_loss(nudged, REAL_IDX, FAKE_IDX).loss.item() > out.loss.item()


def test_disjoint_supports_give_jsd_log2():
    # p_d on point 0, p_g on point 1: JSD = log 2, so V(D*, G) = -log 4 + 2 log 2 = 0,
    # reached as D -> 1 on point 0 and D -> 0 on point 1 (logits ±40: L_D = 2·softplus(-40) ≈ 8.5e-18)
    out = MinimaxLoss().critic_loss(Table([40.0, -40.0]), col(0, 0), col(1, 1))
    assert -out.loss.item() == pytest.approx(-math.log(4) + 2 * LOG2, abs=1e-12)


def test_label_smoothing_optimum_on_a_real_only_point_is_0_9():
    # p_d = (1/2, 1/2, 0) (real [0, 1]), p_g = (0, 1/2, 1/2) (fake [1, 2]).
    # With targets 0.9/0: D*(x) = 0.9·p_d/(p_d+p_g) = (0.9, 0.45, 0).
    real, fake = col(0, 1), col(1, 2)
    logit = lambda d: math.log(d / (1 - d))  # noqa: E731
    _, grad = critic_grad(MinimaxLoss(0.9), Table([logit(0.9), logit(0.45), -3.0]), real, fake)
    # d L_D / d l_0 = ½(σ(l_0) - 0.9) = 0 and d/d l_1 = ½(σ(l_1) - 0.9) + ½σ(l_1) = 0
    assert grad[:2].abs().max().item() < 1e-12
    # gradient descent on the critic drives D(point 0) to 0.9, not to 1
    table = Table([0.0, 0.0, 0.0])
    opt = torch.optim.LBFGS(table.parameters(), max_iter=50, tolerance_grad=1e-12, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        out = MinimaxLoss(0.9).critic_loss(table, real, fake).loss
        out.backward()
        return out

    opt.step(closure)
    assert torch.sigmoid(table.v[0]).item() == pytest.approx(0.9, abs=1e-4)
    assert torch.sigmoid(table.v[1]).item() == pytest.approx(0.45, abs=1e-4)
    # without smoothing there is no finite optimum on point 0: ½(σ(l) - 1) < 0 even at l = 10
    _, grad = critic_grad(MinimaxLoss(), Table([10.0, 0.0, 0.0]), real, fake)
    assert grad[0].item() == pytest.approx(0.5 * (sigmoid(10) - 1), rel=1e-9) and grad[0].item() < 0


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_real_label_must_be_in_0_1(bad):
    with pytest.raises(ValueError, match="real_label"):
        MinimaxLoss(real_label=bad)


# --- LSGAN, hinge ---------------------------------------------------------------------------------


def test_least_squares_values_both_codings():
    # scores real (2, 0), fake (0, -1)
    # a=-1, b=1, c=0: L_D = ½·mean((2-1)², (0-1)²) + ½·mean((0+1)², (-1+1)²) = ½·1 + ½·½ = 0.75
    #                 L_G = ½·mean((0-0)², (-1-0)²) = 0.25
    out = LeastSquaresLoss().critic_loss(identity, SCORES_REAL, SCORES_FAKE)
    assert out.loss.item() == pytest.approx(0.75)
    assert LeastSquaresLoss().generator_loss(identity, SCORES_FAKE, SCORES_REAL).item() == pytest.approx(0.25)
    # a=0, b=c=1: L_D = ½·mean(1², 1²) + ½·mean(0², 1²) = 0.5 + 0.25 = 0.75
    #             L_G = ½·mean((0-1)², (-1-1)²) = ½·(1 + 4)/2 = 1.25
    zero_one = LeastSquaresLoss(a=0.0, b=1.0, c=1.0)
    assert zero_one.critic_loss(identity, SCORES_REAL, SCORES_FAKE).loss.item() == pytest.approx(0.75)
    assert zero_one.generator_loss(identity, SCORES_FAKE, SCORES_REAL).item() == pytest.approx(1.25)


def test_least_squares_optimal_critic():
    # D*(x) = (b·p_d + a·p_g)/(p_d + p_g); a=-1, b=1: ((1/2-1/4)/(3/4), 0, (1/4-1/2)/(3/4)) = (1/3, 0, -1/3)
    _, grad = critic_grad(LeastSquaresLoss(), Table([1 / 3, 0.0, -1 / 3]))
    assert grad.abs().max().item() < 1e-12
    # a=0, b=1: D* = p_d/(p_d+p_g) = (2/3, 1/2, 1/3)
    _, grad = critic_grad(LeastSquaresLoss(0.0, 1.0, 1.0), Table([2 / 3, 1 / 2, 1 / 3]))
    assert grad.abs().max().item() < 1e-12


def test_hinge_values_and_margin_gradients():
    # L_D = mean(relu(1-2), relu(1-0)) + mean(relu(1+0), relu(1-1)) = ½ + ½ = 1;  L_G = -mean(0, -1) = 0.5
    real, fake = SCORES_REAL.clone().requires_grad_(), SCORES_FAKE.clone().requires_grad_()
    out = HingeLoss().critic_loss(identity, real, fake)
    assert out.loss.item() == pytest.approx(1.0)
    assert HingeLoss().generator_loss(identity, SCORES_FAKE, SCORES_REAL).item() == pytest.approx(0.5)
    out.loss.backward()
    # real score 2 is beyond the margin (no gradient), 0 is inside (-1/B); fake 0 inside (+1/B), -1 on the hinge
    assert real.grad.flatten().tolist() == [0.0, -0.5]
    assert fake.grad.flatten().tolist() == [0.5, 0.0]


# --- relativistic ---------------------------------------------------------------------------------


def test_relativistic_values():
    # pairs (real, fake) = (2, 0), (0, -1): C_r - C_f = (2, 1)
    # L_D = mean softplus(-(C_r - C_f)) = (softplus(-2) + softplus(-1))/2 = (0.126928 + 0.313262)/2 = 0.220095
    # L_G = mean softplus(-(C_f - C_r)) = (softplus(2) + softplus(1))/2 = (2.126928 + 1.313262)/2 = 1.720095
    out = RelativisticLoss().critic_loss(identity, SCORES_REAL, SCORES_FAKE)
    assert out.loss.item() == pytest.approx((softplus(-2) + softplus(-1)) / 2, abs=1e-12)
    assert out.loss.item() == pytest.approx(0.220095, abs=1e-6)
    g = RelativisticLoss().generator_loss(identity, SCORES_FAKE, SCORES_REAL)
    assert g.item() == pytest.approx((softplus(2) + softplus(1)) / 2, abs=1e-12)
    # pairing is sample i with sample i: swapping the fake batch changes the loss
    swapped = RelativisticLoss().critic_loss(identity, SCORES_REAL, SCORES_FAKE.flip(0))
    # pairs (2, -1), (0, 0): (softplus(-3) + softplus(0))/2
    assert swapped.loss.item() == pytest.approx((softplus(-3) + LOG2) / 2, abs=1e-12)


def test_relativistic_average_values_and_generator_gradient():
    # mean C_r = 1, mean C_f = -0.5
    # L_D = mean softplus(mean C_f - C_r) + mean softplus(C_f - mean C_r)
    #     = (softplus(-2.5) + softplus(-0.5))/2 + (softplus(-1) + softplus(-2))/2
    #     = (0.078889 + 0.474077)/2 + (0.313262 + 0.126928)/2 = 0.276483 + 0.220095 = 0.496578
    expected_d = (softplus(-2.5) + softplus(-0.5)) / 2 + (softplus(-1) + softplus(-2)) / 2
    assert expected_d == pytest.approx(0.496578, abs=1e-6)
    out = RelativisticAverageLoss().critic_loss(identity, SCORES_REAL, SCORES_FAKE)
    assert out.loss.item() == pytest.approx(expected_d, abs=1e-12)
    # L_G = mean softplus(mean C_r - C_f) + mean softplus(C_r - mean C_f)
    #     = (softplus(1) + softplus(2))/2 + (softplus(2.5) + softplus(0.5))/2 = 1.720095 + 1.776483 = 3.496578
    fake = SCORES_FAKE.clone().requires_grad_()
    g = RelativisticAverageLoss().generator_loss(identity, fake, SCORES_REAL)
    assert g.item() == pytest.approx((softplus(1) + softplus(2)) / 2 + (softplus(2.5) + softplus(0.5)) / 2, abs=1e-12)
    # the fake batch mean sits in the real term too, so both terms carry gradient:
    # dL_G/dC_f,i = -½σ(mean C_r - C_f,i) - ¼(σ(C_r,1 - mean C_f) + σ(C_r,2 - mean C_f))
    # for C_f,1 = 0: -½σ(1) - ¼(σ(2.5) + σ(0.5)) = -0.365529 - 0.386650 = -0.752180
    (grad,) = torch.autograd.grad(g, fake)
    assert grad[0, 0].item() == pytest.approx(-0.5 * sigmoid(1) - 0.25 * (sigmoid(2.5) + sigmoid(0.5)), abs=1e-12)
    assert grad[1, 0].item() == pytest.approx(-0.5 * sigmoid(2) - 0.25 * (sigmoid(2.5) + sigmoid(0.5)), abs=1e-12)


# --- f-GAN -----------------------------------------------------------------------------------------

# Table 1's generator functions f and their derivatives, written out independently of the module.
F_FUNCS = {
    "kl": (lambda u: u * math.log(u), lambda u: 1 + math.log(u)),
    "reverse_kl": (lambda u: -math.log(u), lambda u: -1 / u),
    "js": (lambda u: u * math.log(u) - (u + 1) * math.log((u + 1) / 2), lambda u: math.log(2 * u / (u + 1))),
    "pearson": (lambda u: (u - 1) ** 2, lambda u: 2 * (u - 1)),
    "squared_hellinger": (lambda u: (math.sqrt(u) - 1) ** 2, lambda u: 1 - 1 / math.sqrt(u)),
}
# Table 2: output activation g_f(v) and conjugate f*(t), by hand.
TABLE2 = {
    "kl": (lambda v: v, lambda t: math.exp(t - 1)),
    "reverse_kl": (lambda v: -math.exp(-v), lambda t: -1 - math.log(-t)),
    "js": (lambda v: LOG2 - math.log(1 + math.exp(-v)), lambda t: -math.log(2 - math.exp(t))),
    "pearson": (lambda v: v, lambda t: t * t / 4 + t),
    "squared_hellinger": (lambda v: 1 - math.exp(-v), lambda t: t / (1 - t)),
}
# inverses of g_f, to put the optimal T* = f'(p/q) into the critic's raw output V
G_INVERSE = {
    "kl": lambda t: t,
    "reverse_kl": lambda t: -math.log(-t),  # t = -e^{-v}
    "js": lambda t: -math.log(2 * math.exp(-t) - 1),  # t = log 2 - log(1 + e^{-v})
    "pearson": lambda t: t,
    "squared_hellinger": lambda t: -math.log(1 - t),  # t = 1 - e^{-v}
}
# D_f(P‖Q) = Σ q f(p/q) for p = (1/2, 1/4, 1/4), q = (1/4, 1/4, 1/2), p/q = (2, 1, 1/2):
DIVERGENCE = {
    # KL(P‖Q) = ½log 2 + ¼log 1 + ¼log ½ = ¼log 2 = 0.173287
    "kl": 0.25 * LOG2,
    # KL(Q‖P) = ¼log ½ + ¼log 1 + ½log 2 = ¼log 2
    "reverse_kl": 0.25 * LOG2,
    # KL(P‖M) + KL(Q‖M) = 2·JSD = log(4/3) + ½log(2/3) = 0.084950
    "js": math.log(4 / 3) + 0.5 * math.log(2 / 3),
    # Σ (p - q)²/q = (1/16)/(1/4) + 0 + (1/16)/(1/2) = 3/8
    "pearson": 3 / 8,
    # Σ (√p - √q)² = 2(√½ - ½)² = 3/2 - √2 = 0.085786
    "squared_hellinger": 1.5 - math.sqrt(2),
}


def test_f_divergences_tuple():
    assert F_DIVERGENCES == ("kl", "reverse_kl", "js", "pearson", "squared_hellinger")


@pytest.mark.parametrize("name", F_DIVERGENCES)
def test_f_gan_activation_and_conjugate_are_table_2(name):
    loss = FDivergenceLoss(name)
    g, f_star = TABLE2[name]
    f, f_prime = F_FUNCS[name]
    vs = [-2.0, -0.5, 0.0, 1.0, 2.5]
    got_g = loss.activation(torch.tensor(vs, dtype=torch.float64))
    assert got_g.tolist() == pytest.approx([g(v) for v in vs], abs=1e-12)
    # the activation lands in dom f*, where the conjugate is finite
    got_conj = loss.conjugate(got_g)
    assert got_conj.tolist() == pytest.approx([f_star(g(v)) for v in vs], abs=1e-12)
    # f* really is the Fenchel conjugate of Table 1's f: Fenchel-Young equality at t = f'(u),
    # f*(f'(u)) = u·f'(u) - f(u)
    for u in (0.3, 1.0, 2.5):
        t = torch.tensor([f_prime(u)], dtype=torch.float64)
        assert loss.conjugate(t).item() == pytest.approx(u * f_prime(u) - f(u), abs=1e-12)
    # the critic loss uses f*(g_f(v)) in closed form; it equals conjugate(activation(v))
    real, fake = col(*vs), col(*reversed(vs))
    expected = loss.conjugate(loss.activation(fake)).mean() - loss.activation(real).mean()
    assert loss.critic_loss(identity, real, fake).loss.item() == pytest.approx(expected.item(), abs=1e-12)


@pytest.mark.parametrize("name", F_DIVERGENCES)
def test_f_gan_objective_at_optimal_critic_equals_divergence(name):
    # T*(x) = f'(p(x)/q(x)) on each support point; V* = g_f^{-1}(T*)
    f_prime = F_FUNCS[name][1]
    t_star = [f_prime(p / q) for p, q in zip(P_D, P_G)]
    table = Table([G_INVERSE[name](t) for t in t_star])
    assert FDivergenceLoss(name).activation(table.v).tolist() == pytest.approx(t_star, abs=1e-12)
    out, grad = critic_grad(FDivergenceLoss(name), table)
    # the critic maximises F = E_P g_f(V) - E_Q f*(g_f(V)); at T* F = D_f(P‖Q)
    assert -out.loss.item() == pytest.approx(DIVERGENCE[name], abs=1e-5)
    # and T* is a stationary point of the critic's objective
    assert grad.abs().max().item() < 1e-9
    assert out.real_scores.shape == (4, 1) and torch.equal(out.real_scores, table(REAL_IDX))


def test_f_gan_any_other_critic_gives_a_lower_bound():
    torch.manual_seed(0)
    for name in F_DIVERGENCES:
        for _ in range(5):
            table = Table(torch.randn(3).tolist())
            assert -FDivergenceLoss(name).critic_loss(table, REAL_IDX, FAKE_IDX).loss.item() <= DIVERGENCE[name] + 1e-12


def test_f_gan_generator_uses_the_alternative_update():
    # §3.2: G maximises E g_f(V(G(z))): L_G = -mean g_f(V_fake); V_fake = (0, -1)
    # kl: -mean(0, -1) = 0.5
    assert FDivergenceLoss("kl").generator_loss(identity, SCORES_FAKE, SCORES_REAL).item() == pytest.approx(0.5)
    # js: -mean(log 2 - softplus(0), log 2 - softplus(1)) = -(0 + 0.693147 - 1.313262)/2 = 0.310058
    js = FDivergenceLoss("js").generator_loss(identity, SCORES_FAKE, SCORES_REAL).item()
    assert js == pytest.approx(-(0.0 + LOG2 - softplus(1)) / 2, abs=1e-12)
    assert js == pytest.approx(0.310058, abs=1e-6)
    # reverse_kl: -mean(-e^0, -e^1) = (1 + e)/2
    rkl = FDivergenceLoss("reverse_kl").generator_loss(identity, SCORES_FAKE, SCORES_REAL).item()
    assert rkl == pytest.approx((1 + math.e) / 2, abs=1e-12)


def test_f_gan_unknown_divergence_names_the_choices():
    with pytest.raises(ValueError, match="kl, reverse_kl, js, pearson, squared_hellinger"):
        FDivergenceLoss("wasserstein")


# --- GAN-QP -----------------------------------------------------------------------------------------


def sum_critic(x):
    """T(x) = sum of the sample's entries, (B, 1)."""
    return x.flatten(1).sum(1, keepdim=True)


# two pairs of 2×2 "images"
QP_REAL = torch.tensor([[[1.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)  # T = 2, 1
QP_FAKE = torch.tensor([[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [-1.0, -1.0]]], dtype=torch.float64)  # T = 0, -2


def test_ganqp_values():
    # Δ = T(x_r) - T(x_f) = (2, 3); d_l1 = mean |x_r - x_f| over the 4 entries = (2/4, 3/4) = (0.5, 0.75)
    # λ = 10: L_D = mean(-2 + 2²/(2·10·0.5), -3 + 3²/(2·10·0.75)) = mean(-2 + 0.4, -3 + 0.6) = -2.0
    # L_G = mean Δ = 2.5
    loss = GANQPLoss()
    assert loss.lam == 10.0 and loss.norm == "l1"
    assert loss.distance(QP_REAL, QP_FAKE).flatten().tolist() == pytest.approx([0.5, 0.75])
    out = loss.critic_loss(sum_critic, QP_REAL, QP_FAKE)
    assert out.loss.item() == pytest.approx(-2.0)
    assert out.real_scores.flatten().tolist() == [2.0, 1.0]
    assert loss.generator_loss(sum_critic, QP_FAKE, QP_REAL).item() == pytest.approx(2.5)
    # λ = 1: mean(-2 + 4/1, -3 + 9/1.5) = mean(2, 3) = 2.5
    assert GANQPLoss(lam=1.0).critic_loss(sum_critic, QP_REAL, QP_FAKE).loss.item() == pytest.approx(2.5)
    # l2: d = sqrt(mean (x_r - x_f)²) = (sqrt(2/4), sqrt(3/4)) = (0.707107, 0.866025)
    # L_D = mean(-2 + 4/(20·0.707107), -3 + 9/(20·0.866025)) = mean(-1.717157, -2.480385) = -2.098771
    l2 = GANQPLoss(norm="l2").critic_loss(sum_critic, QP_REAL, QP_FAKE).loss.item()
    assert l2 == pytest.approx((-2 + 4 / (20 * math.sqrt(0.5)) - 3 + 9 / (20 * math.sqrt(0.75))) / 2, abs=1e-12)
    assert l2 == pytest.approx(-2.098771, abs=1e-6)


def test_ganqp_optimal_gap_is_lambda_times_distance():
    # x = (index, payload...): real (0, 2, 2), fake (1, 0, 0); d_l1 = (1 + 2 + 2)/3 = 5/3.
    # -Δ + Δ²/(2λd) is minimised at Δ* = λd = 50/3, where it equals -λd/2 = -25/3.
    real = torch.tensor([[0.0, 2.0, 2.0]], dtype=torch.float64)
    fake = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    table = Table([50 / 3, 0.0])
    out = GANQPLoss().critic_loss(lambda x: table(x[:, :1]), real, fake)
    (grad,) = torch.autograd.grad(out.loss, table.v)
    assert out.loss.item() == pytest.approx(-25 / 3)
    assert grad.abs().max().item() < 1e-12


def test_ganqp_rejects_bad_arguments_and_survives_identical_pairs():
    with pytest.raises(ValueError, match="lam"):
        GANQPLoss(lam=0.0)
    with pytest.raises(ValueError, match="norm"):
        GANQPLoss(norm="linf")
    # identical samples: Δ = 0 and d = 0; the clamped distance keeps the loss finite (0)
    x = torch.ones(2, 3)
    assert GANQPLoss().critic_loss(sum_critic, x, x.clone()).loss.item() == 0.0


# --- c-transform WGAN -----------------------------------------------------------------------------


def test_ctransform_values_one_dimensional():
    real, fake = col(0.0, 2.0), col(1.0, 3.0)  # exact W1 = mean |sort(x) - sort(y)| = 1
    # f(x) = -x: f(real) = (0, -2); f^c(y) = min_j |x_j - y| - f(x_j) = min_j |x_j - y| + x_j
    # f^c(1) = min(1 + 0, 1 + 2) = 1; f^c(3) = min(3 + 0, 1 + 2) = 3
    # objective = mean f(real) + mean f^c(fake) = -1 + 2 = 1 = W1 (f is the optimal potential)
    out = CTransformLoss().critic_loss(lambda x: -x, real, fake)
    assert out.loss.item() == pytest.approx(-1.0)
    assert out.real_scores.flatten().tolist() == [0.0, -2.0]
    assert out.fake_scores.flatten().tolist() == [-1.0, -3.0]  # -f^c(fake)
    assert (out.real_scores.mean() - out.fake_scores.mean()).item() == pytest.approx(1.0)  # the logged estimate
    # f(x) = x: f(real) = (0, 2); f^c(1) = min(1 - 0, 1 - 2) = -1, f^c(3) = min(3 - 0, 1 - 2) = -1
    # objective = 1 + (-1) = 0 <= W1 (weak duality)
    assert CTransformLoss().critic_loss(lambda x: x, real, fake).loss.item() == pytest.approx(0.0)
    # f = 0: f^c(y) = distance to the nearest real sample = (1, 1); objective 1
    assert CTransformLoss().critic_loss(lambda x: 0 * x, real, fake).loss.item() == pytest.approx(-1.0)


def test_ctransform_uses_euclidean_distance_between_flattened_samples():
    # real (0, 0) and (10, 0); fake (3, 4); f = 0: f^c = min(5, sqrt(49 + 16) = 8.062) = 5
    real = torch.tensor([[[0.0, 0.0]], [[10.0, 0.0]]])  # (2, 1, 2): flattened to 2-D points
    fake = torch.tensor([[[3.0, 4.0]]])
    out = CTransformLoss().critic_loss(lambda x: x.flatten(1)[:, :1] * 0, real, fake)
    assert out.loss.item() == pytest.approx(-5.0)
    assert out.fake_scores.shape == (1, 1)


def test_ctransform_generator_value_and_gradient():
    real = col(0.0, 2.0)
    fake = col(1.0, 3.0).requires_grad_()
    # f(x) = -x/2: f(real) = (0, -1); f^c(y) = min_j |x_j - y| + x_j/2
    # f^c(1) = min(1, 1 + 1) = 1 (nearest j = 0); f^c(3) = min(3, 1 + 1) = 2 (j = 1)
    # L_G = mean f(real) + mean f^c(fake) = -0.5 + 1.5 = 1.0
    g = CTransformLoss().generator_loss(lambda x: -0.5 * x, fake, real)
    assert g.item() == pytest.approx(1.0)
    (grad,) = torch.autograd.grad(g, fake)
    # d f^c(y)/dy = sign(y - x_j*) = +1 for both, / B = 0.5: descent moves the fakes left, onto the data
    assert grad.flatten().tolist() == pytest.approx([0.5, 0.5])
    # a fake sitting exactly on a real sample gives a finite gradient (cdist at distance 0)
    on_top = col(0.0).requires_grad_()
    (grad,) = torch.autograd.grad(CTransformLoss().generator_loss(lambda x: 0 * x, on_top, real), on_top)
    assert torch.isfinite(grad).all()


# --- energy view, feature matching ------------------------------------------------------------------


def test_energy_values():
    # critic: mean D(fake) - mean D(real) = -0.5 - 1 = -1.5; generator: -mean D(fake) = 0.5
    real, fake = SCORES_REAL.clone().requires_grad_(), SCORES_FAKE.clone().requires_grad_()
    out = EnergyLoss().critic_loss(identity, real, fake)
    assert out.loss.item() == pytest.approx(-1.5)
    assert EnergyLoss().generator_loss(identity, SCORES_FAKE, SCORES_REAL).item() == pytest.approx(0.5)
    # the critic raises real scores (lowers their energy) and lowers fake ones
    out.loss.backward()
    assert real.grad.flatten().tolist() == [-0.5, -0.5] and fake.grad.flatten().tolist() == [0.5, 0.5]
    # without the (separate) zero-centred penalty it is the WGAN objective
    ref = WassersteinLoss().critic_loss(identity, SCORES_REAL, SCORES_FAKE)
    assert ref.loss.item() == pytest.approx(out.loss.item())


class FeatureCritic(nn.Module):
    """features(x) = x (B, 2); score = sum of the features."""

    def features(self, x):
        return x

    def forward(self, x):
        return self.features(x).sum(1, keepdim=True)


def test_feature_matching_values_and_detached_real_mean():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)  # mean features (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)  # mean features (1, 1)
    loss = FeatureMatchingLoss(HingeLoss())
    g = loss.generator_loss(FeatureCritic(), fake, real)
    # ‖(2, 3) - (1, 1)‖² = 1 + 4 = 5
    assert g.item() == pytest.approx(5.0)
    g.backward()
    # d/d fake_i = -2(μ_r - μ_f)/B = -2·(1, 2)/2 = (-1, -2) for each sample; no gradient reaches the real batch
    assert fake.grad.tolist() == [[-1.0, -2.0], [-1.0, -2.0]]
    assert real.grad is None
    # the critic's loss is the base loss: scores real (3, 7), fake (0, 4)
    # hinge: mean(relu(1-3), relu(1-7)) + mean(relu(1+0), relu(1+4)) = 0 + 3 = 3
    out = loss.critic_loss(FeatureCritic(), real.detach(), fake.detach())
    assert out.loss.item() == pytest.approx(3.0)
    assert out.loss.item() == pytest.approx(HingeLoss().critic_loss(FeatureCritic(), real, fake).loss.item())


def test_feature_matching_needs_critic_features():
    with pytest.raises(TypeError, match="features"):
        FeatureMatchingLoss(WassersteinLoss()).generator_loss(nn.Linear(2, 1), torch.zeros(2, 2), torch.zeros(2, 2))


# --- every loss -------------------------------------------------------------------------------------

ALL_LOSSES = {
    "wasserstein": WassersteinLoss(),
    "minimax": MinimaxLoss(),
    "minimax_smoothed": MinimaxLoss(real_label=0.9),
    "nonsaturating": NonSaturatingLoss(),
    "lsgan": LeastSquaresLoss(),
    "lsgan_01": LeastSquaresLoss(a=0.0, b=1.0, c=1.0),
    "hinge": HingeLoss(),
    "rsgan": RelativisticLoss(),
    "rasgan": RelativisticAverageLoss(),
    **{f"f_{name}": FDivergenceLoss(name) for name in F_DIVERGENCES},
    "ganqp": GANQPLoss(),
    "ganqp_l2": GANQPLoss(norm="l2"),
    "ctransform": CTransformLoss(),
    "energy": EnergyLoss(),
    "feature_matching": FeatureMatchingLoss(NonSaturatingLoss()),
}


class MLPCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.LeakyReLU(0.2))
        self.head = nn.Linear(8, 1)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_every_loss_is_a_finite_scalar_with_b1_scores(name):
    torch.manual_seed(0)
    loss, critic = ALL_LOSSES[name], MLPCritic()
    real = torch.randn(4, 2, 3)
    latent = torch.randn(4, 2, 3, requires_grad=True)  # stands in for the generator's parameters
    fake = torch.tanh(latent)
    out = loss.critic_loss(critic, real, fake.detach())
    assert isinstance(out, CriticLoss)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert out.real_scores.shape == (4, 1) and out.fake_scores.shape == (4, 1)
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in critic.parameters())
    assert latent.grad is None  # the detached fake batch gets nothing
    critic.requires_grad_(False)  # as the trainer does for the generator step
    g = loss.generator_loss(critic, fake, real)
    assert g.dim() == 0 and torch.isfinite(g)
    g.backward()
    assert latent.grad is not None and torch.isfinite(latent.grad).all() and latent.grad.abs().sum() > 0


SIGN_LOSSES = [n for n in ALL_LOSSES if n not in ("ctransform", "feature_matching")]
# LSGAN pulls scores towards its targets, so the signs below hold for D(x) < b and
# a < D(G(z)) < c: real 0.75, fake 0.5 for the 0-1 coding (a=0, b=c=1)
SIGN_SCORES = {"lsgan_01": (0.75, 0.5)}


@pytest.mark.parametrize("name", SIGN_LOSSES)
def test_gradient_signs(name):
    # critic reads the first coordinate: scores real 0.5, fake -0.5 by default (the second
    # coordinate only sets GAN-QP's distance: d_l1 = (1 + 2)/2 = 1.5, so Δ = 1 < λd = 15)
    loss = ALL_LOSSES[name]
    critic = lambda x: x[:, :1]  # noqa: E731
    score_real, score_fake = SIGN_SCORES.get(name, (0.5, -0.5))
    real = torch.tensor([[score_real, 1.0]], dtype=torch.float64, requires_grad=True)
    fake = torch.tensor([[score_fake, -1.0]], dtype=torch.float64, requires_grad=True)
    out = loss.critic_loss(critic, real, fake)
    grad_real, grad_fake = torch.autograd.grad(out.loss, (real, fake))
    # descending the critic loss raises the real score and lowers the fake score
    assert grad_real[0, 0].item() < 0 < grad_fake[0, 0].item()
    # descending the generator loss raises the fake's score
    (grad_g,) = torch.autograd.grad(loss.generator_loss(critic, fake, real), fake)
    assert grad_g[0, 0].item() < 0


def test_importing_losses_does_not_import_torch():
    code = (
        "import sys\n"
        "import gankit.losses as L\n"
        "L.FDivergenceLoss('js'); L.GANQPLoss(); L.MinimaxLoss(0.9); L.FeatureMatchingLoss(L.HingeLoss())\n"
        "class Mine(L.Loss):\n"
        "    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert set(L.__all__) >= {'MinimaxLoss', 'NonSaturatingLoss', 'LeastSquaresLoss', 'HingeLoss',\n"
        "    'RelativisticLoss', 'RelativisticAverageLoss', 'FDivergenceLoss', 'F_DIVERGENCES', 'GANQPLoss',\n"
        "    'CTransformLoss', 'EnergyLoss', 'FeatureMatchingLoss'}\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
