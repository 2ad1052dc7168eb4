"""The ``gankit`` command: a thin layer over :mod:`gankit.api` and :mod:`gankit.plugins`.

Every user error is one line on stderr (``gankit: error: ...``) and exit status 2. Set
``GANKIT_TRACEBACK=1`` to see the full traceback instead. ``--help`` and ``gankit plugins``
never import torch.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn, Sequence

from . import __version__
from .errors import GankitError, GankitWarning

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line raised as :class:`GankitError`, and no flag
    abbreviations (``--clip-valu`` must not silently mean ``--clip-value``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise GankitError(f"{self.prog}: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gankit`` command with ``argv``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return _dispatch(argv)
    except SystemExit as exc:  # argparse's --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except (GankitError, OSError) as exc:  # OSError: a path the system refuses, e.g. --out under a file
        if os.environ.get("GANKIT_TRACEBACK"):
            raise
        print(f"gankit: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, whatever a plugin said
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """gankit's own warnings as one line, like its errors; others as Python shows them."""
    if issubclass(category, GankitWarning):
        print(f"gankit: warning: {message}", file=sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def _dispatch(argv: list[str]) -> int:
    parser = _Parser(prog="gankit", description="A plugin-based GAN training toolkit.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("train", help="train a GAN (gankit train --plugin wgan_clip)", add_help=False)
    commands.add_parser("plugins", help="list the installed plugins and their hooks", add_help=False)
    commands.add_parser("sample", help="write samples from a checkpoint", add_help=False)
    commands.add_parser("eval", help="compute evaluation metrics of a checkpoint, with real-vs-real baselines", add_help=False)
    commands.add_parser("build-ext", help="compile the C++ and CUDA optimizer extensions now, and report", add_help=False)
    handlers = {"train": cmd_train, "plugins": cmd_plugins, "sample": cmd_sample, "eval": cmd_eval, "build-ext": cmd_build_ext}
    if not argv or argv[0] not in handlers:
        parser.parse_args(argv or ["--help"])
        return 0
    return handlers[argv[0]](argv[1:])


# --- gankit train --------------------------------------------------------------------------


def _base_train_parser(add_help: bool) -> _Parser:
    parser = _Parser(
        prog="gankit train",
        add_help=add_help,
        description="Train a GAN. Plugins add options; list them with --plugin NAME --help.",
    )
    parser.add_argument("--plugin", action="append", default=[], metavar="NAME",
                        help="a plugin to use: a name, a module path or a .py file (repeatable)")
    parser.add_argument("--config", metavar="TOML", help="read plugins and [options] from a TOML file")
    parser.add_argument("--out", metavar="DIR", help="run directory (default: runs/<plugins>-<data>)")
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint")
    return parser


def cmd_train(argv: list[str]) -> int:
    from .config import read_config_file, resolve_config
    from .plugins import PluginSession

    early, _ = _base_train_parser(add_help=False).parse_known_args(argv)
    if early.resume:
        return _resume(argv)
    file_plugins, file_options = read_config_file(early.config) if early.config else ([], {})
    session = PluginSession([*file_plugins, *early.plugin])
    table = session.option_table()
    shown = resolve_config(session, file_options, file_name=str(early.config)).options  # defaults for --help

    parser = _base_train_parser(add_help=True)
    groups: dict[str, Any] = {}
    for name, entry in table.items():
        group = groups.get(entry.plugin) or groups.setdefault(
            entry.plugin, parser.add_argument_group(f"options of {entry.plugin}")
        )
        _add_option_flag(group, entry.option, shown[name], session if name == "data" else None)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        raise _unknown_flag_error(unknown[0], parser)
    cli_options = {name: getattr(args, name) for name in table if hasattr(args, name)}

    from . import api

    trainer = api.train(
        early.plugin, cli_options, out=args.out or api.AUTO_RUN_DIR,
        config_file=early.config, overwrite=args.overwrite,
    )
    return _report(trainer)


def _add_option_flag(group: Any, option: Any, default: Any, session: Any) -> None:
    help_text = f"{option.help} (default: {default})"
    if session is not None:
        help_text += f"; named sets: {', '.join(sorted(session.dataset_loaders()))}"
    if option.type is bool:
        group.add_argument(option.flag, dest=option.name, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=help_text)
    else:
        metavar = "{" + ",".join(map(str, option.choices)) + "}" if option.choices else option.type.__name__.upper()
        group.add_argument(option.flag, dest=option.name, default=argparse.SUPPRESS, metavar=metavar, help=help_text)


def _unknown_flag_error(arg: str, parser: argparse.ArgumentParser) -> GankitError:
    flag = arg.split("=", 1)[0]
    if not flag.startswith("-"):
        return GankitError(f"gankit train: unexpected argument {arg!r}")
    known = [s for action in parser._actions for s in action.option_strings]
    close = difflib.get_close_matches(flag, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see gankit train --plugin NAME --help"
    return GankitError(f"gankit train: unknown option {flag}{hint}")


def _resume(argv: list[str]) -> int:
    parser = _Parser(prog="gankit train", add_help=True)
    parser.add_argument("--resume", metavar="DIR", required=True)
    parser.add_argument("--steps", metavar="INT", help="train up to this many steps in all")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        raise GankitError(
            f"gankit train: --resume continues a run with its own settings; only --steps may be given (got {unknown[0]})"
        )
    from . import api
    from .config import CORE_OPTIONS

    steps = next(o for o in CORE_OPTIONS if o.name == "steps").convert(args.steps) if args.steps else None
    return _report(api.resume(args.resume, steps=steps))


def _report(trainer: Any) -> int:
    from .distributed import leave

    leave()  # under torchrun: every process is done with the group
    run = trainer.run_dir
    minutes, seconds = divmod(int(trainer.elapsed), 60)
    stopped = trainer.step < trainer.options["steps"]
    if not trainer.is_main:
        return EXIT_INTERRUPTED if stopped else 0
    if stopped:
        print(f"stopped at step {trainer.step}; checkpoint saved in {run}; continue with: gankit train --resume {run}")
        return EXIT_INTERRUPTED
    print(f"done: {trainer.step} steps in {minutes}m{seconds:02d}s; run directory {run} "
          f"(config.toml, metrics.jsonl, samples/latest.png, checkpoint.pt, checkpoints/)")
    return 0


# --- gankit plugins ------------------------------------------------------------------------


def cmd_plugins(argv: list[str]) -> int:
    parser = _Parser(prog="gankit plugins", description="List the installed plugins and the hooks they implement.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from .plugins import list_plugins

    rows = list_plugins()
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="gankit plugins", title_justify="left")
    for column in ("name", "source", "hooks"):
        table.add_column(column)
    for row in rows:
        hooks = ", ".join(h.removeprefix("gankit_") for h in row.hooks)
        hooks += f" (requires {', '.join(row.requires)})" if row.requires else ""
        # a plugin's error may contain [brackets], which rich would take for markup
        table.add_row(escape(row.name), escape(row.source), f"[red]error: {escape(row.error)}[/red]" if row.error else hooks)
    Console().print(table)
    return 0


# --- gankit sample -------------------------------------------------------------------------


def cmd_sample(argv: list[str]) -> int:
    parser = _Parser(prog="gankit sample", description="Write samples from a checkpoint's generator.")
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="a checkpoint.pt or a run directory")
    parser.add_argument("-n", type=int, default=64, help="number of samples (default: 64)")
    parser.add_argument("--out", required=True, metavar="FILE", help="a .png (grid or scatter plot) or .npy file")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    args = parser.parse_args(argv)
    from . import api

    path = api.sample(Path(args.checkpoint), n=args.n, out=args.out, seed=args.seed)
    print(f"wrote {args.n} samples to {path}")
    return 0


# --- gankit eval ---------------------------------------------------------------------------


def _default_eval_file(checkpoint: Path) -> Path:
    """``eval.json`` in the run directory for its ``checkpoint.pt``; ``eval-best.json``,
    ``eval-step-0001000.json``, ... there for the checkpoints in ``checkpoints/``."""
    from .checkpoint import FILENAME, HISTORY

    if checkpoint.name == FILENAME:
        return checkpoint.parent / "eval.json"
    run = checkpoint.parent.parent if checkpoint.parent.name == HISTORY else checkpoint.parent
    return run / f"eval-{checkpoint.stem}.json"


def cmd_eval(argv: list[str]) -> int:
    parser = _Parser(prog="gankit eval", description="Evaluate a checkpoint's generator against held-out real data; "
                     "every value comes with the same metric between two real sets of the same size.")
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="a checkpoint.pt or a run directory")
    parser.add_argument("--metrics", metavar="NAME,...", help="metrics to compute (default: all that apply to the run's "
                        "data; a wrong name lists them)")
    parser.add_argument("-n", type=int, default=2500, help="samples a set (default: 2500; on digits at most 599, its held-out thirds)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and of the real draws (default: 0)")
    parser.add_argument("--features", metavar="PATH", help="a TorchScript module mapping samples to (features, logits) or "
                        "features, e.g. Inception, for the feature metrics (default: the built-in digits classifier)")
    parser.add_argument("--json", metavar="FILE", help="where to write the results (default: eval.json in the run directory)")
    args = parser.parse_args(argv)
    from . import api
    from .metrics import BASELINE, flat, parse_names

    from .checkpoint import write_text_atomic

    result = api.evaluate(args.checkpoint, parse_names(args.metrics), n=args.n, seed=args.seed, features=args.features)
    out = Path(args.json) if args.json else _default_eval_file(Path(result["checkpoint"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(result, indent=2) + "\n")

    from rich.console import Console
    from rich.table import Table

    print(f"{result['data']}, step {result['step']}: {result['n']} generated samples (seed {result['seed']}) against "
          f"{result['n']} held-out real ones; real vs real: the same metric between two held-out real sets")
    table = Table()
    for column in ("metric", "value", "real vs real"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    values = flat(result["metrics"])
    for key, value in values.items():
        if not key.endswith(BASELINE):
            table.add_row(key, f"{value:.4g}", f"{values[key + BASELINE]:.4g}")
    Console().print(table)
    print(f"wrote {out}")
    return 0


# --- gankit build-ext ----------------------------------------------------------------------


def cmd_build_ext(argv: list[str]) -> int:
    _Parser(prog="gankit build-ext", description="Compile the C++ and CUDA optimizer extensions ahead of use.").parse_args(argv)
    from .optim.extension import load_cpp, load_cuda

    failed = 0
    for backend, load in (("cpp", load_cpp), ("cuda", load_cuda)):
        try:
            module = load()
        except RuntimeError as exc:
            print(f"{backend}: not built: {exc}")
            failed += backend == "cpp" or "CUDA is not available" not in str(exc)
        else:
            print(f"{backend}: built ({module.__file__})")
    return 1 if failed else 0
