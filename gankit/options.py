"""Plugin options: declaration, parsing and validation (no torch import).

Each plugin declares its options with :class:`Option` through the ``gankit_options`` hook.
Values come from, in increasing precedence: the declared default, plugins' recommended
defaults (``gankit_option_defaults``, in plugin order), a TOML config file, the command line.
Every value passes through :meth:`Option.convert`, so a bad value gets the same one-line
error wherever it came from.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import GankitError

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Option:
    """One typed, documented option with a default.

    ``choices`` restricts the allowed values; ``gt``/``ge``/``lt``/``le`` bound numbers.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def __post_init__(self) -> None:
        if self.type not in _TYPE_NAMES:
            raise TypeError(f"option {self.name!r}: type must be one of bool, int, float, str")
        if not self.name.isidentifier():
            raise TypeError(f"option {self.name!r}: name must be a Python identifier")

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``clip_value`` -> ``--clip-value``."""
        return "--" + self.name.replace("_", "-")

    def allowed(self) -> str:
        """What values are allowed, in words, for error messages and help."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        text = _TYPE_NAMES[self.type]
        if self.gt is not None:
            text += f" > {self._show(self.gt)}"
        if self.ge is not None:
            text += f" >= {self._show(self.ge)}"
        lower = self.gt is not None or self.ge is not None
        for bound, sign in ((self.lt, "<"), (self.le, "<=")):
            if bound is not None:
                text += f" and {sign} {self._show(bound)}" if lower else f" {sign} {self._show(bound)}"
        return text

    def _show(self, bound: float) -> str:
        """A bound as written: every digit for integers (2**32 - 1 is 4294967295, not 4.29e+09)."""
        return str(int(bound)) if self.type is int else f"{bound:g}"

    def convert(self, value: Any) -> Any:
        """Return ``value`` as this option's type, or raise a one-line :class:`GankitError`."""
        converted = self._coerce(value)
        if converted is None or not self._in_range(converted):
            raise GankitError(f"option {self.name}: expected {self.allowed()}, got {value!r}")
        return converted

    def _coerce(self, value: Any) -> Any:
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            return None
        if isinstance(value, bool):  # bool is an int subclass; never accept it as a number
            return None
        if self.type is int:
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                try:
                    return int(value.strip())
                except ValueError:
                    return None
            return None
        if self.type is float:
            if isinstance(value, (int, float)):
                result = float(value)
            elif isinstance(value, str):
                try:
                    result = float(value.strip())
                except ValueError:
                    return None
            else:
                return None
            return result if result == result and abs(result) != float("inf") else None
        return value if isinstance(value, str) else None

    def _in_range(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        if self.gt is not None and not value > self.gt:
            return False
        if self.ge is not None and not value >= self.ge:
            return False
        if self.lt is not None and not value < self.lt:
            return False
        if self.le is not None and not value <= self.le:
            return False
        return True


@dataclass(frozen=True)
class DeclaredOption:
    """An option together with the plugin that declared it."""

    option: Option
    plugin: str


def declare(declarations: list[tuple[str, list[Option]]]) -> dict[str, DeclaredOption]:
    """Merge ``(plugin, options)`` declarations; the same name from two plugins is an error."""
    table: dict[str, DeclaredOption] = {}
    for plugin, options in declarations:
        for option in options:
            if not isinstance(option, Option):
                raise GankitError(
                    f"plugin '{plugin}' declared an option that is not a gankit.Option: {option!r}"
                )
            if option.name in table:
                other = table[option.name].plugin
                raise GankitError(
                    f"option {option.name} is declared by both '{other}' and '{plugin}'"
                )
            table[option.name] = DeclaredOption(option, plugin)
    for entry in table.values():
        entry.option.convert(entry.option.default)  # a plugin's own default must be valid
    return table


def unknown_option_error(name: str, table: Mapping[str, DeclaredOption], where: str) -> GankitError:
    """The error for an option nobody declared, with the close matches."""
    close = difflib.get_close_matches(name, list(table), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return GankitError(f"unknown option {name} {where}{hint}")


def resolve(
    table: Mapping[str, DeclaredOption],
    layers: list[tuple[str, Mapping[str, Any]]],
) -> dict[str, Any]:
    """Resolve every declared option: defaults, then each ``(source, values)`` layer in order.

    ``source`` names where a layer came from (``"from plugin 'wgan_clip'"``, ``"in run.toml"``)
    for the error raised on an option nobody declared.
    """
    values = {name: entry.option.default for name, entry in table.items()}
    for source, layer in layers:
        for name, value in layer.items():
            if name not in table:
                raise unknown_option_error(name, table, source)
            values[name] = table[name].option.convert(value)
    return values
