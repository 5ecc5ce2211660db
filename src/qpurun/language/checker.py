"""The checker: names, units, kinds and structure, before Pulser is involved.

It walks the whole spec and collects every problem it can find, so that one
`qpurun check` shows them all. What it proves here the lowering may assume:
every name resolves, every argument binds, every unit has the right dimension.
Device limits are Pulser's to check, in the lowering.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from qpurun.language import ast
from qpurun.language.errors import (
    QxError,
    QxNameError,
    QxSweepError,
    QxSyntaxError,
    QxTypeError,
    QxUnitError,
    Source,
    Span,
    raise_all,
)
from qpurun.language.functions import (
    EOM,
    MATH,
    SETPOINT,
    SIGNATURES,
    UNSERIALIZABLE,
    VALUE,
    Kind,
    Param,
    Signature,
    bind,
)
from qpurun.language.units import UNIT_DIMENSION, UNIT_SCALE, UNITS_OF, Dimension, describe

BUILTINS = {"pi", "device"}

# Numeric properties a spec may read: `device.max_runs`, `ryd.max_amp`.
DEVICE_PROPERTIES: dict[str, Dimension | None] = {
    "max_atom_num": None,
    "max_runs": None,
    "min_atom_distance": Dimension.DISTANCE,
    "max_radial_distance": Dimension.DISTANCE,
    "max_sequence_duration": Dimension.TIME,
    "interaction_coeff": None,
    "rydberg_level": None,
    "max_layout_filling": None,
    "min_layout_filling": None,
    "max_layout_traps": None,
    "min_layout_traps": None,
}
CHANNEL_PROPERTIES: dict[str, Dimension | None] = {
    "max_amp": Dimension.FREQUENCY,
    "max_abs_detuning": Dimension.FREQUENCY,
    "min_avg_amp": Dimension.FREQUENCY,
    "min_duration": Dimension.TIME,
    "max_duration": Dimension.TIME,
    "clock_period": Dimension.TIME,
    "min_retarget_interval": Dimension.TIME,
    "fixed_retarget_t": Dimension.TIME,
}
NOISE_PARAMETERS = (
    "runs",
    "samples_per_run",
    "state_prep_error",
    "p_false_pos",
    "p_false_neg",
    "temperature",
    "laser_waist",
    "amp_sigma",
    "relaxation_rate",
    "dephasing_rate",
    "hyperfine_dephasing_rate",
    "depolarizing_rate",
    "detuning_sigma",
)
LATTICES = {"triangular": 2, "square": 3, "rectangular": 4}
SHAPES = ("square", "rectangle", "triangular", "hexagon", "max_connectivity")


def _shape(name: str, *counts: str, spacing: tuple[str, ...] = ("spacing",), optional: bool = False) -> Signature:
    params = tuple(Param(c, (Kind.NUMBER,), None) for c in counts) + tuple(
        Param(s, (Kind.NUMBER,), Dimension.DISTANCE, required=not optional) for s in spacing
    )
    return Signature(name, params, Kind.NUMBER, f"{name}({', '.join(p.name for p in params)})")


# Keyword names are Pulser's, since the lowering passes them through.
LAYOUT_SIGNATURES = {
    "triangular": _shape("triangular", "n_traps"),
    "square": _shape("square", "rows", "columns"),
    "rectangular": _shape("rectangular", "rows", "cols", spacing=("row_spacing", "col_spacing")),
}
SHAPE_SIGNATURES = {
    "square": _shape("square", "side", optional=True),
    "rectangle": _shape("rectangle", "rows", "columns", optional=True),
    "triangular": _shape("triangular", "rows", "atoms_per_row", optional=True),
    "hexagon": _shape("hexagon", "layers", optional=True),
    "max_connectivity": _shape("max_connectivity", "n_qubits", optional=True),
}


@dataclass(frozen=True)
class Type:
    """What an expression is, and its dimension when a unit fixed one.

    `dimension` None means "a bare number": Pulser's own unit, fits any slot.
    """

    kind: Kind
    dimension: Dimension | None = None


NUMBER = Type(Kind.NUMBER)


@dataclass
class Checked:
    """A spec that passed the checker, sorted into what the lowering needs."""

    spec: ast.Spec
    source: Source
    name: str
    device: ast.Device
    layout: ast.LatticeLayout | ast.TrapsLayout | ast.FileLayout | ast.CalibratedLayout | None
    register: ast.RegisterEntries | ast.RegisterShape | ast.RegisterMappable
    setup: list[ast.Statement]
    variables: dict[str, ast.VarDecl]
    values: dict[str, ast.Let | ast.WaveformDecl | ast.PulseDecl]
    channels: dict[str, ast.Channel]
    dmms: dict[str, str]
    sequence: ast.SequenceBlock
    runs: ast.Runs | None
    sweeps: list[ast.Sweep | ast.Jobs]
    noise: ast.Noise | None
    variable_dimensions: dict[str, Dimension] = field(default_factory=dict)
    mappable: bool = False
    """The register is a MappableRegister: every job places its qubits (`qubits = {...}`)."""


def _did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


class _Checker:
    def __init__(self, spec: ast.Spec, source: Source) -> None:
        self.spec = spec
        self.source = source
        self.errors: list[QxError] = []
        self.values: dict[str, ast.Let | ast.WaveformDecl | ast.PulseDecl] = {}
        self.variables: dict[str, ast.VarDecl] = {}
        self.channels: dict[str, ast.Channel] = {}
        self.qubits: set[str] | None = None
        self.mappable = False
        self.dmms: dict[str, str] = {}
        self.types: dict[str, Type] = {}
        self.resolving: list[str] = []
        self.cyclic: set[str] = set()
        self.variable_dimensions: dict[str, Dimension] = {}
        self.context = "the spec"

    def error(self, error: QxError) -> None:
        # An expression can be typed from two places (a pulse and its use): report it once.
        if any(e.message == error.message and e.span == error.span for e in self.errors):
            return
        self.errors.append(error.located(self.source))

    @contextlib.contextmanager
    def scope(self, context: str) -> Iterator[None]:
        """Name the block being checked, for messages like 'in the sweep'."""
        outer, self.context = self.context, context
        try:
            yield
        finally:
            self.context = outer

    # ---- the whole file

    def check(self) -> Checked:
        singles: dict[type, ast.Statement] = {}
        one_of = {
            ast.Experiment: "experiment",
            ast.Device: "device",
            ast.SequenceBlock: "sequence",
            ast.Runs: "runs",
            ast.Noise: "noise",
            ast.MagneticField: "magnetic_field",
        }
        layout = register = None
        setup: list[ast.Statement] = []
        sweeps: list[ast.Sweep | ast.Jobs] = []
        for statement in self.spec.statements:
            kind = type(statement)
            if kind in one_of:
                if kind in singles:
                    self.error(
                        QxSyntaxError(
                            f"a second `{one_of[kind]}` statement",
                            statement.span,
                            hint=f"the first is on line {_line(singles[kind])}; a spec has one",
                        )
                    )
                singles[kind] = statement
            if isinstance(statement, ast.LatticeLayout | ast.TrapsLayout | ast.FileLayout | ast.CalibratedLayout):
                if layout is not None:
                    self.error(
                        QxSyntaxError("a second `layout`", statement.span, hint=f"the first is on line {_line(layout)}")
                    )
                layout = statement
            elif isinstance(statement, ast.RegisterEntries | ast.RegisterShape | ast.RegisterMappable):
                if register is not None:
                    self.error(
                        QxSyntaxError(
                            "a second `register`", statement.span, hint=f"the first is on line {_line(register)}"
                        )
                    )
                register = statement
            elif isinstance(statement, ast.Channel | ast.DetuningMap | ast.SlmMask | ast.MagneticField):
                setup.append(statement)
            elif isinstance(statement, ast.Sweep | ast.Jobs):
                sweeps.append(statement)
            elif isinstance(statement, ast.Include):
                self.error(
                    QxSyntaxError(
                        "`include` was not resolved before checking",
                        statement.span,
                        hint="compile with qpurun.load/loads, which resolve includes (`qpurun.language.includes`)",
                    )
                )
        device = _one(singles, ast.Device)
        if device is None:
            self.error(
                QxSyntaxError("the spec names no device", Span(1, 1, 1, 2), hint="add e.g. `device AnalogDevice`")
            )
        if register is None:
            self.error(
                QxSyntaxError(
                    "the spec has no register", Span(1, 1, 1, 2), hint="add e.g. `register { q0 = (0, 0) um }`"
                )
            )
        sequence = _one(singles, ast.SequenceBlock)
        if sequence is None:
            self.error(
                QxSyntaxError("the spec has no `sequence { ... }`", Span(1, 1, 1, 2), hint="add the operations to run")
            )

        self.declare(self.spec.statements)
        if layout is not None:
            self.check_layout(layout)
        if register is not None:
            self.check_register(register, layout)
        for statement in setup:
            self.check_setup(statement)
        for name, declaration in self.values.items():
            self.type_of_value(name, declaration.span)
        if sequence is not None:
            with self.scope("the sequence"):
                for operation in sequence.operations:
                    self.check_operation(operation)
        noise = _one(singles, ast.Noise)
        if noise is not None:
            self.check_noise(noise)
        runs = _one(singles, ast.Runs)
        if runs is not None:
            self.expect(runs.value, NUMBER, "`runs`")
        for block in sweeps:
            self.check_sweep(block)
        if sweeps == [] and self.variables:
            first = next(iter(self.variables.values()))
            self.error(
                QxSweepError(
                    f"variable `{first.name}` is declared but no `sweep` or `jobs` gives it values",
                    first.span,
                    hint="add e.g. `jobs { " + ", ".join(f"{v} = ..." for v in self.variables) + " }`",
                )
            )
        raise_all(self.errors)
        experiment = _one(singles, ast.Experiment)
        assert device is not None and register is not None and sequence is not None
        return Checked(
            spec=self.spec,
            source=self.source,
            name=experiment.name if experiment is not None else Path(self.source.name).stem,
            device=device,
            layout=layout,
            register=register,
            setup=setup,
            variables=self.variables,
            values=self.values,
            channels=self.channels,
            dmms=self.dmms,
            sequence=sequence,
            runs=runs,
            sweeps=sweeps,
            noise=noise,
            variable_dimensions=self.variable_dimensions,
            mappable=self.mappable,
        )

    def declare(self, statements: Iterable[ast.Statement]) -> None:
        """Collect every named declaration first, so order of sections is free."""
        seen: dict[str, ast.Node] = {}
        for statement in statements:
            name: str | None = None
            if isinstance(statement, ast.VarDecl):
                name = statement.name
                if statement.dtype not in ("int", "float"):
                    self.error(
                        QxTypeError(
                            f"unknown variable type `{statement.dtype}`",
                            statement.span,
                            hint="variables are `int` or `float`, optionally an array like `float[3]`",
                        )
                    )
                if statement.size is not None and statement.size < 1:
                    self.error(QxTypeError("an array variable needs at least one entry", statement.span))
                self.variables[name] = statement
            elif isinstance(statement, ast.Let | ast.WaveformDecl | ast.PulseDecl):
                name = statement.name
                self.values[name] = statement
            elif isinstance(statement, ast.Channel):
                name = statement.name
                self.channels[name] = statement
            if name is None:
                continue
            if name in BUILTINS or name in SIGNATURES:
                self.error(QxNameError(f"`{name}` is a built-in name", statement.span, hint="choose another name"))
            elif name in seen:
                self.error(
                    QxNameError(
                        f"`{name}` is already declared on line {_line(seen[name])}",
                        statement.span,
                        hint="each name is declared once; rename one of them",
                    )
                )
            seen[name] = statement
        for statement in statements:
            if isinstance(statement, ast.DetuningMap):
                if statement.dmm_id in self.dmms.values():
                    self.error(QxNameError(f"`{statement.dmm_id}` already has a detuning map", statement.span))
                self.dmms[statement.name] = statement.dmm_id
                self.dmms.setdefault(statement.dmm_id, statement.dmm_id)

    # ---- layout, register, setup

    def check_layout(self, layout: ast.Statement) -> None:
        if isinstance(layout, ast.LatticeLayout):
            if layout.shape not in LATTICES:
                self.error(
                    QxNameError(
                        f"unknown layout `{layout.shape}`",
                        layout.span,
                        hint=_did_you_mean(layout.shape, LATTICES) or "layouts are triangular, square and rectangular",
                    )
                )
                return
            # Bound like a call, so that a missing or unknown argument is ours to
            # report, not a Python TypeError from the layout's constructor.
            arguments = tuple(
                dataclasses.replace(a, name="cols") if a.name == "columns" and layout.shape == "rectangular" else a
                for a in layout.arguments
            )
            self.check_arguments(LAYOUT_SIGNATURES[layout.shape], arguments, layout.span)
        elif isinstance(layout, ast.TrapsLayout):
            self.check_points(layout.points, layout.unit, Dimension.DISTANCE, 3 if layout.three_d else 2)

    def check_points(self, points: Iterable[ast.Point], unit: ast.Unit | None, dimension: Dimension, size: int) -> None:
        if unit is not None and UNIT_DIMENSION[unit] is not dimension:
            self.error(
                QxUnitError(
                    f"{'the field is' if dimension is Dimension.FIELD else 'coordinates are'} {describe(dimension)}, "
                    f"not in `{unit.value}`",
                    points_span(points),
                    hint=f"write it in {UNITS_OF[dimension]}",
                )
            )
        for point in points:
            if len(point.coordinates) != size:
                self.error(QxTypeError(f"expected {size} coordinates, got {len(point.coordinates)}", point.span))
            for coordinate in point.coordinates:
                self.expect(coordinate, Type(Kind.NUMBER, dimension), "a coordinate")

    def check_register(self, register: ast.Statement, layout: ast.Statement | None) -> None:
        if isinstance(register, ast.RegisterEntries):
            names: dict[str, ast.Node] = {}
            by_trap = [e for e in register.entries if isinstance(e, ast.TrapEntry)]
            if by_trap and len(by_trap) != len(register.entries):
                self.error(
                    QxSyntaxError(
                        "a register is either placed on layout traps or given by coordinates, not both",
                        register.span,
                    )
                )
            if by_trap and layout is None:
                self.error(
                    QxNameError(
                        "the register uses `trap N` but the spec has no layout",
                        by_trap[0].span,
                        hint="add e.g. `layout triangular(61, spacing = 5 um)`",
                    )
                )
            traps: dict[int, ast.Node] = {}
            for entry in register.entries:
                if entry.qubit in names:
                    self.error(QxNameError(f"qubit `{entry.qubit}` is declared twice", entry.span))
                names[entry.qubit] = entry
                if isinstance(entry, ast.TrapEntry):
                    if entry.trap in traps:
                        self.error(QxNameError(f"trap {entry.trap} already holds a qubit", entry.span))
                    traps[entry.trap] = entry
                else:
                    # The first entry decides 2D or 3D; the others must agree.
                    first = next(e for e in register.entries if isinstance(e, ast.CoordinateEntry))
                    size = len(first.point.coordinates) if len(first.point.coordinates) in (2, 3) else 2
                    self.check_points([entry.point], entry.unit, Dimension.DISTANCE, size)
            self.qubits = set(names)
        elif isinstance(register, ast.RegisterShape):
            if register.shape not in SHAPES:
                self.error(
                    QxNameError(
                        f"unknown register shape `{register.shape}`",
                        register.span,
                        hint=_did_you_mean(register.shape, SHAPES) or "shapes are " + ", ".join(SHAPES),
                    )
                )
                return
            self.check_arguments(SHAPE_SIGNATURES[register.shape], register.arguments, register.span)
        elif isinstance(register, ast.RegisterMappable):
            if layout is None:
                self.error(
                    QxNameError(
                        "a mappable register needs a layout to place its qubits on",
                        register.span,
                        hint="add e.g. `layout triangular(61, spacing = 5 um)`",
                    )
                )
            if register.qubit_count < 1:
                self.error(QxTypeError("a mappable register needs at least one qubit", register.span))
            self.mappable = True
            self.qubits = {f"q{i}" for i in range(register.qubit_count)}

    def word_span(self, span: Span | None, word: str, *, after: str | None = None) -> Span | None:
        """Where `word` is written in a statement, for names the syntax tree keeps as text.

        The caret then points at the misspelt name, not at the whole statement.
        Past the statement's first word (its keyword), and past `after` if given.
        """
        if span is None:
            return None
        text = self.source.line(span.line)
        end = span.end_column - 1 if span.end_line == span.line else len(text)
        start = span.column - 1
        keyword = re.match(r"\s*\S+", text[start:end])
        start += keyword.end() if keyword else 0
        if after is not None:
            marker = re.search(rf"\b{re.escape(after)}\b", text[start:end])
            start += marker.end() if marker else 0
        found = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text[start:end])
        if found is None:
            return span
        return Span(span.line, start + found.start() + 1, span.line, start + found.end() + 1)

    def check_qubits(self, qubits: Iterable[str], span: Span | None) -> None:
        if self.qubits is None:
            return  # generated registers: Pulser checks the ids
        for qubit in qubits:
            if qubit not in self.qubits:
                self.error(
                    QxNameError(
                        f"unknown qubit `{qubit}`",
                        self.word_span(span, qubit),
                        hint=_did_you_mean(qubit, self.qubits) or "qubits are " + ", ".join(sorted(self.qubits)),
                    )
                )

    def check_setup(self, statement: ast.Statement) -> None:
        if isinstance(statement, ast.Channel):
            self.check_qubits(statement.targets, statement.span)
        elif isinstance(statement, ast.DetuningMap):
            kinds = {isinstance(w.target, str) for w in statement.weights}
            if len(kinds) > 1:
                self.error(
                    QxTypeError(
                        "a detuning map weighs either qubits (by id) or traps (`trap N`), not both",
                        statement.span,
                        hint="write every weight one way",
                    )
                )
            for weight in statement.weights:
                if isinstance(weight.target, str):
                    self.check_qubits([weight.target], weight.span)
                self.expect(weight.value, NUMBER, "a weight")
        elif isinstance(statement, ast.SlmMask):
            self.check_qubits(statement.qubits, statement.span)
        elif isinstance(statement, ast.MagneticField):
            self.check_points([statement.point], statement.unit, Dimension.FIELD, 3)

    def check_noise(self, noise: ast.Noise) -> None:
        for parameter in noise.parameters:
            if parameter.name not in NOISE_PARAMETERS:
                self.error(
                    QxNameError(
                        f"unknown noise parameter `{parameter.name}`",
                        parameter.span,
                        hint=_did_you_mean(str(parameter.name), NOISE_PARAMETERS)
                        or "see pulser.NoiseModel for the parameters",
                    )
                )
            self.expect(parameter.value, NUMBER, f"`{parameter.name}`")

    # ---- the sequence

    def channel(self, name: str, span: Span | None) -> None:
        if name not in self.channels:
            self.error(
                QxNameError(
                    f"unknown channel `{name}`",
                    self.word_span(span, name, after="on"),
                    hint=_did_you_mean(name, self.channels) or "declare it, e.g. `channel ryd = rydberg_global`",
                )
            )

    def check_operation(self, op: ast.Operation) -> None:
        if isinstance(op, ast.Add):
            self.channel(op.channel, op.span)
            self.expect(op.pulse, Type(Kind.PULSE), "`add`")
        elif isinstance(op, ast.Target):
            self.channel(op.channel, op.span)
            self.check_qubits(op.qubits, op.span)
        elif isinstance(op, ast.TargetIndex):
            self.channel(op.channel, op.span)
            self.expect(op.index, NUMBER, "a qubit index", lists=True)  # Pulser targets several at once
        elif isinstance(op, ast.Delay):
            self.channel(op.channel, op.span)
            self.expect(op.duration, Type(Kind.NUMBER, Dimension.TIME), "`delay`")
        elif isinstance(op, ast.Align):
            for name in op.channels:
                self.channel(name, op.span)
            if len(op.channels) < 2:
                self.error(QxSyntaxError("`align` needs at least two channels", op.span))
        elif isinstance(op, ast.PhaseShift):
            self.expect(op.phase, Type(Kind.NUMBER, Dimension.ANGLE), "`phase_shift`")
            self.check_qubits(op.qubits, op.span)
        elif isinstance(op, ast.PhaseShiftIndex):
            self.expect(op.phase, Type(Kind.NUMBER, Dimension.ANGLE), "`phase_shift`")
            for index in op.indices:
                self.expect(index, NUMBER, "a qubit index", lists=True)
        elif isinstance(op, ast.Detune):
            if op.dmm not in self.dmms:
                self.error(
                    QxNameError(
                        f"no detuning map is configured on `{op.dmm}`",
                        op.span,
                        hint=_did_you_mean(op.dmm, self.dmms) or "add e.g. `detuning_map shift on dmm_0 { q0: 1.0 }`",
                    )
                )
            self.expect(op.waveform, Type(Kind.WAVEFORM, Dimension.FREQUENCY), "`detune`")
        elif isinstance(op, ast.Truncate):
            self.expect(op.duration, Type(Kind.NUMBER, Dimension.TIME), "`truncate`")
        elif isinstance(op, ast.Eom):
            self.channel(op.channel, op.span)
            self.check_arguments(EOM, op.arguments, op.span)
            with self.scope(f"the eom block on `{op.channel}`"):
                for inner in op.operations:
                    if isinstance(inner, ast.EomPulse):
                        self.expect(inner.duration, Type(Kind.NUMBER, Dimension.TIME), "an EOM pulse")
                        if inner.phase is not None:
                            self.expect(inner.phase, Type(Kind.NUMBER, Dimension.ANGLE), "`phase`")
                        if inner.post_phase_shift is not None:
                            self.expect(
                                inner.post_phase_shift, Type(Kind.NUMBER, Dimension.ANGLE), "`post_phase_shift`"
                            )
                    elif isinstance(inner, ast.EomDelay):
                        self.expect(inner.duration, Type(Kind.NUMBER, Dimension.TIME), "`delay`")
                    else:
                        self.check_arguments(SETPOINT, inner.arguments, inner.span)

    # ---- expressions

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
        if found.dimension is None:
            for name in _bare_variables(expr):
                if name in self.variables:
                    self.variable_dimensions.setdefault(name, wanted)
            return
        if found.dimension is not wanted:
            self.error(
                QxUnitError(
                    f"{what} takes {describe(wanted)}, but this is {found.dimension.value}",
                    expr.span,
                    hint=f"write it in {describe(wanted).split('(')[1].rstrip(')')}",
                )
            )

    def type_of_value(self, name: str, span: Span | None) -> Type | None:
        if name in self.types:
            return self.types[name]
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
            self.types[name] = found
        return found

    def type_of(self, expr: ast.Expr) -> Type | None:
        """The type of `expr`, or None after reporting why it has none."""
        if isinstance(expr, ast.Number):
            if not math.isfinite(expr.value):
                self.error(QxTypeError("this number is too large", expr.span, hint="numbers are 64-bit floats"))
                return None
            return NUMBER
        if isinstance(expr, ast.Name):
            return self.type_of_name(expr)
        if isinstance(expr, ast.Quantity):
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
            dimension = UNIT_DIMENSION[expr.unit]
            if dimension is Dimension.TIME and isinstance(expr.value, ast.Number):
                nanoseconds = expr.value.value * UNIT_SCALE[expr.unit]
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
        if isinstance(expr, ast.BinaryOp):
            return self.type_of_binary(expr)
        if isinstance(expr, ast.UnaryOp):
            operand = self.type_of(expr.operand)
            if operand is not None and operand.kind not in (Kind.NUMBER, Kind.ARRAY):
                self.error(QxTypeError(f"cannot negate {operand.kind.value}", expr.span))
                return None
            return operand
        if isinstance(expr, ast.Call):
            return self.type_of_call(expr)
        if isinstance(expr, ast.Index):
            value = self.type_of(expr.value)
            self.expect(expr.index, NUMBER, "an index")
            if value is None:
                return None
            if value.kind is not Kind.ARRAY:
                self.error(QxTypeError(f"only a list can be indexed, this is {value.kind.value}", expr.value.span))
                return None
            return Type(Kind.NUMBER, value.dimension)
        if isinstance(expr, ast.Attribute):
            return self.type_of_attribute(expr)
        if isinstance(expr, ast.ListExpr):
            dimensions = set()
            for item in expr.items:
                found = self.expect(item, NUMBER, "a list", lists=True)
                if found is not None and found.dimension is not None:
                    dimensions.add(found.dimension)
            if len(dimensions) > 1:
                self.error(QxUnitError("the values of a list have different dimensions", expr.span))
            return Type(Kind.ARRAY, dimensions.pop() if len(dimensions) == 1 else None)
        raise AssertionError(f"unknown expression {expr!r}")  # pragma: no cover

    def type_of_name(self, expr: ast.Name) -> Type | None:
        name = expr.id
        if name == "pi":
            return NUMBER
        if name in self.variables:
            declaration = self.variables[name]
            return Type(Kind.ARRAY if declaration.size is not None else Kind.NUMBER)
        if name in self.values:
            return self.type_of_value(name, expr.span)
        if name in SIGNATURES:
            self.error(QxTypeError(f"`{name}` is a function; call it: {SIGNATURES[name].doc}", expr.span))
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
        if op is ast.BinaryOperator.MUL:
            if left.dimension and right.dimension:
                return Type(kind)  # a product of dimensions: not one we check
            return Type(kind, left.dimension or right.dimension)
        if op is ast.BinaryOperator.DIV:
            if right.dimension is None:
                return Type(kind, left.dimension)
            return Type(kind)
        if right.dimension is not None:
            self.error(QxUnitError("an exponent must be a bare number", expr.right.span))
        return Type(kind)

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
        if expr.name not in table:
            hint = _did_you_mean(expr.name, table)
            if what == "the device" and expr.name in CHANNEL_PROPERTIES:
                hint = f"`{expr.name}` is a channel property: write e.g. `ryd.{expr.name}`"
            self.error(
                QxNameError(
                    f"{what} has no property `{expr.name}`",
                    expr.span,
                    hint=hint or "known properties: " + ", ".join(sorted(table)),
                )
            )
            return None
        return Type(Kind.NUMBER, table[expr.name])

    def type_of_call(self, expr: ast.Call) -> Type | None:
        name = expr.function
        if name in UNSERIALIZABLE:
            self.error(
                QxTypeError(
                    f"Pulser cannot serialize `{name}` in a sequence",
                    expr.span,
                    hint=UNSERIALIZABLE[name] + "; functions allowed: " + ", ".join(MATH),
                )
            )
            return None
        signature = SIGNATURES.get(name)
        if signature is None:
            self.error(
                QxNameError(
                    f"unknown function `{name}`",
                    expr.span,
                    hint=_did_you_mean(name, SIGNATURES) or "functions are: " + ", ".join(sorted(SIGNATURES)),
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
            argument = bound["x"]
            return Type(Kind.NUMBER, None) if argument is None else self.type_of(argument)  # type: ignore[arg-type]
        return Type(signature.result, bound.get(VALUE))  # type: ignore[arg-type]

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
                elif found.dimension is not None and signature.name in MATH:
                    pass
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

    # ---- sweeps and jobs

    def check_sweep(self, block: ast.Sweep | ast.Jobs) -> None:
        if isinstance(block, ast.Sweep):
            with self.scope("the sweep"):
                bound: dict[str, ast.Node] = {}
                for line in block.lines:
                    axes = line.axes if isinstance(line, ast.ZipGroup) else (line,)
                    if isinstance(line, ast.ZipGroup) and len(line.axes) < 1:
                        self.error(QxSweepError("an empty `zip` group", line.span))
                    for axis in axes:
                        self.check_binding_name(axis.name, axis.span, bound)
                        if isinstance(axis, ast.SweepRange):
                            for part in (axis.start, axis.stop, axis.step):
                                self.check_swept_dimension(axis.name, part)
                        else:
                            self.check_swept_dimension(axis.name, axis.values)
            return
        with self.scope("the jobs"):
            for job in block.jobs:
                seen: dict[str, ast.Node] = {}
                for binding in job.bindings:
                    self.check_binding_name(binding.name, binding.span, seen)
                    if isinstance(binding, ast.QubitsBinding):
                        self.check_placements(binding)
                    elif binding.name == "qubits" and self.mappable:
                        self.error(
                            QxTypeError(
                                "`qubits` places each qubit on a trap",
                                binding.value.span,
                                hint="write e.g. `qubits = { q0: 3, q1: 7 }`",
                            )
                        )
                    else:
                        self.check_swept_dimension(binding.name, binding.value)
                if self.mappable and "qubits" not in seen:
                    self.error(
                        QxSweepError(
                            "this job does not place the qubits of the mappable register",
                            job.span,
                            hint="add e.g. `qubits = { q0: 3, q1: 7 }` to each job",
                        )
                    )

    def check_placements(self, binding: ast.QubitsBinding) -> None:
        if not self.mappable:
            self.error(
                QxSweepError(
                    "`qubits = {...}` places the qubits of a mappable register, and this register is not one",
                    binding.span,
                    hint="declare `register mappable N` on a layout",
                )
            )
            return
        traps: set[int] = set()
        for placement in binding.placements:
            self.check_qubits([placement.qubit], placement.span)
            if placement.trap in traps:
                self.error(QxSweepError(f"trap {placement.trap} is given two qubits", placement.span))
            traps.add(placement.trap)

    def check_swept_dimension(self, name: str, values: ast.Expr) -> None:
        """Values given to a variable must fit the slot the sequence puts it in."""
        found = self.type_of(values)
        wanted = self.variable_dimensions.get(name)
        if found is None or found.dimension is None or wanted is None or found.dimension is wanted:
            return
        self.error(
            QxUnitError(
                f"`{name}` is used as {describe(wanted)}, but is given {found.dimension.value}",
                values.span,
                hint=f"write its values in {describe(wanted).split('(')[1].rstrip(')')}",
            )
        )

    def check_binding_name(self, name: str, span: Span | None, seen: dict[str, ast.Node]) -> None:
        if name in seen:
            self.error(
                QxSweepError(
                    f"`{name}` is bound twice in {self.context}", span, hint=f"first bound on line {_line(seen[name])}"
                )
            )
        elif name == "qubits" and self.mappable:
            pass
        elif name != "runs" and name not in self.variables:
            self.error(
                QxSweepError(
                    f"`{name}` is not a declared variable",
                    span,
                    hint=_did_you_mean(name, [*self.variables, "runs"]) or f"declare it, e.g. `var {name}: float`",
                )
            )
        if span is not None:
            seen[name] = ast.Name(name, span=span)


_N = TypeVar("_N", bound=ast.Node)


def _one(singles: dict[type, ast.Statement], kind: type[_N]) -> _N | None:
    found = singles.get(kind)
    assert found is None or isinstance(found, kind)
    return found


def _line(node: ast.Node) -> int:
    return node.span.line if node.span else 0


def points_span(points: Iterable[ast.Point]) -> Span | None:
    spans = [p.span for p in points if p.span is not None]
    if not spans:
        return None
    return Span(spans[0].line, spans[0].column, spans[-1].end_line, spans[-1].end_column)


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


def check(spec: ast.Spec, source: Source) -> Checked:
    """Check a parsed spec; raise every problem found, together."""
    return _Checker(spec, source).check()
