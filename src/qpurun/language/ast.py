"""The syntax tree of a `.qx` spec.

This module is the language at a glance: one frozen dataclass per construct,
with no dependency on lark or Pulser. Positions (`span`) never take part in
equality, so two trees compare equal when they say the same thing, wherever
it was written.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

from qpurun.language.catalog import Unit as Unit  # a unit as written; the catalog knows its dimension
from qpurun.language.errors import Span


@dataclass(frozen=True)
class Node:
    span: Span | None = field(default=None, compare=False, kw_only=True, repr=False)


@dataclass(frozen=True)
class Identifier(Node):
    """A name as the spec writes it (a channel, qubit, variable, waveform, ...), with its own span.

    The declaration and every use of a name are each one of these, so a caret,
    a go-to-definition or a rename finds exactly the characters written.
    `str()` is the name.
    """

    name: str

    def __str__(self) -> str:
        return self.name


# ---- expressions ---------------------------------------------------------------


class BinaryOperator(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    POW = "**"


class UnaryOperator(enum.Enum):
    NEG = "-"
    POS = "+"


@dataclass(frozen=True)
class Number(Node):
    value: int | float


@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Quantity(Node):
    """`value unit`: a value given in a unit, converted to Pulser's own."""

    value: Expr
    unit: Unit


@dataclass(frozen=True)
class BinaryOp(Node):
    op: BinaryOperator
    left: Expr
    right: Expr


@dataclass(frozen=True)
class UnaryOp(Node):
    op: UnaryOperator
    operand: Expr


@dataclass(frozen=True)
class Argument(Node):
    """A call argument; `name` is None for a positional one."""

    name: Identifier | None
    value: Expr


@dataclass(frozen=True)
class Call(Node):
    function: Identifier
    arguments: tuple[Argument, ...] = ()


@dataclass(frozen=True)
class Index(Node):
    value: Expr
    index: Expr


@dataclass(frozen=True)
class Attribute(Node):
    """`device.max_runs` or `ryd.max_amp`: a property of the device or a channel."""

    value: Expr
    name: Identifier


@dataclass(frozen=True)
class ListExpr(Node):
    items: tuple[Expr, ...]


Expr: TypeAlias = Number | Name | Quantity | BinaryOp | UnaryOp | Call | Index | Attribute | ListExpr


@dataclass(frozen=True)
class Point(Node):
    """A 2D or 3D coordinate tuple, `(x, y)` or `(x, y, z)`."""

    coordinates: tuple[Expr, ...]


# ---- declarations ----------------------------------------------------------------


@dataclass(frozen=True)
class Experiment(Node):
    name: str


@dataclass(frozen=True)
class Device(Node):
    """`device AnalogDevice`, `device "my_device.json"` or `device remote "FRESNEL"`."""

    name: Identifier
    is_file: bool = False
    remote: bool = False


@dataclass(frozen=True)
class Include(Node):
    path: Identifier


@dataclass(frozen=True)
class LatticeLayout(Node):
    """`layout triangular(61, spacing = 5 um)`, `square(...)`, `rectangular(...)`."""

    shape: Identifier
    arguments: tuple[Argument, ...]


@dataclass(frozen=True)
class TrapsLayout(Node):
    points: tuple[Point, ...]
    unit: Unit | None
    three_d: bool = False


@dataclass(frozen=True)
class FileLayout(Node):
    path: str


@dataclass(frozen=True)
class CalibratedLayout(Node):
    name: str


@dataclass(frozen=True)
class TrapEntry(Node):
    qubit: Identifier
    trap: int


@dataclass(frozen=True)
class CoordinateEntry(Node):
    qubit: Identifier
    point: Point
    unit: Unit | None


@dataclass(frozen=True)
class RegisterEntries(Node):
    """`register { q0 = trap 0 ... }` or `register { a = (0, 0) um ... }`."""

    entries: tuple[TrapEntry | CoordinateEntry, ...]


@dataclass(frozen=True)
class RegisterShape(Node):
    """`register square(3, spacing = 5 um) [auto_layout]`: qubits q0, q1, ..."""

    shape: Identifier
    arguments: tuple[Argument, ...]
    auto_layout: bool = False


@dataclass(frozen=True)
class RegisterMappable(Node):
    qubit_count: int


@dataclass(frozen=True)
class Channel(Node):
    name: Identifier
    channel_id: Identifier
    targets: tuple[Identifier, ...] = ()


@dataclass(frozen=True)
class Weight(Node):
    """A detuning-map weight on a qubit (by name) or on a trap (by number)."""

    target: Identifier | int
    value: Expr


@dataclass(frozen=True)
class DetuningMap(Node):
    name: Identifier
    dmm_id: Identifier
    weights: tuple[Weight, ...]


@dataclass(frozen=True)
class SlmMask(Node):
    qubits: tuple[Identifier, ...]


@dataclass(frozen=True)
class MagneticField(Node):
    point: Point
    unit: Unit | None


@dataclass(frozen=True)
class VarDecl(Node):
    name: Identifier
    dtype: Identifier
    size: int | None = None


@dataclass(frozen=True)
class Let(Node):
    name: Identifier
    value: Expr


