"""The syntax tree: positions on every node, and no parser or Pulser inside it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qpurun.language.parser import parse
from qpurun.language.templates import is_template, render
from qpurun.language.visitor import walk


def test_every_node_has_a_span(spec_path: Path) -> None:
    text = spec_path.read_text()
    if is_template(text):
        text = render(text, {}).text
    nodes = list(walk(parse(text)))
    assert len(nodes) > 20
    missing = [type(n).__name__ for n in nodes if n.span is None]
    assert missing == []
    for node in nodes:
        assert node.span is not None
        assert (node.span.line, node.span.column) <= (node.span.end_line, node.span.end_column)


def test_trees_compare_without_positions() -> None:
    assert parse("let x = 1\n") == parse("\n\n   let   x =    1  # moved\n")
    assert parse("let x = 1\n") != parse("let x = 2\n")


def test_ast_imports_neither_lark_nor_pulser() -> None:
    code = "import sys, qpurun.language.ast\nassert not {'lark', 'pulser'} & {m.split('.')[0] for m in sys.modules}"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_does_not_import_pulser() -> None:
    code = (
        "import sys\nfrom qpurun.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "assert 'pulser' not in sys.modules, 'qpurun --help imported pulser'\n"
        "assert 'pygls' not in sys.modules, 'qpurun --help imported pygls'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
