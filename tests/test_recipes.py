"""Objective recipes and constraint plugins: each trains with its paper's defaults, really
uses the loss and constraint it names, combines with the others, and behaves on the command
line (REFERENCES.md §2)."""
import ast
import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import gankit
from conftest import QUICK, REPO, assert_one_line_error, quick_flags, run_gankit
from gankit.config import resolve_config
from gankit.constraints import (
    DivergencePenalty,
    GradientNormalization,
    GradientNormalizationPiecewise,
    GradientPenalty,
    R1Penalty,
    SpectralNorm,
    WeightClip,
)
from gankit.losses import (
    F_DIVERGENCES,
    CTransformLoss,
    EnergyLoss,
    FDivergenceLoss,
    GANQPLoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    RelativisticAverageLoss,
    RelativisticLoss,
    WassersteinLoss,
)
from gankit.plugins import PluginSession
from gankit.trainer import Trainer

#: Objective recipe -> (its loss class, the constraint classes it is built from).
RECIPES = {
    "mmgan": (MinimaxLoss, []),
    "nsgan": (NonSaturatingLoss, []),
    "lsgan": (LeastSquaresLoss, []),
    "hinge": (HingeLoss, []),
    "sngan": (HingeLoss, [SpectralNorm]),
    "rgan": (RelativisticLoss, []),
    "ragan": (RelativisticAverageLoss, []),
    "fgan": (FDivergenceLoss, []),
    "gan_qp": (GANQPLoss, []),
    "ctransform": (CTransformLoss, []),
    "energy": (EnergyLoss, [R1Penalty]),
    "wgan_gp": (WassersteinLoss, [GradientPenalty]),
    "wgan_div": (WassersteinLoss, [DivergencePenalty]),
    "gngan": (WassersteinLoss, [GradientNormalization]),
    "grangan": (HingeLoss, [GradientNormalizationPiecewise]),
    "wgan_clip": (WassersteinLoss, [WeightClip]),
}
#: Constraint plugin -> (its constraint class, the options it declares).
CONSTRAINTS = {
    "clip": (WeightClip, ["clip_value"]),
    "gp": (GradientPenalty, ["gp_one_sided", "gp_weight"]),
    "r1": (R1Penalty, ["r1_gamma"]),
    "div": (DivergencePenalty, ["div_k", "div_p"]),
    "sn": (SpectralNorm, ["sn_power_iterations"]),
    "gn": (GradientNormalization, []),
    "gran": (GradientNormalizationPiecewise, ["gran_eps"]),
}
NEW_PLUGINS = sorted({*RECIPES, *CONSTRAINTS} - {"wgan_clip", "clip"})

#: The paper defaults each recipe recommends (the others are in the plugins' docstrings).
PAPER_DEFAULTS = {
    "mmgan": {"optimizer": "adam", "lr_critic": 2e-4, "lr_generator": 2e-4, "beta1": 0.5, "n_critic": 1},
    "lsgan": {"optimizer": "adam", "lr_critic": 2e-4, "beta1": 0.5, "n_critic": 1},
    "sngan": {"optimizer": "adam", "lr_critic": 2e-4, "lr_generator": 2e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5},
    "rgan": {"optimizer": "adam", "lr_critic": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1},
    "gan_qp": {"optimizer": "adam", "lr_critic": 2e-4, "beta1": 0.5, "n_critic": 2, "qp_lambda": 10.0, "qp_norm": "l1"},
    "wgan_gp": {"optimizer": "adam", "lr_critic": 1e-4, "lr_generator": 1e-4, "beta1": 0.0, "beta2": 0.9,
                "n_critic": 5, "gp_weight": 10.0, "gp_one_sided": False},
    "wgan_div": {"optimizer": "adam", "lr_critic": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 5,
                 "div_k": 2.0, "div_p": 6.0},
    "gngan": {"optimizer": "adam", "lr_critic": 4e-4, "lr_generator": 2e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5},
    "energy": {"optimizer": "rmsprop", "lr_critic": 1e-4, "n_critic": 1, "r1_gamma": 10.0},
    "fgan": {"divergence": "js", "n_critic": 1},
}

RECORDER = """
    from gankit import hookimpl

    LOGGED = []

    @hookimpl
    def gankit_log(step, metrics):
        LOGGED.append(dict(metrics))
"""


def build(plugins, **options):
    """A run's Trainer, built but not trained."""
    session = PluginSession(plugins)
    return Trainer(session, resolve_config(session, cli_options={**QUICK, **options}))


