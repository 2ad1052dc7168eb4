"""The training-technique plugins (ttur, instance_noise, feature_matching,
minibatch_discrimination, historical_averaging, vbn, ema): each composes with an objective,
does what its paper says inside a real run, and resumes exactly."""
from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
import torch

import gankit
from conftest import QUICK, quick_flags
from gankit import GankitError
from gankit.cli import main
from gankit.config import resolve_config
from gankit.losses import FeatureMatchingLoss
from gankit.plugins import PluginSession
from gankit.techniques import (
    InstanceNoise,
    MinibatchDiscrimination,
    VirtualBatchNorm,
    VirtualBatchNormGenerator,
    annealed_sigma,
)
from gankit.trainer import Trainer, generate

TECHNIQUES = ("ttur", "instance_noise", "feature_matching", "minibatch_discrimination", "historical_averaging", "vbn", "ema")
#: Objectives to compose with: wgan_clip always, the others once their plugins exist.
OBJECTIVES = ["wgan_clip"] + [p for p in ("nsgan", "mmgan", "wgan_gp") if importlib.util.find_spec(f"gankit_plugins.{p}")]
#: Small batches and few pictures: keeps every run well under a second on a CPU.
FAST = {**QUICK, "batch_size": 16, "sample_every": 0, "sample_count": 16}

RECORDER = """
    import torch
    from gankit import hookimpl

    def _params(trainer):
        return {k: p.detach().clone() for k, p in trainer.generator.named_parameters()}

    @hookimpl
    def gankit_train_start(trainer):
        trainer.logged, trainer.generator_history = [], [_params(trainer)]

    @hookimpl
    def gankit_log(trainer, metrics):
        trainer.logged.append(metrics)

    @hookimpl(trylast=True)
    def gankit_step_end(trainer):
        trainer.generator_history.append(_params(trainer))
"""

HEADLESS_CRITIC = """
    from gankit import hookimpl

    @hookimpl
    def gankit_critic(spec, options):
        from torch import nn
        return nn.Sequential(nn.Flatten(), nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
"""

