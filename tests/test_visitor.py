"""The visitor and the names: every name a spec writes is a node with exactly its own span."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

from qpurun.language import ast
from qpurun.language.parser import parse
from qpurun.language.templates import is_template, render
from qpurun.language.visitor import NodeTransformer, NodeVisitor, children, walk

SPEC = """\
device AnalogDevice
register { q0 = (0, 0) um  q1 = (8, 0) um }
channel ryd = rydberg_global
var t: int
let omega = 2 rad/us
sequence {
  add pulse(amplitude = constant(t, omega), detuning = 0) on ryd
}
sweep {
  t = [100, 200]
}
"""


def _text_at(text: str, span: ast.Span) -> str:
    lines = text.splitlines()
    assert span.line == span.end_line, "a name is on one line"
    return lines[span.line - 1][span.column - 1 : span.end_column - 1]


def _rendered(path: Path) -> str:
    text = path.read_text()
    return render(text, {}).text if is_template(text) else text


def test_every_name_in_every_example_spec_spans_exactly_that_name(spec_path: Path) -> None:
    text = _rendered(spec_path)
    names = [node for node in walk(parse(text)) if isinstance(node, ast.Identifier | ast.Name)]
    assert len(names) > 5
    for node in names:
        written = node.name if isinstance(node, ast.Identifier) else node.id
        assert node.span is not None, f"`{written}` has no span"
        assert _text_at(text, node.span) in (written, f'"{written}"'), f"`{written}` at {node.span}"


def test_every_name_field_holds_an_identifier(spec_path: Path) -> None:
    """A field typed Identifier never holds a plain string (the importer builds nodes too)."""
    for node in walk(parse(_rendered(spec_path))):
        hints = typing.get_type_hints(type(node), vars(ast))
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if "Identifier" in str(hints[field.name]) and value is not None and not isinstance(value, int):
                items = value if isinstance(value, tuple) else (value,)
                assert all(isinstance(item, ast.Identifier) for item in items), (type(node).__name__, field.name)


def test_walk_visits_parents_before_children_in_written_order() -> None:
    spec = parse(SPEC)
    nodes = list(walk(spec))
    assert nodes[0] is spec
    identifiers = [n.name for n in nodes if isinstance(n, ast.Identifier)]
    assert identifiers[:4] == ["AnalogDevice", "q0", "q1", "ryd"]
    assert identifiers.index("t") < identifiers.index("omega") < identifiers.index("pulse")
    assert list(children(spec)) == list(spec.statements)


def test_visitor_dispatches_by_node_name_and_walks_the_rest() -> None:
    class Uses(NodeVisitor[None]):
        def __init__(self) -> None:
            self.names: list[str] = []

        def visit_Name(self, node: ast.Name) -> None:
            self.names.append(node.id)

    uses = Uses()
    uses.visit(parse(SPEC))
    assert uses.names == ["t", "omega"]


def test_transformer_rebuilds_only_what_changed() -> None:
    class Rename(NodeTransformer):
        def visit_Identifier(self, node: ast.Identifier) -> ast.Node:
            return dataclasses.replace(node, name="rydberg") if node.name == "ryd" else node

    spec = parse(SPEC)
    renamed = Rename().visit(spec)
    assert isinstance(renamed, ast.Spec)
    assert renamed != spec
    assert renamed.statements[0] is spec.statements[0]  # untouched statements are the same objects
    channels = [s for s in renamed.statements if isinstance(s, ast.Channel)]
    assert channels[0].name.name == "rydberg"


MISSING_KIND = """
from typing import assert_never
from qpurun.language import ast

def describe(statement: ast.Statement) -> str:
    match statement:
        case ast.Experiment() | ast.Device() | ast.Include():
            return "head"
        case _:
            assert_never(statement)
"""


def test_mypy_refuses_a_dispatch_that_leaves_out_a_statement_kind(tmp_path: Path) -> None:
    """How the printer, checker and lowering are written: a kind they do not handle fails type checking."""
    snippet = tmp_path / "snippet.py"
    snippet.write_text(MISSING_KIND)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", str(snippet)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout
    assert 'Argument 1 to "assert_never" has incompatible type' in result.stdout
    assert "LatticeLayout" in result.stdout  # the first kind left out is named
