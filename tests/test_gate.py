"""The gate for values from outside (tui_gen.core.gate): whole documents, typed text, decoded values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import pytest

from tui_gen.core import gate
from tui_gen.core.gate import OutsideValueError

# ---- load_json -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, says",
    [
        ('{"x": NaN}', "NaN"),
        ('{"x": Infinity}', "Infinity"),
        ('{"x": -Infinity}', "Infinity"),
        ('{"x": 1e999}', "too large"),
        ('{"x": -1e999}', "too large"),
        ('{"x": 1' + "0" * 400 + "}", "401 digits"),
        ('{"x": ' + "9" * 4400 + "}", "4,400 digits"),
        ('{"x": ' + "9" * 5000 + "}", "5,000 digits"),
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        ("{nope", "not valid JSON"),
        (b"\xff\xfe{", "JSON"),
        (b"\x00\xff garbage", "JSON"),
        (None, "not JSON text"),
    ],
)
def test_load_json_refuses_what_would_fail_later(doc, says):
    with pytest.raises(OutsideValueError, match=says):
        gate.load_json(doc)


def test_load_json_reads_ordinary_documents_and_the_largest_counts():
    doc = f'{{"a": [1, 2.5, -0.0, null, true, "x"], "seed": {2**63 - 1}, "neg": -{2**62}}}'
    assert gate.load_json(doc) == {"a": [1, 2.5, 0.0, None, True, "x"], "seed": 2**63 - 1, "neg": -(2**62)}
    assert math.copysign(1, gate.load_json("[-0.0]")[0]) == 1  # -0.0 is read as 0.0
    assert gate.load_json(b'{"x": 1e308}') == {"x": 1e308}  # finite: ranges are the reader's (number())


def test_load_json_max_bytes():
    with pytest.raises(OutsideValueError, match="more than the 10"):
        gate.load_json("[" + "1," * 10 + "1]", max_bytes=10)


# ---- typed text ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("0", 0), (" 19 ", 19), ("+3", 3), ("-3", -3), (str(2**63 - 1), 2**63 - 1)])
def test_parse_int_reads_ascii_whole_numbers(text, value):
    assert gate.parse_int(text) == value


@pytest.mark.parametrize(
    "text, says",
    [
        ("²", "digits 0-9"),
        ("٣", "digits 0-9"),
        ("1.5", "digits 0-9"),
        ("", "digits 0-9"),
        ("1e3", "digits 0-9"),
        ("9" * 20, "at most 19 digits"),
        ("9" * 4400, "4,400 digits"),
        ("9" * 100_000, "100,000 digits"),
    ],
)
def test_parse_int_refuses_with_what_to_type(text, says):
    with pytest.raises(OutsideValueError, match=says) as e:
        gate.parse_int(text, 0, 19, "the priority")
    assert str(e.value).startswith("the priority must be") and len(str(e.value)) < 200


def test_parse_int_range():
    with pytest.raises(OutsideValueError, match="from 0 to 19, not 20"):
        gate.parse_int("20", 0, 19)
    with pytest.raises(OutsideValueError, match="at least 1, not 0"):
        gate.parse_int("0", 1)


@pytest.mark.parametrize(
    "text, value",
    [
        ("1", 1.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("3.", 3.0),
        ("3e-3", 3e-3),
        ("-0.0", 0.0),
        ("1E+2", 100.0),
        ("1e308", 1e308),
    ],
)
def test_parse_float_reads_decimal_numbers(text, value):
    assert gate.parse_float(text) == value


@pytest.mark.parametrize(
    "text, says",
    [
        ("nan", "finite number like"),
        ("inf", "finite number like"),
        ("-Infinity", "finite number like"),
        ("1e999", "finite number, not"),
        ("²", "finite number like"),
        ("1,5", "finite number like"),
        ("9" * 400, "at most 64 characters"),
        ("9" * 4400, "at most 64 characters"),
        ("0x10", "finite number like"),
    ],
)
def test_parse_float_refuses_with_what_to_type(text, says):
    with pytest.raises(OutsideValueError, match=says):
        gate.parse_float(text, 0, 100, "the temperature")


def test_parse_float_range():
    with pytest.raises(OutsideValueError, match="from 0 to 1, not 2"):
        gate.parse_float("2", 0, 1)


# ---- decoded values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        "1",
        [1],
        {},
        math.nan,
        math.inf,
        -math.inf,
        10**400,
        -(10**400),
        1e308,
        -1.0,
        gate.MAX_COUNT + 1,
    ],
)
def test_number_and_whole_refuse_what_is_not_a_figure_in_range(value):
    assert gate.number(value) is None and gate.whole(value) is None


def test_number_and_whole_keep_figures_in_range():
    assert gate.number(3) == 3.0 and isinstance(gate.number(3), float)
    assert gate.number(-0.0) == 0.0 and math.copysign(1, gate.number(-0.0)) == 1
    assert gate.number(1e4, hi=gate.MAX_BPC) == 1e4 and gate.number(1e4 + 1, hi=gate.MAX_BPC) is None
    assert gate.number(-1, lo=-2) == -1.0
    assert gate.whole(gate.MAX_COUNT) == gate.MAX_COUNT and gate.whole(2.0) is None


def test_text_is_cut_not_refused():
    assert gate.text("abc") == "abc" and gate.text(3) is None and gate.text(None) is None
    assert gate.text("x" * 10, 5) == "xxxx…"


# ---- typed ------------------------------------------------------------------------------------------


class Colour(Enum):
    RED = "red"


@dataclass
class Record:
    n: int
    share: float | None = field(default=None, metadata=gate.bounds(hi=1.0))
    pairs: list[tuple[str, str]] = field(default_factory=list, metadata=gate.bounds(items=2, chars=4))
    colour: Colour = Colour.RED


def test_typed_by_a_fields_bounds():
    from dataclasses import fields

    f = {x.name: x for x in fields(Record)}
    hint = {"n": int, "share": float | None, "pairs": list[tuple[str, str]], "colour": Colour}
    assert gate.typed(5, hint["n"], gate.bounds_of(f["n"])) == 5
    assert gate.typed(None, hint["share"], gate.bounds_of(f["share"])) is None
    assert gate.typed(1, hint["share"], gate.bounds_of(f["share"])) == 1.0
    assert gate.typed([["ab", "abcdef"]], hint["pairs"], gate.bounds_of(f["pairs"])) == [("ab", "abc…")]
    assert gate.typed("red", hint["colour"]) is Colour.RED
    for value, name in [
        (-1, "n"),
        (True, "n"),
        (1.5, "share"),
        (math.nan, "share"),
        ([["a", "b"]] * 3, "pairs"),
        ([["a"]], "pairs"),
        ([["a", 1]], "pairs"),
        ("blue", "colour"),
        (None, "n"),
    ]:
        with pytest.raises(OutsideValueError):
            gate.typed(value, hint[name], gate.bounds_of(f[name]))


def test_a_field_without_bounds_is_bounded_all_the_same():
    assert gate.bounds_of(field()) == gate.DEFAULT
    with pytest.raises(OutsideValueError):
        gate.typed(list(range(gate.MAX_ITEMS + 1)), list[int])
    assert len(gate.typed("x" * 10**6, str)) == gate.MAX_TEXT


def test_typed_messages_never_hold_the_value():
    with pytest.raises(OutsideValueError) as e:
        gate.typed("secret" * 1000, int)
    assert "secret" not in str(e.value)
