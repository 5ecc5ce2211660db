"""Lowering: a checked spec becomes the `pulser.Sequence` a careful user would write.

This is the only module that builds a `pulser.Sequence`. Each statement is
lowered inside `at(node)`: an exception Pulser raises there becomes a
`QxDeviceError` at that statement, in Pulser's own words, and a warning Pulser
issues becomes a located `QxWarning`. Pulser does the validating; we only say
where. Values come from the evaluator, Pulser constructs from the catalog, and
what the device offers from `devices.py`: no message about the spec is written
here.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, assert_never

import numpy as np
import pulser
from pulser.parametrized import Parametrized
from pulser.register import RegisterLayout

from qpurun.bridge.devices import (
    RemoteDevices as RemoteDevices,
)
from qpurun.bridge.devices import (
    calibrated_layout,
    channel_id,
    layout_file,
    load_device,
    property_of,
    trap_of,
)
from qpurun.language import ast
from qpurun.language.catalog import EOM, LATTICES, SETPOINT, SHAPES, WAVEFORMS, build_pulse
from qpurun.language.checker import Checked, aliased
from qpurun.language.errors import QxDeviceError, QxError, QxWarning, Span
from qpurun.language.evaluate import Evaluator
from qpurun.language.visitor import children

if TYPE_CHECKING:
    from qpurun.language.catalog import BaseDevice


Protocols = Literal["min-delay", "no-delay", "wait-for-all"]

# Exceptions Pulser raises for a request it refuses. Anything else is a bug of ours.
PULSER_REFUSALS = (ValueError, TypeError, NotImplementedError, RuntimeError, KeyError, IndexError, ZeroDivisionError)

_HINTS = (
    ("amplitude goes over the maximum", "lower the amplitude, or read the limit with `<channel>.max_amp`"),
    ("detuning values go out of the range", "keep |detuning| within `<channel>.max_abs_detuning`"),
    ("waveforms must match", "give the amplitude and detuning waveforms the same duration"),
    ("amplitude waveform must be", "an amplitude is never negative; put the sign in the phase (phase = pi)"),
    ("detuning weights", "weigh the register's qubits (by id) or the layout's traps (`trap N`)"),
    ("distance", "space the atoms further apart than `device.min_atom_distance`"),
    ("basis", "this device's channels do not address that basis"),
    ("too many qubits", "use fewer qubits, or a layout with more traps"),
    ("layout", "this device needs a register defined on a layout (see `layout`)"),
    ("sequence's duration", "the whole sequence must fit in `device.max_sequence_duration`"),
    ("duration", "durations are whole ns within the channel's min/max duration"),
    ("qubit ids", "generated registers name their qubits q0, q1, ...; check the ids"),
    ("number of atoms", "use fewer atoms: at most `device.max_atom_num`"),
    ("does not have an eom", "this channel has no EOM mode on this device; add the pulses without `eom`"),
    ("has been measured", "`measure` ends the sequence: write it last, once"),
    ("runs", "lower `runs` or pass --split-runs"),
    ("not defined", "check the qubit ids of the register"),
)


def hint_for(message: str) -> str:
    lowered = message.lower()
    for needle, hint in _HINTS:
        if needle in lowered:
            return hint
    return "Pulser refused this statement; the message above is Pulser's own"


@dataclass
class Lowered:
    sequence: pulser.Sequence[Any]
    device: BaseDevice
    register: Any
    warnings: list[QxWarning] = field(default_factory=list)


class Lowerer:
    """Turns a Checked spec into Pulser objects.

    `bindings` pins variables to values: with none, the sequence is
    parametrized; with every variable bound, the result is the built sequence of
    one job, and a failure names the exact statement.
    """

    def __init__(
        self,
        checked: Checked,
        *,
        bindings: Mapping[str, Any] | None = None,
        device: BaseDevice | None = None,
        remote_devices: RemoteDevices | None = None,
    ) -> None:
        self.checked = checked
        self.source = checked.source
        self.bindings = bindings
        self.variables: dict[str, Any] = {}
        """What each variable stands for: Pulser's variable, or one job's value (filled as they are declared)."""
        self.warnings: list[QxWarning] = []
        self.remote_devices = remote_devices
        self.device: BaseDevice = device if device is not None else self.load_device(checked.device)
        self.layout: RegisterLayout | None = None
        self.written_traps: list[int] | None = None
        """For a `traps {}` layout: Pulser's trap id of the N-th trap written (Pulser sorts them)."""
        self.sequence: pulser.Sequence[Any] | None = None
        self.evaluator = Evaluator(
            values=checked.values,
            declared=checked.variables,
            variables=self.variables,
            attribute=self.attribute,
            construct=self.construct,
            is_symbolic=lambda value: isinstance(value, Parametrized),
            scales=checked.scales,
        )
        self.value = self.evaluator.value
        self.constant = self.evaluator.constant
        self.duration = self.evaluator.duration
        self.point = self.evaluator.point

    # ---- located Pulser calls

    @contextlib.contextmanager
    def at(self, node: ast.Node) -> Iterator[None]:
        """Run Pulser calls for `node`; its refusals and warnings point at `node`."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            except QxError as error:
                raise error.located(self.source) from None
            except PULSER_REFUSALS as error:
                message = str(error).strip()
                if isinstance(error, KeyError):  # str() of a KeyError is the repr of the key
                    message = message.strip("'\"")
                message = message or type(error).__name__
                raise QxDeviceError(message, node.span, self.source, hint=hint_for(message)) from None
        for warning in caught:
            if issubclass(warning.category, DeprecationWarning | PendingDeprecationWarning):
                continue
            self.warnings.append(QxWarning(str(warning.message), node.span, self.source))

    # ---- the pieces, top to bottom

    def load_device(self, statement: ast.Device) -> BaseDevice:
        with self.at(statement):
            return load_device(statement, self.source, self.remote_devices, self.checked.allowed_paths)

    def lower(self) -> Lowered:
        checked = self.checked
        if checked.layout is not None:
            with self.at(checked.layout):
                self.layout = self.lower_layout(checked.layout)
        with self.at(checked.register):
            register = self.lower_register(checked.register)
        with self.at(checked.register):
            self.sequence = seq = pulser.Sequence(register, self.device)
        for statement in checked.setup:
            with self.at(statement):
                self.lower_setup(seq, register, statement)
        for declaration in checked.variables.values():
            with self.at(declaration):
                self.declare_variable(seq, declaration)
        for operation in checked.sequence.operations:
            with self.at(operation):
                self.lower_operation(seq, operation)
        for name, value_declaration in checked.values.items():  # report errors in unused values too
            with self.at(value_declaration):
                self.evaluator.value_of(name)
        return Lowered(seq, self.device, register, self.warnings)

    def lower_layout(self, layout: ast.Statement) -> RegisterLayout:
        if isinstance(layout, ast.LatticeLayout):
            lattice = LATTICES[layout.shape.name]
            arguments = aliased(layout.shape.name, layout.arguments)
            self.evaluator.arguments(arguments)  # the sizes, bounded before Pulser allocates them
            built: RegisterLayout = lattice.build(self.evaluator.bound(lattice.signature, arguments))
            return built
        if isinstance(layout, ast.TrapsLayout):
            points = [self.point(p, layout.unit) for p in layout.points]
            written = RegisterLayout(points)
            self.written_traps = [int(written.get_traps_from_coordinates(p)[0]) for p in points]
            return written
        if isinstance(layout, ast.FileLayout):
            return layout_file(layout, self.source, self.checked.allowed_paths)
        assert isinstance(layout, ast.CalibratedLayout)
        return calibrated_layout(self.device, layout)

    def trap(self, number: int, span: Span | None) -> int:
        """Pulser's id for trap `number` as the spec numbers it: in writing order for `traps {}`."""
        traps = self.layout.number_of_traps if self.layout is not None else None
        return trap_of(self.written_traps, number, span, traps)

    def placement(self, qubits: Mapping[str, int], span: Span | None) -> dict[str, int]:
        """A job's `qubits = {...}` with the spec's trap numbers made Pulser's."""
        return {qubit: self.trap(number, span) for qubit, number in qubits.items()}

    def lower_register(self, register: ast.Statement) -> Any:
        if isinstance(register, ast.RegisterEntries):
            entries = register.entries
            if entries and isinstance(entries[0], ast.TrapEntry):
                assert self.layout is not None
                traps = [self.trap(e.trap, e.span) for e in entries if isinstance(e, ast.TrapEntry)]
                return self.layout.define_register(*traps, qubit_ids=[e.qubit.name for e in entries])
            coordinates = {
                e.qubit.name: self.point(e.point, e.unit) for e in entries if isinstance(e, ast.CoordinateEntry)
            }
            if any(len(c) == 3 for c in coordinates.values()):
                return pulser.Register3D(coordinates)
            return pulser.Register(coordinates)
        if isinstance(register, ast.RegisterMappable):
            assert self.layout is not None
            mappable = self.layout.make_mappable_register(register.qubit_count, prefix="q")
            if self.bindings is not None and "qubits" in self.bindings:
                return mappable.build_register(self.bindings["qubits"])  # one job's placement
            return mappable
        assert isinstance(register, ast.RegisterShape)
        arguments = self.evaluator.arguments(register.arguments)
        positional = arguments.pop(None, [])
        result = SHAPES[register.shape.name].build(positional, arguments, self.device)
        if register.auto_layout:
            result = result.with_automatic_layout(self.device)
        return result

    def lower_setup(self, seq: pulser.Sequence[Any], register: Any, statement: ast.Statement) -> None:
        if isinstance(statement, ast.Channel):
            target: Any = None
            if statement.targets:
                target = (
                    statement.targets[0].name if len(statement.targets) == 1 else [t.name for t in statement.targets]
                )
            seq.declare_channel(statement.name.name, channel_id(self.device, statement), initial_target=target)
        elif isinstance(statement, ast.DetuningMap):
            weights: dict[Any, float] = {
                self.trap(w.target, w.span) if isinstance(w.target, int) else w.target.name: self.constant(w.value)
                for w in statement.weights
            }
            if all(isinstance(k, int) for k in weights):
                assert self.layout is not None, "the checker refuses weights on traps without a layout"
                detuning_map = self.layout.define_detuning_map(weights)
            else:
                detuning_map = register.define_detuning_map(weights)
            seq.config_detuning_map(detuning_map, statement.dmm_id.name)
        elif isinstance(statement, ast.SlmMask):
            seq.config_slm_mask([q.name for q in statement.qubits])
        elif isinstance(statement, ast.MagneticField):
            seq.set_magnetic_field(*self.point(statement.point, statement.unit))

    def declare_variable(self, seq: pulser.Sequence[Any], declaration: ast.VarDecl) -> None:
        dtype = int if declaration.dtype.name == "int" else float
        if self.bindings is not None:
            self.variables[declaration.name.name] = self.bindings[declaration.name.name]
            return
        if declaration.size is None:
            self.variables[declaration.name.name] = seq.declare_variable(declaration.name.name, dtype=dtype)
        else:
            self.variables[declaration.name.name] = seq.declare_variable(
                declaration.name.name, size=declaration.size, dtype=dtype
            )

    def lower_operation(self, seq: pulser.Sequence[Any], op: ast.Operation) -> None:
        match op:
            case ast.Add():
                pulse = self.value(op.pulse)
                try:
                    seq.add(pulse, op.channel.name, protocol=_protocol(op.protocol, "min-delay"))
                except ValueError as error:
                    if "amplitude goes over the maximum" not in str(error):
                        raise
                    raise self.amplitude_too_high(str(error), pulse, seq, op) from None
            case ast.Target():
                seq.target(op.qubits[0].name if len(op.qubits) == 1 else [q.name for q in op.qubits], op.channel.name)
            case ast.TargetIndex():
                seq.target_index(self.value(op.index), op.channel.name)
            case ast.Delay():
                seq.delay(self.duration(op.duration), op.channel.name, at_rest=op.at_rest)
            case ast.Align():
                # Only an explicit choice is passed on, so the JSON says what the spec says.
                seq.align(*(c.name for c in op.channels), **({} if op.at_rest is None else {"at_rest": op.at_rest}))
            case ast.PhaseShift():
                basis = {"basis": op.basis.value} if op.basis else {}
                seq.phase_shift(self.value(op.phase), *(q.name for q in op.qubits), **basis)
            case ast.PhaseShiftIndex():
                basis = {"basis": op.basis.value} if op.basis else {}
                seq.phase_shift_index(self.value(op.phase), *(self.value(i) for i in op.indices), **basis)
            case ast.Detune():
                seq.add_dmm_detuning(
                    self.value(op.waveform), self.checked.dmms[op.dmm.name], protocol=_protocol(op.protocol, "no-delay")
                )
            case ast.Truncate():
                seq.truncate(self.duration(op.duration))
            case ast.Measure():
                seq.measure(op.basis.value)
            case ast.Eom():
                self.lower_eom(seq, op)
            case _:
                assert_never(op)

    def amplitude_too_high(self, message: str, pulse: Any, seq: pulser.Sequence[Any], op: ast.Add) -> QxDeviceError:
        """Pulser's refusal with the numbers: the amplitude and the limit, in rad/µs and MHz.

        An amplitude about 2π times the limit is the classic slip of writing `2 * pi * 1 MHz`.
        """
        channel = seq.declared_channels[op.channel.name]
        limit = float(channel.max_amp or 0.0)
        reached = float(np.max(pulse.amplitude.samples))
        message = (
            f"{message} It reaches {reached:.4g} rad/µs ({reached / (2 * math.pi):.4g} MHz); "
            f"`{op.channel}` ({self.checked.channels[op.channel.name].channel_id}) allows "
            f"{limit:.4g} rad/µs ({limit / (2 * math.pi):.4g} MHz)."
        )
        if reached / (2 * math.pi) <= limit and self.writes_two_pi_megahertz(op.pulse):
            meant = reached / (2 * math.pi) ** 2
            hint = (
                f"without a factor 2π it would fit: MHz already includes the 2π "
                f"(write `{meant:.4g} MHz`, not `2 * pi * {meant:.4g} MHz`)"
            )
        else:
            hint = hint_for(message)
        return QxDeviceError(message, op.span, hint=hint)

    def writes_two_pi_megahertz(self, expr: ast.Expr) -> bool:
        """Whether the expression (through the names it uses) multiplies by `pi` and writes MHz."""
        seen: set[str] = set()
        pending: list[ast.Node] = [expr]
        has_pi = has_megahertz = False
        while pending:
            node = pending.pop()
            if isinstance(node, ast.Name):
                has_pi |= node.id == "pi"
                declaration = self.checked.values.get(node.id)
                if declaration is not None and node.id not in seen:
                    seen.add(node.id)
                    pending.append(declaration.value)
            elif isinstance(node, ast.Quantity):
                has_megahertz |= node.unit is ast.Unit.MHZ
            pending.extend(children(node))
        return has_pi and has_megahertz

    def lower_eom(self, seq: pulser.Sequence[Any], op: ast.Eom) -> None:
        setpoint = self.evaluator.bound(EOM, op.arguments)
        drift = bool(setpoint.pop("correct_phase_drift", False))
        seq.enable_eom_mode(
            op.channel.name,
            setpoint["amplitude"],
            setpoint["detuning_on"],
            setpoint.get("optimal_detuning_off", 0.0),
            correct_phase_drift=drift,
        )
        for inner in op.operations:
            with self.at(inner):
                if isinstance(inner, ast.EomPulse):
                    seq.add_eom_pulse(
                        op.channel.name,
                        self.duration(inner.duration),
                        self.value(inner.phase) if inner.phase is not None else 0.0,
                        self.value(inner.post_phase_shift) if inner.post_phase_shift is not None else 0.0,
                        protocol=_protocol(inner.protocol, "min-delay"),
                        correct_phase_drift=inner.correct_phase_drift,
                    )
                elif isinstance(inner, ast.EomDelay):
                    seq.delay(self.duration(inner.duration), op.channel.name, at_rest=inner.at_rest)
                else:
                    new = self.evaluator.bound(SETPOINT, inner.arguments)
                    seq.modify_eom_setpoint(
                        op.channel.name,
                        new["amplitude"],
                        new["detuning_on"],
                        new.get("optimal_detuning_off", 0.0),
                        correct_phase_drift=bool(new.get("correct_phase_drift", False)),
                    )
        seq.disable_eom_mode(op.channel.name, correct_phase_drift=drift)

    # ---- values

    def attribute(self, expr: ast.Attribute) -> Any:
        return property_of(self.device, self.checked.channels, expr)

    def construct(self, expr: ast.Call, name: str, args: dict[str, Any]) -> Any:
        """The Pulser pulse or waveform of a call, built from the catalog."""
        if name == "pulse":
            return build_pulse(args, _is_waveform)
        with self.at(expr):
            return WAVEFORMS[name].build(args)


