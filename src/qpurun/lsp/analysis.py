"""What the language server knows about one document, computed without the protocol.

`analyse(text, path)` runs what `qpurun check` runs (parse, includes, check,
lower; with `jobs=True` also every job of the sweep built against the device)
and keeps, besides the problems, an index of the names: where each is
declared and every place it is used, across `include`d files. Hover,
completion, go-to-definition, references, rename and the outline all read
it. Positions here are 1-based lines and columns, as in the spec's errors;
the server converts them to the protocol's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from qpurun.language import ast
from qpurun.language.catalog import (
    CHANNEL_PROPERTIES,
    DEVICE_PROPERTIES,
    PULSER_UNIT,
    UNITS,
    WAVEFORMS,
    Dimension,
    describe,
    devices,
    signatures,
)
from qpurun.language.errors import QxError, QxWarning, Source, Span
from qpurun.language.printer import expression
from qpurun.language.visitor import NodeVisitor

MAX_SYNTAX_RECOVERIES = 8
"""Statements blanked out, one syntax error each, before the rest of the file is checked anyway."""


@dataclass(frozen=True)
class Occurrence:
    """One place a name is written: its declaration or a use."""

    name: str
    namespace: str
    """`value` (variables, lets, waveforms, pulses, channels), `qubit` or `dmm`."""
    span: Span
    file: str
    declaration: bool


@dataclass(frozen=True)
class Declaration:
    name: str
    namespace: str
    kind: str
    """var, let, waveform, pulse, channel, qubit, detuning_map."""
    statement: ast.Node
    span: Span
    file: str


@dataclass
class Analysis:
    path: str
    source: Source
    problems: list[QxError | QxWarning] = field(default_factory=list)
    spec: ast.Spec | None = None
    """The tree, includes resolved (spans of included statements name their file)."""
    declarations: dict[tuple[str, str], Declaration] = field(default_factory=dict)
    occurrences: list[Occurrence] = field(default_factory=list)
    experiment: Any = None
    """The compiled experiment, when the spec compiles: its device, jobs and variables."""

    # ---- lookups

    def at(self, line: int, column: int, file: str | None = None) -> Occurrence | None:
        """The name written at a position of `file` (default: this document)."""
        wanted = file or self.path
        for occurrence in self.occurrences:
            span = occurrence.span
            if (
                occurrence.file == wanted
                and span.line == line
                and span.column <= column <= span.end_column
                and (column < span.end_column or span.end_column == span.column)
            ):
                return occurrence
        # The end of a name counts too (a cursor just after it).
        for occurrence in self.occurrences:
            span = occurrence.span
            if occurrence.file == wanted and span.line == line and column == span.end_column:
                return occurrence
        return None

    def declaration_of(self, occurrence: Occurrence) -> Declaration | None:
        return self.declarations.get((occurrence.namespace, occurrence.name))

    def references(self, occurrence: Occurrence) -> list[Occurrence]:
        return [o for o in self.occurrences if (o.namespace, o.name) == (occurrence.namespace, occurrence.name)]

    def node_at(self, line: int, column: int) -> list[ast.Node]:
        """The nodes of this document containing a position, outermost first."""
        if self.spec is None:
            return []
        found: list[ast.Node] = []

        class Finder(NodeVisitor[None]):
            def generic_visit(self, node: ast.Node) -> None:
                span = node.span
                if span is not None and span.source is None and _contains(span, line, column):
                    found.append(node)
                super().generic_visit(node)

        own = Finder()
        for statement in self.spec.statements:
            if statement.span is not None and statement.span.source is None:
                own.visit(statement)
        return found


def _contains(span: Span, line: int, column: int) -> bool:
    if not span.line <= line <= span.end_line:
        return False
    if line == span.line and column < span.column:
        return False
    return not (line == span.end_line and column > span.end_column)


def _file(span: Span, default: str) -> str:
    return span.source.name if span.source is not None else default


# ---- building the index


class _Indexer(NodeVisitor[None]):
    """Declarations and uses of every name, by namespace."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    def add(self, identifier: ast.Identifier | ast.Name, namespace: str, declaration: ast.Node | None = None) -> None:
        span = identifier.span
        if span is None:
            return
        name = identifier.name if isinstance(identifier, ast.Identifier) else identifier.id
        file = _file(span, self.analysis.path)
        self.analysis.occurrences.append(Occurrence(name, namespace, span, file, declaration is not None))
        if declaration is not None:
            kind = {
                ast.VarDecl: "var",
                ast.Let: "let",
                ast.WaveformDecl: "waveform",
                ast.PulseDecl: "pulse",
                ast.Channel: "channel",
                ast.DetuningMap: "detuning_map",
            }.get(type(declaration), "qubit")
            self.analysis.declarations.setdefault(
                (namespace, name), Declaration(name, namespace, kind, declaration, span, file)
            )

    def visit_VarDecl(self, node: ast.VarDecl) -> None:
        self.add(node.name, "value", node)

    def visit_Let(self, node: ast.Let) -> None:
        self.add(node.name, "value", node)
        self.visit(node.value)

    visit_WaveformDecl = visit_Let
    visit_PulseDecl = visit_Let

    def visit_Channel(self, node: ast.Channel) -> None:
        self.add(node.name, "value", node)
        for target in node.targets:
            self.add(target, "qubit")

    def visit_TrapEntry(self, node: ast.TrapEntry) -> None:
        self.add(node.qubit, "qubit", node)

    def visit_CoordinateEntry(self, node: ast.CoordinateEntry) -> None:
        self.add(node.qubit, "qubit", node)
        self.visit(node.point)

    def visit_DetuningMap(self, node: ast.DetuningMap) -> None:
        self.add(node.name, "dmm", node)
        for weight in node.weights:
            if isinstance(weight.target, ast.Identifier):
                self.add(weight.target, "qubit")
            self.visit(weight.value)

    def visit_SlmMask(self, node: ast.SlmMask) -> None:
        for qubit in node.qubits:
            self.add(qubit, "qubit")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id not in ("pi", "device"):
            self.add(node, "value")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.visit(node.value)  # the owner (a channel); the property is not a declared name

    def visit_Call(self, node: ast.Call) -> None:
        for argument in node.arguments:
            self.visit(argument.value)

    def visit_Argument(self, node: ast.Argument) -> None:
        self.visit(node.value)

    def visit_Noise(self, node: ast.Noise) -> None:
        for parameter in node.parameters:
            self.visit(parameter.value)

    def visit_Eom(self, node: ast.Eom) -> None:
        self.add(node.channel, "value")
        for argument in node.arguments:
            self.visit(argument.value)
        for operation in node.operations:
            self.visit(operation)

    def visit_EomSetpoint(self, node: ast.EomSetpoint) -> None:
        for argument in node.arguments:
            self.visit(argument.value)

    def visit_Add(self, node: ast.Add) -> None:
        self.visit(node.pulse)
        self.add(node.channel, "value")

    def visit_Target(self, node: ast.Target) -> None:
        for qubit in node.qubits:
            self.add(qubit, "qubit")
        self.add(node.channel, "value")

    def visit_TargetIndex(self, node: ast.TargetIndex) -> None:
        self.visit(node.index)
        self.add(node.channel, "value")

    def visit_Delay(self, node: ast.Delay) -> None:
        self.visit(node.duration)
        self.add(node.channel, "value")

    def visit_Align(self, node: ast.Align) -> None:
        for channel in node.channels:
            self.add(channel, "value")

    def visit_PhaseShift(self, node: ast.PhaseShift) -> None:
        self.visit(node.phase)
        for qubit in node.qubits:
            self.add(qubit, "qubit")

    def visit_Detune(self, node: ast.Detune) -> None:
        self.visit(node.waveform)
        self.add(node.dmm, "dmm")

    def visit_SweepValues(self, node: ast.SweepValues) -> None:
        self.add(node.name, "value")
        self.visit(node.values)

    def visit_SweepRange(self, node: ast.SweepRange) -> None:
        self.add(node.name, "value")
        for part in (node.start, node.stop, node.step):
            self.visit(part)

    def visit_Binding(self, node: ast.Binding) -> None:
        self.add(node.name, "value")
        self.visit(node.value)

    def visit_QubitsBinding(self, node: ast.QubitsBinding) -> None:
        for placement in node.placements:
            self.add(placement.qubit, "qubit")

    def visit_Identifier(self, node: ast.Identifier) -> None:
        """An identifier no rule above claims (a shape, a device, an argument's name): not a declared name."""


