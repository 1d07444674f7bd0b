"""The one gate for values from outside: every number, string and JSON document that tui-gen did not
just compute itself passes through here before anything uses it.

Outside means a metrics log, a checkpoint's header, TUI_GEN_OVERRIDES and the rest of the
environment, a flag, a dialog's text box. Any of them may hold what Python accepts and then fails
on later, far from where it came in: an integer of 400 digits (float() overflows), of 5,000 (int()
refuses it), NaN (every comparison is false: a loop that waits for progress >= 1 never ends), 1e308
(a plot's range becomes infinite), '²' ('²'.isdigit() is true, int('²') raises), a list of 100,000
pairs, JSON nested 100,000 deep. The gate turns each into a value in its range or into one error,
so no such value gets further than the reader that took it in.

Two kinds of callers:
- Text a person typed or a document as a whole (load_json, parse_int, parse_float): a value, or
  OutsideValueError saying what was wrong and what to give instead.
- A value already decoded from JSON (number, whole, text, typed): the value in its range, or None
  (typed: OutsideValueError) so that a reader can skip it and go on.

Engine code: no torch, no textual.
"""

from __future__ import annotations

import enum
import json
import math
import re
import types
import typing
from dataclasses import Field, dataclass
from datetime import datetime

MAX_BPC = 1e4  # bits/char beyond this is not a measurement (a vocabulary of 2**10000 characters)
MAX_COUNT = 1 << 62  # steps, characters, parameters, seconds: more than any run will ever reach
MAX_DIGITS = len(str(2**63))  # 19: no whole number tui-gen reads (a seed < 2**63, MAX_COUNT) is longer
MAX_NUMBER_TEXT = 64  # characters of a typed number: enough for 1.2345678901234567e-300 with spaces
MAX_TEXT = 4096  # characters kept of a string from outside unless its field says otherwise
MAX_ITEMS = 64  # items of a list from outside unless its field says otherwise
MAX_DEPTH = 64  # nesting of values checked by typed() (JSON's own limit is the recursion limit)

# A JSON object decoded from outside (load_json), its values not checked yet: whatever the document
# holds. Each reader checks a value (number, whole, text, typed, isinstance) before it uses it, or
# catches the KeyError/TypeError/ValueError of one that is not what it expects.
JsonObject: typing.TypeAlias = dict[str, typing.Any]


class OutsideValueError(ValueError):
    """A value from outside that cannot be used: its message says which and, for typed text, what to
    give instead. A ValueError, so callers that caught json's errors catch this one too."""


# ---- whole documents ---------------------------------------------------------------------------------


def _refuse_constant(name: str) -> typing.NoReturn:
    raise OutsideValueError(f"holds {name}, which is not a number tui-gen can use")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: a float too large is infinite
        raise OutsideValueError(f"holds a number too large to be finite ({text[:20]}{'…' if len(text) > 20 else ''})")
    return value + 0.0  # -0.0 is 0.0: nothing shows a minus sign for it


def _short_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise OutsideValueError(f"holds a whole number of {len(text.lstrip('-')):,} digits, more than {MAX_DIGITS}")
    return int(text)


def load_json(data: str | bytes, max_bytes: int | None = None) -> typing.Any:
    """json.loads for a document from outside: NaN, Infinity, a float too large to be finite and a
    whole number of more than MAX_DIGITS digits are refused where they stand (before int() or float()
    can fail on them later), and so is nesting too deep to parse, text that is not UTF-8 and a
    document over max_bytes. Raises OutsideValueError, and nothing else; its message follows the
    document's name ("TUI_GEN_OVERRIDES is nested too deep")."""
    if max_bytes is not None and len(data) > max_bytes:
        raise OutsideValueError(f"is {len(data):,} bytes, more than the {max_bytes:,} allowed")
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_short_int)
    except OutsideValueError:
        raise
    except json.JSONDecodeError as e:
        raise OutsideValueError(f"is not valid JSON ({e.msg})") from None
    except RecursionError:
        raise OutsideValueError("is nested too deep") from None
    except (ValueError, TypeError):  # not UTF-8 (UnicodeDecodeError), not text at all
        raise OutsideValueError("is not JSON text") from None


# ---- typed text --------------------------------------------------------------------------------------

# ASCII digits only: str.isdigit() and int() also take '²', '٣' and other Unicode digits.
_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:19] + "…")


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"from {lo:,} to {hi:,}"
    return f"at least {lo:,}" if lo is not None else f"at most {hi:,}"


