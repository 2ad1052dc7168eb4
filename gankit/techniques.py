"""Training techniques around the critic and the generator (REFERENCES.md §2).

* :class:`InstanceNoise` and :func:`annealed_sigma`: Gaussian noise on every critic input,
  annealed to zero (Sønderby et al. 2016; Arjovsky & Bottou 2017 §3).
* :class:`MinibatchDiscrimination`, :func:`add_minibatch_discrimination`: Salimans et al. 2016 §3.2.
* :class:`VirtualBatchNorm`, :func:`use_virtual_batchnorm`: Salimans et al. 2016 §3.5.
* :class:`HistoricalAverage`: Salimans et al. 2016 §3.3.
* :class:`ModelEMA`: an exponential moving average of the generator's weights for sampling
  (Karras et al. 2018; Yazıcı et al. 2019).
* :func:`truncated_noise`: the truncation trick (Brock et al. 2019, §3.1).

Salimans et al. 2016 is "Improved Techniques for Training GANs" (NeurIPS 2016).
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

#: Standard deviation of the normal initialisation of the minibatch-discrimination tensor T,
#: as in the authors' code (openai/improved-gan, ``nn.MinibatchLayer``: ``Normal(0.05)``).
MINIBATCH_INIT_STD = 0.05


# --- instance noise ------------------------------------------------------------------------


class InstanceNoise(nn.Module):
    """A critic that sees its inputs through Gaussian noise: ``D(x + σ·ε)``, ε ~ N(0, I).

    Adding the same noise to real and generated samples convolves both distributions with
    N(0, σ²I), so their supports overlap and the critic's gradients stay informative
    (Arjovsky & Bottou 2017, "Towards Principled Methods for Training GANs", §3; instance
    noise of Sønderby et al. 2016, "Amortised MAP Inference for Image Super-resolution", §3.1).

    In training mode every call draws fresh noise from torch's global RNG (shape, device and
    dtype of ``x``); in eval mode, or when ``sigma`` is 0, the input is passed unchanged.
    ``sigma`` is a plain attribute, so a schedule sets it each step (:func:`annealed_sigma`).
    Extra positional arguments (class labels) go to the critic untouched.
    """

    def __init__(self, critic: nn.Module, sigma: float) -> None:
        super().__init__()
        if not sigma >= 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.critic = critic
        self.sigma = float(sigma)

    def _noisy(self, x: Tensor) -> Tensor:
        if not self.training or self.sigma == 0:
            return x
        from .distributed import per_sample_random

        return x + self.sigma * per_sample_random(torch.randn, x)

    def forward(self, x: Tensor, *args: Any) -> Tensor:
        return self.critic(self._noisy(x), *args)

    def features(self, x: Tensor, *args: Any) -> Tensor:
        """The wrapped critic's ``features`` of the noisy input, (B, F)."""
        return self.critic.features(self._noisy(x), *args)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


def annealed_sigma(step: int, sigma0: float, anneal_steps: int) -> float:
    """σ(step) = σ0·max(0, 1 − step/anneal_steps): linear annealing to 0 at ``anneal_steps``.

    The noise is annealed so that the model is trained on the true distributions at the end
    (Sønderby et al. 2016 §3.1; Arjovsky & Bottou 2017 §3). ``anneal_steps = 0`` keeps σ0.
    """
    if step < 0 or anneal_steps < 0:
        raise ValueError(f"step and anneal_steps must be >= 0, got {step} and {anneal_steps}")
    if anneal_steps == 0:
        return float(sigma0)
    return float(sigma0) * max(0.0, 1.0 - step / anneal_steps)