# ---- the analysis


def _recovering_parse(source: Source) -> tuple[ast.Spec | None, list[QxError], str]:
    """Parse; at a syntax error, blank out the statement holding it and parse the rest again.

    Lines keep their numbers, so every later finding stays where it was written.
    Returns the tree (None if nothing parses), the syntax errors met, and the
    text that was finally parsed (with the faulty statements blanked).
    """
    from qpurun.language.parser import parse

    lines = source.text.split("\n")
    errors: list[QxError] = []
    for _ in range(MAX_SYNTAX_RECOVERIES + 1):
        text = "\n".join(lines)
        try:
            return parse(text, filename=source.name), errors, text
        except QxError as error:
            first = error.errors[0]
            errors.append(first)
            if first.span is None:
                return None, errors, text
            start, end = _statement_lines(lines, _culprit_line(lines, first.span))
            if all(not lines[i].strip() for i in range(start, end + 1)):
                return None, errors, text
            for index in range(start, end + 1):
                lines[index] = ""
    return None, errors, "\n".join(lines)


def _culprit_line(lines: list[str], span: Span) -> int:
    """The line of the statement at fault: a statement's first word reported as unexpected means
    the statement before it never ended (an unclosed `(`), so that one is blanked."""
    if span.column == 1 and span.line > 1:
        for index in range(span.line - 2, -1, -1):
            if lines[index].strip():
                return index + 1
    return span.line


