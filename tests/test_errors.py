"""The error corpus: every invalid spec in tests/errors/ fails where and how it says.

Each case is one file whose first lines state what must be reported, jinja
`test_lexnparse` style, one line per expected error::

    # expect: 9:9 unit error: `delay` takes a time  [hint: ns, us or ms]

`LINE:COL` is where the caret must point (1-based; the header lines count),
then the error's kind as `str()` prints it, then a fragment of its message,
then optionally a fragment of its hint. With several `# expect:` lines the
spec must report exactly those errors, in one pass. A `# target: NAME` line
checks the spec for that target (default: qutip, an emulator): what only a
QPU refuses is an error for a QPU target alone.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import qpurun
from qpurun.cli import main
from qpurun.language.errors import QxError

ERRORS = Path(__file__).resolve().parent / "errors"
CASES = sorted(ERRORS.glob("*.qx"))
EXPECT = re.compile(r"# expect: (\d+):(\d+) ([a-z ]+): (.+?)(?:  \[hint: (.+)\])?$")
KINDS = {"syntax", "name", "unit", "type", "sweep", "device", "multi"}


@dataclass(frozen=True)
class Expected:
    line: int
    column: int
    kind: str
    message: str
    hint: str | None


def target_of(path: Path) -> str | None:
    """The `# target: NAME` of a case's header, if it has one."""
    for text in path.read_text(encoding="utf-8").removeprefix("\ufeff").splitlines():
        if text.startswith("# target: "):
            return text.removeprefix("# target: ").strip()
        if not text.startswith("# expect:"):
            return None
    return None


def expectations(path: Path) -> list[Expected]:
    found = []
    for text in path.read_text(encoding="utf-8").removeprefix("\ufeff").splitlines():  # one case starts with a BOM
        if text.startswith("# target: "):
            continue
        if not text.startswith("# expect:"):
            break
        match = EXPECT.fullmatch(text)
        assert match, f"{path.name}: malformed header {text!r}"
        line, column, kind, message, hint = match.groups()
        found.append(Expected(int(line), int(column), kind, message, hint))
    assert found, f"{path.name} has no `# expect:` header"
    return found


def compile_error(path: Path) -> QxError:
    with pytest.raises(QxError) as caught:  # anything else (a crash) fails the test as itself
        qpurun.loads(path.read_text(encoding="utf-8"), filename=path.name, target=target_of(path))
    return caught.value


def matching(error: QxError, expected: Expected) -> list[QxError]:
    return [
        e
        for e in error.errors
        if (e.line, e.column) == (expected.line, expected.column)
        and e.kind == expected.kind
        and expected.message in e.message
    ]


def test_the_corpus_covers_every_category() -> None:
    counts = {kind: sum(p.name.startswith(kind + "_") for p in CASES) for kind in KINDS}
    assert len(CASES) >= 50
    assert all(count >= 3 for count in counts.values()), counts
    assert all(p.name.split("_")[0] in KINDS for p in CASES), "name each case after its category"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_error_is_reported_where_the_header_says(path: Path) -> None:
    expected = expectations(path)
    error = compile_error(path)
    source_lines = path.read_text(encoding="utf-8").splitlines()
    for each in expected:
        found = matching(error, each)
        assert found, f"no {each} among:\n{error}"
        report = str(found[0])
        assert f"{path.name}:{each.line}:{each.column}: {each.kind}: " in report
        assert source_lines[each.line - 1].expandtabs(1) in report, "the source line is shown"
        caret_line = report.splitlines()[2]
        gutter = report.splitlines()[1].index("| ") + 2
        assert caret_line.index("^") == gutter + each.column - 1, f"the caret is under column {each.column}"
        if each.hint is not None:
            assert found[0].hint is not None and each.hint in found[0].hint, report
            assert f"hint: {found[0].hint}" in report
    if len(expected) > 1:
        assert len(error.errors) == len(expected), f"one pass reports exactly these errors:\n{error}"
        assert [(e.line, e.column) for e in error.errors] == sorted((e.line, e.column) for e in error.errors)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_errors_read_as_words_not_as_python(path: Path) -> None:
    report = str(compile_error(path))
    for raw in (
        "RBRACE",
        "LBRACE",
        "RPAR",
        "LSQB",
        "_NL",
        "$END",
        "__ANON",
        "Token(",
        "Tree(",
        "<class",
        "object at 0x",
    ):
        assert raw not in report, f"{raw!r} leaked into:\n{report}"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_check_exits_2_with_the_report_on_stderr(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = target_of(path)
    status = main(["check", str(path), *(["--backend", target] if target else [])])
    captured = capsys.readouterr()
    assert status == 2
    assert "Traceback" not in captured.err
    first = expectations(path)[0]
    assert f"{path}:{first.line}:{first.column}: {first.kind}: " in captured.err
    assert captured.out == ""


def test_check_in_a_real_process_reports_every_error_and_exits_2() -> None:
    paths = [ERRORS / "syntax_unclosed_sweep.qx", ERRORS / "multi_jobs.qx", ERRORS / "device_job_breaks_limit.qx"]
    result = subprocess.run(
        [sys.executable, "-m", "qpurun.cli", "check", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for path in paths:
        for each in expectations(path):
            assert f"{path}:{each.line}:{each.column}: {each.kind}: " in result.stderr
    assert "the `sweep {` opened on line 11 was never closed" in result.stderr
    assert "job 2 (omega = 50) does not build" in result.stderr