# --- minibatch discrimination ----------------------------------------------------------------


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016 §3.2).

    With features f(x_i) ∈ R^A and a learned tensor T ∈ R^{A×B×C}:

        M_i = f(x_i)·T ∈ R^{B×C},
        c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_{L1}),
        o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j),

    and the layer returns [f(x_i), o(x_i)] ∈ R^{A+B}. The paper sums over all j; the self
    term c_b(x_i, x_i) = exp(0) = 1 is a constant, so we exclude it as the authors' code does
    (a 1e6 added to the diagonal distances): a batch of one gives o = 0 and a batch of N
    identical samples the maximal o_b = N − 1. T is initialised N(0, 0.05²) as in that code
    (which also reparametrises T and adds a bias; we keep the paper's plain T, and the next
    layer's bias absorbs any offset). The statistics are over the batch the critic is given,
    so real and generated batches must be scored in separate calls, as the paper requires.
    """

    def __init__(self, in_features: int, n_kernels: int = 100, kernel_dim: int = 5) -> None:
        super().__init__()
        self.T = nn.Parameter(torch.randn(in_features, n_kernels, kernel_dim) * MINIBATCH_INIT_STD)

    def forward(self, f: Tensor) -> Tensor:
        a, b, c = self.T.shape
        m = (f @ self.T.reshape(a, b * c)).reshape(-1, b, c).transpose(0, 1)  # (B, N, C): M_{·,b}
        closeness = torch.exp(-(m.unsqueeze(2) - m.unsqueeze(1)).abs().sum(3))  # (B, N, N): c_b; not cdist (no double backward)
        self_pairs = torch.eye(len(f), dtype=torch.bool, device=f.device)
        o = closeness.masked_fill(self_pairs, 0.0).sum(dim=2)  # (B, N)
        return torch.cat([f, o.T], dim=1)  # (N, A + B)

    def extra_repr(self) -> str:
        a, b, c = self.T.shape
        return f"in_features={a}, n_kernels={b}, kernel_dim={c}"


def add_minibatch_discrimination(critic: nn.Module, n_kernels: int = 100, kernel_dim: int = 5) -> nn.Module:
    """Put minibatch discrimination before the critic's last layer, in place.

    The critic must have a ``head: nn.Linear(F, k)`` applied to its features; it becomes
    ``Sequential(MinibatchDiscrimination(F, n_kernels, kernel_dim), Linear(F + n_kernels, k))``
    (Salimans et al. 2016 §3.2: o(x_i) is concatenated to f(x_i) and fed to the next layer).
    ``critic.features`` is unchanged. Returns the critic.
    """
    head = getattr(critic, "head", None)
    if not isinstance(head, nn.Linear):
        raise ValueError(
            f"minibatch discrimination needs a critic with an nn.Linear `head` attribute; "
            f"{type(critic).__name__} has {type(head).__name__ if head is not None else 'none'}"
        )
    width = head.in_features
    critic.head = nn.Sequential(
        MinibatchDiscrimination(width, n_kernels, kernel_dim),
        nn.Linear(width + n_kernels, head.out_features, bias=head.bias is not None),
    ).to(device=head.weight.device, dtype=head.weight.dtype)
    return critic


# --- virtual batch normalisation -------------------------------------------------------------


def _moments(x: Tensor, dims: list[int]) -> tuple[Tensor, Tensor]:
    """Mean and biased variance over ``dims`` (kept); with no dims, x itself and 0."""
    if not dims:
        return x, x.new_zeros(())
    var, mean = torch.var_mean(x, dims, correction=0, keepdim=True)
    return mean, var


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalisation (Salimans et al. 2016 §3.5).

    The input's first ``n_reference`` rows are the reference batch R, chosen once at the start
    of training; the rest are the examples. Per feature (channel, for maps: statistics over
    the batch and spatial dimensions, as in BatchNorm):

    * the reference batch is normalised with its own statistics μ_R, σ_R² only, as the paper
      states, so its pass is BatchNorm in training mode on R alone;
    * each example x is normalised with the statistics of R together with x itself:
      μ = (n·μ_R + μ_x)/(n+1), E[x²] = (n·E_R[x²] + E_x[x²])/(n+1), σ² = E[x²] − μ², where
      μ_x, E_x[x²] are x's own moments (over its spatial positions for maps; x itself for
      vectors). σ² is evaluated in the equivalent non-negative form
      (n·(σ_R² + (μ_R − μ)²) + σ_x² + (μ_x − μ)²)/(n+1).

    Then y = γ·(x − μ)/√(σ² + eps) + β. An example's output depends on R and on itself only,
    never on the other examples; there are no running statistics, so eval mode is the same.
    """

    def __init__(self, num_features: int, n_reference: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        if n_reference < 1:
            raise ValueError(f"the reference batch needs at least one example, got {n_reference}")
        self.num_features, self.n_reference, self.eps = num_features, n_reference, eps
        self.register_parameter("weight", nn.Parameter(torch.ones(num_features)) if affine else None)
        self.register_parameter("bias", nn.Parameter(torch.zeros(num_features)) if affine else None)

    @classmethod
    def from_batchnorm(cls, bn: nn.modules.batchnorm._BatchNorm, n_reference: int) -> VirtualBatchNorm:
        """A VBN with ``bn``'s eps that shares its γ and β (the same Parameter objects)."""
        vbn = cls(bn.num_features, n_reference, bn.eps, affine=False)
        vbn.weight, vbn.bias = bn.weight, bn.bias
        return vbn

    def forward(self, x: Tensor) -> Tensor:
        n = self.n_reference
        if len(x) <= n:
            raise ValueError(f"virtual batch norm: expected the {n} reference rows and at least one example, got {len(x)} rows")
        spatial = list(range(2, x.dim()))
        ref, live = x[:n], x[n:]
        mean_r, var_r = _moments(ref, [0, *spatial])  # (1, C, 1, ...)
        mean_x, var_x = _moments(live, spatial)  # (m, C, 1, ...) or (m, C)
        mean = (n * mean_r + mean_x) / (n + 1)
        var = (n * (var_r + (mean_r - mean) ** 2) + var_x + (mean_x - mean) ** 2) / (n + 1)
        out = torch.cat([(ref - mean_r) * torch.rsqrt(var_r + self.eps), (live - mean) * torch.rsqrt(var + self.eps)])
        if self.weight is None:
            return out
        shape = (1, -1) + (1,) * len(spatial)
        return out * self.weight.reshape(shape) + self.bias.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, n_reference={self.n_reference}, eps={self.eps}, affine={self.weight is not None}"


class VirtualBatchNormGenerator(nn.Module):
    """A generator whose VBN layers see the fixed reference noise ``reference_z`` (a buffer)
    before every batch: ``forward(z)`` runs ``generator(cat([reference_z, z]))`` and returns
    the rows of z. The reference pass is recomputed every call, as in the paper (§3.5: VBN
    "requires running forward propagation on two minibatches"). A conditional generator,
    ``generator(z, y)``, needs reference labels ``reference_y`` (a buffer too), and then
    ``forward(z, y)`` runs ``generator(cat([reference_z, z]), cat([reference_y, y]))``.
    """

    def __init__(self, generator: nn.Module, reference_z: Tensor, reference_y: Tensor | None = None) -> None:
        super().__init__()
        if reference_y is not None and len(reference_y) != len(reference_z):
            raise ValueError(f"{len(reference_y)} reference labels for {len(reference_z)} reference noise vectors")
        self.generator = generator
        self.register_buffer("reference_z", reference_z.detach().clone())
        self.register_buffer("reference_y", None if reference_y is None else reference_y.detach().clone())

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        n = len(self.reference_z)
        if self.reference_y is None and y is None:
            return self.generator(torch.cat([self.reference_z, z]))[n:]
        if self.reference_y is None or y is None:
            raise ValueError(
                "virtual batch normalisation: give labels both to the generator call and, as reference_y, "
                "to use_virtual_batchnorm, or to neither"
            )
        return self.generator(torch.cat([self.reference_z, z]), torch.cat([self.reference_y, y]))[n:]


def use_virtual_batchnorm(generator: nn.Module, reference_z: Tensor, reference_y: Tensor | None = None) -> nn.Module:
    """Replace every BatchNorm1d/2d/3d in ``generator`` (in place) by a :class:`VirtualBatchNorm`
    sharing its γ, β and eps, and wrap it with the reference noise ``reference_z`` (n, *z_shape)
    and, for a conditional generator, the reference labels ``reference_y`` (n,).

    The BatchNorm running statistics are dropped (VBN has none); parameter names gain the
    prefix ``generator.``, and the reference batch is saved in the state dict. Call it before
    moving the generator to its device, or move the returned module.
    """
    n = len(reference_z)
    replaced = 0
    for module in list(generator.modules()):
        for name, child in module.named_children():
            if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                setattr(module, name, VirtualBatchNorm.from_batchnorm(child, n))
                replaced += 1
    if not replaced:
        raise ValueError(f"virtual batch normalisation: {type(generator).__name__} has no BatchNorm layer to replace")
    return VirtualBatchNormGenerator(generator, reference_z, reference_y)


# --- parameter averages ----------------------------------------------------------------------


class HistoricalAverage:
    """Historical averaging (Salimans et al. 2016 §3.3): the penalty

        weight · ‖θ − (1/t)·Σ_{i=1}^{t} θ[i]‖²

    summed over the module's floating parameters, where θ[i] is the value after the i-th
    :meth:`update` (call it after each optimizer step). Its gradient is 2·weight·(θ − mean).
    Before the first update the history is empty and the penalty is 0 (with zero gradient).
    The running means live on the parameters' devices: build this after moving the module.
    """

    def __init__(self, module: nn.Module, weight: float) -> None:
        if not weight >= 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = weight
        self.params = {name: p for name, p in module.named_parameters() if p.is_floating_point()}
        if not self.params:
            raise ValueError(f"historical averaging: {type(module).__name__} has no floating parameters")
        self.means = {name: torch.zeros_like(p, requires_grad=False) for name, p in self.params.items()}
        self.t = 0

    def penalty(self) -> Tensor:
        params = list(self.params.values())
        means = list(self.means.values()) if self.t else [p.detach() for p in params]
        return self.weight * torch.stack([(p - m).pow(2).sum() for p, m in zip(params, means)]).sum()

    @torch.no_grad()
    def update(self) -> None:
        """Add the current parameters to the history: mean ← mean + (θ − mean)/t."""
        self.t += 1
        torch._foreach_lerp_(list(self.means.values()), list(self.params.values()), 1.0 / self.t)

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "means": {name: m.clone() for name, m in self.means.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state["means"]) != set(self.means):
            raise ValueError("historical average state: parameter names do not match the module")
        for name, mean in self.means.items():
            mean.copy_(state["means"][name])
        self.t = int(state["t"])


class ModelEMA:
    """An exponential moving average of a model's weights, used for sampling:

        θ_EMA ← decay·θ_EMA + (1 − decay)·θ   after each optimizer step,

    (Yazıcı et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training", EMA with
    β = 0.999; Karras et al. 2018, progressive GANs, generator weights averaged with decay
    0.999 for sampling). Buffers (e.g. BatchNorm running statistics) are copied, not averaged.
    ``module`` is a deep copy in eval mode without gradients, started at the model's weights.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema_params, params = dict(self.module.named_parameters()), dict(model.named_parameters())
        if ema_params.keys() != params.keys():
            raise ValueError("ModelEMA.update: the model's parameters do not match the averaged copy")
        floats = [name for name, p in ema_params.items() if p.is_floating_point()]
        torch._foreach_lerp_([ema_params[k] for k in floats], [params[k].detach() for k in floats], 1.0 - self.decay)
        for name in ema_params.keys() - set(floats):
            ema_params[name].copy_(params[name])
        buffers = dict(model.named_buffers())
        for name, buffer in self.module.named_buffers():
            buffer.copy_(buffers[name])

    def state_dict(self) -> dict[str, Any]:
        """The averaged model's state dict: loadable into a fresh copy of the model."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state)


# --- sampling --------------------------------------------------------------------------------


def truncated_noise(
    n: int, dim: int, threshold: float, generator: torch.Generator | None = None, device: torch.device | str | None = None
) -> Tensor:
    """z ~ N(0, I) of shape (n, dim) truncated to |z_k| ≤ threshold: the truncation trick
    (Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image Synthesis",
    §3.1: "values which fall outside a range are resampled to fall inside that range").

    Entries outside are redrawn until none is left, so the result is deterministic given
    ``generator``; ``device`` defaults to the generator's device.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    if device is None and generator is not None:
        device = generator.device
    z = torch.randn(n, dim, generator=generator, device=device)
    flat = z.view(-1)
    outside = (flat.abs() > threshold).nonzero().squeeze(1)
    while outside.numel():
        flat[outside] = torch.randn(outside.numel(), generator=generator, device=z.device)
        outside = outside[flat[outside].abs() > threshold]
    return z


__all__ = [
    "HistoricalAverage",
    "InstanceNoise",
    "MinibatchDiscrimination",
    "ModelEMA",
    "VirtualBatchNorm",
    "VirtualBatchNormGenerator",
    "add_minibatch_discrimination",
    "annealed_sigma",
    "truncated_noise",
    "use_virtual_batchnorm",
]
