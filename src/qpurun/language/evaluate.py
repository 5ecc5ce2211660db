"""The one evaluator: an expression and its environment give a number, an array or a symbolic value.

Symbolic values are Pulser's variables and the expressions built on them;
the evaluator never imports Pulser, it applies Python's operators and numpy's
ufuncs, which Pulser's parametrized objects implement. What only the bridge
knows comes in as callbacks: a device or channel property (`attribute`) and
the Pulser object a waveform or pulse call makes (`construct`).

Every error about the spec's values (a division by zero, an index outside a
list, a time that is not whole ns) is raised here, located. The checker folds
constants with an evaluator that stops (`NotConstant`) at anything it cannot
know before the device is loaded; the lowering and the job expansion use one
that knows everything.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

import numpy as np

from qpurun.language import ast
from qpurun.language.catalog import MATH, UNITS, Dimension, Signature, signatures, waveform_duration_from_max
from qpurun.language.errors import QxDeviceError, QxTypeError, QxUnitError, Span
from qpurun.language.types import bind

MAX_VALUES = 100_000
"""More values than any batch could run (a sweep, a `linspace`): refused before they are made."""
MAX_WAVEFORM_NS = 10_000_000
"""Pulser samples a waveform once per ns: a longer one would not fit in memory."""
MAX_TRAPS = 10_000
"""More traps than any layout holds; Pulser would try to place them all."""

_BINARY: dict[ast.BinaryOperator, Callable[[Any, Any], Any]] = {
    ast.BinaryOperator.ADD: operator.add,
    ast.BinaryOperator.SUB: operator.sub,
    ast.BinaryOperator.MUL: operator.mul,
    ast.BinaryOperator.DIV: operator.truediv,
    ast.BinaryOperator.MOD: operator.mod,
    ast.BinaryOperator.POW: operator.pow,
}

_LIST_OF_VARIABLES = (
    "Pulser cannot compute with a list of variables; declare an array variable (`var xs: float[3]`) "
    "and compute with it, or compute inside the list"
)

Values = Mapping[str, ast.Let | ast.WaveformDecl | ast.PulseDecl]


class NotConstant(Exception):
    """Raised by a folding evaluator at a value it cannot know yet (a variable, a device property, a waveform)."""


def _never_symbolic(value: Any) -> bool:
    return False


@dataclass
class Evaluator:
    """Evaluates the expressions of one spec.

    `variables` holds what each declared variable stands for: one job's value,
    or Pulser's variable for a parametrized sequence. A declared variable
    missing from it cannot be used where a fixed number is needed. With `fold`,
    anything not known without the device raises `NotConstant` instead.
    """

    values: Values
    declared: Mapping[str, ast.VarDecl] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    attribute: Callable[[ast.Attribute], Any] | None = None
    construct: Callable[[ast.Call, str, dict[str, Any]], Any] | None = None
    """Builds the Pulser waveform or pulse of a call from its evaluated arguments."""
    is_symbolic: Callable[[Any], bool] = _never_symbolic
    fold: bool = False
    scales: Mapping[int, float] = field(default_factory=dict)
    """The checker's unit factors for products and quotients of two dimensions (`Checked.scales`)."""
    cache: dict[str, Any] = field(default_factory=dict)

    # ---- slots

    def constant(self, expr: ast.Expr) -> Any:
        """A value that may not depend on a variable (coordinates, weights, sweeps)."""
        value = self.value(expr)
        if self.is_symbolic(value) or (isinstance(value, list) and any(self.is_symbolic(v) for v in value)):
            raise QxTypeError("this value cannot depend on a variable", expr.span, hint="use a number here")
        return value

    def duration(self, expr: ast.Expr) -> Any:
        """A time slot: a computed `1 us / 3` is an error, not a duration Pulser rounds."""
        value = self.value(expr)
        return value if self.is_symbolic(value) else sampled_ns(value, expr.span)

    def point(self, point: ast.Point, unit: ast.Unit | None) -> tuple[float, ...]:
        scale = UNITS[unit].scale if unit is not None else 1
        return tuple(float(self.constant(c)) * scale for c in point.coordinates)

    def arguments(self, arguments: tuple[ast.Argument, ...]) -> dict[Any, Any]:
        """Call arguments as {None: [positional...], name: value}, evaluated."""
        result: dict[Any, Any] = {}
        for argument in arguments:
            value = self.constant(argument.value)
            # Layouts and generated registers: a count this large would not fit in memory.
            if (
                isinstance(value, int | float | np.number)
                and "spacing" not in (argument.name.name if argument.name else "")
                and abs(float(value)) > MAX_TRAPS
            ):
                raise QxDeviceError(
                    f"{value:g} is too many for a layout or a register (at most {MAX_TRAPS})",
                    argument.value.span,
                )
            if argument.name is None:
                result.setdefault(None, []).append(value)
            else:
                result[argument.name.name] = value
        return result

    def bound(self, signature: Signature, arguments: tuple[ast.Argument, ...]) -> dict[str, Any]:
        """The arguments bound to the signature's parameters, each evaluated."""
        bound = bind(signature, arguments)
        return {k: [self.value(x) for x in v] if isinstance(v, list) else self.value(v) for k, v in bound.items()}

    # ---- expressions

    def value_of(self, name: str) -> Any:
        """The value of a `let`, `waveform` or `pulse`, evaluated once."""
        if name not in self.cache:
            self.cache[name] = self.value(self.values[name].value)
        return self.cache[name]

    def value(self, expr: ast.Expr) -> Any:
        match expr:
            case ast.Number():
                return expr.value
            case ast.Name():
                return self.name(expr)
            case ast.Quantity():
                return self.quantity(expr)
            case ast.BinaryOp():
                return self.binary(expr)
            case ast.UnaryOp():
                operand = self.value(expr.operand)
                operand = _array(operand) if isinstance(operand, list) else operand
                if isinstance(operand, list):
                    raise QxTypeError("cannot negate a list that holds a variable", expr.span, hint=_LIST_OF_VARIABLES)
                return -operand if expr.op is ast.UnaryOperator.NEG else operand
            case ast.Index():
                return self.index(expr)
            case ast.Attribute():
                if self.attribute is None:
                    raise NotConstant
                return self.attribute(expr)
            case ast.ListExpr():
                items = [self.value(item) for item in expr.items]
                if all(isinstance(i, int | float | np.integer | np.floating) for i in items):
                    if all(isinstance(i, int | np.integer) and abs(int(i)) < 2**63 for i in items):
                        return np.asarray(items, dtype=int)
                    try:  # a whole number past int64 is held as a float, as a literal is
                        array = np.asarray([float(i) for i in items], dtype=float)
                    except OverflowError:
                        array = np.asarray([np.inf])
                    if not np.all(np.isfinite(array)):
                        raise QxTypeError("this number is too large to compute", expr.span)
                    return array
                return items
            case ast.Call():
                return self.call(expr)
            case _:
                assert_never(expr)

    def name(self, expr: ast.Name) -> Any:
        if expr.id == "pi":
            return math.pi
        if expr.id in self.declared:
            if expr.id not in self.variables:
                if self.fold:
                    raise NotConstant
                raise QxTypeError(
                    f"`{expr.id}` is a variable, but this value must be a fixed number",
                    expr.span,
                    hint="use a number, or a `let` of numbers, here",
                )
            return self.variables[expr.id]
        return self.value_of(expr.id)

    def binary(self, expr: ast.BinaryOp) -> Any:
        left, right = self.value(expr.left), self.value(expr.right)
        if isinstance(left, list) or isinstance(right, list):
            left, right = _array(left), _array(right)
        if isinstance(left, list) or isinstance(right, list):  # Python would repeat a list times an int
            raise QxTypeError(
                f"cannot compute `{expr.op.value}` on a list that holds a variable", expr.span, hint=_LIST_OF_VARIABLES
            )
        if expr.op is ast.BinaryOperator.POW and _power_too_large(left, right):
            raise QxTypeError("this number is too large to compute", expr.span)
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                result = _BINARY[expr.op](left, right)
                scale = self.scales.get(id(expr))
                result = result if scale is None else result * scale
            if isinstance(result, complex):
                raise QxTypeError(
                    "this is not a real number", expr.span, hint="a negative number to a fractional power is complex"
                )
            if not self.is_symbolic(result) and not _finite(result):
                raise OverflowError
            return result
        except ZeroDivisionError:
            raise QxTypeError("division by zero", expr.span) from None
        except OverflowError:
            raise QxTypeError("this number is too large to compute", expr.span) from None
        except ValueError as error:  # lists of different lengths
            if isinstance(left, np.ndarray) and isinstance(right, np.ndarray) and left.shape != right.shape:
                raise QxTypeError(
                    f"cannot combine a list of {left.size} values with a list of {right.size}", expr.span
                ) from None
            raise QxTypeError(str(error), expr.span) from None

    def index(self, expr: ast.Index) -> Any:
        container = self.value(expr.value)
        index = self.value(expr.index)
        if not self.is_symbolic(container):
            if self.is_symbolic(index):
                raise QxTypeError(
                    "only an array variable can be indexed by a variable; this list is fixed",
                    expr.index.span,
                    hint="declare the list as an array variable (`var xs: float[2]`) and give it in the jobs",
                )
            if isinstance(index, float) and index.is_integer():
                index = int(index)
            if not isinstance(index, int | np.integer):
                raise QxTypeError(f"an index must be a whole number, not {index}", expr.index.span)
            if not -len(container) <= index < len(container):
                raise QxTypeError(f"index {index} is outside a list of {len(container)}", expr.index.span)
        return container[index]

    def quantity(self, expr: ast.Quantity) -> Any:
        value = self.value(expr.value)
        entry = UNITS[expr.unit]
        if isinstance(value, list):
            value = _array(value)
        scaled = value * entry.scale
        if entry.dimension is Dimension.TIME and not self.is_symbolic(scaled):
            return whole_ns(scaled, expr.span)
        return scaled

    def call(self, expr: ast.Call) -> Any:
        name = expr.function.name
        bound = bind(signatures()[name], expr.arguments)
        args = {k: [self.value(x) for x in v] if isinstance(v, list) else self.value(v) for k, v in bound.items()}
        if name in MATH:
            return MATH[name].function()(_array(args["x"]) if isinstance(args["x"], list) else args["x"])
        if name == "linspace":
            count: Any = args["num"]
            if not float(count).is_integer() or count < 1:
                raise QxTypeError("`linspace` needs a whole number of points (at least 1)", expr.span)
            if count > MAX_VALUES:
                raise QxTypeError(f"`linspace` of {count:g} points; at most {MAX_VALUES} are allowed", expr.span)
            try:
                start, stop = float(args["start"]), float(args["stop"])  # type: ignore[arg-type]
                return np.linspace(start, stop, int(count))
            except (OverflowError, TypeError):
                raise QxTypeError("`linspace` takes fixed numbers, of at most 1e308", expr.span) from None
        if self.construct is None:
            raise NotConstant
        if "duration" in args and not self.is_symbolic(args["duration"]):
            args["duration"] = sampled_ns(args["duration"], bound["duration"].span)  # type: ignore[union-attr]
        if "max" in args and not any(self.is_symbolic(args.get(k)) for k in ("max", "area", "beta")):
            self.check_from_max(name, args, expr.span)
        return self.construct(expr, name, args)

    def check_from_max(self, name: str, args: Mapping[str, Any], span: Span | None) -> None:
        """`blackman(max = m, area = a)`: Pulser derives the duration; refuse one it could not sample
        (or, for Kaiser, not find) before asking it."""
        try:
            estimate = waveform_duration_from_max(name, args)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return  # Pulser's own refusal (a zero or mismatched `max`) is located where the call is lowered
        limit = MAX_SEARCHED_NS if name == "kaiser" else MAX_WAVEFORM_NS
        if estimate is not None and estimate > limit:
            raise QxDeviceError(
                f"`{name}(max = ..., area = ...)` would last about {estimate:,.0f} ns (at most {limit:,} ns here)",
                span,
                hint=f"raise `max`, or write the duration: `{name}(T, area = ...)`",
            )