def _statement_lines(lines: list[str], line: int) -> tuple[int, int]:
    """The 0-based line range of the top-level statement around 1-based `line`: from the last
    line starting in column 1 at or before it, to the line before the next one."""
    index = min(max(line - 1, 0), len(lines) - 1)
    start = index
    while start > 0 and (not lines[start].strip() or lines[start][:1].isspace() or lines[start].startswith("}")):
        start -= 1
    end = index
    while end + 1 < len(lines) and not (lines[end + 1][:1].strip() and not lines[end + 1].startswith("}")):
        end += 1
    if end + 1 < len(lines) and lines[end + 1].startswith("}"):
        end += 1
    return start, end


def analyse(
    text: str,
    path: str,
    *,
    target: str | None = None,
    jobs: bool = False,
    values: dict[str, Any] | None = None,
) -> Analysis:
    """Everything `qpurun check` says about `text` (as if saved at `path`), and the name index.

    `jobs` builds every job of the sweep against the device (the slow part of
    `check`, which the server runs on save).
    """
    from qpurun import api
    from qpurun.language.includes import resolve
    from qpurun.language.templates import is_template, render

    source = Source(path, text)
    analysis = Analysis(path, source)
    try:
        if values or is_template(text):
            source = render(text, values or {}, filename=path)
            analysis.source = source
    except QxError as error:
        analysis.problems.extend(error.errors)
        return analysis
    try:
        experiment = api.compile_source(source, target=target, validate=jobs)
        analysis.experiment = experiment
        analysis.problems.extend(experiment.warnings)
    except QxError as error:
        analysis.problems.extend(error.errors)
    except Exception as error:  # a bug of ours must not take the editor's server down
        analysis.problems.append(QxError(f"qpurun failed on this spec: {type(error).__name__}: {error}"))
    if analysis.experiment is not None:
        analysis.spec = analysis.experiment.checked.spec  # parsed and resolved already
    else:
        spec, syntax_errors, parsed_text = _recovering_parse(source)
        only_syntax = all(isinstance(e, QxError) and e.kind == "syntax error" for e in analysis.problems)
        if spec is not None and syntax_errors and only_syntax and source.template is None:
            _check_the_rest(analysis, dataclasses.replace(source, text=parsed_text), target)
        with contextlib.suppress(QxError):
            if spec is not None:
                analysis.spec = resolve(spec, source)
    if analysis.spec is not None:
        _Indexer(analysis).visit(analysis.spec)
    return analysis


def _check_the_rest(analysis: Analysis, partial: Source, target: str | None) -> None:
    """After a syntax error, check what still parses (`partial`: the faulty statements blanked),
    so that findings below the error are not hidden."""
    from qpurun import api

    try:
        api.compile_source(partial, target=target, validate=False)
    except QxError as error:
        seen = {(e.message, e.span) for e in analysis.problems if isinstance(e, QxError)}
        for each in error.errors:
            if each.kind != "syntax error" and (each.message, each.span) not in seen:
                analysis.problems.append(each)
    except Exception:  # recovery is best effort: never worse than the syntax error alone
        return


# ---- what the editor shows


def hover(analysis: Analysis, line: int, column: int) -> tuple[str, Span] | None:
    """Markdown for what is under the cursor, and the span it describes."""
    occurrence = analysis.at(line, column)
    if occurrence is not None:
        declaration = analysis.declaration_of(occurrence)
        if declaration is not None:
            return _describe_declaration(analysis, declaration), occurrence.span
    for node in reversed(analysis.node_at(line, column)):
        text = _describe_node(analysis, node)
        if text is not None and node.span is not None:
            return text, node.span
    return None


def _device(analysis: Analysis) -> Any:
    return analysis.experiment.device if analysis.experiment is not None else None


