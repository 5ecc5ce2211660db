"""Inputs a careless edit can produce end in a located error, never a Python traceback.

The classes the fuzzing of issue 11 found; each case is a few lines of spec.
"""

from __future__ import annotations

import pytest

import qpurun
from conftest import with_preamble
from qpurun.language.errors import QxError


@pytest.mark.parametrize(
    ("line", "kind", "message"),
    [
        ("let x = " + "9" * 5000, "type error", "this number is too large"),
        ("let x = " + "9" * 5000 + ".5", "type error", "this number is too large"),
        ("let x = " + "-" * 3000 + "1", "syntax error", "this expression is nested too deeply"),
        ("let x = 2.0 ** 5000", "type error", "this number is too large to compute"),
        ("let x = linspace(0, 1, 2.5)", "type error", "`linspace` needs a whole number of points"),
        ("let x = 1e308 * 10", "type error", "this number is too large to compute"),
        ("let x = [1e308, 1] * 10", "type error", "this number is too large to compute"),
        ("let x = ２００", "syntax error", "unexpected character `２`"),
        # Found by tests/test_fuzz.py and bench/fuzz.py (issue 11):
        ("let x = [" + "9" * 400 + "]", "type error", "this number is too large"),
        ("let x = " + "[" * 400 + "1" + "]" * 400, "syntax error", "nested more than 100 levels deep"),
        ("let x = " + "sqrt(" * 400 + "2" + ")" * 400, "syntax error", "nested more than 100 levels deep"),
        ("var x: float[" + "9" * 4301 + "]", "type error", "is too large here"),
        ("let x = 10 ** 10 ** 8", "type error", "this number is too large to compute"),
        ("let x = floor((0 - 1) ** 0.5)", "type error", "this is not a real number"),
        (
            "waveform w = kaiser(max = 0.05, area = pi)",
            "device error",
            "`kaiser(max = ..., area = ...)` would last about",
        ),
        ("waveform w = blackman(max = 1e-9, area = pi)", "device error", "`blackman(max = ..., area = ...)` would"),
    ],
)
def test_a_crash_class_is_a_located_error(line: str, kind: str, message: str) -> None:
    text = with_preamble(line + "\nsequence {\n  measure ground-rydberg\n}\nruns 10\n")
    with pytest.raises(QxError) as caught:
        qpurun.loads(text, validate=False)
    (error,) = caught.value.errors
    assert (error.kind, error.line) == (kind, 5)
    assert message in error.message


def test_more_runs_than_any_batch_takes_is_a_located_error() -> None:
    text = with_preamble("sequence {\n  measure ground-rydberg\n}\nruns 100000000000000000000000\n")
    with pytest.raises(QxError) as caught:
        qpurun.loads(text, validate=False)
    (error,) = caught.value.errors
    assert (error.kind, error.line) == ("type error", 8)
    assert "1e+23 runs is more than any batch takes (at most 10,000,000)" in error.message


def test_whole_numbers_past_int64_are_floats_not_a_crash() -> None:
    """`[10 ** 19]` and `linspace(10 ** 20, 1, 2)` once overflowed numpy's int64 (fuzzing, issue 11)."""
    text = with_preamble(
        "let a = [10 ** 19]\nlet b = linspace(10 ** 20, 1, 2)\nsequence {\n  measure ground-rydberg\n}\nruns 10\n"
    )
    experiment = qpurun.loads(text, validate=False)
    assert experiment.checked.values.keys() >= {"a", "b"}


def test_an_array_variable_larger_than_any_sweep_is_refused() -> None:
    text = with_preamble(
        "var x: float[999999999]\nsequence {\n  measure ground-rydberg\n}\nruns 10\njobs {\n  x = [1]\n}\n"
    )
    with pytest.raises(QxError) as caught:
        qpurun.loads(text, validate=False)
    assert any(
        e.line == 5 and "an array variable of 999,999,999 entries (at most 100,000)" in e.message
        for e in caught.value.errors
    )