def finite_parameters(trainer):
    return all(torch.isfinite(p).all() for net in (trainer.critic, trainer.generator) for p in net.parameters())


def assert_parts(trainer, loss_class, constraint_classes):
    assert type(trainer.loss) is loss_class
    assert sorted(type(c).__name__ for c in trainer.constraints) == sorted(c.__name__ for c in constraint_classes)


# --- 1. every recipe trains with its paper's defaults ------------------------------------------


@pytest.mark.parametrize("name", list(RECIPES))
def test_recipe_trains_200_steps_on_ring8_with_finite_losses(name, write_plugin):
    recorder = write_plugin("myplug_recorder", RECORDER)
    trainer = gankit.train([name, str(recorder)], {**QUICK, "steps": 200, "log_every": 50, "batch_size": 64})
    assert trainer.step == 200
    assert_parts(trainer, *RECIPES[name])
    logged = trainer.session.pm.get_plugin(str(recorder)).LOGGED
    assert [m["step"] for m in logged] == [50, 100, 150, 200]
    for metrics in logged:
        for key in ("loss_critic", "loss_generator", "wasserstein_estimate"):
            assert math.isfinite(metrics[key]), (name, metrics)
    assert finite_parameters(trainer), name
    after = trainer.train_step()  # and it keeps training
    assert all(torch.isfinite(v) for v in after.values()), (name, after)


@pytest.mark.parametrize("name", list(PAPER_DEFAULTS))
def test_recipe_recommends_its_paper_defaults(name):
    options = resolve_config(PluginSession([name])).options
    for key, value in PAPER_DEFAULTS[name].items():
        assert options[key] == value, (name, key, options[key])


def test_command_line_and_config_override_a_recipes_defaults():
    options = resolve_config(PluginSession(["wgan_gp"]), {"n_critic": 3}, {"lr_critic": 5e-4}).options
    assert (options["n_critic"], options["lr_critic"], options["lr_generator"]) == (3, 5e-4, 1e-4)


@pytest.mark.parametrize("name, norm", [("wgan_gp", "layer"), ("wgan_div", "layer"), ("energy", "layer"),
                                        ("sngan", "none"), ("gngan", "none"), ("grangan", "none"), ("nsgan", "batch")])
def test_recipes_keep_batchnorm_out_of_gradient_constrained_dcgan_critics(name, norm):
    assert resolve_config(PluginSession([name, "dcgan"])).options["critic_norm"] == norm


# --- 2. each recipe really uses its parts --------------------------------------------------------


@pytest.mark.parametrize("name", list(RECIPES))
def test_recipe_builds_its_loss_and_constraints(name):
    assert_parts(build([name]), *RECIPES[name])


def test_wgan_gp_penalty_has_the_papers_lambda_and_runs_on_every_critic_step():
    trainer = build(["wgan_gp"])
    (gp,) = trainer.constraints
    assert (gp.weight, gp.one_sided) == (10.0, False)
    calls = []
    penalty = gp.penalty
    gp.penalty = lambda *args: calls.append(1) or penalty(*args)
    trainer.train_step()
    assert len(calls) == trainer.options["n_critic"] == 5


@pytest.mark.parametrize("name, constraint_class", [("wgan_div", DivergencePenalty), ("energy", R1Penalty)])
def test_penalty_recipes_add_their_penalty_to_the_critic_loss(name, constraint_class):
    trainer = build([name], n_critic=1)
    real, _ = trainer.batches.next()
    with torch.no_grad():
        fake = trainer.fake(None)
    torch.manual_seed(1)
    total, _ = trainer.critic_loss(trainer.critic, real, fake)
    torch.manual_seed(1)
    (constraint,) = trainer.constraints
    assert isinstance(constraint, constraint_class)
    penalty = constraint.penalty(trainer.critic, real, fake)
    base = trainer.loss.critic_loss(trainer.critic, real, fake).loss
    assert penalty.item() > 0
    assert total.item() == pytest.approx(base.item() + penalty.item(), rel=1e-5)


def test_wgan_div_and_energy_take_their_options():
    (div,) = build(["wgan_div"], div_k=3.0, div_p=4.0).constraints
    assert (div.k, div.p) == (3.0, 4.0)
    (r1,) = build(["energy"], r1_gamma=2.5).constraints
    assert r1.gamma == 2.5