@dataclass(frozen=True)
class WaveformDecl(Node):
    name: Identifier
    value: Expr


@dataclass(frozen=True)
class PulseDecl(Node):
    name: Identifier
    value: Expr


@dataclass(frozen=True)
class Noise(Node):
    parameters: tuple[Argument, ...]


# ---- the sequence ------------------------------------------------------------------


class Protocol(enum.Enum):
    MIN_DELAY = "min-delay"
    NO_DELAY = "no-delay"
    WAIT_FOR_ALL = "wait-for-all"


class Basis(enum.Enum):
    GROUND_RYDBERG = "ground-rydberg"
    DIGITAL = "digital"
    XY = "XY"


@dataclass(frozen=True)
class Add(Node):
    pulse: Expr
    channel: Identifier
    protocol: Protocol | None = None


@dataclass(frozen=True)
class Target(Node):
    qubits: tuple[Identifier, ...]
    channel: Identifier


@dataclass(frozen=True)
class TargetIndex(Node):
    index: Expr
    channel: Identifier


@dataclass(frozen=True)
class Delay(Node):
    duration: Expr
    channel: Identifier
    at_rest: bool = False


@dataclass(frozen=True)
class Align(Node):
    """`at_rest` None keeps Pulser's default (which waits for the channels to be at rest)."""

    channels: tuple[Identifier, ...]
    at_rest: bool | None = None


@dataclass(frozen=True)
class PhaseShift(Node):
    phase: Expr
    qubits: tuple[Identifier, ...]
    basis: Basis | None = None


@dataclass(frozen=True)
class PhaseShiftIndex(Node):
    phase: Expr
    indices: tuple[Expr, ...]
    basis: Basis | None = None


@dataclass(frozen=True)
class Detune(Node):
    waveform: Expr
    dmm: Identifier
    protocol: Protocol | None = None


@dataclass(frozen=True)
class Truncate(Node):
    duration: Expr


@dataclass(frozen=True)
class Measure(Node):
    basis: Basis


@dataclass(frozen=True)
class EomPulse(Node):
    duration: Expr
    phase: Expr | None = None
    post_phase_shift: Expr | None = None
    correct_phase_drift: bool = False
    protocol: Protocol | None = None


@dataclass(frozen=True)
class EomDelay(Node):
    duration: Expr
    at_rest: bool = False
    """`delay 100 ns at_rest`: Pulser's `delay(..., at_rest=True)` in EOM mode."""


@dataclass(frozen=True)
class EomSetpoint(Node):
    arguments: tuple[Argument, ...]


EomOperation: TypeAlias = EomPulse | EomDelay | EomSetpoint


@dataclass(frozen=True)
class Eom(Node):
    channel: Identifier
    arguments: tuple[Argument, ...]
    operations: tuple[EomOperation, ...]


Operation: TypeAlias = (
    Add | Target | TargetIndex | Delay | Align | PhaseShift | PhaseShiftIndex | Detune | Truncate | Measure | Eom
)


@dataclass(frozen=True)
class SequenceBlock(Node):
    operations: tuple[Operation, ...]


# ---- runs, sweeps and jobs -----------------------------------------------------------


@dataclass(frozen=True)
class Runs(Node):
    value: Expr


@dataclass(frozen=True)
class SweepValues(Node):
    """`name = [..]`, `name = linspace(..)` or any expression giving one or more values."""

    name: Identifier
    values: Expr


@dataclass(frozen=True)
class SweepRange(Node):
    """`name = start .. stop step s`: inclusive of `stop` when the steps land on it."""

    name: Identifier
    start: Expr
    stop: Expr
    step: Expr


SweepAxis: TypeAlias = SweepValues | SweepRange


@dataclass(frozen=True)
class ZipGroup(Node):
    axes: tuple[SweepAxis, ...]


@dataclass(frozen=True)
class Sweep(Node):
    lines: tuple[SweepAxis | ZipGroup, ...]


@dataclass(frozen=True)
class Binding(Node):
    name: Identifier
    value: Expr


@dataclass(frozen=True)
class Placement(Node):
    qubit: Identifier
    trap: int


@dataclass(frozen=True)
class QubitsBinding(Node):
    placements: tuple[Placement, ...]
    name: Identifier = Identifier("qubits")


@dataclass(frozen=True)
class Job(Node):
    bindings: tuple[Binding | QubitsBinding, ...]


@dataclass(frozen=True)
class Jobs(Node):
    jobs: tuple[Job, ...]


Statement: TypeAlias = (
    Experiment
    | Device
    | Include
    | LatticeLayout
    | TrapsLayout
    | FileLayout
    | CalibratedLayout
    | RegisterEntries
    | RegisterShape
    | RegisterMappable
    | Channel
    | DetuningMap
    | SlmMask
    | MagneticField
    | VarDecl
    | Let
    | WaveformDecl
    | PulseDecl
    | Noise
    | SequenceBlock
    | Runs
    | Sweep
    | Jobs
)


@dataclass(frozen=True)
class Spec(Node):
    """A whole `.qx` file: its statements in the order written."""

    statements: tuple[Statement, ...]
