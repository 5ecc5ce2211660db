"""JSON values to expressions a person would write: a literal in its slot's unit, `pi / 2` for a phase.

Numbers in Pulser's JSON are in Pulser's units; a literal gets the unit of its
slot (`100 ns`, `2.5 rad/us`, `5 um`), and a phase stays bare in rad, written
with `pi` when it is exactly a simple fraction of it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from qpurun.bridge.importer import QxImportError
from qpurun.language import ast
from qpurun.language.catalog import PULSER_UNIT, Dimension

WRITTEN_UNIT = {d: PULSER_UNIT[d] for d in (Dimension.TIME, Dimension.FREQUENCY, Dimension.DISTANCE)}
"""The unit a literal of each dimension is written in; angles are bare (rad), fields never written."""


def pi_form(value: float, unit: ast.Unit | None) -> ast.Expr | None:
    """`p * pi / q` (the unit on `pi`) when it evaluates to exactly `value`."""
    if value == 0 or not math.isfinite(value):
        return None
    magnitude = abs(value)
    ratio = magnitude / math.pi
    for q in range(1, 13):
        p = round(ratio * q)
        if p < 1 or p > 100 or math.gcd(p, q) != 1:
            continue
        if (p * math.pi) / q != magnitude:  # the lowering's own order of operations
            continue
        # The sign goes on the first factor (`-3 * pi / 4`, `-pi / 2`): IEEE products
        # and quotients are symmetric in sign, so the value is still exact.
        sign = 1 if value > 0 else -1
        form: ast.Expr = ast.Name("pi") if unit is None else ast.Quantity(ast.Name("pi"), unit)
        if p != 1:
            form = ast.BinaryOp(ast.BinaryOperator.MUL, ast.Number(sign * p), form)
        elif sign < 0:
            form = ast.UnaryOp(ast.UnaryOperator.NEG, form)
        if q != 1:
            form = ast.BinaryOp(ast.BinaryOperator.DIV, form, ast.Number(q))
        return form
    return None


def literal(value: int | float, dimension: Dimension | None) -> ast.Expr:
    """A number in the unit of its slot: `100 ns`, `-2.5 rad/us`, `pi / 2`, `0`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QxImportError(f"expected a number, found {value!r}")
    unit = WRITTEN_UNIT.get(dimension) if dimension is not None else None
    if isinstance(value, float) and dimension is not Dimension.TIME and not value.is_integer():
        pi = pi_form(value, unit)
        if pi is not None:
            return pi
    if value == 0:
        return ast.Number(0)
    if unit is None:
        return ast.Number(value)
    quantity = ast.Quantity(ast.Number(abs(value)), unit)
    return quantity if value > 0 else ast.UnaryOp(ast.UnaryOperator.NEG, quantity)


def coordinate(value: float) -> ast.Number:
    """Coordinates are floats for Pulser either way: `5` reads better than `5.0`."""
    if isinstance(value, float) and value.is_integer():
        return ast.Number(int(value))
    return ast.Number(value)


def key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=lambda o: o.name)


def has_variable(value: Any) -> bool:
    if isinstance(value, dict):
        return "variable" in value or any(has_variable(v) for v in value.values())
    if isinstance(value, list):
        return any(has_variable(v) for v in value)
    return False
