"""A broken plugin breaks only what selects it: an installed plugin that fails to import is
listed as broken by ``gankit plugins`` (exit 0) and leaves other runs alone; selecting it, or
a plugin whose hooks do not match the hook specs, is one line naming the plugin."""
import json

import pytest

from conftest import assert_one_line_error, quick_flags, run_gankit
from gankit.checkpoint import load_checkpoint
from gankit.cli import main

BROKEN_AT_IMPORT = {
    "import_error": ("import not_a_real_module_xyz\n", "ModuleNotFoundError: No module named 'not_a_real_module_xyz'"),
    "syntax_error": ("def oops(:\n", "SyntaxError: "),
    "runtime_error": ("raise RuntimeError('no GPU driver')\n", "RuntimeError: no GPU driver"),
    "sys_exit": ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    "markup": ("raise ImportError('pip install acme[gpu] [/x]')\n", "ImportError: pip install acme[gpu] [/x]"),
    "multi_line": ("raise ImportError('first\\nsecond')\n", "ImportError: first second"),
    "no_hooks": ("X = 1\n", "implements no gankit hooks"),
    "misspelled_hook": ("from gankit import hookimpl\n\n@hookimpl\ndef gankit_step_ned(trainer, step):\n    pass\n",
                        "is invalid: unknown hook gankit_step_ned; did you mean gankit_step_end?"),
}


@pytest.fixture
def broken_plugins(fake_dist):
    """One installed distribution whose entry points are the plugins in BROKEN_AT_IMPORT."""
    return fake_dist("broken", {f"broken_{n}": f"broken_{n}_mod" for n in BROKEN_AT_IMPORT},
                     {f"broken_{n}_mod": source for n, (source, _) in BROKEN_AT_IMPORT.items()})


def one_line_error(capsys, *argv):
    code = main([str(arg) for arg in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("gankit: error: "), (code, err)
    return err


def test_gankit_plugins_lists_each_broken_plugin_with_its_error(capsys, broken_plugins):
    assert main(["plugins", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    for name, (_, error) in BROKEN_AT_IMPORT.items():
        assert error in rows[f"broken_{name}"]["error"], rows[f"broken_{name}"]
        assert "\n" not in rows[f"broken_{name}"]["error"]
    assert rows["wgan_clip"]["error"] is None


def test_the_table_shows_errors_verbatim_even_with_brackets(capsys, broken_plugins, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one table row a line
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "error: plugin 'broken_markup' failed to import: ImportError: pip install acme[gpu] [/x]" in out
    assert "error: plugin 'broken_sys_exit' failed to import: SystemExit: 3" in out


def test_a_run_that_does_not_select_a_broken_plugin_trains(capsys, broken_plugins, tmp_path):
    assert main(["train", "--plugin", "wgan_clip", *quick_flags(steps=2), "--out", str(tmp_path / "run")]) == 0
    assert load_checkpoint(tmp_path / "run")["step"] == 2


@pytest.mark.parametrize("name", BROKEN_AT_IMPORT)
def test_selecting_a_broken_plugin_is_one_line_naming_it(capsys, broken_plugins, name):
    err = one_line_error(capsys, "train", "--plugin", f"broken_{name}", *quick_flags())
    assert err.startswith(f"gankit: error: plugin 'broken_{name}' ") and BROKEN_AT_IMPORT[name][1] in err


def test_a_module_path_whose_package_fails_to_import_is_named(capsys, tmp_path, monkeypatch):
    (tmp_path / "broken_pkg").mkdir()
    (tmp_path / "broken_pkg" / "__init__.py").write_text("raise RuntimeError('half installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    err = one_line_error(capsys, "train", "--plugin", "broken_pkg.loss", *quick_flags())
    assert err == "gankit: error: plugin 'broken_pkg.loss' failed to import: RuntimeError: half installed"


@pytest.mark.parametrize("source, message", [
    pytest.param("@hookimpl\ndef gankit_step_ned(trainer, step):\n    pass\n",
                 "is invalid: unknown hook gankit_step_ned; did you mean gankit_step_end?", id="misspelled hook"),
    pytest.param("@hookimpl\ndef gankit_los(options):\n    pass\n",
                 "is invalid: unknown hook gankit_los; did you mean gankit_loss?", id="misspelled loss hook"),
    pytest.param("@hookimpl(specname='gankit_logg')\ndef log(trainer, step, metrics):\n    pass\n",
                 "is invalid: unknown hook gankit_logg; did you mean gankit_log?", id="misspelled specname"),
    pytest.param("@hookimpl\ndef when_done(trainer):\n    pass\n",
                 "is invalid: unknown hook when_done; the hooks are gankit_constraints, gankit_critic", id="unlike any hook"),
    pytest.param("@hookimpl\ndef gankit_loss(opts):\n    pass\n",
                 "is invalid: gankit_loss takes opts, but the hook passes options", id="misspelled argument"),
    pytest.param("@hookimpl\ndef gankit_options(options):\n    return []\n",
                 "is invalid: gankit_options takes options, but the hook passes no arguments", id="argument of no hook"),
    pytest.param("GANKIT_REQUIRES = 'clip'\n\n@hookimpl\ndef gankit_step_end(trainer, step):\n    pass\n",
                 "GANKIT_REQUIRES must be a list of plugin names, got 'clip'", id="GANKIT_REQUIRES not a list"),
])
def test_a_plugin_whose_hooks_do_not_match_the_specs_is_one_line(capsys, write_plugin, source, message):
    path = write_plugin("myplug_invalid", "from gankit import hookimpl\n\n" + source)
    err = one_line_error(capsys, "train", "--plugin", "wgan_clip", "--plugin", path, *quick_flags())
    assert err.startswith(f"gankit: error: plugin '{path}'") and message in err


def test_an_optional_hook_of_another_version_is_allowed(write_plugin):
    from gankit.plugins import PluginSession

    path = write_plugin("myplug_optional", """
        from gankit import hookimpl

        @hookimpl(optionalhook=True)
        def gankit_future_hook(trainer):
            pass

        @hookimpl
        def gankit_step_end(trainer, step):
            pass
    """)
    assert PluginSession(["wgan_clip", str(path)]).selected == ["wgan_clip", str(path)]


def test_in_a_real_process_a_broken_plugin_neither_breaks_the_listing_nor_tracebacks(broken_plugins):
    env = {"PYTHONPATH": str(broken_plugins)}
    listing = run_gankit("plugins", env=env)
    assert listing.returncode == 0 and "broken_sys_exit" in listing.stdout and "Traceback" not in listing.stderr
    assert_one_line_error(run_gankit("train", "--plugin", "broken_sys_exit", env=env), "plugin 'broken_sys_exit' failed to import")
