"""Options: typed conversion, bounds, layering and the one-line errors."""
import pytest

from gankit import GankitError, Option
from gankit.options import declare, resolve


def test_convert_types_from_strings_and_values():
    assert Option("n", int, 1, "").convert("7") == 7
    assert Option("n", int, 1, "").convert(3.0) == 3
    assert Option("lr", float, 0.1, "").convert("5e-5") == 5e-5
    assert Option("lr", float, 0.1, "").convert(2) == 2.0
    assert Option("flag", bool, False, "").convert("yes") is True
    assert Option("flag", bool, False, "").convert("off") is False
    assert Option("mode", str, "a", "", choices=("a", "b")).convert("b") == "b"


@pytest.mark.parametrize(
    "option, value, message",
    [
        (Option("n_critic", int, 1, "", ge=1), "0", "option n_critic: expected an integer >= 1, got '0'"),
        (Option("n_critic", int, 1, "", ge=1), "abc", "expected an integer >= 1"),
        (Option("n_critic", int, 1, "", ge=1), 2.5, "expected an integer"),
        (Option("n_critic", int, 1, "", ge=1), True, "expected an integer"),
        (Option("lr", float, 1.0, "", gt=0), "-1e-4", "option lr: expected a number > 0"),
        (Option("lr", float, 1.0, "", gt=0), "nan", "expected a number > 0"),
        (Option("lr", float, 1.0, "", gt=0), "inf", "expected a number > 0"),
        (Option("beta", float, 0.5, "", ge=0, lt=1), 1.0, "expected a number >= 0 and < 1"),
        (Option("mode", str, "a", "", choices=("a", "b")), "c", "expected one of a, b, got 'c'"),
        (Option("flag", bool, False, ""), "maybe", "expected a boolean"),
    ],
)
def test_bad_values_name_the_option_and_what_is_allowed(option, value, message):
    with pytest.raises(GankitError, match=".*") as info:
        option.convert(value)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_flag_spelling():
    assert Option("clip_value", float, 0.01, "").flag == "--clip-value"


def test_same_option_from_two_plugins_is_an_error():
    with pytest.raises(GankitError, match="option lr is declared by both 'a' and 'b'"):
        declare([("a", [Option("lr", float, 1.0, "")]), ("b", [Option("lr", float, 2.0, "")])])


def test_invalid_default_of_a_plugin_is_caught():
    with pytest.raises(GankitError, match="option n: expected an integer >= 1"):
        declare([("a", [Option("n", int, 0, "", ge=1)])])


def test_layers_apply_in_order_and_unknown_names_get_suggestions():
    table = declare([("core", [Option("n_critic", int, 1, "", ge=1), Option("steps", int, 10, "", ge=1)])])
    values = resolve(table, [("from plugin", {"n_critic": 5}), ("given", {"n_critic": "3"})])
    assert values == {"n_critic": 3, "steps": 10}
    with pytest.raises(GankitError, match=r"unknown option n_critc in run.toml \(did you mean n_critic\?\)"):
        resolve(table, [("in run.toml", {"n_critc": 2})])
