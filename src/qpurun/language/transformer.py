"""Lark tree to syntax tree, and nothing else.

Every method here only builds a node with its span. Checks with messages live
in `checker.py`: an error raised inside a lark Transformer arrives wrapped in
`VisitError`, without a position.
"""

from __future__ import annotations

import re
from typing import Any

from lark import Token, Transformer, Tree, v_args
from lark.tree import Meta

from qpurun.language import ast
from qpurun.language.catalog import SPELLINGS
from qpurun.language.errors import QxTypeError, Span


def _span(meta: Meta) -> Span | None:
    if getattr(meta, "empty", True):
        return None
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _name(token: Token) -> ast.Identifier:
    """A NAME token as an Identifier, spanning exactly the name."""
    return ast.Identifier(str(token), span=_token_span(token))


def _string_name(token: Token) -> ast.Identifier:
    """A STRING token (a path) as an Identifier; its span includes the quotes."""
    return ast.Identifier(_string(token), span=_token_span(token))


def _token_span(token: Token) -> Span | None:
    if token.line is None or token.column is None or token.end_line is None or token.end_column is None:
        return None
    return Span(token.line, token.column, token.end_line, token.end_column)


_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}
_ESCAPE = re.compile(r"\\(.)")


def _string(token: Token) -> str:
    r"""A string's text: `\\`, `\"`, `\n` and `\t` are escapes, any other backslash is itself.
    (Python's `unicode_escape` would read UTF-8 as Latin-1: `"é"` became `Ã©`.)"""
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), str(token[1:-1]))


def _flags(arguments: tuple[ast.Argument, ...]) -> tuple[ast.Argument, ...]:
    """A bare `correct_phase_drift` among a setpoint's arguments (`eom`, `setpoint`) is the flag, set."""
    return tuple(
        ast.Argument(ast.Identifier(a.value.id, span=a.value.span), ast.Number(1, span=a.span), span=a.span)
        if a.name is None and isinstance(a.value, ast.Name) and a.value.id == "correct_phase_drift"
        else a
        for a in arguments
    )


MAX_WHOLE_NUMBER_DIGITS = 9
"""A trap number, an array size or a count of qubits: no layout or register comes near a billion."""


def _int(token: Token) -> int:
    """An INT token (a trap, a size): refused when longer than any layout, before Python converts it."""
    text = str(token)
    if len(text) > MAX_WHOLE_NUMBER_DIGITS:
        raise QxTypeError(
            f"{text[:12]}{'...' if len(text) > 12 else ''} is too large here",
            _token_span(token),
            hint="traps, sizes and counts are at most 999,999,999",
        )
    return int(text)


def _unit(token: Token | None) -> ast.Unit | None:
    return None if token is None else SPELLINGS[str(token)]


def _arguments(items: list[Any]) -> tuple[ast.Argument, ...]:
    return tuple(
        item if isinstance(item, ast.Argument) else ast.Argument(None, item, span=item.span)
        for item in items
        if item is not None
    )


