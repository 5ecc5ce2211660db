"""`qpurun run` end to end: physics, outputs, the JSON shapes, and the read-only commands."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from qpurun import cli
from run.conftest import RUN_SPECS, SPECS, Outcome

RABI = str(SPECS / "rabi.qx")


@pytest.fixture(scope="module")
def rabi_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Outcome, Path]]:
    """One `qpurun run rabi.qx --json` shared by the tests that only read what it made."""
    root = tmp_path_factory.mktemp("rabi")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QPURUN_HOME", str(root / "home"))
        out = io.StringIO()
        err = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["run", RABI, "--json", "--out", str(root / "out")])
        yield Outcome(code, out.getvalue(), err.getvalue()), root


def test_rabi_populations_follow_theory(rabi_run: tuple[Outcome, Path]) -> None:
    """Ω = 2π rad/µs, so P(excited) = sin²(Ω t / 2) = sin²(π t / 1 µs), within 5σ of binomial noise."""
    outcome = rabi_run[0]
    assert outcome.code == 0, outcome.err
    report = outcome.json()
    assert isinstance(report, dict)
    assert report["status"] == "DONE"
    assert len(report["jobs"]) == 20
    deviations = []
    for job in report["jobs"]:
        t = job["variables"]["t"]
        shots = sum(job["counts"].values())
        assert shots == job["runs"] == 200
        measured = job["counts"].get("1", 0) / shots
        expected = math.sin(math.pi * t / 1000) ** 2
        sigma = math.sqrt(expected * (1 - expected) / shots)
        # 1/shots: a probability of exactly 0 or 1 has no spread, but counts are whole numbers.
        assert abs(measured - expected) <= 5 * sigma + 1 / shots, (t, measured, expected)
        deviations.append((measured - expected) / max(sigma, 1 / shots))
    # The curve is really sampled, not flat: it swings from 0 to 1 and back twice.
    excited = [job["counts"].get("1", 0) for job in report["jobs"]]
    assert max(excited) >= 190 and min(excited) <= 10
    assert sum(d * d for d in deviations) / len(deviations) < 4  # reduced chi² of a sound emulation is ~1


def test_output_directory_is_usable(rabi_run: tuple[Outcome, Path]) -> None:
    outcome, root = rabi_run
    out = root / "out"
    assert outcome.code == 0, outcome.err
    assert sorted(p.name for p in out.iterdir()) == [
        "bitstrings.csv",
        "jobs.json",
        "manifest.json",
        "rabi.qx",
        "report.html",
        "results.csv",
        "results.json",
        "sequence.json",
    ]
    assert (out / "rabi.qx").read_text() == Path(RABI).read_text()
    assert json.loads((out / "jobs.json").read_text())[0] == {"runs": 200, "variables": {"t": 100}}
    assert json.loads((out / "sequence.json").read_text())["variables"]["t"]["type"] == "int"
    with (out / "bitstrings.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["job", "t [ns]", "runs", "status", "bitstring", "count", "probability", "excitations"]
    per_job: dict[str, int] = {}
    for row in rows:
        per_job[row["job"]] = per_job.get(row["job"], 0) + int(row["count"])
    assert len(per_job) == 20 and set(per_job.values()) == {200}
    with (out / "results.csv").open() as handle:
        jobs = list(csv.DictReader(handle))
    assert len(jobs) == 20 and jobs[4]["t [ns]"] == "500" and jobs[4]["most_frequent"] == "'1"
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "DONE" and len(results["jobs"]) == 20


def test_read_commands_and_their_json(qpurun, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = qpurun("run", str(RUN_SPECS / "mock.qx"), "--json", "--out", str(tmp_path / "a"))
    second = qpurun("run", RABI, "--out", str(tmp_path / "b"))
    assert first.code == second.code == 0
    # A virtual device is for emulation only: nothing warns of what a QPU would refuse.
    assert "a QPU would refuse" not in first.err
    # The human summary: variables, most frequent bitstrings, mean excitation.
    assert "mean excitation" in second.out and "t [ns]" in second.out
    assert "4    500     DONE    1 100%" in second.out
    batch_id = json.loads((tmp_path / "b" / "results.json").read_text())["batch_id"]

    listed = qpurun("runs", "--json").json()
    assert [b["batch_id"] for b in listed] == [first.json()["batch_id"], batch_id]  # type: ignore[index]
    assert all(b["status"] == "DONE" for b in listed)  # type: ignore[index, union-attr]
    assert batch_id[:12] in qpurun("runs").out

    status = qpurun("status", batch_id, "--json").json()
    assert status["batch_id"] == batch_id and status["status"] == "DONE"  # type: ignore[index]
    job = status["jobs"][0]  # type: ignore[index]
    assert job["index"] == 0 and job["status"] == "DONE" and job["finished_at"]

    results = qpurun("results", batch_id[:8], "--json").json()
    assert results["batch_id"] == batch_id  # type: ignore[index]
    assert results["jobs"] == json.loads((tmp_path / "b" / "results.json").read_text())["jobs"]
    job = results["jobs"][4]  # type: ignore[index]
    assert {"index", "variables", "runs", "status", "counts"} <= set(job)
    assert job["variables"] == {"t": 500} and job["runs"] == 200

    table = qpurun("results", batch_id, "--csv").out.splitlines()
    assert table[0].startswith("job,t [ns],runs,status,shots,occupation[q0],") and len(table) == 21
    long = qpurun("results", batch_id, "--bitstrings").out.splitlines()
    assert long[0] == "job,t [ns],runs,status,bitstring,count,probability,excitations" and len(long) == 41
    assert "DONE" in qpurun("status", batch_id).out
    assert "19   2000    DONE" in qpurun("results", batch_id).out


def test_unknown_batch_is_a_clear_error(qpurun) -> None:  # type: ignore[no-untyped-def]
    for command in ("status", "results", "resume"):
        outcome = qpurun(command, "0123456789abcdef")
        assert outcome.code == 3
        assert "no batch '0123456789abcdef'" in outcome.err and "qpurun runs" in outcome.err
        assert "Traceback" not in outcome.err


def test_spec_error_exit_code(qpurun, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.qx"
    broken.write_text(Path(RABI).read_text().replace("rydberg_global", "rydberg_globl"))
    outcome = qpurun("run", str(broken))
    assert outcome.code == 2 and "broken.qx:" in outcome.err
    assert qpurun("runs", "--json").json() == []  # nothing submitted


def test_device_from_a_json_file_runs_through_qpubackend(qpurun, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from pulser.devices import AnalogDevice

    device = dataclasses.replace(AnalogDevice, name="LabDevice")
    (tmp_path / "lab.json").write_text(device.to_abstract_repr())
    spec = tmp_path / "lab.qx"
    spec.write_text(Path(RABI).read_text().replace("device AnalogDevice", 'device "lab.json"'))
    outcome = qpurun("run", str(spec), "--json", "--out", str(tmp_path / "out"))
    assert outcome.code == 0, outcome.err
    report = outcome.json()
    assert report["device"] == "LabDevice" and report["status"] == "DONE"  # type: ignore[index]
    assert "virtual" not in outcome.err


def test_help_lists_the_commands_and_exit_codes(qpurun) -> None:  # type: ignore[no-untyped-def]
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        from qpurun import cli

        cli.main(["run", "--help"])
    text = buffer.getvalue()
    assert "--workers N" in text and "--out DIR" in text and "130" in text and "QPURUN_HOME" in text


OTHER_SPECS = [p for p in sorted(SPECS.glob("*.qx")) if p.name != "rabi.qx"]  # rabi runs in the tests above


@pytest.mark.parametrize("spec_path", OTHER_SPECS, ids=[p.stem for p in OTHER_SPECS])
def test_every_spec_runs(qpurun, spec_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outcome = qpurun("run", str(spec_path), "--json", "--out", str(tmp_path / "out"))
    assert outcome.code == 0, outcome.err
    report = outcome.json()
    assert report["status"] == "DONE"  # type: ignore[index]
    for job in report["jobs"]:  # type: ignore[index]
        assert sum(job["counts"].values()) == job["runs"]


def test_progress_bar_only_on_a_terminal() -> None:
    import io

    from qpurun.run.commands import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = Progress(20, 0, stream=stream, enabled=True, label="rabi")
        progress.update(5, 1)
        progress.update(20, 1)
        progress.finish()
    assert pipe.getvalue() == ""
    assert "5/20 jobs  1 failed  ETA" in terminal.getvalue() and "20/20 jobs" in terminal.getvalue()


def test_the_noise_block_reaches_the_emulator(qpurun, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "noisy.qx"
    text = Path(RABI).read_text().replace("runs 200", "runs 400\nnoise { p_false_pos = 0.25, p_false_neg = 0 }")
    spec.write_text(text.replace("t = 100 ns .. 2 us step 100 ns", "t = [1000]"))
    outcome = qpurun("run", str(spec), "--json", "--out", str(tmp_path / "out"))
    assert outcome.code == 0, outcome.err
    (job,) = outcome.json()["jobs"]  # type: ignore[index]
    # t = 1 µs: a full Rabi cycle, the atom is back in the ground state; only false positives read 1.
    assert sum(job["counts"].values()) == 400
    assert 60 <= job["counts"].get("1", 0) <= 140  # 0.25 × 400 = 100, σ ≈ 9
