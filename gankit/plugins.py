"""Plugin discovery, selection and calling, on pluggy (no torch import).

Built-in and third-party plugins are found the same way: entry points in the group
``gankit`` (``[project.entry-points.gankit]`` in a plugin package's pyproject.toml). A run
selects plugins with ``--plugin NAME``, where NAME is an entry-point name, an importable module
path, or a path to a ``.py`` file. A few built-ins are always on (data sets, optimizers, the
MLP fallback architecture, metrics log, samples, checkpoints, progress); their first-result
answers are declared fallbacks (``trylast=True``) that any selected plugin overrides.

Nothing is imported until it is needed: a broken plugin breaks only runs that select it.
Set ``GANKIT_DISABLE_PLUGIN_AUTOLOAD=1`` to ignore third-party entry points (built-ins and
plugins given by module path or file still work).
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Sequence

import pluggy

from . import hookspecs
from .errors import GankitError
from .options import DeclaredOption, Option, declare

ENTRY_POINT_GROUP = "gankit"
AUTOLOAD_ENV = "GANKIT_DISABLE_PLUGIN_AUTOLOAD"
DISTRIBUTION = "gankit"
#: Built-ins registered in every run, in this order, before the selected plugins.
ALWAYS_ON = ("datasets", "optimizers", "mlp", "metrics_log", "samples", "checkpoints", "progress", "metrics", "evaluation")

hookimpl = pluggy.HookimplMarker("gankit")


@dataclass(frozen=True)
class PluginRef:
    """Where a plugin comes from, before it is imported."""

    name: str
    kind: str  # "entry-point", "module" or "file"
    target: str  # module path, or absolute file path
    dist: str | None = None
    version: str | None = None

    @property
    def builtin(self) -> bool:
        return self.kind == "entry-point" and self.dist == DISTRIBUTION

    @property
    def source(self) -> str:
        """Human-readable origin, e.g. ``gankit 0.1.0 (built-in)``."""
        if self.kind == "entry-point":
            suffix = " (built-in)" if self.builtin else ""
            return f"{self.dist} {self.version}{suffix}"
        return f"{self.kind} {self.target}"


def autoload_enabled() -> bool:
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() in ("", "0", "false", "no")


def discover() -> dict[str, list[PluginRef]]:
    """All entry-point plugins by name (a list: two packages may claim one name). No imports."""
    found: dict[str, list[PluginRef]] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.metadata["Name"] if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        if not autoload_enabled() and dist != DISTRIBUTION:
            continue
        ref = PluginRef(ep.name, "entry-point", ep.value, dist, version)
        if ref not in found.setdefault(ep.name, []):
            found[ep.name].append(ref)
    return found


def _describe(exc: BaseException) -> str:
    """A plugin's exception as one line: its type and message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def resolve(spec: str, discovered: dict[str, list[PluginRef]]) -> PluginRef:
    """Turn a ``--plugin`` argument into a :class:`PluginRef`, or raise a one-line error."""
    if spec in discovered:
        refs = discovered[spec]
        if len(refs) > 1:
            owners = " and ".join(sorted(f"'{r.dist}'" for r in refs))
            raise GankitError(f"plugin name '{spec}' is provided by both {owners}; uninstall one")
        return refs[0]
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        try:
            path = Path(spec).expanduser().resolve()
            found = path.is_file()
        except (OSError, RuntimeError, ValueError):  # a name too long, an unknown ~user, a NUL byte
            found = False
        if not found:
            raise GankitError(f"plugin file {spec} does not exist")
        return PluginRef(str(path), "file", str(path))
    try:
        importable = importlib.util.find_spec(spec) is not None
    except (ImportError, ValueError):
        importable = False
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a parent package (a.b -> a) failed to import
        raise GankitError(f"plugin '{spec}' failed to import: {_describe(exc)}") from exc
    if importable:
        return PluginRef(spec, "module", spec)
    close = difflib.get_close_matches(spec, list(discovered), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(discovered))}"
    raise GankitError(f"unknown plugin '{spec}'{hint}")


def load(ref: PluginRef) -> ModuleType:
    """Import the plugin's module; any failure becomes one line naming the plugin and cause."""
    try:
        if ref.kind == "file":
            digest = hashlib.sha1(ref.target.encode()).hexdigest()[:10]
            module_name = f"gankit_file_plugin_{Path(ref.target).stem}_{digest}"
            if module_name in sys.modules:
                return sys.modules[module_name]
            spec = importlib.util.spec_from_file_location(module_name, ref.target)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
        else:
            module = importlib.import_module(ref.target)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin may fail in any way; isolate it
        raise GankitError(f"plugin '{ref.name}' failed to import: {_describe(exc)}") from exc
    if not implemented_hooks(module):
        raise GankitError(f"plugin '{ref.name}' implements no gankit hooks")
    return module


