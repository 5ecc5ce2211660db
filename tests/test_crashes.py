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
