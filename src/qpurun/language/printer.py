"""Syntax tree to canonical `.qx` text: what `qpurun fmt` writes and `qpurun import` emits.

One layout for every spec, so that reviews see meaning, not whitespace:
two-space indents, one statement per line, `=` aligned in a run of
declarations of one kind, units in ASCII (`us`, `um`). Comments are kept: each
one stays before, or at the end of, the statement it was written beside.
Parentheses are printed only where precedence needs them, so that parsing the
output gives back an equal tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias, assert_never

from qpurun.language import ast
from qpurun.language.errors import Span

INDENT = "  "

# A line of a block (its text and the node it came from), or a nested block.
Item: TypeAlias = tuple[str, ast.Node | None] | ast.ZipGroup | ast.Eom

# Binding strength of each expression form, loosest first (see qx.lark).
_SUM, _PRODUCT, _UNARY, _POWER, _QUANTITY, _POSTFIX, _ATOM = range(1, 8)
_LEVEL = {
    ast.BinaryOperator.ADD: _SUM,
    ast.BinaryOperator.SUB: _SUM,
    ast.BinaryOperator.MUL: _PRODUCT,
    ast.BinaryOperator.DIV: _PRODUCT,
    ast.BinaryOperator.MOD: _PRODUCT,
    ast.BinaryOperator.POW: _POWER,
}


@dataclass(frozen=True)
class Comment:
    line: int
    column: int
    text: str


def comments_of(text: str) -> list[Comment]:
    """Every `# ...` comment in the text; a `#` inside a string is not one."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        blanked = re.sub(r'"(?:[^"\\\n]|\\.)*"', lambda m: " " * len(m.group()), line)
        column = blanked.find("#")
        if column >= 0:
            found.append(Comment(number, column + 1, line[column:].rstrip()))
    return found


def number(value: int | float) -> str:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number here")
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):
        raise ValueError(f"{text} cannot be written in a spec")
    return text


def string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def expression(expr: ast.Expr, level: int = 0) -> str:
    """The text of `expr`, parenthesized if it binds looser than `level`."""
    text, own = _expression(expr)
    return f"({text})" if own < level else text


def _expression(expr: ast.Expr) -> tuple[str, int]:
    match expr:
        case ast.Number():
            if expr.value < 0:
                return "-" + number(-expr.value), _UNARY
            return number(expr.value), _ATOM
        case ast.Name():
            return expr.id, _ATOM
        case ast.Quantity():
            return f"{expression(expr.value, _POSTFIX)} {expr.unit.value}", _QUANTITY
        case ast.BinaryOp():
            level = _LEVEL[expr.op]
            if expr.op is ast.BinaryOperator.POW:
                left, right = expression(expr.left, _QUANTITY), expression(expr.right, _UNARY)
            else:
                left, right = expression(expr.left, level), expression(expr.right, level + 1)
            return f"{left} {expr.op.value} {right}", level
        case ast.UnaryOp():
            return f"{expr.op.value}{expression(expr.operand, _UNARY)}", _UNARY
        case ast.Call():
            return f"{expr.function}({arguments(expr.arguments)})", _POSTFIX
        case ast.Index():
            return f"{expression(expr.value, _POSTFIX)}[{expression(expr.index)}]", _POSTFIX
        case ast.Attribute():
            return f"{expression(expr.value, _POSTFIX)}.{expr.name}", _POSTFIX
        case ast.ListExpr():
            return "[" + ", ".join(expression(item) for item in expr.items) + "]", _ATOM
        case _:
            assert_never(expr)


def arguments(items: Iterable[ast.Argument]) -> str:
    return ", ".join(expression(a.value) if a.name is None else f"{a.name} = {expression(a.value)}" for a in items)


def point(p: ast.Point, unit: ast.Unit | None = None) -> str:
    text = "(" + ", ".join(expression(c) for c in p.coordinates) + ")"
    return f"{text} {unit.value}" if unit else text


def _names(names: Iterable[ast.Identifier]) -> str:
    return ", ".join(name.name for name in names)


class _Printer:
    def __init__(self, comments: Sequence[Comment]) -> None:
        self.comments = list(comments)
        self.next = 0
        self.lines: list[str] = []

    # ---- comments

    def leading(self, before_line: int | None, depth: int) -> None:
        """Emit the comments written on their own lines before `before_line`."""
        while self.next < len(self.comments) and (before_line is None or self.comments[self.next].line < before_line):
            self.lines.append(INDENT * depth + self.comments[self.next].text)
            self.next += 1

    def trailing(self, line: int | None, last: int | None = None) -> str:
        """Comments written on source lines `line`..`last` (a statement that spanned
        several lines, now printed on one), as a suffix."""
        if line is None:
            return ""
        found = []
        while self.next < len(self.comments) and line <= self.comments[self.next].line <= (last or line):
            found.append(self.comments[self.next].text)
            self.next += 1
        return "".join("  " + text for text in found)

    def emit(self, text: str, node: ast.Node | None, depth: int) -> None:
        span = node.span if node is not None else None
        self.leading(span.line if span else -1, depth)
        self.lines.append(INDENT * depth + text + (self.trailing(span.line, span.end_line) if span else ""))

    def block(self, header: str, node: ast.Node, items: Sequence[Item], depth: int) -> None:
        span = node.span
        self.leading(span.line if span else -1, depth)
        self.lines.append(INDENT * depth + header + " {" + self.trailing(span.line if span else None))
        self.items(items, depth + 1)
        self.leading(span.end_line if span else -1, depth + 1)
        self.lines.append(INDENT * depth + "}" + self.trailing(span.end_line if span else None))

    def items(self, items: Sequence[Item], depth: int) -> None:
        for item in items:
            if isinstance(item, ast.ZipGroup):
                self.block("zip", item, [(_axis(a), a) for a in item.axes], depth)
            elif isinstance(item, ast.Eom):
                header = f"eom {item.channel} ({arguments(item.arguments)})"
                self.block(header, item, [(_eom_operation(o), o) for o in item.operations], depth)
            else:
                self.emit(*item, depth)

    # ---- statements

    def spec(self, spec: ast.Spec) -> str:
        previous: ast.Statement | None = None
        statements = spec.statements
        widths = _alignment(statements)
        for statement in statements:
            if previous is not None and _blank_between(previous, statement, self.comments):
                self.lines.append("")
            self.statement(statement, widths.get(id(statement), 0))
            previous = statement
        self.leading(None, 0)
        return "\n".join(self.lines).rstrip("\n") + "\n"

    def statement(self, s: ast.Statement, width: int) -> None:
        match s:
            case ast.Experiment():
                self.emit(f"experiment {string(s.name)}", s, 0)
            case ast.Device():
                target = string(s.name.name) if s.is_file or s.remote else s.name.name
                self.emit(f"device {'remote ' if s.remote else ''}{target}", s, 0)
            case ast.Include():
                self.emit(f"include {string(s.path.name)}", s, 0)
            case ast.LatticeLayout():
                self.emit(f"layout {s.shape}({arguments(s.arguments)})", s, 0)
            case ast.TrapsLayout():
                keyword = "traps3d" if s.three_d else "traps"
                body = ", ".join(point(p) for p in s.points)
                self.emit(f"layout {keyword} {{ {body} }}" + (f" {s.unit.value}" if s.unit else ""), s, 0)
            case ast.FileLayout():
                self.emit(f"layout {string(s.path)}", s, 0)
            case ast.CalibratedLayout():
                self.emit(f"layout calibrated {string(s.name)}", s, 0)
            case ast.RegisterEntries():
                self.block("register", s, _register_rows(s.entries), 0)
            case ast.RegisterShape():
                tail = " auto_layout" if s.auto_layout else ""
                self.emit(f"register {s.shape}({arguments(s.arguments)}){tail}", s, 0)
            case ast.RegisterMappable():
                self.emit(f"register mappable {s.qubit_count}", s, 0)
            case ast.Channel():
                target = f" target {_names(s.targets)}" if s.targets else ""
                self.emit(f"channel {s.name.name.ljust(width)} = {s.channel_id}{target}", s, 0)
            case ast.DetuningMap():
                weights = ", ".join(
                    f"{w.target if isinstance(w.target, ast.Identifier) else f'trap {w.target}'}: {expression(w.value)}"
                    for w in s.weights
                )
                self.emit(f"detuning_map {s.name} on {s.dmm_id} {{ {weights} }}", s, 0)
            case ast.SlmMask():
                self.emit(f"slm_mask {_names(s.qubits)}", s, 0)
            case ast.MagneticField():
                self.emit(f"magnetic_field {point(s.point, s.unit)}", s, 0)
            case ast.VarDecl():
                size = f"[{s.size}]" if s.size is not None else ""
                self.emit(f"var {s.name}: {s.dtype}{size}", s, 0)
            case ast.Let() | ast.WaveformDecl() | ast.PulseDecl():
                keyword = {ast.Let: "let", ast.WaveformDecl: "waveform", ast.PulseDecl: "pulse"}[type(s)]
                self.emit(f"{keyword} {s.name.name.ljust(width)} = {expression(s.value)}", s, 0)
            case ast.Noise():
                self.emit(f"noise {{ {arguments(s.parameters)} }}" if s.parameters else "noise { }", s, 0)
            case ast.SequenceBlock():
                ops: list[Item] = [op if isinstance(op, ast.Eom) else (_operation(op), op) for op in s.operations]
                self.block("sequence", s, ops, 0)
            case ast.Runs():
                self.emit(f"runs {expression(s.value)}", s, 0)
            case ast.Sweep():
                rows: list[Item] = [line if isinstance(line, ast.ZipGroup) else (_axis(line), line) for line in s.lines]
                self.block("sweep", s, rows, 0)
            case ast.Jobs():
                self.block("jobs", s, [(_job(job), job) for job in s.jobs], 0)
            case _:
                assert_never(s)


def _register_rows(entries: Sequence[ast.TrapEntry | ast.CoordinateEntry]) -> list[Item]:
    """Entries written on one line stay on one line (a 3x3 array reads as a grid)."""
    rows: list[list[ast.TrapEntry | ast.CoordinateEntry]] = []
    for entry in entries:
        if rows and entry.span and rows[-1][-1].span and entry.span.line == rows[-1][-1].span.line:
            rows[-1].append(entry)
        else:
            rows.append([entry])
    result: list[Item] = []
    for row in rows:
        first, last = row[0].span, row[-1].span
        # The row as one node, so that a comment at its end stays there.
        anchor = ast.Name(
            "", span=Span(first.line, first.column, last.end_line, last.end_column) if first and last else None
        )
        result.append(("  ".join(_entry(e) for e in row), anchor))
    return result


def _entry(entry: ast.TrapEntry | ast.CoordinateEntry) -> str:
    if isinstance(entry, ast.TrapEntry):
        return f"{entry.qubit} = trap {entry.trap}"
    return f"{entry.qubit} = {point(entry.point, entry.unit)}"


def _operation(op: ast.Operation) -> str:
    match op:
        case ast.Add():
            return f"add {expression(op.pulse)} on {op.channel}" + (f" {op.protocol.value}" if op.protocol else "")
        case ast.Target():
            return f"target {_names(op.qubits)} on {op.channel}"
        case ast.TargetIndex():
            return f"target index {expression(op.index)} on {op.channel}"
        case ast.Delay():
            return f"delay {expression(op.duration)} on {op.channel}" + (" at_rest" if op.at_rest else "")
        case ast.Align():
            rest = {None: "", True: " at_rest", False: " not_at_rest"}[op.at_rest]
            return f"align {_names(op.channels)}{rest}"
        case ast.PhaseShift():
            basis = f" basis {op.basis.value}" if op.basis else ""
            return f"phase_shift {expression(op.phase)} on {_names(op.qubits)}{basis}"
        case ast.PhaseShiftIndex():
            basis = f" basis {op.basis.value}" if op.basis else ""
            indices = ", ".join(expression(i) for i in op.indices)
            return f"phase_shift {expression(op.phase)} on index {indices}{basis}"
        case ast.Detune():
            return f"detune {expression(op.waveform)} on {op.dmm}" + (f" {op.protocol.value}" if op.protocol else "")
        case ast.Truncate():
            return f"truncate {expression(op.duration)}"
        case ast.Measure():
            return f"measure {op.basis.value}"
        case ast.Eom():
            raise AssertionError(f"not a one-line operation: {op!r}")  # pragma: no cover
        case _:
            assert_never(op)


def _eom_operation(op: ast.EomOperation) -> str:
    match op:
        case ast.EomPulse():
            text = f"pulse {expression(op.duration)}"
            if op.phase is not None:
                text += f" phase {expression(op.phase)}"
            if op.post_phase_shift is not None:
                text += f" post_phase_shift {expression(op.post_phase_shift)}"
            if op.correct_phase_drift:
                text += " correct_phase_drift"
            if op.protocol:
                text += f" {op.protocol.value}"
            return text
        case ast.EomDelay():
            return f"delay {expression(op.duration)}"
        case ast.EomSetpoint():
            return f"setpoint ({arguments(op.arguments)})"
        case _:
            assert_never(op)


def _axis(axis: ast.SweepAxis) -> str:
    if isinstance(axis, ast.SweepRange):
        return f"{axis.name} = {expression(axis.start)} .. {expression(axis.stop)} step {expression(axis.step)}"
    return f"{axis.name} = {expression(axis.values)}"


def _job(job: ast.Job) -> str:
    parts = []
    for binding in job.bindings:
        if isinstance(binding, ast.QubitsBinding):
            placements = ", ".join(f"{p.qubit}: {p.trap}" for p in binding.placements)
            parts.append(f"{binding.name} = {{ {placements} }}")
        else:
            parts.append(f"{binding.name} = {expression(binding.value)}")
    return ", ".join(parts)


_ALIGNED = (ast.Let, ast.WaveformDecl, ast.PulseDecl, ast.Channel)


def _alignment(statements: Sequence[ast.Statement]) -> dict[int, int]:
    """Name widths for runs of consecutive declarations of one kind, to align `=`."""
    widths: dict[int, int] = {}
    run: list[ast.Statement] = []

    def close() -> None:
        if len(run) > 1:
            width = max(len(str(s.name)) for s in run)  # type: ignore[union-attr]
            widths.update({id(s): width for s in run})
        run.clear()

    for statement in statements:
        if (
            not isinstance(statement, _ALIGNED)
            or (run and type(run[-1]) is not type(statement))
            or (run and _gap(run[-1], statement))
        ):
            close()
        if isinstance(statement, _ALIGNED):
            run.append(statement)
    close()
    return widths


def _gap(a: ast.Node, b: ast.Node) -> bool:
    return bool(a.span and b.span and b.span.line - a.span.end_line > 1)


def _blank_between(a: ast.Statement, b: ast.Statement, comments: Sequence[Comment]) -> bool:
    """Keep a blank line where the author left one; without positions, between kinds."""
    if a.span and b.span:
        occupied = {c.line for c in comments}
        return any(line not in occupied for line in range(a.span.end_line + 1, b.span.line))
    return _group(a) != _group(b) or isinstance(a, ast.SequenceBlock | ast.Sweep | ast.Jobs)


def _group(statement: ast.Statement) -> str:
    if isinstance(statement, ast.Experiment | ast.Device | ast.Include):
        return "head"
    if isinstance(statement, ast.LatticeLayout | ast.TrapsLayout | ast.FileLayout | ast.CalibratedLayout):
        return "layout"
    if isinstance(statement, ast.RegisterEntries | ast.RegisterShape | ast.RegisterMappable):
        return "register"
    if isinstance(statement, ast.Channel | ast.DetuningMap | ast.SlmMask | ast.MagneticField):
        return "channels"
    if isinstance(statement, ast.Runs | ast.Sweep | ast.Jobs):
        return "jobs"
    return type(statement).__name__


def print_spec(spec: ast.Spec, *, source_text: str | None = None) -> str:
    """Canonical text for `spec`; pass the text it was parsed from to keep its comments."""
    comments = comments_of(source_text) if source_text is not None else []
    return _Printer(comments).spec(spec)


def format_text(text: str, *, filename: str = "<spec>") -> str:
    """Reformat `.qx` text canonically, comments kept (`qpurun fmt`)."""
    from qpurun.language.parser import parse

    return print_spec(parse(text, filename=filename), source_text=text)
