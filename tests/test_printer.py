"""The printer: parse -> print -> parse is the identity, and `fmt` is idempotent."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import SPECS
from qpurun.cli import main
from qpurun.language.parser import parse
from qpurun.language.printer import comments_of, format_text, print_spec
from qpurun.language.templates import is_template, render


def _spec_text(path: Path) -> str:
    """A spec's text; a template's as rendered with its defaults (templates have no canonical layout)."""
    text = path.read_text()
    return render(text, {}).text if is_template(text) else text


def test_round_trip_gives_an_equal_tree(spec_path: Path) -> None:
    text = _spec_text(spec_path)
    assert parse(format_text(text)) == parse(text)


def test_formatting_twice_changes_nothing(spec_path: Path) -> None:
    once = format_text(_spec_text(spec_path))
    assert format_text(once) == once


def test_every_comment_is_kept(spec_path: Path) -> None:
    text = _spec_text(spec_path)
    assert [c.text for c in comments_of(format_text(text))] == [c.text for c in comments_of(text)]


def test_fmt_leaves_templates_alone(capsys: pytest.CaptureFixture[str]) -> None:
    template = Path(__file__).parent.parent / "specs" / "chain_template.qx"
    before = template.read_text()
    assert main(["fmt", "--check", str(template)]) == 0
    assert "template" in capsys.readouterr().err
    assert template.read_text() == before


def test_canonical_layout() -> None:
    messy = (
        "device   AnalogDevice\n"
        "register {a=(0,0) um b =(5,0)um}   # two atoms\n"
        "channel ryd=rydberg_global\n\n\n"
        "sequence{ add pulse(amplitude=constant(100 ns,(1+2)*3 rad/us),detuning=-(2 ** 2)) on ryd\n"
        "# measure last\n"
        "measure ground-rydberg}\n"
        "runs 10\n"
    )
    assert format_text(messy) == (
        "device AnalogDevice\n"
        "register {  # two atoms\n"
        "  a = (0, 0) um  b = (5, 0) um\n"
        "}\n"
        "channel ryd = rydberg_global\n"
        "\n"
        "sequence {\n"
        "  add pulse(amplitude = constant(100 ns, (1 + 2) * 3 rad/us), detuning = -2 ** 2) on ryd\n"
        "  # measure last\n"
        "  measure ground-rydberg\n"
        "}\n"
        "runs 10\n"
    )


@pytest.mark.parametrize(
    "expression",
    ["a - (b - c)", "(a + b) * c", "-a ** 2", "(-a) ** 2", "a ** b ** c", "(a ** b) ** c", "(2 * t) ns", "x[0] us"],
)
def test_parentheses_only_where_precedence_needs_them(expression: str) -> None:
    text = f"let v = {expression}\n"
    assert format_text(text) == text


def test_fmt_check_fails_on_a_misformatted_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "messy.qx"
    spec.write_text("device AnalogDevice\nruns   5\n")
    assert main(["fmt", "--check", str(spec)]) == 1
    assert "would reformat" in capsys.readouterr().err
    assert spec.read_text() == "device AnalogDevice\nruns   5\n"
    assert main(["fmt", str(spec)]) == 0
    assert spec.read_text() == "device AnalogDevice\nruns 5\n"
    assert main(["fmt", "--check", str(spec)]) == 0


def test_fmt_does_not_import_pulser(tmp_path: Path) -> None:
    spec = tmp_path / "a.qx"
    spec.write_text("device AnalogDevice\n")
    code = (
        "import sys\nfrom qpurun.cli import main\n"
        f"assert main(['fmt', '--check', {str(spec)!r}]) == 0\n"
        "assert 'pulser' not in sys.modules, 'fmt imported pulser'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_comments_inside_a_multi_line_statement_stay_with_it() -> None:
    text = "pulse p = pulse(amplitude = w,  # the drive\n                detuning = 0)   # resonant\nlet after = 1\n"
    assert format_text(text) == (
        "pulse p = pulse(amplitude = w, detuning = 0)  # the drive  # resonant\nlet after = 1\n"
    )


@pytest.mark.parametrize(
    "path",
    [p for p in SPECS if not is_template(p.read_text(encoding="utf-8"))],
    ids=lambda p: p.stem,
)
def test_every_shipped_spec_is_in_the_canonical_layout(path: Path) -> None:
    """`qpurun fmt --check specs/*.qx` passes: the examples are what the formatter writes."""
    assert main(["fmt", "--check", str(path)]) == 0


# ---- golden files: tests/fmt/<case>.in.qx formats to <case>.out.qx

GOLDEN = Path(__file__).parent / "fmt"
GOLDEN_CASES = sorted(GOLDEN.glob("*.in.qx"))


def _golden(source: Path) -> Path:
    return source.with_name(source.name.removesuffix(".in.qx") + ".out.qx")


@pytest.mark.parametrize("source", GOLDEN_CASES, ids=lambda p: p.name.removesuffix(".in.qx"))
def test_golden_layout(source: Path) -> None:
    """The layout fmt writes, case by case, as reviewed by eye in the `.out.qx` file.

    `QPURUN_UPDATE_GOLDEN=1 pytest tests/test_printer.py` rewrites the `.out.qx`
    files from the printer; review the diff before committing it.
    """
    text = source.read_text(encoding="utf-8")
    formatted = format_text(text)
    if os.environ.get("QPURUN_UPDATE_GOLDEN") == "1":
        _golden(source).write_text(formatted, encoding="utf-8")
    assert formatted == _golden(source).read_text(encoding="utf-8")
    assert format_text(formatted) == formatted, "the golden output is not a fixed point"
    assert parse(formatted) == parse(text)
    assert [c.text for c in comments_of(formatted)] == [c.text for c in comments_of(text)]


def test_every_golden_output_has_its_input() -> None:
    assert GOLDEN_CASES
    assert sorted(GOLDEN.glob("*.out.qx")) == sorted(_golden(p) for p in GOLDEN_CASES)


def _without_spans(node: Any) -> Any:
    """The tree as `qpurun import` builds it: no positions, so no rows or gaps as written."""
    if isinstance(node, tuple):
        return tuple(_without_spans(item) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        fields = {f.name: _without_spans(getattr(node, f.name)) for f in dataclasses.fields(node) if f.name != "span"}
        return type(node)(**fields)
    return node


@pytest.mark.parametrize("source", GOLDEN_CASES, ids=lambda p: p.name.removesuffix(".in.qx"))
def test_a_tree_without_positions_prints_in_the_canonical_layout(source: Path) -> None:
    """What `qpurun import` writes (a tree with no spans) is already what fmt writes: aligned the same way."""
    tree = _without_spans(parse(source.read_text(encoding="utf-8")))
    text = print_spec(tree)
    assert parse(text) == tree
    assert format_text(text) == text


@pytest.mark.parametrize(
    ("written", "meant"),
    [('"é"', "é"), ('"a\\nb"', "a\nb"), ('"tab\\there"', "tab\there"), ('"q\\"d"', 'q"d'), ('"c:\\\\x"', "c:\\x")],
)
def test_a_string_keeps_utf8_and_its_escapes_through_fmt(written: str, meant: str) -> None:
    """Python's `unicode_escape` once read UTF-8 as Latin-1: `"é"` became `Ã©`."""
    text = f"experiment {written}\n"
    (statement,) = parse(text).statements
    assert statement.name == meant  # type: ignore[attr-defined]
    (again,) = parse(format_text(text)).statements
    assert again.name == meant  # type: ignore[attr-defined]