def _describe_declaration(analysis: Analysis, declaration: Declaration) -> str:
    statement = declaration.statement
    if isinstance(statement, ast.VarDecl):
        size = f"[{statement.size}]" if statement.size is not None else ""
        text = f"```qx\nvar {statement.name}: {statement.dtype}{size}\n```\nvariable"
        experiment = analysis.experiment
        if experiment is not None and experiment.jobs:
            values = [job.variables.get(declaration.name) for job in experiment.jobs]
            shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
            text += f"; {len(values)} jobs give it: {shown}"
            dimension = experiment.checked.variable_dimensions.get(declaration.name)
            if dimension is not None:
                text += f" ({PULSER_UNIT[dimension].value}, Pulser's unit for {dimension.value})"
        return text
    if isinstance(statement, ast.Let | ast.WaveformDecl | ast.PulseDecl):
        keyword = {ast.Let: "let", ast.WaveformDecl: "waveform", ast.PulseDecl: "pulse"}[type(statement)]
        text = f"```qx\n{keyword} {statement.name} = {expression(statement.value)}\n```"
        value = _value_of(analysis, declaration.name)
        if value is not None:
            text += f"\n= {value}"
        return text
    if isinstance(statement, ast.Channel):
        text = f"```qx\nchannel {statement.name} = {statement.channel_id}\n```\nchannel `{statement.channel_id}`"
        device = _device(analysis)
        channel = device.channels.get(statement.channel_id.name) if device is not None else None
        if channel is not None:
            limits = [
                f"{name} = {getattr(channel, name)}"
                + (f" {PULSER_UNIT[d].value}" if (d := CHANNEL_PROPERTIES[name]) else "")
                for name in ("max_amp", "max_abs_detuning", "min_duration", "max_duration", "clock_period")
                if getattr(channel, name, None) is not None
            ]
            text += f" on {device.name}: " + ", ".join(limits)
        return text
    if isinstance(statement, ast.DetuningMap):
        return f"detuning map `{statement.name}` on `{statement.dmm_id}`"
    return f"qubit `{declaration.name}`"


def _value_of(analysis: Analysis, name: str) -> str | None:
    experiment = analysis.experiment
    if experiment is None:
        return None
    from qpurun.language.evaluate import Evaluator, NotConstant

    evaluator = Evaluator(
        values=experiment.checked.values,
        declared=experiment.checked.variables,
        fold=True,
        scales=experiment.checked.scales,
    )
    try:
        value = evaluator.value_of(name)
    except (NotConstant, QxError, KeyError):
        return None
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _describe_node(analysis: Analysis, node: ast.Node) -> str | None:
    if isinstance(node, ast.Quantity) and isinstance(node.value, ast.Number):
        entry = UNITS[node.unit]
        value = node.value.value * entry.scale
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        return f"`{expression(node)}` = {shown} {PULSER_UNIT[entry.dimension].value} ({entry.dimension.value})"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return _describe_property(analysis, node)
    if isinstance(node, ast.Call):
        signature = signatures().get(node.function.name)
        if signature is None:
            return None
        text = f"```qx\n{signature.doc}\n```"
        kind = WAVEFORMS.get(node.function.name)
        if kind is not None:
            text += f"\nPulser's `{kind.pulser}`"
        return text
    return None


def _describe_property(analysis: Analysis, node: ast.Attribute) -> str:
    owner = node.value
    assert isinstance(owner, ast.Name)
    name = node.name.name
    table = DEVICE_PROPERTIES if owner.id == "device" else CHANNEL_PROPERTIES
    dimension = table.get(name)
    unit = f" {PULSER_UNIT[dimension].value}" if dimension is not None else ""
    text = f"`{owner.id}.{name}`" + (f": {describe(dimension)}" if dimension is not None else "")
    experiment = analysis.experiment
    if experiment is None:
        return text
    from qpurun.bridge.devices import property_of

    try:
        value = property_of(experiment.device, experiment.checked.channels, node)
    except (QxError, KeyError, AttributeError):
        return text
    return text + f"\n\n= {value}{unit} on {experiment.device.name}"