def _present(items: list[Any]) -> list[Any]:
    return [item for item in items if item is not None]


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    # ---- file and declarations
    def start(self, meta: Meta, children: list[Any]) -> ast.Spec:
        return ast.Spec(tuple(children), span=_span(meta))

    def experiment(self, meta: Meta, c: list[Any]) -> ast.Experiment:
        return ast.Experiment(_string(c[0]), span=_span(meta))

    def device(self, meta: Meta, c: list[Any]) -> ast.Device:
        token: Token = c[0]
        if token.type == "STRING":
            return ast.Device(_string_name(token), is_file=True, span=_span(meta))
        return ast.Device(_name(token), span=_span(meta))

    def device_remote(self, meta: Meta, c: list[Any]) -> ast.Device:
        return ast.Device(_string_name(c[0]), remote=True, span=_span(meta))

    def include(self, meta: Meta, c: list[Any]) -> ast.Include:
        return ast.Include(_string_name(c[0]), span=_span(meta))

    def layout_lattice(self, meta: Meta, c: list[Any]) -> ast.LatticeLayout:
        return ast.LatticeLayout(_name(c[0]), _arguments(c[1:]), span=_span(meta))

    def layout_traps(self, meta: Meta, c: list[Any]) -> ast.TrapsLayout:
        return ast.TrapsLayout(tuple(_present(c[:-1])), _unit(c[-1]), span=_span(meta))

    def layout_traps3d(self, meta: Meta, c: list[Any]) -> ast.TrapsLayout:
        return ast.TrapsLayout(tuple(_present(c[:-1])), _unit(c[-1]), three_d=True, span=_span(meta))

    def layout_file(self, meta: Meta, c: list[Any]) -> ast.FileLayout:
        return ast.FileLayout(_string(c[0]), span=_span(meta))

    def layout_calibrated(self, meta: Meta, c: list[Any]) -> ast.CalibratedLayout:
        return ast.CalibratedLayout(_string(c[0]), span=_span(meta))

    def point(self, meta: Meta, c: list[Any]) -> ast.Point:
        return ast.Point(tuple(_present(c)), span=_span(meta))

    def register_entries(self, meta: Meta, c: list[Any]) -> ast.RegisterEntries:
        return ast.RegisterEntries(tuple(c), span=_span(meta))

    def reg_trap(self, meta: Meta, c: list[Any]) -> ast.TrapEntry:
        return ast.TrapEntry(_name(c[0]), _int(c[1]), span=_span(meta))

    def reg_coord(self, meta: Meta, c: list[Any]) -> ast.CoordinateEntry:
        return ast.CoordinateEntry(_name(c[0]), c[1], _unit(c[2]), span=_span(meta))

    def register_shape(self, meta: Meta, c: list[Any]) -> ast.RegisterShape:
        return ast.RegisterShape(_name(c[0]), _arguments(c[1:-1]), auto_layout=c[-1] is not None, span=_span(meta))

    def register_mappable(self, meta: Meta, c: list[Any]) -> ast.RegisterMappable:
        return ast.RegisterMappable(_int(c[0]), span=_span(meta))

    def channel(self, meta: Meta, c: list[Any]) -> ast.Channel:
        targets = tuple(_name(t) for t in _present(c[2:]))
        return ast.Channel(_name(c[0]), _name(c[1]), targets, span=_span(meta))

    def detuning_map(self, meta: Meta, c: list[Any]) -> ast.DetuningMap:
        return ast.DetuningMap(_name(c[0]), _name(c[1]), tuple(_present(c[2:])), span=_span(meta))

    def qubit_weight(self, meta: Meta, c: list[Any]) -> ast.Weight:
        return ast.Weight(_name(c[0]), c[1], span=_span(meta))

    def trap_weight(self, meta: Meta, c: list[Any]) -> ast.Weight:
        return ast.Weight(_int(c[0]), c[1], span=_span(meta))

    def slm_mask(self, meta: Meta, c: list[Any]) -> ast.SlmMask:
        return ast.SlmMask(tuple(_name(t) for t in c), span=_span(meta))

    def magnetic_field(self, meta: Meta, c: list[Any]) -> ast.MagneticField:
        return ast.MagneticField(c[0], _unit(c[1]), span=_span(meta))

    def var(self, meta: Meta, c: list[Any]) -> ast.VarDecl:
        size = None if c[2] is None else _int(c[2])
        return ast.VarDecl(_name(c[0]), _name(c[1]), size, span=_span(meta))

    def let(self, meta: Meta, c: list[Any]) -> ast.Let:
        return ast.Let(_name(c[0]), c[1], span=_span(meta))

    def waveform(self, meta: Meta, c: list[Any]) -> ast.WaveformDecl:
        return ast.WaveformDecl(_name(c[0]), c[1], span=_span(meta))

    def pulse_decl(self, meta: Meta, c: list[Any]) -> ast.PulseDecl:
        return ast.PulseDecl(_name(c[0]), c[1], span=_span(meta))

    def noise(self, meta: Meta, c: list[Any]) -> ast.Noise:
        return ast.Noise(_arguments(c), span=_span(meta))

    # ---- the sequence
    def sequence(self, meta: Meta, c: list[Any]) -> ast.SequenceBlock:
        return ast.SequenceBlock(tuple(c), span=_span(meta))

    def add(self, meta: Meta, c: list[Any]) -> ast.Add:
        protocol = None if c[2] is None else ast.Protocol(str(c[2]))
        return ast.Add(c[0], _name(c[1]), protocol, span=_span(meta))

    def target(self, meta: Meta, c: list[Any]) -> ast.Target:
        return ast.Target(tuple(_name(t) for t in c[:-1]), _name(c[-1]), span=_span(meta))

    def target_index(self, meta: Meta, c: list[Any]) -> ast.TargetIndex:
        return ast.TargetIndex(c[0], _name(c[1]), span=_span(meta))

    def delay(self, meta: Meta, c: list[Any]) -> ast.Delay:
        return ast.Delay(c[0], _name(c[1]), at_rest=c[2] is not None, span=_span(meta))

    def align(self, meta: Meta, c: list[Any]) -> ast.Align:
        at_rest = None if c[-1] is None else c[-1].type == "AT_REST"
        return ast.Align(tuple(_name(t) for t in c[:-1]), at_rest=at_rest, span=_span(meta))

    def phase_shift(self, meta: Meta, c: list[Any]) -> ast.PhaseShift:
        basis = None if c[-1] is None else ast.Basis(str(c[-1]))
        return ast.PhaseShift(c[0], tuple(_name(t) for t in c[1:-1]), basis, span=_span(meta))

    def phase_shift_index(self, meta: Meta, c: list[Any]) -> ast.PhaseShiftIndex:
        basis = None if c[-1] is None else ast.Basis(str(c[-1]))
        return ast.PhaseShiftIndex(c[0], tuple(c[1:-1]), basis, span=_span(meta))

    def detune(self, meta: Meta, c: list[Any]) -> ast.Detune:
        protocol = None if c[2] is None else ast.Protocol(str(c[2]))
        return ast.Detune(c[0], _name(c[1]), protocol, span=_span(meta))

    def truncate(self, meta: Meta, c: list[Any]) -> ast.Truncate:
        return ast.Truncate(c[0], span=_span(meta))

    def measure(self, meta: Meta, c: list[Any]) -> ast.Measure:
        return ast.Measure(ast.Basis(str(c[0])), span=_span(meta))

    def eom(self, meta: Meta, c: list[Any]) -> ast.Eom:
        arguments = _flags(_arguments([x for x in c[1:] if not isinstance(x, ast.EomOperation)]))
        operations = tuple(x for x in c[1:] if isinstance(x, ast.EomOperation))
        return ast.Eom(_name(c[0]), arguments, operations, span=_span(meta))

    def eom_pulse(self, meta: Meta, c: list[Any]) -> ast.EomPulse:
        options: dict[str, Any] = {}
        for option in c[1:-1]:
            options.update(option)
        protocol = None if c[-1] is None else ast.Protocol(str(c[-1]))
        return ast.EomPulse(c[0], **options, protocol=protocol, span=_span(meta))

    def eom_phase(self, meta: Meta, c: list[Any]) -> dict[str, Any]:
        return {"phase": c[0]}

    def eom_post_phase_shift(self, meta: Meta, c: list[Any]) -> dict[str, Any]:
        return {"post_phase_shift": c[0]}

    def eom_correct_phase_drift(self, meta: Meta, c: list[Any]) -> dict[str, Any]:
        return {"correct_phase_drift": True}

    def eom_delay(self, meta: Meta, c: list[Any]) -> ast.EomDelay:
        return ast.EomDelay(c[0], at_rest=c[1] is not None, span=_span(meta))

    def eom_setpoint(self, meta: Meta, c: list[Any]) -> ast.EomSetpoint:
        return ast.EomSetpoint(_flags(_arguments(c)), span=_span(meta))

    # ---- runs, sweeps, jobs
    def runs(self, meta: Meta, c: list[Any]) -> ast.Runs:
        return ast.Runs(c[0], span=_span(meta))

    def sweep(self, meta: Meta, c: list[Any]) -> ast.Sweep:
        return ast.Sweep(tuple(c), span=_span(meta))

    def sweep_values(self, meta: Meta, c: list[Any]) -> ast.SweepValues:
        return ast.SweepValues(_name(c[0]), c[1], span=_span(meta))

    def sweep_range(self, meta: Meta, c: list[Any]) -> ast.SweepRange:
        return ast.SweepRange(_name(c[0]), c[1], c[2], c[3], span=_span(meta))

    def zip_group(self, meta: Meta, c: list[Any]) -> ast.ZipGroup:
        return ast.ZipGroup(tuple(c), span=_span(meta))

    def jobs(self, meta: Meta, c: list[Any]) -> ast.Jobs:
        return ast.Jobs(tuple(c), span=_span(meta))

    def job(self, meta: Meta, c: list[Any]) -> ast.Job:
        return ast.Job(tuple(c), span=_span(meta))

    def bind_value(self, meta: Meta, c: list[Any]) -> ast.Binding:
        return ast.Binding(_name(c[0]), c[1], span=_span(meta))

    def bind_qubits(self, meta: Meta, c: list[Any]) -> ast.QubitsBinding:
        return ast.QubitsBinding(tuple(c[1:]), name=_name(c[0]), span=_span(meta))

    def placement(self, meta: Meta, c: list[Any]) -> ast.Placement:
        return ast.Placement(_name(c[0]), _int(c[1]), span=_span(meta))

    # ---- expressions
    def kwarg(self, meta: Meta, c: list[Any]) -> ast.Argument:
        return ast.Argument(_name(c[0]), c[1], span=_span(meta))

    def number(self, meta: Meta, c: list[Any]) -> ast.Number:
        text = str(c[0])
        # A whole number past int64 is a float (numpy holds nothing larger), and past 1e308 it is
        # inf, which the checker refuses: so is one with more digits than Python converts.
        value: int | float = int(text) if text.isdigit() and len(text) <= 18 else float(text)
        return ast.Number(value, span=_span(meta))

    def name(self, meta: Meta, c: list[Any]) -> ast.Name:
        return ast.Name(str(c[0]), span=_span(meta))

    def unit_expr(self, meta: Meta, c: list[Any]) -> ast.Quantity:
        return ast.Quantity(c[0], SPELLINGS[str(c[1])], span=_span(meta))

    def _binary(self, op: ast.BinaryOperator, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        return ast.BinaryOp(op, c[0], c[1], span=_span(meta))

    def add_expr(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        return self._binary(ast.BinaryOperator.ADD, meta, c)

    def sub_expr(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        return self._binary(ast.BinaryOperator.SUB, meta, c)

    def mul_expr(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        return self._binary(ast.BinaryOperator.MUL, meta, c)

    def div_expr(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        return self._binary(ast.BinaryOperator.DIV, meta, c)

    def mod_expr(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        return self._binary(ast.BinaryOperator.MOD, meta, c)

    def pow_expr(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        return self._binary(ast.BinaryOperator.POW, meta, c)

    def neg_expr(self, meta: Meta, c: list[Any]) -> ast.UnaryOp:
        return ast.UnaryOp(ast.UnaryOperator.NEG, c[0], span=_span(meta))

    def pos_expr(self, meta: Meta, c: list[Any]) -> ast.UnaryOp:
        return ast.UnaryOp(ast.UnaryOperator.POS, c[0], span=_span(meta))

    def call(self, meta: Meta, c: list[Any]) -> ast.Call:
        return ast.Call(_name(c[0]), _arguments(c[1:]), span=_span(meta))

    def index_expr(self, meta: Meta, c: list[Any]) -> ast.Index:
        return ast.Index(c[0], c[1], span=_span(meta))

    def attribute(self, meta: Meta, c: list[Any]) -> ast.Attribute:
        return ast.Attribute(c[0], _name(c[1]), span=_span(meta))

    def list_expr(self, meta: Meta, c: list[Any]) -> ast.ListExpr:
        return ast.ListExpr(tuple(_present(c)), span=_span(meta))


def to_ast(tree: Tree[Token]) -> ast.Spec:
    """Build the syntax tree for a parsed `.qx` file."""
    result = _ToAst().transform(tree)
    assert isinstance(result, ast.Spec)
    return result