PLAIN_GENERATOR = """
    from gankit import hookimpl

    @hookimpl
    def gankit_generator(spec, options):
        from torch import nn
        return nn.Sequential(nn.Linear(options["latent_dim"], 32), nn.ReLU(), nn.Linear(32, 2))
"""


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These networks and batches are tiny: one intra-op thread is as fast, and keeps the
    runs from crawling when other processes share the cores (2-core CI: 15 s instead of minutes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def recorder(write_plugin):
    return str(write_plugin("myplug_recorder", RECORDER))


def build(plugins, **options):
    """A Trainer, built but not trained."""
    session = PluginSession(list(plugins))
    return Trainer(session, resolve_config(session, {}, {**FAST, **options}))


def networks(trainer):
    """Every tensor of the generator, the critic and the plugins' extra state."""
    out = {f"{net}.{k}": v for net in ("generator", "critic") for k, v in getattr(trainer, net).state_dict().items()}
    for name, obj in trainer.extra_state.items():
        state = obj.state_dict()
        flat = state["means"] if "means" in state else state
        out.update({f"{name}.{k}": v for k, v in flat.items()})
    return out


def assert_resume_is_exact(tmp_path, plugins, steps=6, **options):
    """``steps`` steps straight vs half, a checkpoint, and a resume: bitwise the same networks,
    plugin state and logged metrics. Returns the two trainers."""
    half = steps // 2
    options = {**FAST, **options, "checkpoint_every": half, "log_every": half}
    straight = gankit.train(plugins, {**options, "steps": steps}, out=tmp_path / "straight")
    gankit.train(plugins, {**options, "steps": half}, out=tmp_path / "resumed")
    resumed = gankit.resume(tmp_path / "resumed", steps=steps)
    assert resumed.step == straight.step == steps
    a, b = networks(straight), networks(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name

    def metrics(run):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]

    assert metrics("straight") == metrics("resumed")
    return straight, resumed


# --- every technique with every objective ----------------------------------------------------


def assert_finite_losses(trainer):
    assert trainer.logged and [m["step"] for m in trainer.logged] == list(range(1, trainer.step + 1))
    for m in trainer.logged:
        assert all(math.isfinite(m[k]) for k in ("loss_critic", "loss_generator", "wasserstein_estimate")), m


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("technique", TECHNIQUES)
def test_each_technique_composes_with_an_objective_and_trains(technique, objective, recorder):
    trainer = gankit.train([objective, technique, recorder], {**FAST, "steps": 4, "log_every": 1})
    assert trainer.step == 4
    assert_finite_losses(trainer)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_all_techniques_compose_with_each_objective(objective, recorder):
    trainer = gankit.train([objective, *TECHNIQUES, recorder], {**FAST, "steps": 3, "log_every": 1, "md_kernels": 10})
    assert_finite_losses(trainer)


@pytest.mark.parametrize("schedule", ["alternating", "merged"])
def test_all_techniques_together_conditional_in_either_order_and_schedule(schedule, recorder):
    for plugins in (TECHNIQUES, TECHNIQUES[::-1]):
        options = {**FAST, "steps": 3, "log_every": 1, "conditional": True, "schedule": schedule, "md_kernels": 10}
        trainer = gankit.train(["wgan_clip", *plugins, recorder], options)
        assert_finite_losses(trainer)
        assert any(isinstance(m, InstanceNoise) for m in trainer.critic.modules())
        assert any(isinstance(m, MinibatchDiscrimination) for m in trainer.critic.modules())
        assert isinstance(trainer.generator, VirtualBatchNormGenerator)
        # historical averaging wraps last, so feature matching (inside) keeps its generator term
        assert isinstance(trainer.loss.base, FeatureMatchingLoss)
        assert set(trainer.extra_state) == {"ema", "historical_average_critic", "historical_average_generator"}
        samples = trainer.sample(16)
        assert samples.shape == (16, 2) and torch.isfinite(samples).all()


# --- ttur ------------------------------------------------------------------------------------


def options_of(plugins, cli=None):
    return resolve_config(PluginSession(plugins), {}, cli or {}).options


def test_ttur_sets_adam_with_a_fast_critic_when_it_comes_after_the_objective():
    opts = options_of(["wgan_clip", "ttur"])
    assert (opts["optimizer"], opts["lr_critic"], opts["lr_generator"]) == ("adam", 4e-4, 1e-4)
    earlier = options_of(["ttur", "wgan_clip"])  # a later plugin's recommendation wins
    assert (earlier["optimizer"], earlier["lr_critic"], earlier["lr_generator"]) == ("rmsprop", 5e-5, 5e-5)
    given = options_of(["wgan_clip", "ttur"], {"lr_critic": 1e-3, "optimizer": "sgd"})  # flags win over both
    assert (given["optimizer"], given["lr_critic"], given["lr_generator"]) == ("sgd", 1e-3, 1e-4)
    trainer = build(["wgan_clip", "ttur"])
    assert isinstance(trainer.opt_critic, torch.optim.Adam) and isinstance(trainer.opt_generator, torch.optim.Adam)
    assert trainer.opt_critic.param_groups[0]["lr"] == 4e-4 and trainer.opt_generator.param_groups[0]["lr"] == 1e-4


# --- instance noise --------------------------------------------------------------------------


def noise_wrappers(trainer):
    return [m for m in trainer.critic.modules() if isinstance(m, InstanceNoise)]


def test_instance_noise_follows_the_annealing_schedule_step_by_step():
    trainer = build(["wgan_clip", "instance_noise"], steps=5, noise_sigma=0.5, noise_anneal_steps=4, n_critic=2)
    (wrapper,) = noise_wrappers(trainer)
    seen = []  # (step, sigma) at every critic call
    wrapper.register_forward_pre_hook(lambda module, args: seen.append((trainer.step, module.sigma)))
    trainer.fit()
    assert {step for step, _ in seen} == set(range(5))
    for step, sigma in seen:
        assert sigma == annealed_sigma(step, 0.5, 4), (step, sigma)
    assert seen[0][1] == 0.5 and seen[-1][1] == 0.0  # annealed to zero at step 4
    assert wrapper.sigma == 0.0


def test_instance_noise_sigma_is_set_at_train_start_and_can_stay_constant():
    trainer = build(["wgan_clip", "instance_noise"], noise_sigma=0.3, noise_anneal_steps=10)
    (wrapper,) = noise_wrappers(trainer)
    assert wrapper.sigma == 0.3
    trainer.step = 4  # as after loading a checkpoint written at step 4
    trainer.session.call("gankit_train_start", trainer=trainer)
    assert wrapper.sigma == pytest.approx(0.3 * 0.6)
    constant = gankit.train(["wgan_clip", "instance_noise"], {**FAST, "noise_sigma": 0.3, "noise_anneal_steps": 0})
    assert noise_wrappers(constant)[0].sigma == 0.3


def test_instance_noise_really_perturbs_the_critic_inputs():
    trainer = build(["wgan_clip", "instance_noise"], noise_sigma=1.0)
    x = torch.zeros(4, 2)
    torch.manual_seed(0)
    a = trainer.critic(x)
    torch.manual_seed(0)
    assert torch.equal(a, trainer.critic(x))  # the noise comes from torch's global RNG
    assert not torch.equal(a, trainer.critic(x))
    noise_wrappers(trainer)[0].sigma = 0.0
    assert torch.equal(trainer.critic(x), trainer.critic(x))


def test_instance_noise_resumes_exactly(tmp_path):
    opts = {"noise_sigma": 0.2, "noise_anneal_steps": 8}
    straight, resumed = assert_resume_is_exact(tmp_path, ["wgan_clip", "instance_noise"], **opts)
    assert noise_wrappers(straight)[0].sigma == noise_wrappers(resumed)[0].sigma == pytest.approx(0.2 * (1 - 6 / 8))


# --- feature matching ------------------------------------------------------------------------


def test_feature_matching_generator_loss_is_the_distance_of_feature_means():
    trainer = gankit.train(["wgan_clip", "feature_matching"], {**FAST, "steps": 2})
    assert isinstance(trainer.loss, FeatureMatchingLoss)
    real, _ = trainer.batches.next()
    fake = trainer.generator(torch.randn(16, trainer.options["latent_dim"]))
    loss = trainer.loss.generator_loss(trainer.critic, fake, real)
    f = trainer.critic.features
    expected = (f(real).mean(0) - f(fake).mean(0)).square().sum()
    torch.testing.assert_close(loss, expected)
    trainer.generator.zero_grad(set_to_none=True)
    loss.backward()
    assert all(p.grad is not None for p in trainer.generator.parameters())
    # the critic keeps the objective's own loss
    out = trainer.loss.critic_loss(trainer.critic, real, fake.detach())
    torch.testing.assert_close(out.loss, trainer.critic(fake).mean() - trainer.critic(real).mean())


# --- minibatch discrimination ----------------------------------------------------------------


def test_minibatch_discrimination_sits_in_the_critic_head_and_is_trained():
    trainer = gankit.train(["wgan_clip", "minibatch_discrimination"], {**FAST, "md_kernels": 7, "md_kernel_dim": 3})
    assert (trainer.options["md_kernels"], trainer.options["md_kernel_dim"]) == (7, 3)
    (layer,) = [m for m in trainer.critic.modules() if isinstance(m, MinibatchDiscrimination)]
    assert layer in trainer.critic.head.modules() and layer.T.shape == (256, 7, 3)
    optimized = {id(p) for group in trainer.opt_critic.param_groups for p in group["params"]}
    assert id(layer.T) in optimized and optimized == {id(p) for p in trainer.critic.parameters()}
    assert layer.T.grad is not None and layer.T.grad.abs().sum() > 0
    assert layer.T.abs().max() <= trainer.options["clip_value"]  # constraints act on it as on the rest
    # a sample's score depends on the rest of its batch
    x = torch.from_numpy(trainer.dataset.x[:8])
    assert not torch.allclose(trainer.critic(x)[:1], trainer.critic(x[:1]))


def test_minibatch_discrimination_needs_a_linear_head(write_plugin):
    path = write_plugin("myplug_headless", HEADLESS_CRITIC)
    with pytest.raises(GankitError, match="minibatch_discrimination needs a critic with a linear `head`"):
        build(["wgan_clip", str(path), "minibatch_discrimination"])


# --- historical averaging --------------------------------------------------------------------


def test_historical_averaging_penalises_both_players():
    trainer = gankit.train(["wgan_clip", "historical_averaging"], {**FAST, "steps": 3})
    critic_ha = trainer.extra_state["historical_average_critic"]
    generator_ha = trainer.extra_state["historical_average_generator"]
    assert critic_ha.t == 3 * trainer.options["n_critic"] and generator_ha.t == 3
    # the critic's term is a constraint the trainer runs after every step (no optimizer absorbs it)
    (ha_constraint,) = [c for c in trainer.constraints if getattr(c, "average", None) is critic_ha]
    assert ha_constraint in trainer.after_step
    real, _ = trainer.batches.next()
    fake = trainer.generator(torch.randn(16, trainer.options["latent_dim"]))
    base = trainer.loss.base
    loss, _ = trainer.critic_loss(trainer.critic, real, fake.detach())
    penalty = critic_ha.penalty()
    assert penalty > 0
    torch.testing.assert_close(loss, base.critic_loss(trainer.critic, real, fake.detach()).loss + penalty)
    # the generator's term, where G(z) is differentiated (not in merged's stop-gradient term)
    g_penalty = generator_ha.penalty()
    assert g_penalty > 0
    torch.testing.assert_close(
        trainer.loss.generator_loss(trainer.critic, fake, real), base.generator_loss(trainer.critic, fake, real) + g_penalty
    )
    torch.testing.assert_close(
        trainer.loss.generator_loss(trainer.critic, fake.detach(), real), base.generator_loss(trainer.critic, fake.detach(), real)
    )
    # so merged's L_G(G(z)) − L_G(sg(G(z))) still gives the generator the term's gradient
    params = list(trainer.generator.parameters())
    loss_g = trainer.loss.generator_loss
    merged = loss_g(trainer.critic, fake, real) - loss_g(trainer.critic, fake.detach(), real)
    expected = base.generator_loss(trainer.critic, fake, real) + generator_ha.penalty()
    for got, want in zip(torch.autograd.grad(merged, params, retain_graph=True), torch.autograd.grad(expected, params)):
        torch.testing.assert_close(got, want)


def test_historical_averages_are_the_means_of_the_parameters_after_each_step(recorder):
    trainer = gankit.train(["wgan_clip", "historical_averaging", recorder], {**FAST, "steps": 3, "ha_weight": 0.5})
    means = trainer.extra_state["historical_average_generator"].means
    history = trainer.generator_history[1:]  # after steps 1, 2, 3
    for name, p in trainer.generator.named_parameters():
        torch.testing.assert_close(means[name], sum(h[name] for h in history) / 3, rtol=1e-6, atol=1e-8)
    assert trainer.extra_state["historical_average_generator"].weight == 0.5


def test_historical_averaging_is_saved_and_resumes_exactly(tmp_path):
    straight, _ = assert_resume_is_exact(tmp_path, ["wgan_clip", "historical_averaging"])
    state = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    assert state["extra"]["historical_average_generator"]["t"] == 6
    assert state["extra"]["historical_average_critic"]["t"] == 6 * straight.options["n_critic"]


def test_historical_averaging_resumes_exactly_with_adam_and_merged_steps(tmp_path):
    assert_resume_is_exact(tmp_path, ["wgan_clip", "historical_averaging"], optimizer="adam", schedule="merged", n_critic=2)


# --- virtual batch normalisation -------------------------------------------------------------


def test_vbn_outputs_depend_on_the_reference_batch_and_the_example_only():
    trainer = gankit.train(["wgan_clip", "vbn"], {**FAST, "steps": 2})
    generator = trainer.generator
    assert isinstance(generator, VirtualBatchNormGenerator) and generator.training
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in generator.modules())
    assert any(isinstance(m, VirtualBatchNorm) for m in generator.modules())
    rng = torch.Generator().manual_seed(trainer.options["seed"])
    assert torch.equal(generator.reference_z, torch.randn(16, trainer.options["latent_dim"], generator=rng))
    z = torch.randn(10, trainer.options["latent_dim"])
    with torch.no_grad():
        batch = generator(z)
        alone = torch.cat([generator(z[i : i + 1]) for i in range(10)])
        shuffled = generator(torch.cat([z[5:], z[:5]]))
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batch, torch.cat([shuffled[5:], shuffled[:5]]), rtol=1e-5, atol=1e-6)


