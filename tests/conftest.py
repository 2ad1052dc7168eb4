"""Shared helpers: running the CLI, writing plugin files and fake installed distributions."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = REPO / "docs" / "examples" / "gankit_hinge" / "gankit_hinge.py"
#: Options that keep a test run small, quiet and on the CPU.
QUICK = {"data": "ring8", "steps": 6, "log_every": 2, "progress": "off", "device": "cpu"}


def quick_flags(**overrides: object) -> list[str]:
    """``QUICK`` as command-line flags."""
    flags = []
    for name, value in {**QUICK, **overrides}.items():
        flags += ["--" + name.replace("_", "-"), str(value)]
    return flags


def run_gankit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300):
    """Run ``python -m gankit ARGS`` in a subprocess, as a user would."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("GANKIT_TRACEBACK", None)
    return subprocess.run(
        [sys.executable, "-m", "gankit", *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, one line on stderr starting 'gankit: error:', no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gankit: error: "), lines[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def write_plugin(tmp_path: Path):
    """Write a plugin module ``NAME.py`` into a folder; returns its path."""

    def write(name: str, source: str) -> Path:
        path = tmp_path / "plugin_src" / f"{name}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    return write


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a fake third-party distribution with gankit entry points onto ``sys.path``.

    ``fake_dist("acme", {"ep_name": "module_name"}, {"module_name": source})`` returns the
    folder (also usable as PYTHONPATH for subprocesses).
    """

    def install(dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
        site = tmp_path / f"site_{dist}"
        info = site / f"{dist}-1.2.3.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[gankit]\n{lines}")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(site))
        return site

    return install


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Every test runs in its own folder (a default ``runs/`` lands there), starts with
    autoloading on, and forgets the plugin modules it imported."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GANKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("gankit_file_plugin_", "acme", "broken", "gankit_hinge", "myplug")):
            del sys.modules[name]


@pytest.fixture
def resolves(monkeypatch):
    """Check that a documented ``gankit train ...`` command parses and its options resolve,
    without starting the run."""
    import shlex

    from gankit import api, cli
    from gankit.config import resolve_config
    from gankit.plugins import PluginSession

    class Resolved(Exception):
        pass

    def resolve_only(plugins, options, **_):
        resolve_config(PluginSession(plugins), None, options)
        raise Resolved

    monkeypatch.setattr(api, "train", resolve_only)

    def check(command: str) -> None:
        with pytest.raises(Resolved):
            cli.main(shlex.split(command)[1:])

    return check