def test_sngan_spectrally_normalises_every_critic_layer():
    trainer = build(["sngan"], sn_power_iterations=2)
    linears = [m for m in trainer.critic.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(linears) == 3  # the MLP critic: two hidden layers and the head
    for layer in linears:
        assert parametrize.is_parametrized(layer, "weight")
        assert layer.parametrizations.weight[0].n_power_iterations == 2
    trainer.train_step()
    for layer in linears:  # after training each layer's largest singular value is still about 1
        assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() == pytest.approx(1.0, abs=0.1)


def test_sngan_normalises_a_dcgan_critic_without_batchnorm():
    trainer = build(["sngan", "dcgan"], data="digits", dcgan_width=8)
    convs = [m for m in trainer.critic.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in trainer.critic.modules())


@pytest.mark.parametrize("name, rule", [("gngan", GradientNormalization), ("grangan", GradientNormalizationPiecewise)])
def test_gradient_normalised_recipes_wrap_the_critic(name, rule):
    from gankit.constraints import GradientNormalizedCritic

    trainer = build([name])
    assert isinstance(trainer.critic, GradientNormalizedCritic)
    assert type(trainer.critic.rule) is rule
    x = trainer.batches.next()[0]
    scores = trainer.critic(x)
    assert scores.shape == (len(x), 1) and torch.isfinite(scores).all()
    if rule is GradientNormalization:
        assert scores.abs().max().item() <= 1.0  # GN bounds f̂ by 1
    # the optimizer trains the inner critic's parameters
    assert {id(p) for p in trainer.opt_critic.param_groups[0]["params"]} == {id(p) for p in trainer.critic.critic.parameters()}


def test_grangan_takes_its_eps():
    assert build(["grangan"], gran_eps=1e-2).critic.rule.eps == 1e-2


@pytest.mark.parametrize("name", ["mmgan", "nsgan"])
def test_real_label_is_one_sided_label_smoothing(name):
    assert build([name]).loss.real_label == 1.0
    assert build([name], real_label=0.9).loss.real_label == 0.9


def test_lsgan_takes_its_codes():
    loss = build(["lsgan"]).loss
    assert (loss.a, loss.b, loss.c) == (-1.0, 1.0, 0.0)
    loss = build(["lsgan"], lsgan_a=0.0, lsgan_b=1.0, lsgan_c=1.0).loss
    assert (loss.a, loss.b, loss.c) == (0.0, 1.0, 1.0)


@pytest.mark.parametrize("divergence", F_DIVERGENCES)
def test_fgan_builds_and_steps_with_each_divergence(divergence):
    trainer = build(["fgan"], divergence=divergence)
    assert type(trainer.loss) is FDivergenceLoss and trainer.loss.divergence == divergence
    out = trainer.train_step()
    assert all(torch.isfinite(v) for v in out.values()), (divergence, out)


def test_gan_qp_takes_lambda_and_norm():
    loss = build(["gan_qp"], qp_lambda=2.0, qp_norm="l2").loss
    assert (loss.lam, loss.norm) == (2.0, "l2")


# --- 3. constraints combine with any objective ---------------------------------------------------


@pytest.mark.parametrize("plugins, loss_class, constraint_classes", [
    (["nsgan", "gp"], NonSaturatingLoss, [GradientPenalty]),
    (["lsgan", "sn"], LeastSquaresLoss, [SpectralNorm]),
    (["hinge", "r1"], HingeLoss, [R1Penalty]),
    (["rgan", "div"], RelativisticLoss, [DivergencePenalty]),
    (["nsgan", "gn"], NonSaturatingLoss, [GradientNormalization]),
    (["hinge", "gran"], HingeLoss, [GradientNormalizationPiecewise]),
    (["ragan", "clip"], RelativisticAverageLoss, [WeightClip]),
    (["wgan_gp", "sn"], WassersteinLoss, [GradientPenalty, SpectralNorm]),
])
def test_constraints_combine_with_other_objectives(plugins, loss_class, constraint_classes):
    trainer = gankit.train(plugins, {**QUICK, "steps": 10, "log_every": 5})
    assert_parts(trainer, loss_class, constraint_classes)
    out = trainer.train_step()
    assert all(torch.isfinite(v) for v in out.values()), (plugins, out)
    assert finite_parameters(trainer)


def test_a_constraint_plugins_options_reach_its_constraint():
    (gp,) = build(["nsgan", "gp"], gp_weight=1.0, gp_one_sided=True).constraints
    assert (gp.weight, gp.one_sided) == (1.0, True)


def test_a_recipe_names_the_plugin_that_declares_its_constraint_options():
    table = PluginSession(["wgan_gp"]).option_table()
    assert table["gp_weight"].plugin == "gp" and "gp_weight" not in PluginSession(["nsgan"]).option_table()


@pytest.mark.parametrize("name", list(CONSTRAINTS))
def test_constraint_plugins_declare_their_options(name):
    session = PluginSession(["hinge", name])
    declared = sorted(o for o, entry in session.option_table().items() if entry.plugin == name)
    assert declared == CONSTRAINTS[name][1]
    assert_parts(build(["hinge", name]), HingeLoss, [CONSTRAINTS[name][0]])


# --- 4. the command line -------------------------------------------------------------------------


def test_cli_trains_wgan_gp_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = run_gankit("train", "--plugin", "wgan_gp", *quick_flags(steps=3, log_every=1), "--out", str(out))
    assert result.returncode == 0, result.stderr
    config = (out / "config.toml").read_text()
    assert 'plugins = [\n    "wgan_gp",\n]' in config or 'plugins = ["wgan_gp"]' in config
    for line in ("gp_weight = 10.0", "n_critic = 5", "lr_critic = 0.0001", "beta1 = 0.0", "beta2 = 0.9"):
        assert line in config, line
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert all(math.isfinite(m["loss_critic"]) for m in metrics)


@pytest.mark.parametrize("argv, fragments", [
    (["--plugin", "wgan_gp", "--gp-weight", "-1"], ["option gp_weight", "> 0", "-1"]),
    (["--plugin", "fgan", "--divergence", "foo"], ["option divergence", "one of kl, reverse_kl, js", "foo"]),
    (["--plugin", "mmgan", "--real-label", "1.5"], ["option real_label", "<= 1", "1.5"]),
    (["--plugin", "gan_qp", "--qp-norm", "l3"], ["option qp_norm", "one of l1, l2"]),
    (["--plugin", "sngan", "--sn-power-iterations", "0"], ["option sn_power_iterations", ">= 1"]),
    (["--plugin", "wgan_div", "--div-p", "1"], ["option div_p", "> 1"]),
    (["--plugin", "mmgan", "--plugin", "nsgan"], ["'mmgan'", "'nsgan'", "gankit_loss"]),
    (["--plugin", "wgan_gp", "--plugin", "sngan"], ["'wgan_gp'", "'sngan'", "gankit_loss"]),
])
def test_cli_bad_values_and_two_objectives_are_one_line_errors(argv, fragments, tmp_path):
    result = run_gankit("train", *argv, *quick_flags(steps=1), "--out", str(tmp_path / "run"))
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "run").exists()