def symbols(analysis: Analysis) -> Iterator[tuple[str, str, ast.Node, Span | None]]:
    """The outline: (name, kind, statement, the span of its name) for this document's statements."""
    if analysis.spec is None:
        return
    for statement in analysis.spec.statements:
        if statement.span is None or statement.span.source is not None:
            continue  # included from another file
        match statement:
            case ast.VarDecl() | ast.Let() | ast.WaveformDecl() | ast.PulseDecl() | ast.Channel():
                kind = type(statement).__name__
                yield statement.name.name, kind, statement, statement.name.span
            case ast.DetuningMap():
                yield statement.name.name, "DetuningMap", statement, statement.name.span
            case ast.RegisterEntries() | ast.RegisterShape() | ast.RegisterMappable():
                yield "register", "Register", statement, None
            case ast.LatticeLayout() | ast.TrapsLayout() | ast.FileLayout() | ast.CalibratedLayout():
                yield "layout", "Layout", statement, None
            case ast.Device():
                yield f"device {statement.name}", "Device", statement, statement.name.span
            case ast.SequenceBlock():
                yield "sequence", "Sequence", statement, None
            case ast.Sweep():
                yield "sweep", "Sweep", statement, None
            case ast.Jobs():
                yield "jobs", "Jobs", statement, None
            case _:
                continue


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str
    """keyword, name, device, function, channel_id, unit, property"""
    detail: str = ""
    insert: str | None = None
    """A snippet (`constant(${1:duration}, ${2:value})`) when it differs from the label."""


_NUMBER_THEN_SPACE = re.compile(r"(?<![\w.])\d+(\.\d*)?([eE][+-]?\d+)?\s+[A-Za-zµ/]*$")


def completions(analysis: Analysis, line_text: str, line: int) -> list[Completion]:
    """What may be written at the cursor, given the line up to it."""
    from qpurun.language.parser import _KEYWORDS, _OPERATIONS

    before = line_text
    if re.search(r"^\s*device\s+\w*$", before):
        return [Completion(name, "device", "a Pulser device") for name in devices()]
    if re.search(r"^\s*channel\s+\w+\s*=\s*\w*$", before):
        return [Completion(cid, "channel_id", f"a channel of {name}") for cid, name in _channel_ids(analysis)]
    prop = re.search(r"(\w+)\.\w*$", before)
    if prop:
        owner = prop.group(1)
        if owner == "device":
            return [Completion(p, "property", _dimension_of(d)) for p, d in DEVICE_PROPERTIES.items()]
        if ("value", owner) in analysis.declarations:
            return [Completion(p, "property", _dimension_of(d)) for p, d in CHANNEL_PROPERTIES.items()]
        return []
    if _NUMBER_THEN_SPACE.search(before):
        return [Completion(unit.value, "unit", describe(entry.dimension)) for unit, entry in UNITS.items()]
    stripped = before.strip()
    if re.fullmatch(r"\w*", stripped):
        indented = before[:1].isspace()
        inside_sequence = indented and _block_at(analysis, line) == "sequence"
        if not indented:
            return [Completion(k, "keyword") for k in sorted(_KEYWORDS)]
        if inside_sequence:
            return [Completion(k, "keyword") for k in sorted(_OPERATIONS)]
    result = [
        Completion(d.name, "name", d.kind)
        for (namespace, _), d in sorted(analysis.declarations.items())
        if namespace == "value"
    ]
    for name, entry in WAVEFORMS.items():
        params = [p for p in entry.signature.params if p.required or p.name == "duration"]
        snippet = ", ".join(
            (f"{p.name} = " if p.by_name else "") + f"${{{i}:{p.name}}}" for i, p in enumerate(params, 1)
        )
        result.append(Completion(name, "function", entry.signature.doc, f"{name}({snippet})"))
    for name, signature in signatures().items():
        if name not in WAVEFORMS:
            result.append(Completion(name, "function", signature.doc, f"{name}($1)"))
    result.append(Completion("pi", "name", "π"))
    return result


def _dimension_of(dimension: Dimension | None) -> str:
    return describe(dimension) if dimension is not None else "a number"


def _channel_ids(analysis: Analysis) -> list[tuple[str, str]]:
    device = _device(analysis)
    if device is None and analysis.spec is not None:
        named = next((s for s in analysis.spec.statements if isinstance(s, ast.Device)), None)
        device = devices().get(named.name.name) if named is not None else None
    if device is None:
        return []
    return [(channel_id, device.name) for channel_id in device.channels]


def _block_at(analysis: Analysis, line: int) -> str | None:
    """The keyword of the top-level block holding `line` (`sequence`, `sweep`, ...), from the text."""
    lines = (
        analysis.source.text.split("\n") if analysis.source.template is None else analysis.source.template.split("\n")
    )
    for index in range(min(line, len(lines)) - 1, -1, -1):
        text = lines[index]
        if text[:1].strip():
            if text.startswith("}"):
                return None
            return text.split()[0] if "{" in text else None
    return None
