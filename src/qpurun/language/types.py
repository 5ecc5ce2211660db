"""Expression typing: what an expression is (number, list, waveform, pulse) and its dimension.

The checker asks it of every slot; `bind` matches call arguments to a
catalog signature as Python would. Every problem is reported through
`report`, located, and typing goes on, so one check shows them all.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import assert_never

from qpurun.language import ast
from qpurun.language.catalog import (
    CHANNEL_PROPERTIES,
    DEVICE_PROPERTIES,
    MATH,
    UNITS,
    UNSERIALIZABLE,
    VALUE,
    Dimension,
    Kind,
    Signature,
    combine,
    describe,
    signatures,
)
from qpurun.language.errors import QxError, QxNameError, QxTypeError, QxUnitError, Span
from qpurun.language.visitor import walk


@dataclass(frozen=True)
class Type:
    """What an expression is, and its dimension when a unit fixed one.

    `dimension` None means "a bare number": Pulser's own unit, fits any slot.
    """

    kind: Kind
    dimension: Dimension | None = None


NUMBER = Type(Kind.NUMBER)


def _did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def bind(signature: Signature, arguments: tuple[ast.Argument, ...]) -> dict[str, ast.Expr | list[ast.Expr]]:
    """Match call arguments to parameters, as Python would; errors are located.

    A variadic parameter gets the list of its positional arguments.
    """
    bound: dict[str, ast.Expr | list[ast.Expr]] = {}
    params = signature.params
    positional = [a for a in arguments if a.name is None]
    keyword = [a for a in arguments if a.name is not None]
    if params and params[0].variadic:
        bound[params[0].name] = [a.value for a in positional]
    else:
        ordered = [p for p in params if p.positional]
        if len(positional) > len(ordered):
            extra = positional[len(ordered)]
            raise QxTypeError(
                f"`{signature.name}` takes at most {len(ordered)} positional arguments",
                extra.span,
                hint=f"write it as {signature.doc}",
            )
        for param, argument in zip(ordered, positional, strict=False):
            bound[param.name] = argument.value
    names = {p.name for p in params}
    for argument in keyword:
        assert argument.name is not None
        name = argument.name.name
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"write it as {signature.doc}"
            if signature.name == "interpolated" and name == "interpolator":
                hint = "only PCHIP interpolation, the default, can be serialized by Pulser"
            raise QxNameError(f"`{signature.name}` has no argument `{name}`", argument.span, hint=hint)
        if name in bound:
            raise QxTypeError(f"`{name}` is given twice", argument.span)
        bound[name] = argument.value
    return bound


class ExpressionTypes:
    """Types the expressions of one spec, given its declarations (filled in by the checker)."""

    def __init__(
        self,
        report: Callable[[QxError], None],
        *,
        variables: Mapping[str, ast.VarDecl],
        values: Mapping[str, ast.Let | ast.WaveformDecl | ast.PulseDecl],
        channels: Mapping[str, ast.Channel],
    ) -> None:
        self.error = report
        self.variables = variables
        self.values = values
        self.channels = channels
        self.cache: dict[str, Type] = {}
        self.resolving: list[str] = []
        self.cyclic: set[str] = set()
        self.variable_dimensions: dict[str, Dimension] = {}
        """The dimension of each variable: its sweep values' unit, or the slot it fills straight."""
        self.swept: dict[str, Dimension] = {}
        """The dimension of the values a sweep or the jobs give each variable, when they carry a unit."""
        self.uses: dict[str, list[tuple[Dimension, Span | None, str]]] = {}
        """Where each variable fills a slot straight (`t`, `2 * t`), and the dimension that slot takes."""
        self.scales: dict[int, float] = {}
        """By node id: the factor a product or quotient of two dimensions needs, from Pulser's
        numbers to Pulser's unit for its result (`2 rad / 100 ns`: 1000, into rad/us)."""
        self.typed: dict[int, tuple[ast.Expr, Type | None]] = {}
        """Each expression typed once: a slot and its declaration both ask (`abs(abs(...))` would double)."""

    def expect(self, expr: ast.Expr, wanted: Type, what: str, *, lists: bool = False) -> Type | None:
        """Type `expr` and report it if it does not fit a slot taking `wanted`.

        A list fits a number slot only where `lists` says so (the items of a
        list, which may be rows for an array variable); elsewhere Pulser would
        refuse it with numpy's words, or take it silently.
        """
        found = self.type_of(expr)
        if found is None:
            return None
        kinds_ok = found.kind is wanted.kind or (lists and wanted.kind is Kind.NUMBER and found.kind is Kind.ARRAY)
        if not kinds_ok:
            self.error(QxTypeError(f"{what} takes {wanted.kind.value}, but this is {found.kind.value}", expr.span))
            return None
        self.check_dimension(expr, found, wanted.dimension, what)
        return found

    def check_dimension(self, expr: ast.Expr, found: Type, wanted: Dimension | None, what: str) -> None:
        if wanted is None:
            return
        straight = [name for name in _bare_variables(expr) if name in self.variables]
        for name in straight:
            self.uses.setdefault(name, []).append((wanted, expr.span, what))
        if found.dimension is None:
            return
        if straight and found.dimension is self.swept.get(straight[0]):
            return  # the sweep's unit against its uses: `check_variables` says it once
        if found.dimension is not wanted:
            declaration = self.values.get(expr.id) if isinstance(expr, ast.Name) else None
            if (
                isinstance(expr, ast.Name)
                and isinstance(declaration, ast.Let)
                and declaration.value.span is not None
                and expr.span is not None
            ):
                # The unit was written in the `let`: that is the line to fix.
                self.error(
                    QxUnitError(
                        f"`{expr.id}` is {found.dimension.value}, but line {expr.span.line} uses it "
                        f"where {what} takes {describe(wanted)}",
                        declaration.value.span,
                        hint=f"write it in {describe(wanted).split('(')[1].rstrip(')')}, "
                        "or use another value on that line",
                    )
                )
                return
            self.error(
                QxUnitError(
                    f"{what} takes {describe(wanted)}, but this is {found.dimension.value}",
                    expr.span,
                    hint=f"write it in {describe(wanted).split('(')[1].rstrip(')')}",
                )
            )

    def type_of_value(self, name: str, span: Span | None) -> Type | None:
        if name in self.cache:
            return self.cache[name]
        if name in self.resolving:
            members = self.resolving[self.resolving.index(name) :]
            if name in self.cyclic:
                return None  # this cycle is reported already, from another of its names
            self.cyclic.update(members)
            cycle = " -> ".join([*members, name])
            self.error(QxNameError(f"`{name}` is defined in terms of itself ({cycle})", self.values[name].span))
            return None
        declaration = self.values[name]
        self.resolving.append(name)
        try:
            found = self.type_of(declaration.value)
        finally:
            self.resolving.pop()
        if found is not None:
            wanted = {ast.WaveformDecl: Kind.WAVEFORM, ast.PulseDecl: Kind.PULSE}.get(type(declaration))
            if wanted is not None and found.kind is not wanted:
                keyword = "waveform" if wanted is Kind.WAVEFORM else "pulse"
                self.error(
                    QxTypeError(
                        f"`{keyword} {name}` must be {wanted.value}, but this is {found.kind.value}",
                        declaration.value.span,
                        hint="use `let` for a number",
                    )
                )
                found = None
        if found is not None:
            self.cache[name] = found
        return found

    def check_variables(self) -> None:
        """Give each variable one dimension: its sweep's unit, or the slots it fills.

        A variable filling a time here and a frequency there is one mistake,
        reported at both places.
        """
        for name, uses in self.uses.items():
            first: dict[Dimension, tuple[Span | None, str]] = {}
            for wanted, span, what in uses:
                first.setdefault(wanted, (span, what))
            if len(first) == 1:
                (dimension,) = first
                self.variable_dimensions.setdefault(name, dimension)
                continue
            for dimension, (span, what) in first.items():
                elsewhere = [
                    f"{describe(d).split(' (')[0]} ({w}) on line {s.line if s else '?'}"
                    for d, (s, w) in first.items()
                    if d is not dimension
                ]
                self.error(
                    QxUnitError(
                        f"`{name}` fills {what} here, which takes {describe(dimension)}, "
                        f"but also {' and '.join(elsewhere)}",
                        span,
                        hint="a variable has one unit: declare one variable for each quantity",
                    )
                )
        for name, dimension in self.swept.items():
            self.variable_dimensions.setdefault(name, dimension)

    def type_of(self, expr: ast.Expr) -> Type | None:
        """The type of `expr`, or None after reporting why it has none."""
        known = self.typed.get(id(expr))
        if known is not None and known[0] is expr:
            return known[1]
        found = self._type_of(expr)
        self.typed[id(expr)] = (expr, found)
        return found

    def _type_of(self, expr: ast.Expr) -> Type | None:
        match expr:
            case ast.Number():
                if not math.isfinite(expr.value):
                    self.error(QxTypeError("this number is too large", expr.span, hint="numbers are 64-bit floats"))
                    return None
                return NUMBER
            case ast.Name():
                return self.type_of_name(expr)
            case ast.Quantity():
                inner = self.type_of(expr.value)
                if inner is None:
                    return None
                if inner.kind not in (Kind.NUMBER, Kind.ARRAY):
                    self.error(QxTypeError(f"a unit applies to numbers, not to {inner.kind.value}", expr.span))
                    return None
                if inner.dimension is not None:
                    self.error(
                        QxUnitError(
                            f"this already has a unit ({inner.dimension.value})",
                            expr.span,
                            hint="write one unit per value",
                        )
                    )
                dimension = UNITS[expr.unit].dimension
                if dimension is Dimension.TIME and isinstance(expr.value, ast.Number):
                    nanoseconds = expr.value.value * UNITS[expr.unit].scale
                    if math.isfinite(nanoseconds) and abs(nanoseconds - round(nanoseconds)) > 1e-6:
                        self.error(
                            QxUnitError(
                                f"{expr.value.value} {expr.unit.value} is not a whole number of ns"
                                + ("" if expr.unit is ast.Unit.NS else f" ({nanoseconds:g} ns)"),
                                expr.span,
                                hint="Pulser durations are integers in ns",
                            )
                        )
                return Type(inner.kind, dimension)
            case ast.BinaryOp():
                return self.type_of_binary(expr)
            case ast.UnaryOp():
                operand = self.type_of(expr.operand)
                if operand is not None and operand.kind not in (Kind.NUMBER, Kind.ARRAY):
                    self.error(QxTypeError(f"cannot negate {operand.kind.value}", expr.span))
                    return None
                return operand
            case ast.Call():
                return self.type_of_call(expr)
            case ast.Index():
                value = self.type_of(expr.value)
                self.expect(expr.index, NUMBER, "an index")
                if value is None:
                    return None
                if value.kind is not Kind.ARRAY:
                    self.error(QxTypeError(f"only a list can be indexed, this is {value.kind.value}", expr.value.span))
                    return None
                return Type(Kind.NUMBER, value.dimension)
            case ast.Attribute():
                return self.type_of_attribute(expr)
            case ast.ListExpr():
                dimensions = set()
                for item in expr.items:
                    found = self.expect(item, NUMBER, "a list", lists=True)
                    if found is not None and found.dimension is not None:
                        dimensions.add(found.dimension)
                if len(dimensions) > 1:
                    self.error(QxUnitError("the values of a list have different dimensions", expr.span))
                return Type(Kind.ARRAY, dimensions.pop() if len(dimensions) == 1 else None)
            case _:
                assert_never(expr)

    def type_of_name(self, expr: ast.Name) -> Type | None:
        name = expr.id
        if name == "pi":
            return NUMBER
        if name in self.variables:
            declaration = self.variables[name]
            return Type(Kind.ARRAY if declaration.size is not None else Kind.NUMBER, self.swept.get(name))
        if name in self.values:
            return self.type_of_value(name, expr.span)
        functions = signatures()
        if name in functions:
            self.error(QxTypeError(f"`{name}` is a function; call it: {functions[name].doc}", expr.span))
            return None
        if name == "device" or name in self.channels:
            self.error(QxTypeError(f"`{name}` is not a number; read a property, e.g. `{name}.max_amp`", expr.span))
            return None
        candidates = {*self.variables, *self.values, "pi"}
        self.error(
            QxNameError(
                f"unknown name `{name}`",
                expr.span,
                hint=_did_you_mean(name, candidates) or "declare it with `var`, `let`, `waveform` or `pulse`",
            )
        )
        return None

    def type_of_binary(self, expr: ast.BinaryOp) -> Type | None:
        left = self.type_of(expr.left)
        right = self.type_of(expr.right)
        if left is None or right is None:
            return None
        for side, found in ((expr.left, left), (expr.right, right)):
            if found.kind not in (Kind.NUMBER, Kind.ARRAY):
                self.error(QxTypeError(f"`{expr.op.value}` works on numbers, not on {found.kind.value}", side.span))
                return None
        kind = Kind.ARRAY if Kind.ARRAY in (left.kind, right.kind) else Kind.NUMBER
        op = expr.op
        if op in (ast.BinaryOperator.ADD, ast.BinaryOperator.SUB, ast.BinaryOperator.MOD):
            if left.dimension and right.dimension and left.dimension is not right.dimension:
                self.error(
                    QxUnitError(
                        f"cannot combine {left.dimension.value} and {right.dimension.value} with `{op.value}`",
                        expr.span,
                    )
                )
                return None
            return Type(kind, left.dimension or right.dimension)
        if op in (ast.BinaryOperator.MUL, ast.BinaryOperator.DIV):
            multiply = op is ast.BinaryOperator.MUL
            if right.dimension is None or (left.dimension is None and self.has_bare_variable(expr.left)):
                # `t / 1 us` with `t` swept in bare numbers: Pulser's units already, as before.
                return Type(kind, left.dimension if multiply or right.dimension is None else None)
            combined = combine(multiply, left.dimension, right.dimension)
            if combined is None:
                self.error(
                    QxUnitError(
                        f"`{op.value}` of {_named(left.dimension)} and {_named(right.dimension)} "
                        "gives a unit no slot takes",
                        expr.span,
                        hint="divide a value by its unit to make it a bare number, e.g. `(t / 1 us)`",
                    )
                )
                return None
            dimension, scale = combined
            if scale != 1:
                self.scales[id(expr)] = scale
            return Type(kind, dimension)
        if right.dimension is not None:
            self.error(QxUnitError("an exponent must be a bare number", expr.right.span))
            return None
        if left.dimension is not None:
            self.error(
                QxUnitError(
                    f"a power of {left.dimension.value} gives a unit no slot takes",
                    expr.left.span,
                    hint="divide it by its unit first, e.g. `(t / 1 us) ** 2`",
                )
            )
            return None
        return Type(kind)

    def has_bare_variable(self, expr: ast.Expr) -> bool:
        """Whether a variable without a unit (swept in bare numbers) appears in `expr`."""
        return any(isinstance(n, ast.Name) and n.id in self.variables and n.id not in self.swept for n in walk(expr))

    def type_of_attribute(self, expr: ast.Attribute) -> Type | None:
        owner = expr.value
        if isinstance(owner, ast.Name) and owner.id == "device":
            table, what = DEVICE_PROPERTIES, "the device"
        elif isinstance(owner, ast.Name) and owner.id in self.channels:
            table, what = CHANNEL_PROPERTIES, f"channel `{owner.id}`"
        else:
            self.error(
                QxTypeError(
                    "only `device` and declared channels have properties",
                    owner.span,
                    hint="e.g. `device.max_runs` or `ryd.max_amp`",
                )
            )
            return None
        prop = expr.name.name
        if prop not in table:
            hint = _did_you_mean(prop, table)
            if what == "the device" and prop in CHANNEL_PROPERTIES:
                hint = f"`{prop}` is a channel property: write e.g. `ryd.{prop}`"
            self.error(
                QxNameError(
                    f"{what} has no property `{prop}`",
                    expr.span,
                    hint=hint or "known properties: " + ", ".join(sorted(table)),
                )
            )
            return None
        return Type(Kind.NUMBER, table[prop])

    def type_of_call(self, expr: ast.Call) -> Type | None:
        name = expr.function.name
        if name in UNSERIALIZABLE:
            self.error(
                QxTypeError(
                    f"Pulser cannot serialize `{name}` in a sequence",
                    expr.span,
                    hint=UNSERIALIZABLE[name] + "; functions allowed: " + ", ".join(MATH),
                )
            )
            return None
        functions = signatures()
        signature = functions.get(name)
        if signature is None:
            self.error(
                QxNameError(
                    f"unknown function `{name}`",
                    expr.span,
                    hint=_did_you_mean(name, functions) or "functions are: " + ", ".join(sorted(functions)),
                )
            )
            return None
        bound = self.check_arguments(signature, expr.arguments, expr.span)
        if bound is None:
            return None
        if name in ("blackman", "kaiser") and ("duration" in bound) == ("max" in bound):
            self.error(
                QxTypeError(
                    f"`{name}` takes either a duration or `max =`, "
                    + ("not both" if "duration" in bound else "and is given neither"),
                    expr.span,
                    hint=signature.doc,
                )
            )
            return None
        if name == "pulse":
            return self.check_pulse(expr, bound)
        if name in MATH:
            return self.type_of_math(name, bound["x"])  # type: ignore[arg-type]
        return Type(signature.result, bound.get(VALUE))  # type: ignore[arg-type]

    def type_of_math(self, name: str, argument: ast.Expr) -> Type | None:
        found = self.type_of(argument)
        takes = MATH[name].takes
        if found is None or found.dimension is None or takes == "any":
            return found
        if found.dimension is takes:
            return Type(found.kind)
        self.error(
            QxUnitError(
                f"`{name}` takes {'an angle' if takes else 'a bare number'}, but this is {found.dimension.value}",
                argument.span,
                hint="divide it by its unit to make it a bare number, e.g. `(t / 1 us)`",
            )
        )
        return None

    def check_arguments(
        self, signature: Signature, arguments: tuple[ast.Argument, ...], span: Span | None
    ) -> dict[str, object] | None:
        """Bind and type the arguments; the waveform's sample dimension comes back under VALUE."""
        try:
            bound = bind(signature, arguments)
        except QxError as error:
            self.error(error)
            return None
        result: dict[str, object] = dict(bound)
        missing = [p.name for p in signature.params if p.required and p.name not in bound]
        if missing:
            self.error(
                QxTypeError(
                    f"`{signature.name}` is missing `{missing[0]}`",
                    span,
                    hint=f"write it as {signature.doc}",
                )
            )
            return None
        sample_dimension: Dimension | None = None
        for param in signature.params:
            given = bound.get(param.name)
            if given is None:
                continue
            for value in given if isinstance(given, list) else [given]:
                found = self.type_of(value)
                if found is None:
                    continue
                if found.kind not in param.kinds:
                    wanted = " or ".join(k.value for k in param.kinds)
                    self.error(
                        QxTypeError(f"`{param.name}` takes {wanted}, but this is {found.kind.value}", value.span)
                    )
                    continue
                if param.dimension == VALUE:
                    if found.dimension is not None:
                        if sample_dimension and found.dimension is not sample_dimension:
                            self.error(
                                QxUnitError(
                                    f"`{param.name}` is {found.dimension.value}, "
                                    f"but the other values are {sample_dimension.value}",
                                    value.span,
                                )
                            )
                        sample_dimension = found.dimension
                elif isinstance(param.dimension, Dimension):
                    self.check_dimension(value, found, param.dimension, f"`{param.name}`")
        result[VALUE] = sample_dimension
        return result

    def check_pulse(self, expr: ast.Call, bound: dict[str, object]) -> Type | None:
        if "duration" in bound:
            for slot in ("amplitude", "detuning", "phase"):
                found = self.type_of(bound[slot]) if slot in bound else NUMBER  # type: ignore[arg-type]
                if found is not None and found.kind is not Kind.NUMBER:
                    self.error(
                        QxTypeError(
                            f"with `duration =`, `{slot}` is a number (a constant pulse)",
                            bound[slot].span,  # type: ignore[attr-defined]
                            hint="drop `duration` to use waveforms",
                        )
                    )
                    return None
            return Type(Kind.PULSE)
        kinds = {
            slot: self.type_of(bound[slot]) if slot in bound else NUMBER  # type: ignore[arg-type]
            for slot in ("amplitude", "detuning")
        }
        if any(k is None for k in kinds.values()):
            return None
        phase_type = self.type_of(bound["phase"]) if "phase" in bound else None  # type: ignore[arg-type]
        waveform_phase = phase_type is not None and phase_type.kind is Kind.WAVEFORM
        if not waveform_phase and all(k.kind is not Kind.WAVEFORM for k in kinds.values() if k is not None):
            self.error(
                QxTypeError(
                    "a pulse needs a waveform for its amplitude or its detuning",
                    expr.span,
                    hint="e.g. `amplitude = constant(100 ns, 2 rad/us)`, or give `duration =` for a constant pulse",
                )
            )
            return None
        for slot, found in kinds.items():
            if found is not None and found.kind is Kind.WAVEFORM and slot in bound:
                self.check_dimension(bound[slot], found, Dimension.FREQUENCY, f"`{slot}`")  # type: ignore[arg-type]
        phase = bound.get("phase")
        if phase is not None:
            found = self.type_of(phase)  # type: ignore[arg-type]
            if found is not None and found.kind is Kind.WAVEFORM:
                # Pulse.ArbitraryPhase: the detuning is the phase's derivative.
                if "detuning" in bound:
                    self.error(
                        QxTypeError(
                            "a pulse with a waveform phase has no `detuning`: Pulser derives it from the phase",
                            bound["detuning"].span,  # type: ignore[attr-defined]
                            hint="drop `detuning`, or give the phase as a number",
                        )
                    )
                    return None
                if kinds["amplitude"] is None or kinds["amplitude"].kind is not Kind.WAVEFORM:
                    self.error(QxTypeError("a pulse with a waveform phase needs a waveform amplitude", expr.span))
                    return None
                self.check_dimension(phase, found, Dimension.ANGLE, "`phase`")  # type: ignore[arg-type]
        return Type(Kind.PULSE)


def _named(dimension: Dimension | None) -> str:
    return dimension.value if dimension is not None else "a bare number"


def _bare_variables(expr: ast.Expr) -> list[str]:
    """Variables that an expression passes straight through (`t`, `2 * t`, `-t`).

    A slot's dimension then belongs to the variable, so that the sweep giving it
    values can be checked against it.
    """
    if isinstance(expr, ast.Name):
        return [expr.id]
    if isinstance(expr, ast.UnaryOp):
        return _bare_variables(expr.operand)
    if isinstance(expr, ast.BinaryOp) and expr.op in (ast.BinaryOperator.MUL, ast.BinaryOperator.DIV):
        if isinstance(expr.right, ast.Number):
            return _bare_variables(expr.left)
        if isinstance(expr.left, ast.Number) and expr.op is ast.BinaryOperator.MUL:
            return _bare_variables(expr.right)
    if isinstance(expr, ast.Index):
        return _bare_variables(expr.value)
    return []
