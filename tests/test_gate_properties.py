"""Properties of the gate (tui_gen.core.gate) over everything tui-gen reads from outside: every metrics-log
field (from the event dataclasses), every checkpoint-header figure, every TUI_GEN_OVERRIDES setting
(from TrainConfig's fields) and the budget dialog's text, each fed extreme numbers, wrong types and
deep nesting. Nothing escapes but the documented error, and nothing comes back raw: a figure that is
kept is finite and in its field's range, a string is cut to its limit."""

from __future__ import annotations

import json
import math
import typing
from dataclasses import fields

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_gen.app.options import parse_overrides
from tui_gen.core import events as ev
from tui_gen.core import gate
from tui_gen.core.budget import parse_budget
from tui_gen.core.config import TrainConfig
from tui_gen.core.errors import ConfigError
from tui_gen.runs import listing as runs
from tui_gen.runs.metrics_log import EVENT_OF, decode

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON text for extreme values: what json.dumps cannot write (NaN, 4,400 digits) is written by hand.
EXTREME = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e308",
        "-1e308",
        "1e999",
        "-0.0",
        "0",
        "-1",
        "1" + "0" * 400,
        "9" * 4400,
        str(2**63),
        str(2**62),
        "1e-320",
        "true",
        "false",
        "null",
        '""',
        '"x"',
        '"' + "x" * 10_000 + '"',
        "[]",
        "{}",
        "[[[[[[[[1]]]]]]]]",
        "[" * 5000 + "]" * 5000,
        '[["a", "b"]]',
        "[" + ",".join(['["a","b"]'] * 2000) + "]",
        "3.5",
        "2",
        "0.5",
    ]
)
LOG_FIELDS = [(name, f.name) for name, cls in EVENT_OF.items() for f in fields(cls)]


def line_with(kind: str, key: str, raw: str) -> str:
    """A valid line of `kind` with `key`'s value replaced by the raw JSON text."""
    cls = EVENT_OF[kind]
    base = {"type": kind, "time": 1.0}
    for f in fields(cls):
        hint = typing.get_type_hints(cls, vars(ev))[f.name]
        base[f.name] = _example(hint)
    text = json.dumps({**base, key: "@@"})
    return text.replace('"@@"', raw)


def _example(hint):
    if hint is str:
        return "x"
    if hint is bool:
        return True
    if hint in (int, int | None):
        return 1
    if hint in (float, float | None):
        return 0.5
    if hint is ev.FinishReason:
        return "completed"
    return []


def _check_kept(event) -> None:
    """What decode keeps is finite, within its field's bounds, strings cut: nothing raw."""
    hints = typing.get_type_hints(type(event), vars(ev))
    for f in fields(event):
        limits, value = gate.bounds_of(f), getattr(event, f.name)
        for v in _leaves(value):
            if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)):
                assert math.isfinite(v) and limits.lo <= v <= limits.hi, (f.name, v)
            elif isinstance(v, str):
                assert len(v) <= limits.chars, f.name
        if isinstance(value, list):
            assert len(value) <= limits.items
        assert hints[f.name]  # every field has a type the gate checks


def _leaves(value):
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


@SETTINGS
@given(field=st.sampled_from(LOG_FIELDS), raw=EXTREME)
def test_every_log_field_with_any_value_decodes_or_is_skipped(field, raw):
    kind, key = field
    decoded = decode(line_with(kind, key, raw))
    if decoded is not None:
        event, extra = decoded
        _check_kept(event)
        assert extra["time"] is None or math.isfinite(extra["time"])


@SETTINGS
@given(
    key=st.sampled_from(
        ["step", "best_val_bpc", "corpus", "framing", "model_config", "history", "saved_at", "elapsed"]
    ),
    raw=EXTREME,
)
def test_every_header_figure_is_a_figure_or_a_problem(tmp_path_factory, key, raw):
    import struct

    run = tmp_path_factory.mktemp("run")
    meta = json.dumps({"format_version": 1, "step": 3, key: "@@"}).replace('"@@"', raw)
    header = json.dumps(
        {"model.x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": {"tui_gen": meta}}
    ).encode()
    (run / "best.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    row = runs.describe_run(run)  # never raises
    assert row.step is None or 0 <= row.step <= gate.MAX_COUNT
    assert row.best_bpc is None or (math.isfinite(row.best_bpc) and 0 <= row.best_bpc <= gate.MAX_BPC)
    for text in (row.corpus, row.model, row.framing, row.problem):
        assert text is None or ("\n" not in text and "\x1b" not in text)
    curves = runs.read_curves(run)
    for column in curves.train_points() + curves.val_points():
        assert all(math.isnan(v) or math.isfinite(v) for v in column)


@SETTINGS
@given(key=st.sampled_from([f.name for f in fields(TrainConfig)]), raw=EXTREME)
def test_every_override_is_a_configuration_or_one_config_error(key, raw):
    from tui_gen.training.setup import RunRequest, new_run_config

    try:
        settings = parse_overrides(f'{{"{key}": {raw}}}')
        cfg = new_run_config(RunRequest(settings=settings))
    except ConfigError as e:
        assert "\n" not in str(e) and len(str(e)) < 400
        return
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, float):
            assert math.isfinite(v)
        if isinstance(v, int):
            assert abs(v) < 2**63


@SETTINGS
@given(
    text=st.one_of(
        st.text(max_size=50),
        EXTREME,
        st.builds(lambda n, unit: n + unit, EXTREME, st.sampled_from(["", " steps", " minutes", "m"])),
    )
)
def test_any_budget_text_is_a_budget_or_one_config_error(text):
    try:
        budget = parse_budget(text)
    except ConfigError as e:
        assert "\n" not in str(e) and len(str(e)) < 300
        return
    assert (budget.steps is None) != (budget.minutes is None)
    assert budget.steps is None or 1 <= budget.steps <= 10**9
    assert budget.minutes is None or (math.isfinite(budget.minutes) and 0 < budget.minutes <= 60 * 24 * 365)
