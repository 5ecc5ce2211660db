"""Fixtures for the runner's tests: a private store per test, the CLI in- and out-of-process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qpurun import cli

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
RUN_SPECS = Path(__file__).resolve().parent / "specs"
# What the `qpurun` console script runs. (Not `python -m qpurun.cli`: that runs cli.py as `__main__`, a second
# copy of the module whose EnvironmentProblem is not the one the commands raise.)
QPURUN = [sys.executable, "-c", "from qpurun.cli import entry; entry()"]


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def main_captured(*args: str) -> Outcome:
    """`qpurun ARGS` in this process, its output captured (for module-scoped fixtures, where capsys is not)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return Outcome(code, out.getvalue(), err.getvalue())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh QPURUN_HOME; the store lives in it."""
    path = tmp_path / "home"
    monkeypatch.setenv("QPURUN_HOME", str(path))
    monkeypatch.chdir(tmp_path)
    yield path


@pytest.fixture
def qpurun(home: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `qpurun ARGS` in this process; its exit code, stdout and stderr."""

    def run(*args: str) -> Outcome:
        capsys.readouterr()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, QPURUN_HOME=str(home), **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def spawn(home: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    """`qpurun ARGS` as its own process (to kill it, interrupt it or limit it)."""
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [*QPURUN, *args],
        env=environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
