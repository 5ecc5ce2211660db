"""The checker: names, units, kinds and structure, before Pulser is involved.

It walks the whole spec and collects every problem it can find, so that one
`qpurun check` shows them all. What it proves here the lowering may assume:
every name resolves, every argument binds, every unit has the right dimension.
Device limits are Pulser's to check, in the lowering.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, assert_never

from qpurun.language import ast
from qpurun.language.catalog import (
    ALIASES,
    BUILTINS,
    EOM,
    LATTICES,
    NOISE_PARAMETERS,
    PULSER_UNIT,
    SETPOINT,
    SHAPES,
    UNITS,
    Dimension,
    Kind,
    Unit,
    describe,
    signatures,
    units_of,
)
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
from qpurun.language.evaluate import MAX_VALUES, Evaluator, NotConstant
from qpurun.language.printer import expression
from qpurun.language.types import NUMBER, ExpressionTypes, Type, _did_you_mean
from qpurun.language.visitor import walk


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
    variable_units: dict[str, Unit] = field(default_factory=dict)
    """The unit each variable's sweep or jobs are written in (`MHz` for `delta = 0.5 MHz .. 2.5 MHz`),
    so that results show them as written; job values themselves are in Pulser's unit."""
    scales: dict[int, float] = field(default_factory=dict)
    """By node id: the unit factor of a product or quotient of two dimensions (`ExpressionTypes.scales`)."""
    mappable: bool = False
    """The register is a MappableRegister: every job places its qubits (`qubits = {...}`)."""
    allowed_paths: tuple[str, ...] = ()
    """Directories besides the spec's whose files it may name (`--allow-path`)."""


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
        self.layout: ast.Statement | None = None
        self.dmms: dict[str, str] = {}
        self.typing = ExpressionTypes(self.error, variables=self.variables, values=self.values, channels=self.channels)
        self.expect = self.typing.expect
        self.type_of = self.typing.type_of
        self.check_arguments = self.typing.check_arguments
        self.variable_dimensions = self.typing.variable_dimensions
        self.variable_units: dict[str, Unit] = {}
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
        self.layout = layout
        if register is not None:
            self.check_register(register, layout)
        for statement in setup:
            self.check_setup(statement)
        self.sweep_dimensions(sweeps)
        for name, declaration in self.values.items():
            self.typing.type_of_value(name, declaration.span)
        if not self.errors:
            self.fold_constants()
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
        self.typing.check_variables()
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
            variable_units=self.variable_units,
            scales=self.typing.scales,
            mappable=self.mappable,
        )

    def fold_constants(self) -> None:
        """Evaluate every `let` that needs neither a variable nor the device, so that a division
        by zero or an index outside a list is reported here, where it is written.

        Only once every name resolves and no definition is circular: the evaluator assumes it.
        """
        evaluator = Evaluator(values=self.values, declared=self.variables, fold=True, scales=self.typing.scales)
        for name, declaration in self.values.items():
            if isinstance(declaration, ast.Let):
                try:
                    evaluator.value_of(name)
                except NotConstant:
                    continue
                except QxError as error:
                    self.error(error)

    def declare(self, statements: Iterable[ast.Statement]) -> None:
        """Collect every named declaration first, so order of sections is free."""
        seen: dict[str, ast.Node] = {}
        for statement in statements:
            name: str | None = None
            if isinstance(statement, ast.VarDecl):
                name = statement.name.name
                if statement.dtype.name not in ("int", "float"):
                    self.error(
                        QxTypeError(
                            f"unknown variable type `{statement.dtype}`",
                            statement.span,
                            hint="variables are `int` or `float`, optionally an array like `float[3]`",
                        )
                    )
                if statement.size is not None and statement.size < 1:
                    self.error(QxTypeError("an array variable needs at least one entry", statement.span))
                if statement.size is not None and statement.size > MAX_VALUES:
                    self.error(
                        QxTypeError(
                            f"an array variable of {statement.size:,} entries (at most {MAX_VALUES:,})", statement.span
                        )
                    )
                self.variables[name] = statement
            elif isinstance(statement, ast.Let | ast.WaveformDecl | ast.PulseDecl):
                name = statement.name.name
                self.values[name] = statement
            elif isinstance(statement, ast.Channel):
                name = statement.name.name
                self.channels[name] = statement
            if name is None:
                continue
            if name in BUILTINS or name in signatures():
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
                dmm_id = statement.dmm_id.name
                if dmm_id in self.dmms.values():
                    self.error(QxNameError(f"`{dmm_id}` already has a detuning map", statement.span))
                self.dmms[statement.name.name] = dmm_id
                self.dmms.setdefault(dmm_id, dmm_id)
        if any(isinstance(s, ast.SlmMask) for s in statements) and "dmm_0" not in self.dmms.values():
            # Pulser's `config_slm_mask` puts the mask on dmm_0, which `detune ... on dmm_0` may then drive.
            self.dmms["dmm_0"] = "dmm_0"

    # ---- layout, register, setup

    def known(self, name: str, table: Mapping[str, object], what: str, span: Span | None) -> bool:
        """Whether the catalog has `name`; if not, say so with the closest name or the list."""
        if name in table:
            return True
        listed = f"{what}s are " + ", ".join(table)
        self.error(QxNameError(f"unknown {what} `{name}`", span, hint=_did_you_mean(name, table) or listed))
        return False

    def check_layout(self, layout: ast.Statement) -> None:
        if isinstance(layout, ast.LatticeLayout):
            shape = layout.shape.name
            if not self.known(shape, LATTICES, "layout", layout.span):
                return
            # Bound like a call, so that a missing or unknown argument is ours to
            # report, not a Python TypeError from the layout's constructor.
            arguments = aliased(shape, layout.arguments)
            self.check_arguments(LATTICES[shape].signature, arguments, layout.span)
        elif isinstance(layout, ast.TrapsLayout):
            self.check_points(layout.points, layout.unit, Dimension.DISTANCE, 3 if layout.three_d else 2)

    def check_points(self, points: Iterable[ast.Point], unit: ast.Unit | None, dimension: Dimension, size: int) -> None:
        if unit is not None and UNITS[unit].dimension is not dimension:
            self.error(
                QxUnitError(
                    f"{'the field is' if dimension is Dimension.FIELD else 'coordinates are'} {describe(dimension)}, "
                    f"not in `{unit.value}`",
                    points_span(points),
                    hint=f"write it in {units_of(dimension)}",
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
                if entry.qubit.name in names:
                    self.error(QxNameError(f"qubit `{entry.qubit}` is declared twice", entry.span))
                names[entry.qubit.name] = entry
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
            shape = register.shape.name
            if not self.known(shape, SHAPES, "register shape", register.span):
                return
            self.check_arguments(SHAPES[shape].signature, register.arguments, register.span)
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

    def check_qubits(self, qubits: Iterable[ast.Identifier]) -> None:
        if self.qubits is None:
            return  # generated registers: Pulser checks the ids
        for qubit in qubits:
            if qubit.name not in self.qubits:
                self.error(
                    QxNameError(
                        f"unknown qubit `{qubit}`",
                        qubit.span,
                        hint=_did_you_mean(qubit.name, self.qubits) or "qubits are " + ", ".join(sorted(self.qubits)),
                    )
                )

    def check_setup(self, statement: ast.Statement) -> None:
        if isinstance(statement, ast.Channel):
            self.check_qubits(statement.targets)
        elif isinstance(statement, ast.DetuningMap):
            kinds = {isinstance(w.target, ast.Identifier) for w in statement.weights}
            if len(kinds) > 1:
                self.error(
                    QxTypeError(
                        "a detuning map weighs either qubits (by id) or traps (`trap N`), not both",
                        statement.span,
                        hint="write every weight one way",
                    )
                )
            if statement.weights and not any(kinds) and self.layout is None:
                self.error(QxNameError("weights on traps need a layout", statement.span))
            for weight in statement.weights:
                if isinstance(weight.target, ast.Identifier):
                    self.check_qubits([weight.target])
                self.expect(weight.value, NUMBER, "a weight")
        elif isinstance(statement, ast.SlmMask):
            self.check_qubits(statement.qubits)
        elif isinstance(statement, ast.MagneticField):
            self.check_points([statement.point], statement.unit, Dimension.FIELD, 3)

    def check_noise(self, noise: ast.Noise) -> None:
        for parameter in noise.parameters:
            if parameter.name is None or parameter.name.name not in NOISE_PARAMETERS:
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

    def channel(self, name: ast.Identifier) -> None:
        if name.name not in self.channels:
            self.error(
                QxNameError(
                    f"unknown channel `{name}`",
                    name.span,
                    hint=_did_you_mean(name.name, self.channels) or "declare it, e.g. `channel ryd = rydberg_global`",
                )
            )

    def check_operation(self, op: ast.Operation) -> None:
        match op:
            case ast.Add():
                self.channel(op.channel)
                self.expect(op.pulse, Type(Kind.PULSE), "`add`")
            case ast.Target():
                self.channel(op.channel)
                self.check_qubits(op.qubits)
            case ast.TargetIndex():
                self.channel(op.channel)
                self.expect(op.index, NUMBER, "a qubit index", lists=True)  # Pulser targets several at once
            case ast.Delay():
                self.channel(op.channel)
                self.expect(op.duration, Type(Kind.NUMBER, Dimension.TIME), "`delay`")
            case ast.Align():
                for name in op.channels:
                    self.channel(name)
                if len(op.channels) < 2:
                    self.error(QxSyntaxError("`align` needs at least two channels", op.span))
            case ast.PhaseShift():
                self.expect(op.phase, Type(Kind.NUMBER, Dimension.ANGLE), "`phase_shift`")
                self.check_qubits(op.qubits)
            case ast.PhaseShiftIndex():
                self.expect(op.phase, Type(Kind.NUMBER, Dimension.ANGLE), "`phase_shift`")
                for index in op.indices:
                    self.expect(index, NUMBER, "a qubit index", lists=True)
            case ast.Detune():
                if op.dmm.name not in self.dmms:
                    self.error(
                        QxNameError(
                            f"no detuning map is configured on `{op.dmm}`",
                            op.span,
                            hint=_did_you_mean(op.dmm.name, self.dmms)
                            or "add e.g. `detuning_map shift on dmm_0 { q0: 1.0 }`",
                        )
                    )
                self.expect(op.waveform, Type(Kind.WAVEFORM, Dimension.FREQUENCY), "`detune`")
            case ast.Truncate():
                self.expect(op.duration, Type(Kind.NUMBER, Dimension.TIME), "`truncate`")
            case ast.Eom():
                self.channel(op.channel)
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
            case ast.Measure():
                pass  # the basis is the grammar's; whether the device has it is Pulser's to say
            case _:
                assert_never(op)

    # ---- sweeps and jobs

    def sweep_dimensions(self, sweeps: list[ast.Sweep | ast.Jobs]) -> None:
        """A variable takes the unit of the values it is swept over (`t = 100 ns .. 1 us`), so that
        `2 * pi / t` is a frequency; values of two dimensions for one variable are an error."""
        given: dict[str, tuple[Dimension, Span | None]] = {}
        mixed: set[str] = set()
        for block in sweeps:
            bindings: list[tuple[str, ast.Expr]] = []
            if isinstance(block, ast.Sweep):
                for line in block.lines:
                    for axis in line.axes if isinstance(line, ast.ZipGroup) else (line,):
                        parts = (
                            (axis.start, axis.stop, axis.step) if isinstance(axis, ast.SweepRange) else (axis.values,)
                        )
                        bindings.extend((axis.name.name, part) for part in parts)
            else:
                for job in block.jobs:
                    bindings.extend((b.name.name, b.value) for b in job.bindings if isinstance(b, ast.Binding))
            for name, values in bindings:
                if name not in self.variables:
                    continue
                found = self.type_of(values)
                if found is None or found.dimension is None:
                    continue
                written = next((n.unit for n in walk(values) if isinstance(n, ast.Quantity)), None)
                if written is not None and UNITS[written].dimension is found.dimension:
                    self.variable_units.setdefault(name, written)
                first = given.setdefault(name, (found.dimension, values.span))
                if first[0] is not found.dimension and name not in mixed:
                    mixed.add(name)
                    self.error(
                        QxUnitError(
                            f"`{name}` is given {found.dimension.value} here, "
                            f"but {first[0].value} on line {first[1].line if first[1] else '?'}",
                            values.span,
                            hint="a variable has one unit: write all its values in it",
                        )
                    )
        self.typing.swept.update({name: dimension for name, (dimension, _) in given.items() if name not in mixed})
        for name in mixed:
            self.variable_units.pop(name, None)

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
                                self.check_swept_dimension(axis.name.name, part)
                            self.check_range_units(axis)
                        else:
                            self.check_swept_dimension(axis.name.name, axis.values)
            return
        with self.scope("the jobs"):
            for job in block.jobs:
                seen: dict[str, ast.Node] = {}
                for binding in job.bindings:
                    self.check_binding_name(binding.name, binding.span, seen)
                    if isinstance(binding, ast.QubitsBinding):
                        self.check_placements(binding)
                    elif binding.name.name == "qubits" and self.mappable:
                        self.error(
                            QxTypeError(
                                "`qubits` places each qubit on a trap",
                                binding.value.span,
                                hint="write e.g. `qubits = { q0: 3, q1: 7 }`",
                            )
                        )
                    else:
                        self.check_swept_dimension(binding.name.name, binding.value)
                if self.mappable and "qubits" not in seen:
                    self.error(
                        QxSweepError(
                            "this job does not place the qubits of the mappable register",
                            job.span,
                            hint="add e.g. `qubits = { q0: 3, q1: 7 }` to each job",
                        )
                    )

    def check_range_units(self, axis: ast.SweepRange) -> None:
        """`0.5 MHz .. 2.5 MHz step 0.5`: a bare number beside units is read in Pulser's unit
        (here rad/µs), which is almost never what was meant; a bare 0 is the same in any unit."""
        parts = {"start": axis.start, "stop": axis.stop, "step": axis.step}
        found = {name: self.type_of(expr) for name, expr in parts.items()}
        dimensions = {t.dimension for t in found.values() if t is not None and t.dimension is not None}
        if len(dimensions) != 1:
            return
        (dimension,) = dimensions
        written = next((e.unit for e in parts.values() if isinstance(e, ast.Quantity)), PULSER_UNIT[dimension])
        for name, expr in parts.items():
            kind = found[name]
            if kind is None or kind.dimension is not None or (isinstance(expr, ast.Number) and expr.value == 0):
                continue
            others = " and ".join(n for n in parts if n != name and (t := found[n]) is not None and t.dimension)
            self.error(
                QxUnitError(
                    f"the range's {others} {'is' if ' and ' not in others else 'are'} {dimension.value}, "
                    f"but its {name} is a bare number (read as {PULSER_UNIT[dimension].value})",
                    expr.span,
                    hint=f"write `{expression(expr)} {written.value}`",
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
            self.check_qubits([placement.qubit])
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

    def check_binding_name(self, identifier: ast.Identifier, span: Span | None, seen: dict[str, ast.Node]) -> None:
        name = identifier.name
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


def aliased(shape: str, arguments: tuple[ast.Argument, ...]) -> tuple[ast.Argument, ...]:
    """A lattice's arguments with the other names its parameters go by made the catalog's."""
    aliases = ALIASES.get(shape, {})
    return tuple(
        dataclasses.replace(a, name=dataclasses.replace(a.name, name=aliases[a.name.name]))
        if a.name is not None and a.name.name in aliases
        else a
        for a in arguments
    )


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


def check(spec: ast.Spec, source: Source) -> Checked:
    """Check a parsed spec; raise every problem found, together."""
    return _Checker(spec, source).check()
