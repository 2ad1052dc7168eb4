"""Plugin discovery, selection, conflicts, validation and error isolation."""
import sys

import pytest

from conftest import EXAMPLE_PLUGIN, assert_one_line_error, run_gankit
from gankit import GankitError
from gankit.plugins import ALWAYS_ON, PluginSession, discover, list_plugins

BUILTINS = {"checkpoints", "datasets", "metrics_log", "mlp", "optimizers", "progress", "samples", "wgan_clip"}

LOSS_PLUGIN = """
    from gankit import hookimpl
    from gankit.losses import WassersteinLoss

    @hookimpl
    def gankit_loss(options):
        return WassersteinLoss()
"""


def test_builtins_are_discovered_through_entry_points():
    found = discover()
    assert BUILTINS <= set(found)
    for name in BUILTINS:
        (ref,) = found[name]
        assert ref.kind == "entry-point" and ref.builtin and ref.dist == "gankit"


def test_listing_shows_source_and_hooks():
    rows = {row.name: row for row in list_plugins()}
    assert rows["wgan_clip"].hooks == ["gankit_loss", "gankit_option_defaults"]
    assert rows["wgan_clip"].requires == ["clip"]
    assert rows["clip"].hooks == ["gankit_constraints", "gankit_options"]
    assert rows["wgan_clip"].source.startswith("gankit ") and rows["wgan_clip"].source.endswith("(built-in)")
    assert rows["wgan_clip"].error is None


def test_session_registers_always_on_plugins_then_the_selected_ones():
    session = PluginSession(["wgan_clip"])
    assert session.order == [*ALWAYS_ON, "wgan_clip", "clip"]  # wgan_clip requires clip
    assert session.selected == ["wgan_clip"]
    assert session.option_table()["clip_value"].plugin == "clip"


def test_unknown_plugin_lists_close_matches():
    with pytest.raises(GankitError, match="unknown plugin 'wgan_clp'; did you mean wgan_clip"):
        PluginSession(["wgan_clp"])


def test_plugin_from_a_file_and_from_a_module_path(write_plugin, monkeypatch):
    path = write_plugin("myplug_file", LOSS_PLUGIN)
    assert PluginSession([str(path)]).selected == [str(path)]
    monkeypatch.syspath_prepend(str(path.parent))
    assert PluginSession(["myplug_file"]).selected == ["myplug_file"]


def test_missing_plugin_file():
    with pytest.raises(GankitError, match="plugin file nowhere/x.py does not exist"):
        PluginSession(["nowhere/x.py"])


def test_module_without_hooks_is_refused():
    with pytest.raises(GankitError, match="plugin 'json' implements no gankit hooks"):
        PluginSession(["json"])


def test_two_plugins_answering_a_first_result_hook_are_named(write_plugin):
    path = write_plugin("myplug_loss", LOSS_PLUGIN)
    with pytest.raises(GankitError) as info:
        PluginSession(["wgan_clip", str(path)])
    message = str(info.value)
    assert "'wgan_clip'" in message and f"'{path}'" in message and "gankit_loss" in message


def test_a_selected_architecture_replaces_the_mlp_fallback(write_plugin):
    path = write_plugin("myplug_arch", """
        from gankit import hookimpl

        @hookimpl
        def gankit_critic(spec, options):
            from torch import nn
            return nn.Sequential(nn.Flatten(), nn.Linear(spec.size, 1))
    """)
    session = PluginSession(["wgan_clip", str(path)])  # no conflict with mlp's trylast critic
    from gankit.data import DataSpec

    critic = session.call("gankit_critic", spec=DataSpec((2,), "points"), options={"latent_dim": 4})
    assert [type(m).__name__ for m in critic] == ["Flatten", "Linear"]


def test_misspelled_hook_is_caught_by_validation(write_plugin):
    path = write_plugin("myplug_typo", """
        from gankit import hookimpl

        @hookimpl
        def gankit_los(options):
            return None
    """)
    with pytest.raises(GankitError, match="is invalid: .*gankit_los"):
        PluginSession([str(path)])


def test_a_plugin_that_fails_to_import_is_named_with_its_cause(write_plugin):
    path = write_plugin("broken_one", "import not_a_real_module_xyz\n")
    with pytest.raises(GankitError, match=r"failed to import: ModuleNotFoundError: No module named 'not_a_real_module_xyz'"):
        PluginSession([str(path)])


def test_an_exception_inside_a_hook_names_plugin_and_hook(write_plugin):
    path = write_plugin("myplug_raises", """
        from gankit import hookimpl

        @hookimpl
        def gankit_option_defaults():
            return {"n_critic": 1}

        @hookimpl
        def gankit_train_start(trainer):
            raise RuntimeError("disk on fire")
    """)
    import gankit

    with pytest.raises(GankitError, match=rf"plugin '{path}' failed in gankit_train_start: RuntimeError: disk on fire"):
        gankit.train(["wgan_clip", str(path)], {"data": "ring8", "steps": 1, "progress": "off"})


def test_third_party_entry_points_are_discovered_and_can_be_turned_off(fake_dist, monkeypatch):
    fake_dist("acme", {"acme_loss": "acme_loss_mod"}, {"acme_loss_mod": LOSS_PLUGIN})
    (ref,) = discover()["acme_loss"]
    assert (ref.dist, ref.version, ref.builtin) == ("acme", "1.2.3", False)
    assert PluginSession(["acme_loss"]).selected == ["acme_loss"]
    monkeypatch.setenv("GANKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "acme_loss" not in discover() and BUILTINS <= set(discover())


def test_a_broken_installed_plugin_does_not_break_other_commands(fake_dist):
    site = fake_dist("broken", {"broken_ep": "broken_mod"}, {"broken_mod": "raise ImportError('missing libfoo')\n"})
    rows = {row.name: row for row in list_plugins()}
    assert rows["broken_ep"].error == "plugin 'broken_ep' failed to import: ImportError: missing libfoo"
    assert rows["wgan_clip"].error is None
    PluginSession(["wgan_clip"])  # a run that does not select it is unaffected
    env = {"PYTHONPATH": str(site)}
    listing = run_gankit("plugins", env=env)
    assert listing.returncode == 0 and "broken_ep" in listing.stdout and "missing libfoo" in listing.stdout
    assert_one_line_error(run_gankit("train", "--plugin", "broken_ep", env=env), "plugin 'broken_ep' failed to import")


def test_two_distributions_claiming_one_name(fake_dist):
    fake_dist("acme", {"twin": "acme_twin"}, {"acme_twin": LOSS_PLUGIN})
    fake_dist("acme2", {"twin": "acme_twin"}, {})
    with pytest.raises(GankitError, match="plugin name 'twin' is provided by both 'acme' and 'acme2'"):
        PluginSession(["twin"])


def test_plugins_command_and_help_do_not_import_torch():
    code = (
        "import sys\nfrom gankit.cli import main\n"
        "assert main(['plugins']) == 0\n"
        "assert main(['train', '--plugin', 'wgan_clip', '--help']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--clip-value" in result.stdout and "(default: 5)" in result.stdout  # wgan_clip's n_critic


def test_example_plugin_is_a_valid_plugin():
    session = PluginSession([str(EXAMPLE_PLUGIN)])
    assert session.option_table()["hinge_margin"].option.default == 1.0