def requires(module: ModuleType, name: str) -> list[str]:
    """The plugin names in a module's ``GANKIT_REQUIRES``, checked."""
    required = getattr(module, "GANKIT_REQUIRES", ())
    if not isinstance(required, (list, tuple)) or not all(isinstance(r, str) for r in required):
        raise GankitError(f"plugin '{name}': GANKIT_REQUIRES must be a list of plugin names, got {required!r}")
    return list(required)


def implemented_hooks(plugin: Any) -> list[str]:
    """Names of the functions of ``plugin`` that carry the ``@gankit.hookimpl`` marker."""
    return sorted(
        name for name in dir(plugin) if hasattr(getattr(plugin, name, None), "gankit_impl")
    )


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("gankit")
    pm.add_hookspecs(hookspecs)
    return pm


def _register(pm: pluggy.PluginManager, module: ModuleType, name: str) -> None:
    """Register and validate against the specs: a misspelled hook name is an error."""
    _check_hooks(module, name)
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        if pm.has_plugin(name):
            pm.unregister(name=name)
        raise GankitError(f"plugin '{name}' is invalid: {' '.join(str(exc).split())}") from exc


def _check_hooks(module: ModuleType, name: str) -> None:
    """Each hook implementation of ``module`` names a hook and only arguments the hook has."""
    specs = {hook: function for hook, function in vars(hookspecs).items() if hasattr(function, "gankit_spec")}
    for attribute in implemented_hooks(module):
        function = getattr(module, attribute)
        opts = function.gankit_impl
        hook = opts.get("specname") or attribute
        if hook not in specs:
            if opts.get("optionalhook"):
                continue
            close = difflib.get_close_matches(hook, list(specs), n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; the hooks are {', '.join(sorted(specs))}"
            raise GankitError(f"plugin '{name}' is invalid: unknown hook {hook}{hint}")
        unknown = [arg for arg in _required_args(function) if arg not in _required_args(specs[hook])]
        if unknown:
            raise GankitError(
                f"plugin '{name}' is invalid: {hook} takes {', '.join(unknown)}, but the hook passes "
                f"{', '.join(_required_args(specs[hook])) or 'no arguments'}"
            )


def _required_args(function: Any) -> list[str]:
    """The arguments pluggy passes a hook implementation: those without a default."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = inspect.signature(function).parameters.values()
    return [p.name for p in parameters if p.kind in positional and p.default is p.empty]


@dataclass(frozen=True)
class PluginListing:
    """One row of ``gankit plugins``."""

    name: str
    source: str
    hooks: list[str]
    error: str | None
    requires: list[str] = field(default_factory=list)


def list_plugins() -> list[PluginListing]:
    """Every discovered plugin with its source and hooks; broken ones carry their error."""
    rows = []
    for name, refs in sorted(discover().items()):
        for ref in refs:
            try:
                if len(refs) > 1:
                    resolve(name, {name: refs})
                module = load(ref)
                _register(_new_manager(), module, name)
                rows.append(PluginListing(name, ref.source, implemented_hooks(module), None, requires(module, name)))
            except GankitError as exc:
                rows.append(PluginListing(name, ref.source, [], str(exc)))
    return rows


class PluginSession:
    """The plugins of one run: the always-on built-ins plus the selected ones, in order.

    Construction imports and validates every plugin, and the plugins they require (a module's
    ``GANKIT_REQUIRES`` list of plugin names), and checks that no first-result hook is
    answered by two selected plugins.
    """

    def __init__(self, selected: Sequence[str] = ()) -> None:
        discovered = discover()
        self.selected: list[str] = []
        self.refs: list[PluginRef] = []
        self.pm = _new_manager()
        pending = [(spec, False) for spec in ALWAYS_ON] + [(spec, True) for spec in selected]
        while pending:
            spec, chosen = pending.pop(0)
            ref = resolve(spec, discovered)
            if chosen and ref.name not in self.selected:
                self.selected.append(ref.name)
            if ref.name in (r.name for r in self.refs):
                continue
            module = load(ref)
            self.refs.append(ref)
            _register(self.pm, module, ref.name)
            # A recipe names the plugins it is built from (wgan_gp: the gp constraint).
            pending += [(required, False) for required in requires(module, ref.name)]
        self._check_conflicts()
        self._options: dict[str, DeclaredOption] | None = None

    @property
    def order(self) -> list[str]:
        return [ref.name for ref in self.refs]

    def _check_conflicts(self) -> None:
        for hook_name in sorted(self.pm.hook.__dict__):
            caller = getattr(self.pm.hook, hook_name)
            if caller.spec is None or not caller.spec.opts.get("firstresult"):
                continue
            answering = [impl.plugin_name for impl in caller.get_hookimpls() if not impl.trylast]
            if len(answering) > 1:
                a, b = answering[-2:]
                raise GankitError(
                    f"plugins '{a}' and '{b}' both provide {hook_name}; select only one of them"
                )

    # --- calling hooks ----------------------------------------------------------------------

    def call(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook; an exception inside a plugin becomes one line naming plugin and hook."""
        caller = getattr(self.pm.hook, hook_name)
        try:
            return caller(**kwargs)
        except (GankitError, KeyboardInterrupt):
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - attribute any plugin failure
            culprit = self._culprit(caller, exc)
            raise GankitError(
                f"plugin '{culprit}' failed in {hook_name}: {_describe(exc)}"
            ) from exc

    def first(self, hook_name: str, what: str, **kwargs: Any) -> Any:
        """Call a first-result hook; no answer is an error naming what is missing."""
        result = self.call(hook_name, **kwargs)
        if result is None:
            raise GankitError(f"no selected plugin provides {what} ({hook_name}); add one with --plugin")
        return result

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a collecting hook plugin by plugin, in session order: ``[(plugin, answer)]``."""
        caller = getattr(self.pm.hook, hook_name)
        rank = {name: i for i, name in enumerate(self.order)}
        impls = sorted(caller.get_hookimpls(), key=lambda impl: rank.get(impl.plugin_name, len(rank)))
        results = []
        for impl in impls:
            try:
                answer = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except (GankitError, KeyboardInterrupt):
                raise
            except (Exception, SystemExit) as exc:  # noqa: BLE001
                raise GankitError(
                    f"plugin '{impl.plugin_name}' failed in {hook_name}: {_describe(exc)}"
                ) from exc
            if answer is not None:
                results.append((impl.plugin_name, answer))
        return results

    @staticmethod
    def _culprit(caller: Any, exc: BaseException) -> str:
        owners = {impl.function.__code__: impl.plugin_name for impl in caller.get_hookimpls()}
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code in owners:
                return owners[tb.tb_frame.f_code]
            tb = tb.tb_next
        return "?"

    def failure(self, exc: BaseException, where: str) -> GankitError:
        """An exception raised ``where`` (e.g. inside the training step, from an object a
        plugin built) as one line naming the plugin whose file the innermost frame is in."""
        files = {getattr(module, "__file__", None): name for name, module in self.pm.list_name_plugin()}
        culprit, tb = None, exc.__traceback__
        while tb is not None:
            culprit = files.get(tb.tb_frame.f_code.co_filename, culprit)
            tb = tb.tb_next
        who = f"plugin '{culprit}' failed {where}" if culprit else f"{where} failed"
        return GankitError(f"{who}: {_describe(exc)}")

    # --- options and data sets ---------------------------------------------------------------

    def option_table(self) -> dict[str, DeclaredOption]:
        """Every option declared by the session's plugins (and the core), by name."""
        if self._options is None:
            from .config import CORE_OPTIONS

            declared: list[tuple[str, list[Option]]] = [("core", list(CORE_OPTIONS))]
            declared += [(name, list(opts)) for name, opts in self.call_each("gankit_options")]
            self._options = declare(declared)
        return self._options

    def option_defaults(self) -> list[tuple[str, dict[str, Any]]]:
        """Plugins' recommended values, as ``[(plugin, values)]`` in session order."""
        return self.call_each("gankit_option_defaults")

    def dataset_loaders(self) -> dict[str, Any]:
        """``{name: loader}`` of every named data set; two plugins naming one is an error."""
        loaders: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for plugin, answer in self.call_each("gankit_datasets"):
            for name, loader in answer.items():
                if name in loaders:
                    raise GankitError(f"data set '{name}' is provided by both '{owner[name]}' and '{plugin}'")
                loaders[name], owner[name] = loader, plugin
        return loaders


def flatten(answers: Iterable[Iterable[Any]]) -> list[Any]:
    """Concatenate the lists a collecting hook returned."""
    return [item for answer in answers for item in answer]