def test_vbn_conditional_gets_reference_labels():
    trainer = build(["wgan_clip", "vbn"], conditional=True, batch_size=20)
    assert torch.equal(trainer.generator.reference_y, torch.arange(20) % 8)


def test_vbn_needs_a_generator_with_batchnorm(write_plugin):
    path = write_plugin("myplug_plain", PLAIN_GENERATOR)
    with pytest.raises(GankitError, match="vbn: the generator .* has no BatchNorm layer"):
        build(["wgan_clip", str(path), "vbn"])


def test_vbn_resumes_exactly_and_samples_from_the_checkpoint(tmp_path):
    straight, _ = assert_resume_is_exact(tmp_path, ["wgan_clip", "vbn"])
    assert "reference_z" in straight.generator.state_dict()
    out = gankit.sample(tmp_path / "straight", n=12, out=tmp_path / "s.npy", seed=5)
    np.testing.assert_array_equal(np.load(out), straight.sample(12, seed=5).numpy())


# --- ema -------------------------------------------------------------------------------------


def test_ema_is_the_closed_form_average_of_the_generator(recorder):
    decay = 0.7
    trainer = gankit.train(["wgan_clip", "ema", recorder], {**FAST, "steps": 5, "ema_decay": decay})
    ema = trainer.extra_state["ema"]
    assert trainer.sampling_generator is ema.module and not ema.module.training
    history = trainer.generator_history  # θ_0 (start), θ_1 ... θ_5
    n = len(history) - 1
    for name, p in ema.module.named_parameters():
        # θ_EMA = β^n θ_0 + Σ_k (1 − β) β^(n−k) θ_k
        expected = decay**n * history[0][name] + sum((1 - decay) * decay ** (n - k) * history[k][name] for k in range(1, n + 1))
        torch.testing.assert_close(p, expected, rtol=1e-5, atol=1e-7)
        assert not p.requires_grad
    assert any(not torch.equal(p, q) for p, q in zip(ema.module.parameters(), trainer.generator.parameters()))
    for name, buffer in ema.module.named_buffers():  # BatchNorm statistics are copied
        assert torch.equal(buffer, dict(trainer.generator.named_buffers())[name])


