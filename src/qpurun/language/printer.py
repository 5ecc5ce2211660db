"""Syntax tree to canonical `.qx` text: what `qpurun fmt` writes and `qpurun import` emits.

One layout for every spec, so that reviews see meaning, not whitespace:
two-space indents, one statement per line (never wrapped), units in ASCII
(`us`, `um`). Comments are kept: each one stays before, or at the end of, the
statement it was written beside. Parentheses are printed only where
precedence needs them, so that parsing the output gives back an equal tree.

Lines are aligned as a careful author aligns them, so that the layout fmt
writes is one people keep (gofmt's rules, see docs/decisions.md):

- a run of top-level declarations of one kind (`let`, `waveform`, `pulse`,
  `channel`, `var`, `detuning_map`) aligns its names: `=` (a `var`'s type,
  a map's `on`) in one column. A blank line, a comment line or another kind
  ends the run.
- the lines of a block are one table: a register's rows keep their entries
  as written, in columns; a `jobs` block's bindings and a `zip` group's
  lists line up column by column, numbers right-aligned; a sweep's axes
  align their `=` (their lists are separate axes, not columns).
- end-of-line comments of consecutive lines of one run or block share a column.
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
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


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


@dataclass(frozen=True)
class _Field:
    """A piece of an aligned line, and the fixed text after it (`tail`). Fields
    with one `key` in one column of a table share a width; `key=None` is fixed."""

    text: str
    key: str | None = None
    numeric: bool = False  # a number, alone or with a unit: right-aligned, as in a spreadsheet
    tail: str = ""


_Cell: TypeAlias = tuple[_Field, ...]


def _table(rows: Sequence[Sequence[_Cell]], *, after: str = "", gap: str = "  ") -> list[str]:
    """Lay rows of cells out as a table, the way tabwriter lays out gofmt's columns.

    Within column `j`, the fields of one key are padded to the widest: a
    column of numbers on its left (right-aligned, as in a spreadsheet), any
    other on its right, except a cell's last field, which its cell pads. A comma stays on its text, padding goes
    after it (`[n0,  n1]`, never `[n0 , n1]`). Every cell but a row's last is
    followed by `after` (a job's comma), padded to the column's widest such
    cell, then `gap`. A row's last cell is not part of its column (as in
    tabwriter), so a long last cell widens nothing and no line ends in spaces.
    """
    width: dict[tuple[int, str], int] = {}
    numbers: dict[tuple[int, str], bool] = {}
    for row in rows:
        for j, cell in enumerate(row):
            for item in cell:
                if item.key is not None:
                    width[j, item.key] = max(width.get((j, item.key), 0), len(item.text))
                    numbers[j, item.key] = numbers.get((j, item.key), True) and item.numeric

    def field(j: int, item: _Field, last: bool) -> str:
        if item.key is None:
            return item.text + item.tail
        w = width[j, item.key]
        if numbers[j, item.key]:  # a column of numbers only; a formula among them left-aligns it
            return item.text.rjust(w) + item.tail
        if last:
            return item.text + item.tail
        if item.tail.startswith(","):
            return (item.text + item.tail).ljust(w + len(item.tail))
        return item.text.ljust(w) + item.tail

    texts = [
        [
            "".join(field(j, f, i == len(c) - 1) for i, f in enumerate(c)) + (after if j < len(r) - 1 else "")
            for j, c in enumerate(r)
        ]
        for r in rows
    ]
    column: dict[int, int] = {}
    for row_texts in texts:
        for j, text in enumerate(row_texts[:-1]):
            column[j] = max(column.get(j, 0), len(text))
    return ["".join(t.ljust(column[j]) + gap for j, t in enumerate(r[:-1])) + (r[-1] if r else "") for r in texts]


def _is_number(expr: ast.Expr) -> bool:
    """`2`, `-6`, `2.5 us`, `-8 MHz`: what reads as a number in a table column."""
    match expr:
        case ast.Number():
            return True
        case ast.UnaryOp():
            return _is_number(expr.operand)
        case ast.Quantity():
            return isinstance(expr.value, ast.Number)
        case _:
            return False


def _leading_list(expr: ast.Expr) -> ast.ListExpr | None:
    """The list a value starts with: `[-6, -8]` in `[-6, -8] * 2 * pi rad/us`."""
    while True:
        match expr:
            case ast.ListExpr():
                return expr
            case ast.BinaryOp():
                expr = expr.left
            case ast.Quantity():
                expr = expr.value
            case _:
                return None


def _value(expr: ast.Expr) -> tuple[_Field, ...]:
    """A value as fields: a list's items one by one, so that rows of lists read as
    columns (`[-6, -8]` over `[ 2,  4]`); anything else as one field."""
    text = expression(expr)
    items = _leading_list(expr)
    if items is not None and items.items and text.startswith(head := expression(items)):
        return _Field("["), *_columns(items.items, "item", "]" + text[len(head) :])
    return (_Field(text, "value", _is_number(expr)),)


def _columns(exprs: Sequence[ast.Expr], key: str, close: str) -> tuple[_Field, ...]:
    """Comma-separated items, each its own column; the last is followed by `close`."""
    last = len(exprs) - 1
    return tuple(
        _Field(expression(e), f"{key}{k}", _is_number(e), close if k == last else ", ") for k, e in enumerate(exprs)
    )


@dataclass(frozen=True)
class _Line:
    """An output line, its code and end-of-line comment apart, so that the comments
    of one run can be aligned once every line is known."""

    depth: int
    code: str
    comment: str = ""
    run: int | None = None  # lines of one run (a run of declarations, a block) share a comment column


class _Printer:
    def __init__(self, comments: Sequence[Comment]) -> None:
        self.comments = list(comments)
        self.next = 0
        self.lines: list[_Line] = []
        self.runs = 0

    def new_run(self) -> int:
        """A fresh id for lines whose end-of-line comments line up together."""
        self.runs += 1
        return self.runs

    # ---- comments

    def leading(self, before_line: int | None, depth: int) -> None:
        """Emit the comments written on their own lines before `before_line`."""
        while self.next < len(self.comments) and (before_line is None or self.comments[self.next].line < before_line):
            self.lines.append(_Line(depth, self.comments[self.next].text))
            self.next += 1

    def trailing(self, line: int | None, last: int | None = None) -> str:
        """Comments written on source lines `line`..`last` (a statement that spanned
        several lines, now printed on one), joined."""
        if line is None:
            return ""
        found = []
        while self.next < len(self.comments) and line <= self.comments[self.next].line <= (last or line):
            found.append(self.comments[self.next].text)
            self.next += 1
        return "  ".join(found)

    def emit(self, text: str, node: ast.Node | None, depth: int, run: int | None) -> None:
        span = node.span if node is not None else None
        self.leading(span.line if span else -1, depth)
        self.lines.append(_Line(depth, text, self.trailing(span.line, span.end_line) if span else "", run))

    def block(self, header: str, node: ast.Node, items: Sequence[Item], depth: int, run: int | None = None) -> None:
        span = node.span
        self.leading(span.line if span else -1, depth)
        self.lines.append(_Line(depth, header + " {", self.trailing(span.line if span else None), run))
        self.items(items, depth + 1)
        self.leading(span.end_line if span else -1, depth + 1)
        self.lines.append(_Line(depth, "}", self.trailing(span.end_line if span else None)))

    def items(self, items: Sequence[Item], depth: int) -> None:
        """A block's lines, one run: their tables were laid out over the whole block
        (a comment line between rows does not split a grid), and their
        end-of-line comments align over consecutive lines."""
        run = self.new_run()
        for item in items:
            if isinstance(item, ast.ZipGroup):
                self.block("zip", item, _zip_rows(item.axes), depth, run)
            elif isinstance(item, ast.Eom):
                header = f"eom {item.channel} ({arguments(item.arguments)})"
                self.block(header, item, [(_eom_operation(o), o) for o in item.operations], depth, run)
            else:
                self.emit(*item, depth, run)

    def text(self) -> str:
        """The lines, end-of-line comments aligned in each stretch of consecutive
        lines of one run that all have one (gofmt's rule)."""
        out: list[str] = []
        lines, i = self.lines, 0
        while i < len(lines):
            end = i + 1
            if lines[i].comment and lines[i].run is not None:
                while end < len(lines) and lines[end].comment and lines[end].run == lines[i].run:
                    end += 1
            width = max(len(line.code) for line in lines[i:end])
            for line in lines[i:end]:
                code = INDENT * line.depth + (
                    line.code.ljust(width) + "  " + line.comment if line.comment else line.code
                )
                out.append(code if line.code or line.comment else "")
            i = end
        return "\n".join(out).rstrip("\n") + "\n"

    # ---- statements

    def spec(self, spec: ast.Spec) -> str:
        previous: ast.Statement | None = None
        for group in _runs(spec.statements):
            run = self.new_run()
            # A run is of one kind: all declarations, laid out together, or none.
            rows = [[cell] for s in group if (cell := _declaration(s)) is not None]
            texts: Sequence[str | None] = _table(rows) if rows else [None] * len(group)
            for statement, aligned in zip(group, texts, strict=True):
                if previous is not None and _blank_between(previous, statement, self.comments):
                    self.lines.append(_Line(0, ""))
                self.statement(statement, aligned, run)
                previous = statement
        self.leading(None, 0)
        return self.text()

    def statement(self, s: ast.Statement, aligned: str | None, run: int) -> None:
        """Print one statement; `aligned` is a declaration's text, already laid out with its run."""
        match s:
            case ast.Let() | ast.WaveformDecl() | ast.PulseDecl() | ast.Channel() | ast.VarDecl() | ast.DetuningMap():
                assert aligned is not None
                self.emit(aligned, s, 0, run)
            case ast.Experiment():
                self.emit(f"experiment {string(s.name)}", s, 0, run)
            case ast.Device():
                target = string(s.name.name) if s.is_file or s.remote else s.name.name
                self.emit(f"device {'remote ' if s.remote else ''}{target}", s, 0, run)
            case ast.Include():
                self.emit(f"include {string(s.path.name)}", s, 0, run)
            case ast.LatticeLayout():
                self.emit(f"layout {s.shape}({arguments(s.arguments)})", s, 0, run)
            case ast.TrapsLayout():
                keyword = "traps3d" if s.three_d else "traps"
                body = ", ".join(point(p) for p in s.points)
                self.emit(f"layout {keyword} {{ {body} }}" + (f" {s.unit.value}" if s.unit else ""), s, 0, run)
            case ast.FileLayout():
                self.emit(f"layout {string(s.path)}", s, 0, run)
            case ast.CalibratedLayout():
                self.emit(f"layout calibrated {string(s.name)}", s, 0, run)
            case ast.RegisterEntries():
                self.block("register", s, _register_rows(s.entries), 0)
            case ast.RegisterShape():
                tail = " auto_layout" if s.auto_layout else ""
                self.emit(f"register {s.shape}({arguments(s.arguments)}){tail}", s, 0, run)
            case ast.RegisterMappable():
                self.emit(f"register mappable {s.qubit_count}", s, 0, run)
            case ast.SlmMask():
                self.emit(f"slm_mask {_names(s.qubits)}", s, 0, run)
            case ast.MagneticField():
                self.emit(f"magnetic_field {point(s.point, s.unit)}", s, 0, run)
            case ast.Noise():
                self.emit(f"noise {{ {arguments(s.parameters)} }}" if s.parameters else "noise { }", s, 0, run)
            case ast.SequenceBlock():
                ops: list[Item] = [op if isinstance(op, ast.Eom) else (_operation(op), op) for op in s.operations]
                self.block("sequence", s, ops, 0)
            case ast.Runs():
                self.emit(f"runs {expression(s.value)}", s, 0, run)
            case ast.Sweep():
                self.block("sweep", s, _sweep_rows(s.lines), 0)
            case ast.Jobs():
                rows = _table([[_binding(b) for b in job.bindings] for job in s.jobs], after=",", gap=" ")
                self.block("jobs", s, [(row, job) for row, job in zip(rows, s.jobs, strict=True)], 0)
            case _:
                assert_never(s)


def _declaration(s: ast.Statement) -> _Cell | None:
    """A declaration as fields, its name padded to the run's widest; None for other statements."""
    match s:
        case ast.Let() | ast.WaveformDecl() | ast.PulseDecl():
            keyword = {ast.Let: "let", ast.WaveformDecl: "waveform", ast.PulseDecl: "pulse"}[type(s)]
            return _Field(f"{keyword} "), _Field(s.name.name, "name", tail=" = "), _Field(expression(s.value))
        case ast.Channel():
            target = f" target {_names(s.targets)}" if s.targets else ""
            return _Field("channel "), _Field(s.name.name, "name", tail=" = "), _Field(f"{s.channel_id}{target}")
        case ast.VarDecl():
            # The colon stays on the name (`var t: int`, as the docs write it); the types form the column.
            size = f"[{s.size}]" if s.size is not None else ""
            return _Field("var "), _Field(f"{s.name}:", "name", tail=" "), _Field(f"{s.dtype}{size}")
        case ast.DetuningMap():
            weights = ", ".join(
                f"{w.target if isinstance(w.target, ast.Identifier) else f'trap {w.target}'}: {expression(w.value)}"
                for w in s.weights
            )
            return (
                _Field("detuning_map "),
                _Field(s.name.name, "name", tail=" on "),
                _Field(s.dmm_id.name, "dmm", tail=" "),
                _Field(f"{{ {weights} }}"),
            )
        case _:
            return None


def _register_rows(entries: Sequence[ast.TrapEntry | ast.CoordinateEntry]) -> list[Item]:
    """Entries written on one line stay on one line (a 3x3 array reads as a grid),
    and the rows' entries line up in columns, trap numbers and coordinates right-aligned."""
    rows: list[list[ast.TrapEntry | ast.CoordinateEntry]] = []
    for entry in entries:
        if rows and entry.span and rows[-1][-1].span and entry.span.line == rows[-1][-1].span.line:
            rows[-1].append(entry)
        else:
            rows.append([entry])
    texts = _table([[_entry(e) for e in row] for row in rows])
    result: list[Item] = []
    for row, text in zip(rows, texts, strict=True):
        first, last = row[0].span, row[-1].span
        # The row as one node, so that a comment at its end stays there.
        anchor = ast.Name(
            "", span=Span(first.line, first.column, last.end_line, last.end_column) if first and last else None
        )
        result.append((text, anchor))
    return result


def _entry(entry: ast.TrapEntry | ast.CoordinateEntry) -> _Cell:
    if isinstance(entry, ast.TrapEntry):
        return _Field(entry.qubit.name, "name", tail=" = trap "), _Field(str(entry.trap), "trap", numeric=True)
    unit = f" {entry.unit.value}" if entry.unit else ""
    name = _Field(entry.qubit.name, "name", tail=" = (")
    return name, *_columns(entry.point.coordinates, "coordinate", ")" + unit)


def _sweep_rows(lines: Sequence[ast.SweepAxis | ast.ZipGroup]) -> list[Item]:
    """A sweep's axes align their `=` only: the axes of a product are independent,
    so lining up their lists would suggest that their i-th values go together.
    A `zip` block between axes ends their run, as a multi-line entry does in gofmt."""
    runs: list[list[ast.SweepAxis]] = [[]]
    for line in lines:
        if isinstance(line, ast.ZipGroup):
            runs.append([])
        else:
            runs[-1].append(line)
    texts: dict[int, str] = {}
    for axes in runs:
        cells = [[(_Field(a.name.name, "name", tail=" = "), _Field(_axis(a)))] for a in axes]
        texts.update({id(a): text for a, text in zip(axes, _table(cells), strict=True)})
    return [line if isinstance(line, ast.ZipGroup) else (texts[id(line)], line) for line in lines]


def _zip_rows(axes: Sequence[ast.SweepAxis]) -> list[Item]:
    """A zip's i-th values go together: its lines are a table, lists and ranges in columns."""
    cells: list[list[_Cell]] = []
    for axis in axes:
        name = _Field(axis.name.name, "name", tail=" = ")
        if isinstance(axis, ast.SweepRange):
            start, stop, step = axis.start, axis.stop, axis.step
            bounds = (
                _Field(expression(start), "start", _is_number(start), " .. "),
                _Field(expression(stop), "stop", _is_number(stop), " step "),
                _Field(expression(step), "step", _is_number(step)),
            )
            cells.append([(name, *bounds)])
        else:
            cells.append([(name, *_value(axis.values))])
    return [(text, axis) for text, axis in zip(_table(cells), axes, strict=True)]


def _binding(binding: ast.Binding | ast.QubitsBinding) -> _Cell:
    """One cell of a jobs row: the rows' values line up, lists item by item, placements trap by trap."""
    name = _Field(binding.name.name, "name", tail=" = ")
    if isinstance(binding, ast.Binding):
        return name, *_value(binding.value)
    fields = [name, _Field("{ ")]
    last = len(binding.placements) - 1
    for k, p in enumerate(binding.placements):
        fields.append(_Field(f"{p.qubit}:", f"qubit{k}", tail=" "))
        fields.append(_Field(str(p.trap), f"trap{k}", numeric=True, tail=" }" if k == last else ", "))
    return tuple(fields)


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
            return f"delay {expression(op.duration)}" + (" at_rest" if op.at_rest else "")
        case ast.EomSetpoint():
            return f"setpoint ({arguments(op.arguments)})"
        case _:
            assert_never(op)


def _axis(axis: ast.SweepAxis) -> str:
    """An axis's values as written after its `=`."""
    if isinstance(axis, ast.SweepRange):
        return f"{expression(axis.start)} .. {expression(axis.stop)} step {expression(axis.step)}"
    return expression(axis.values)


def _runs(statements: Sequence[ast.Statement]) -> list[list[ast.Statement]]:
    """The statements in runs of one kind with nothing between them, as gofmt
    groups consecutive lines: a blank line or a comment line ends a run (an author
    who leaves one has split the group; fmt keeps both)."""
    runs: list[list[ast.Statement]] = []
    for statement in statements:
        if runs and type(runs[-1][-1]) is type(statement) and not _gap(runs[-1][-1], statement):
            runs[-1].append(statement)
        else:
            runs.append([statement])
    return runs


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