def parse_int(text: str, lo: int | None = None, hi: int | None = None, what: str = "a whole number") -> int:
    """A whole number typed as ASCII digits (an optional sign), in [lo, hi] when they are given.
    The length is checked before int() sees it. Raises OutsideValueError naming `what`."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not _WHOLE.fullmatch(stripped):
        raise OutsideValueError(f"{what} must be a whole number like 2000 (digits 0-9), not {_shown(str(text))}")
    if len(stripped.lstrip("+-")) > MAX_DIGITS:
        raise OutsideValueError(
            f"{what} must be a whole number of at most {MAX_DIGITS} digits, not {len(stripped.lstrip('+-')):,} digits"
        )
    value = int(stripped)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise OutsideValueError(f"{what} must be {_range(lo, hi)}, not {value:,}")
    return value


def parse_float(text: str, lo: float | None = None, hi: float | None = None, what: str = "a number") -> float:
    """A finite decimal number typed in ASCII (1, 0.5, 3e-3), in [lo, hi] when they are given; nan
    and inf are refused. Raises OutsideValueError naming `what`."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not _DECIMAL.fullmatch(stripped):
        raise OutsideValueError(f"{what} must be a finite number like 0.5 or 3e-3, not {_shown(str(text))}")
    if len(stripped) > MAX_NUMBER_TEXT:  # float() would take it, or overflow to inf: no number is this long
        raise OutsideValueError(
            f"{what} must be a number of at most {MAX_NUMBER_TEXT} characters, not {len(stripped):,}"
        )
    value = float(stripped) + 0.0
    if not math.isfinite(value):  # 1e999
        raise OutsideValueError(f"{what} must be a finite number, not {_shown(stripped)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise OutsideValueError(f"{what} must be {_range(lo, hi)}, not {value:g}")
    return value


# ---- decoded values ----------------------------------------------------------------------------------


def number(value: object, lo: float = 0.0, hi: float = MAX_COUNT) -> float | None:
    """A JSON number (int or float, never a bool) that is finite and in [lo, hi], as a float; else None.
    The range is checked before float() (an int of 400 digits compares fine, but overflows float())."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not lo <= value <= hi:  # NaN fails this too
        return None
    return float(value) + 0.0


def whole(value: object, lo: int = 0, hi: int = MAX_COUNT) -> int | None:
    """A JSON integer (never a bool, never a float) in [lo, hi]; else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


def bpc(value: object) -> float | None:
    """A bits/char figure from outside (a header's best_val_bpc, a log's): 0 to MAX_BPC, else None."""
    return number(value, 0.0, MAX_BPC)


def text(value: object, limit: int = MAX_TEXT) -> str | None:
    """A string, cut to `limit` characters (the last one "…" when cut); else None. Not made safe to
    show: that is tui_gen.core.textsafe's, where it is shown."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= limit else value[: limit - 1] + "…"


MAX_STAMP = 40  # characters of a date and time from outside: an ISO timestamp with its zone is 24


def stamp(value: object, fmt: str) -> str | None:
    """A date and time exactly as strftime(fmt) writes it, else None (strptime alone is lenient: it takes
    "2026-1-2T3:4:5Z" for "%Y-%m-%dT%H:%M:%S%z"). Fit to show, never to sort by: a file may forge any date."""
    if not isinstance(value, str) or len(value) > MAX_STAMP:
        return None
    try:
        exact = datetime.strptime(value, fmt).strftime(fmt) == value
    except ValueError:
        return None
    return value if exact else None


# ---- what a field may hold -------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """What a value from outside may be, for each part of a field's type: numbers in [lo, hi], at most
    `items` items in a list, strings cut to `chars` characters."""

    lo: float = 0
    hi: float = MAX_COUNT
    items: int = MAX_ITEMS
    chars: int = MAX_TEXT


DEFAULT = Bounds()
_KEY = "tui_gen.core.gate"


def bounds(**limits: typing.Any) -> dict[str, Bounds]:
    """Field metadata for a dataclass field read from outside: `x: float = field(metadata=bounds(hi=1))`.
    A field without it gets DEFAULT: no field read from outside is ever unbounded."""
    return {_KEY: Bounds(**limits)}


def bounds_of(f: Field[typing.Any]) -> Bounds:
    found: Bounds = f.metadata.get(_KEY, DEFAULT)
    return found


def typed(value: object, hint: object, limits: Bounds = DEFAULT, _depth: int = 0) -> typing.Any:
    """A decoded JSON value as the annotation `hint` asks for it (int, float, str, bool, X | None,
    list[...], tuple[...], an Enum), within `limits`: floats as floats, tuples as tuples, strings cut,
    enums as members. Raises OutsideValueError if it does not fit."""
    if _depth > MAX_DEPTH:
        raise OutsideValueError("nested too deep")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return typed(value, option, limits, _depth + 1)
            except OutsideValueError:
                pass
        raise OutsideValueError(f"{_kind(value)} is none of {hint}")
    got = _MISSING
    if hint is type(None):
        got = value if value is None else _MISSING
    elif hint is bool:
        got = value if isinstance(value, bool) else _MISSING
    elif hint is int:
        got = whole(value, int(limits.lo), int(limits.hi))
    elif hint is float:
        got = number(value, limits.lo, limits.hi)
    elif hint is str:
        got = text(value, limits.chars)
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
        got = next((m for m in hint if isinstance(value, str) and m.value == value), _MISSING)
    elif origin is list and isinstance(value, list) and len(value) <= limits.items:
        (item,) = typing.get_args(hint)
        return [typed(v, item, limits, _depth + 1) for v in value]
    elif origin is tuple and isinstance(value, list) and len(value) == len(typing.get_args(hint)):
        return tuple(typed(v, h, limits, _depth + 1) for v, h in zip(value, typing.get_args(hint), strict=False))
    if got is _MISSING or (got is None and hint is not type(None)):
        raise OutsideValueError(f"{_kind(value)} does not fit {getattr(hint, '__name__', hint)} within {limits}")
    return got


_MISSING = object()


def _kind(value: object) -> str:
    """A value's kind for a message: never the value itself (it may be huge, or anything)."""
    if isinstance(value, (list, dict, str)):
        return f"a {type(value).__name__} of {len(value):,}"
    return f"a {type(value).__name__}"
