"""The command line as a shell user meets it: entry points, exit codes, pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, QPURUN_HOME=str(tmp_path / "home"))


def test_python_dash_m_qpurun_is_the_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qpurun", "check", str(ROOT / "specs" / "rabi.qx")],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "20 jobs valid" in done.stdout


def test_running_cli_py_as_a_script_still_reports_environment_problems(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qpurun.cli", "results", "no-such-batch"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert "no batch 'no-such-batch'" in done.stderr


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "qpurun", "compile", str(ROOT / "specs" / "afm_ramp.qx")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(1) == b"{"
    process.stdout.close()  # like `| head -c 1`
    error = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait() == 0
    assert "Traceback" not in error and "BrokenPipe" not in error