def test_ema_with_decay_zero_is_the_generator():
    trainer = gankit.train(["wgan_clip", "ema"], {**FAST, "steps": 3, "ema_decay": 0.0})
    for p, q in zip(trainer.sampling_generator.parameters(), trainer.generator.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(GankitError, match="ema_decay"):
        build(["wgan_clip", "ema"], ema_decay=1.0)


def test_samples_during_training_and_from_gankit_sample_come_from_the_ema(tmp_path):
    straight, _ = assert_resume_is_exact(tmp_path, ["wgan_clip", "ema"])
    ema_samples = straight.sample(32, seed=3)
    torch.testing.assert_close(ema_samples, generate(straight.extra_state["ema"].module, 32, straight.options["latent_dim"], 3))
    assert not torch.allclose(ema_samples, generate(straight.generator, 32, straight.options["latent_dim"], 3))
    out = gankit.sample(tmp_path / "straight", n=32, out=tmp_path / "s.npy", seed=3)
    np.testing.assert_array_equal(np.load(out), ema_samples.numpy())


def test_ema_after_vbn_averages_the_virtual_batch_norm_generator(tmp_path):
    trainer = gankit.train(["wgan_clip", "ema", "vbn"], {**FAST, "steps": 2}, out=tmp_path / "run")
    assert isinstance(trainer.sampling_generator, VirtualBatchNormGenerator)
    out = gankit.sample(tmp_path / "run", n=8, out=tmp_path / "s.npy")
    np.testing.assert_array_equal(np.load(out), trainer.sample(8).numpy())


# --- the command line ------------------------------------------------------------------------


def test_cli_train_resume_and_sample_with_stateful_techniques(tmp_path, capsys):
    out, flags = tmp_path / "run", quick_flags(steps=4, batch_size=16, checkpoint_every=2, sample_every=0)
    plugins = ["--plugin", "wgan_clip", "--plugin", "ttur", "--plugin", "historical_averaging", "--plugin", "ema"]
    assert main(["train", *plugins, *flags, "--out", str(out)]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert set(state["extra"]) == {"ema", "historical_average_critic", "historical_average_generator"}
    assert state["config"]["options"]["lr_critic"] == 4e-4
    assert main(["train", "--resume", str(out), "--steps", "6"]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=True)["extra"]["historical_average_generator"]["t"] == 6
    assert main(["sample", "--checkpoint", str(out), "-n", "8", "--out", str(tmp_path / "s.npy"), "--seed", "2"]) == 0
    straight = gankit.train(["wgan_clip", "ttur", "historical_averaging", "ema"], {**FAST, "steps": 6})  # the same run, straight
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), straight.sample(8, seed=2).numpy())


def test_cli_technique_errors_are_one_line(write_plugin, capsys):
    plain = write_plugin("myplug_plain_cli", PLAIN_GENERATOR)
    assert main(["train", "--plugin", "wgan_clip", "--plugin", str(plain), "--plugin", "vbn", *quick_flags()]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("gankit: error: vbn: the generator") and "no BatchNorm" in err
    assert main(["train", "--plugin", "wgan_clip", "--plugin", "ema", "--ema-decay", "1", *quick_flags()]) == 2
    assert "option ema_decay: expected a number >= 0 and < 1" in capsys.readouterr().err
