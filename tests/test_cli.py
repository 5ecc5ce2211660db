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


def test_the_command_skips_python_s_teardown_but_not_what_an_exit_must_do(tmp_path: Path) -> None:
    """`qpurun` ends with os._exit (tearing down Pulser and torch costs 1-2 s): its exit code, its whole
    output, the store's WAL folded into the file, atexit handlers, and other threads still waited for."""
    env = _env(tmp_path)
    spec = tmp_path / "single.qx"
    spec.write_text((ROOT / "specs" / "rabi.qx").read_text().replace("t = 100 ns .. 2 us step 100 ns", "t = 100 ns"))
    done = subprocess.run(
        [sys.executable, "-m", "qpurun", "run", str(spec), "--json", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("}") and '"status": "DONE"' in done.stdout  # flushed, whole
    home = tmp_path / "home"
    assert (home / "store.sqlite3").is_file()
    assert not (home / "store.sqlite3-wal").exists()  # the last connection closed: every result is in the file
    failed = subprocess.run([sys.executable, "-m", "qpurun", "status", "no-such-batch"], capture_output=True, env=env)
    assert failed.returncode == 3

    script = (  # a thread that outlives the command, and an atexit handler
        "import atexit, sys, threading, time\n"
        "from qpurun import cli\n"
        "returned, command = threading.Event(), cli.main\n"
        "cli.main = lambda: (command(), returned.set())[0]\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "threading.Thread(target=lambda: (returned.wait(), time.sleep(0.3), print('thread done'))).start()\n"
        "sys.argv = ['qpurun', 'runs']\n"
        "cli.entry()\n"
    )
    ended = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout.endswith("single.qx\nthread done\natexit ran\n"), ended.stdout


def _help_exit_codes(command: str) -> dict[int, str]:
    import contextlib
    import io

    from qpurun.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([command, "--help"])
    section = out.getvalue().split("exit codes:\n", 1)[1].split("\n\n", 1)[0]
    return {int(line.split()[0]): line.split(None, 1)[1] for line in section.splitlines() if line.strip()}


def test_each_command_lists_only_its_own_exit_codes() -> None:
    assert _help_exit_codes("fmt")[1] == "with --check: a file would be reformatted (its name is printed)"
    assert set(_help_exit_codes("fmt")) == {0, 1, 2, 3}
    assert set(_help_exit_codes("check")) == {0, 2, 3}  # check never runs a job: no 1, no 130
    assert set(_help_exit_codes("status")) == {0, 2, 3}
    assert set(_help_exit_codes("run")) == {0, 1, 2, 3, 130}
    assert "jobs failed" in _help_exit_codes("run")[1]


def test_fmt_check_exits_1_when_a_file_would_change(tmp_path: Path) -> None:
    spec = tmp_path / "spec.qx"
    spec.write_text((ROOT / "specs" / "rabi.qx").read_text().replace("runs 200", "runs    200"))
    done = subprocess.run(
        [sys.executable, "-m", "qpurun", "fmt", "--check", str(spec)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )
    assert done.returncode == 1 and f"would reformat {spec}" in done.stderr