def _protocol(protocol: ast.Protocol | None, default: Protocols) -> Protocols:
    if protocol is None:
        return default
    value: Protocols = protocol.value
    return value


def _is_waveform(value: Any) -> bool:
    """A waveform, or a parametrized one (a ParamObj that will build a Waveform)."""
    from pulser.parametrized.paramobj import ParamObj
    from pulser.waveforms import Waveform

    if isinstance(value, Waveform):
        return True
    if isinstance(value, ParamObj):
        # `cls` is the class; for a classmethod (BlackmanWaveform.from_max_val) it is
        # the plain function, and the class is its first argument.
        made = value.args[0] if value.args and isinstance(value.args[0], type) else value.cls
        return isinstance(made, type) and issubclass(made, Waveform)
    return False


def lower(checked: Checked, *, bindings: Mapping[str, Any] | None = None, device: BaseDevice | None = None) -> Lowered:
    """Build the Pulser sequence of a checked spec (parametrized unless `bindings`).

    Pass the `device` already loaded for this spec to skip loading it again.
    """
    return Lowerer(checked, bindings=bindings, device=device).lower()


def to_json(sequence: pulser.Sequence[Any]) -> str:
    """The sequence's abstract representation, with keys sorted: byte-stable output."""
    # Pulser sorts and indents as it dumps: no second parse and dump (~1 ms a spec).
    text: str = sequence.to_abstract_repr(json_dumps_options={"sort_keys": True, "indent": 2})
    return text
