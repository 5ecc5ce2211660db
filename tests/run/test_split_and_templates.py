"""`run` takes what `check` takes: template values, and --split-runs merged back in the results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import with_preamble
from qpurun.run.store import Store

SPLIT = with_preamble("""\
sequence {
  add pulse(amplitude = constant(250 ns, 2 * pi rad/us)) on ryd
  measure ground-rydberg
}
runs 2500
""")


def test_split_runs_are_merged_back_into_one_row(qpurun: Any, tmp_path: Path, home: Path) -> None:
    spec = tmp_path / "split.qx"
    spec.write_text(SPLIT)
    warned = qpurun("check", str(spec))  # an emulator takes 2500 shots; a QPU would not
    assert warned.code == 0 and "warning: a QPU would refuse job 0: it asks for 2500 runs" in warned.err
    refused = qpurun("check", "--backend", "pasqal:AnalogDevice", str(spec))
    assert refused.code == 2 and "asks for 2500 runs" in refused.err

    outcome = qpurun("run", str(spec), "--json", "--workers", "1", "--split-runs", "--out", str(tmp_path / "o"))
    assert outcome.code == 0, outcome.err
    result = outcome.json()
    assert [job["index"] for job in result["jobs"]] == [0]
    (job,) = result["jobs"]
    assert job["runs"] == 2500 and job["status"] == "DONE"
    assert sum(job["counts"].values()) == 2500
    # The store keeps the parts as Pulser ran them; `status` shows them, `results` merges them.
    store = Store(home / "store.sqlite3")
    parts = store.jobs(result["batch_id"])
    assert len(parts) == 2 and all(p.runs <= 2000 for p in parts)
    status = qpurun("status", result["batch_id"], "--json").json()
    assert len(status["jobs"]) == 2
    again = qpurun("results", result["batch_id"], "--json").json()
    assert again["jobs"][0]["counts"] == job["counts"]
    csv_rows = (tmp_path / "o" / "results.csv").read_text().splitlines()
    assert all(row.startswith("0,") for row in csv_rows[1:])


def test_run_renders_a_template_with_its_values(qpurun: Any, tmp_path: Path) -> None:
    template = Path(__file__).resolve().parents[2] / "specs" / "chain_template.qx"
    outcome = qpurun("run", str(template), "--json", "--workers", "1", "--set", "atoms=2", "--out", str(tmp_path / "o"))
    assert outcome.code == 0, outcome.err
    result = outcome.json()
    assert len(result["jobs"]) == 5  # 2 * atoms + 1 detunings
    assert all(len(next(iter(job["counts"]))) == 2 for job in result["jobs"])  # two atoms
