"""The documentation stays true: every hook is in the reference, and CI runs the README."""
import re

from conftest import REPO
from gankit import hookspecs


def test_every_hook_is_in_the_hook_reference():
    reference = (REPO / "docs" / "hooks.md").read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("gankit_")]
    assert len(hooks) >= 12
    missing = [name for name in hooks if f"### {name}\n" not in reference]
    assert not missing, f"hooks missing from docs/hooks.md: {missing}"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^(pip install .+)$", readme, flags=re.MULTILINE)
    assert len(commands) == 2 and "gankit train --plugin wgan_clip" in commands[0]
    assert commands[1] in (REPO / ".ci" / "run").read_text().splitlines()


def test_the_guide_shows_the_example_plugin_as_it_is():
    guide = (REPO / "docs" / "plugins.md").read_text()
    source = (REPO / "docs" / "examples" / "gankit_hinge" / "gankit_hinge.py").read_text()
    body = source[source.index("from gankit import"):].strip()
    assert body in guide


INFRASTRUCTURE = {"datasets", "optimizers", "metrics_log", "samples", "checkpoints", "progress", "metrics", "evaluation"}


def test_every_shipped_variant_plugin_has_a_section_in_variants_md():
    from gankit.plugins import discover

    variants = (REPO / "docs" / "variants.md").read_text()
    shipped = {name for name, refs in discover().items() if refs[0].builtin} - INFRASTRUCTURE
    assert len(shipped) >= 30
    missing = sorted(name for name in shipped if f"### {name}\n" not in variants)
    assert not missing, f"plugins without a section in docs/variants.md: {missing}"


def test_every_command_in_variants_md_resolves(resolves):
    """Each example command parses and its options resolve (the run itself is not started)."""
    commands = re.findall(r"^    (gankit train .+)$", (REPO / "docs" / "variants.md").read_text(), flags=re.MULTILINE)
    assert len(commands) >= 34
    for command in commands:
        resolves(command)
