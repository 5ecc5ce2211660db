"""--split-runs: a job over the device's max_runs becomes several, merged back by `origin`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulser.devices import AnalogDevice

import qpurun
from conftest import with_preamble
from qpurun.cli import main

SPEC = with_preamble("""\
var t: int
sequence {
  add pulse(amplitude = constant(t, 2 * pi rad/us)) on ryd
  measure ground-rydberg
}
runs 100
jobs {
  t = 100, runs = 5000
  t = 200
}
""")


def test_without_the_flag_too_many_runs_is_a_located_error_for_a_qpu() -> None:
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.loads(SPEC, filename="s.qx", target="pasqal:AnalogDevice")
    assert caught.value.line == 12
    assert "5000 runs" in caught.value.message


def test_on_an_emulator_too_many_runs_is_a_located_warning() -> None:
    experiment = qpurun.loads(SPEC, filename="s.qx")
    [warning] = [w for w in experiment.warnings if "5000 runs" in w.message]
    assert warning.span is not None and warning.span.line == 12
    assert warning.message.startswith("a QPU would refuse job 0 (t = 100")
    assert "--split-runs" in (warning.hint or "")


def test_split_jobs_keep_variables_add_up_and_stay_under_the_limit() -> None:
    experiment = qpurun.loads(SPEC, split_runs=True)
    max_runs = AnalogDevice.max_runs
    assert max_runs is not None and max_runs < 5000
    parts = [job for job in experiment.jobs if job.written_index == 0]
    assert len(parts) == -(-5000 // max_runs)
    assert sum(job.runs for job in parts) == 5000
    assert max(job.runs for job in parts) - min(job.runs for job in parts) <= 1
    assert all(job.runs <= max_runs and job.variables == {"t": 100} for job in parts)
    assert [job.index for job in experiment.jobs] == list(range(len(experiment.jobs)))
    assert experiment.jobs[-1].written_index == 1 and experiment.jobs[-1].runs == 100


def test_cli_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = tmp_path / "s.qx"
    spec.write_text(SPEC)
    assert main(["compile", str(spec), "--emit", "jobs", "--split-runs"]) == 0
    jobs = json.loads(capsys.readouterr().out)
    assert sum(j["runs"] for j in jobs) == 5100