# --- 5. the plugin listing, and torch-free plugin modules ----------------------------------------


def test_plugins_command_lists_every_new_plugin_without_errors():
    result = run_gankit("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for name in NEW_PLUGINS:
        assert name in rows, name
        assert rows[name]["error"] is None, (name, rows[name]["error"])
        assert rows[name]["source"].endswith("(built-in)")
    for name in RECIPES:
        assert {"gankit_loss", "gankit_option_defaults"} <= set(rows[name]["hooks"]), name
    for name in CONSTRAINTS:
        assert "gankit_constraints" in rows[name]["hooks"], name


def test_help_of_every_new_plugin_does_not_import_torch():
    code = (
        "import contextlib, io, sys\nfrom gankit.cli import main\n"
        f"for name in {NEW_PLUGINS!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        assert main(['train', '--plugin', name, '--help']) == 0, name\n"
        "    assert '--plugin' in out.getvalue(), name\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", NEW_PLUGINS)
def test_plugin_module_imports_only_gankit_at_top_level_and_documents_an_example(name):
    source = (REPO / "plugins" / f"{name}.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    top_imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    torch_free = ("gankit", "gankit_plugins._recipes")
    assert all(isinstance(node, ast.ImportFrom) and node.module in torch_free for node in top_imports), name
    doc = ast.get_docstring(tree)
    assert doc and "gankit train --plugin" in doc and f"--plugin {name}" in doc, name


@pytest.mark.parametrize("name", NEW_PLUGINS)
def test_the_example_commands_in_a_plugins_docstring_resolve(name, resolves):
    doc = ast.get_docstring(ast.parse((REPO / "plugins" / f"{name}.py").read_text(encoding="utf-8")))
    commands = [line.strip() for line in doc.splitlines() if line.strip().startswith("gankit train ")]
    assert commands, name
    for command in commands:
        resolves(command)