def _power_too_large(base: Any, exponent: Any) -> bool:
    """Whether `base ** exponent` of whole numbers would pass a float's range: Python would compute
    `10 ** 10 ** 8` exactly, for minutes, before anything could refuse it."""
    if not isinstance(base, int | np.integer) or not isinstance(exponent, int | np.integer):
        return False
    return abs(int(base)) > 1 and int(exponent) * math.log2(abs(int(base))) > 1024


def _finite(value: Any) -> bool:
    """Whether a computed number (or every number of an array) is finite: `1e308 * 10` is not."""
    try:
        return bool(np.all(np.isfinite(value)))
    except TypeError:  # a list holding Pulser variables
        return True


MAX_SEARCHED_NS = 50_000
"""Pulser finds a Kaiser window's duration from `max =` one ns at a time, each step sampling the
whole window: past this, that search takes seconds, then minutes."""


def _array(value: Any) -> Any:
    if isinstance(value, list):
        try:
            return np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return value
    return value


def whole_ns(value: Any, span: Span | None) -> Any:
    """A time in ns as Pulser wants it: an int, or an error if it is not whole."""
    array = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(array)):
        raise QxUnitError("this time is not a finite number of ns", span, hint="a number this large overflows")
    rounded = np.round(array)
    off = np.abs(array - rounded) > 1e-6 * np.maximum(1, np.abs(array))
    if np.any(off):
        raise QxUnitError(
            f"{array[off].flat[0]:g} ns is not a whole number of ns", span, hint="Pulser durations are integers in ns"
        )
    if array.ndim == 0:
        return int(rounded)
    return rounded.astype(int)


def sampled_ns(value: Any, span: Span | None) -> Any:
    """A duration Pulser will sample once per ns: whole, and short enough to hold in memory."""
    duration = whole_ns(value, span)
    if np.any(np.asarray(duration) > MAX_WAVEFORM_NS):
        raise QxDeviceError(
            f"{np.max(duration)} ns is too long to sample (at most {MAX_WAVEFORM_NS} ns)",
            span,
            hint="Pulser keeps one sample per ns; no device runs a pulse this long",
        )
    return duration
