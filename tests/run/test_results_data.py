"""Results as data (issue 8): `qpurun.results`, units as the spec wrote them, the files people open,
and a run directory that runs again on its own."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import qpurun
from qpurun.batch_results import BatchResults, MissingExtra
from qpurun.run import output
from qpurun.run.store import Store, UnknownBatch
from run.conftest import SPECS
from run.conftest import main_captured as _main

RABI = SPECS / "rabi.qx"
TOKEN = "pasqal-token-never-written"
HOOK_PATH = "services/T0001/B0002/hook-secret-never-written"


@pytest.fixture(scope="module")
def rabi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str, Path]]:
    """One run of specs/rabi.qx (20 one-atom jobs, 200 shots): its store, batch id and output directory."""
    root = tmp_path_factory.mktemp("rabi")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QPURUN_HOME", str(root / "home"))
        patch.chdir(root)
        outcome = _main("run", str(RABI), "--json", "--workers", "2", "--out", str(root / "out"))
        assert outcome.code == 0, outcome.err
        batch_id = json.loads(outcome.out)["batch_id"]
        yield Store(root / "home" / "store.sqlite3"), batch_id, root / "out"


LAB = """\
experiment "lab"
device AnalogDevice
layout triangular(61, spacing = 5 um)
register { q0 = trap 0  q1 = trap 30 }
channel ryd = rydberg_global
include "lib/pulses.qx"
var delta: float
sequence {
  add pulse(amplitude = constant(t_drive, omega), detuning = delta, phase = 0) on ryd
  measure ground-rydberg
}
runs {{ shots }}
sweep {
  delta = 0.5 MHz .. 2.5 MHz step 0.5 MHz
}
"""
PULSES = 'include "timing.qx"\nlet omega = 2 * pi rad/us\n'
TIMING = "let t_drive = 250 ns\n"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str, Path, Path]]:
    """A template spec with nested includes, a sweep in MHz over two atoms, a webhook in the project's
    configuration and a cloud token in the environment: its store, batch id, output and spec directories."""
    root = tmp_path_factory.mktemp("lab")
    project = root / "project"
    (project / "lib").mkdir(parents=True)
    (project / "lab.qx").write_text(LAB)
    (project / "lib" / "pulses.qx").write_text(PULSES)
    (project / "lib" / "timing.qx").write_text(TIMING)
    (project / "qpurun.toml").write_text(f'notify = "https://hooks.example.org/{HOOK_PATH}"\n')
    sent: list[tuple[str, Any]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QPURUN_HOME", str(root / "home"))
        patch.setenv("PASQAL_TOKEN", TOKEN)
        patch.setattr("qpurun.run.notify.notify", lambda url, summary: sent.append((url, summary)))
        patch.chdir(root)
        outcome = _main("run", str(project / "lab.qx"), "--set", "shots=20", "--json", "--out", str(root / "out"))
        assert outcome.code == 0, outcome.err
        assert len(sent) == 1  # the webhook was configured, and called (not for real)
        yield Store(root / "home" / "store.sqlite3"), json.loads(outcome.out)["batch_id"], root / "out", project


# ---- qpurun.results


def test_results_arrays_are_the_stored_counts(rabi: tuple[Store, str, Path]) -> None:
    store, batch_id, _ = rabi
    results = qpurun.results(batch_id[:8], store=store)
    assert isinstance(results, BatchResults) and results.batch_id == batch_id
    assert (results.name, results.target, results.device, results.status) == ("rabi", "qutip", "AnalogDevice", "DONE")
    assert results.variables == ["t"] and results.units == {"t": "ns"} and results.qubits == ["q0"]
    stored = store.jobs(batch_id)
    assert results.counts == [job.counts for job in stored]
    assert list(results.values("t")) == list(range(100, 2001, 100))
    assert list(results.shots) == [200] * 20
    by_hand = [(job.counts or {}).get("1", 0) / 200 for job in stored]
    assert results.occupation.shape == (20, 1)
    assert list(results.occupation[:, 0]) == by_hand
    assert list(results.mean_excitation) == by_hand
    assert results.occupation[9, 0] <= 0.05 and results.occupation[4, 0] >= 0.95  # t = 1000 ns, 500 ns
    job = results.jobs[4]
    assert (job.index, job.variables, job.status, job.runs, job.error) == (4, {"t": 500}, "DONE", 200, None)
    assert job.seconds is not None and job.seconds >= 0
    assert results.most_frequent[4] == "1"
    with pytest.raises(KeyError, match="no variable 'omega'"):
        results.values("omega")


def test_results_from_the_default_store_and_from_a_remote_results(rabi: tuple[Store, str, Path]) -> None:
    store, batch_id, _ = rabi
    from pulser.backend.remote import RemoteResults

    from qpurun.run import LocalConnection

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QPURUN_HOME", str(store.path.parent))
        assert qpurun.results(batch_id).counts == qpurun.results(batch_id, store=store).counts
    remote = RemoteResults(batch_id, LocalConnection(store=store.path, workers=1))
    assert qpurun.results(remote).counts == [job.counts for job in store.jobs(batch_id)]


def test_to_pandas_is_one_row_per_job(rabi: tuple[Store, str, Path]) -> None:
    pytest.importorskip("pandas", reason="to_pandas needs the analysis extra")
    store, batch_id, _ = rabi
    results = qpurun.results(batch_id, store=store)
    frame = results.to_pandas()
    assert frame.shape == (20, 10)
    assert list(frame.columns) == [
        "job",
        "t [ns]",
        "runs",
        "status",
        "shots",
        "occupation[q0]",
        "mean_excitation",
        "most_frequent",
        "most_frequent_probability",
        "error",
    ]
    assert frame.attrs["units"] == {"t": "ns"} and frame.attrs["columns"] == {"t": "t [ns]"}
    assert frame.attrs["qubits"] == ["q0"] and frame.attrs["batch_id"] == batch_id
    assert list(frame["t [ns]"]) == list(range(100, 2001, 100))
    assert list(frame["occupation[q0]"]) == list(results.occupation[:, 0])
    assert frame["most_frequent"].iloc[4] == "1" and set(frame["status"]) == {"DONE"}


def test_to_pandas_without_pandas_names_the_extra(
    rabi: tuple[Store, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, batch_id, _ = rabi
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    results = qpurun.results(batch_id, store=store)
    assert results.occupation.shape == (20, 1)  # everything else needs no pandas
    with pytest.raises(MissingExtra) as raised:
        results.to_pandas()
    assert "pip install 'qpurun[analysis]'" in str(raised.value) and isinstance(raised.value, ImportError)


def test_an_unknown_batch_is_a_clear_error(home: Path) -> None:
    with pytest.raises(UnknownBatch) as raised:
        qpurun.results("0123456789abcdef")
    assert "no batch '0123456789abcdef'" in str(raised.value) and "qpurun runs" in str(raised.value)
    assert isinstance(raised.value, KeyError)


# ---- units


def test_a_sweep_in_mhz_is_shown_in_mhz(lab: tuple[Store, str, Path, Path], qpurun: Any) -> None:
    store, batch_id, out, _ = lab
    written = [0.5, 1.0, 1.5, 2.0, 2.5]
    results = qpurun_results(batch_id, store)
    assert results.units == {"delta": "MHz"} and list(results.values("delta")) == written
    assert results.qubits == ["q0", "q1"] and results.occupation.shape == (5, 2)
    for row, counts in zip(results.occupation, results.counts, strict=True):
        shots = sum(counts.values())
        by_hand = [sum(n for b, n in counts.items() if b[i] == "1") / shots for i in range(2)]
        assert list(row) == by_hand
    # The store and jobs.json keep Pulser's rad/µs; everything shown is in MHz.
    assert [j.variables["delta"] for j in store.jobs(batch_id)] == pytest.approx([2 * math.pi * f for f in written])
    report = json.loads((out / "results.json").read_text())
    assert report["units"] == {"delta": "MHz"} and [j["variables"]["delta"] for j in report["jobs"]] == written
    assert (out / "results.csv").read_text().splitlines()[0].startswith("job,delta [MHz],runs,status,shots,")
    assert [line.split(",")[1] for line in (out / "results.csv").read_text().splitlines()[1:]] == [
        "0.5",
        "1.0",
        "1.5",
        "2.0",
        "2.5",
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QPURUN_HOME", str(store.path.parent))
        table = qpurun("results", batch_id).out
        assert "delta [MHz]" in table and "3.142" not in table and "\n0    0.5 " in table
        as_json = qpurun("results", batch_id, "--json").json()
        assert [j["variables"]["delta"] for j in as_json["jobs"]] == written
        assert qpurun("results", batch_id, "--csv").out == (out / "results.csv").read_text()
        assert qpurun("results", batch_id, "--bitstrings").out.startswith("job,delta [MHz],runs,status,bitstring,")


def qpurun_results(batch_id: str, store: Store) -> BatchResults:
    return qpurun.results(batch_id, store=store)


def test_units_without_a_written_unit_are_pulsers_when_the_dimension_is_known() -> None:
    experiment = qpurun.loads(
        "device AnalogDevice\nlayout triangular(61, spacing = 5 um)\nregister { q0 = trap 0 }\n"
        "channel ryd = rydberg_global\nvar t: int\nvar phi: float\nvar k: float\n"
        "sequence {\n  add pulse(amplitude = constant(t, k * 1 rad/us), detuning = 0, phase = phi) on ryd\n"
        "  measure ground-rydberg\n}\nruns 10\n"
        "sweep {\n  t = [100, 200]\n  phi = 1 .. 2 step 1\n  k = [1, 2]\n}\n"
    )
    assert output.units_of(experiment) == {"t": "ns", "phi": "rad"}  # k is a bare number: no unit
    assert output.as_written(1500, "us") == 1.5 and output.as_written(3000, "us") == 3
    assert output.as_written([math.pi, 3 * math.pi], "MHz") == [0.5, 1.5]
    assert output.as_written(7, None) == 7 and output.as_written({"q0": 1}, "MHz") == {"q0": 1}


def test_a_batch_without_units_takes_them_from_its_experiment(home: Path) -> None:
    """Submitted from Python through Pulser's backends, a batch has no units: the experiment gives them."""
    store = Store(home / "store.sqlite3")
    batch_id = _batch(store, ["q0"], [({"delta": math.pi}, {"0": 3, "1": 1})])
    assert qpurun.results(batch_id, store=store).jobs[0].variables == {"delta": math.pi}
    inline = LAB.replace('include "lib/pulses.qx"', "let omega = 2 * pi rad/us\n" + TIMING)
    experiment = qpurun.loads(inline.replace("{{ shots }}", "5"))
    results = qpurun.results(batch_id, store=store, experiment=experiment)
    assert results.units == {"delta": "MHz"} and results.jobs[0].variables == {"delta": 0.5}


def test_a_store_of_schema_2_opens_without_units(home: Path) -> None:
    store = Store(home / "store.sqlite3")
    batch_id = _batch(store, ["q0"], [({"t": 100}, {"1": 2})])
    store.close()
    with sqlite3.connect(store.path) as db:
        db.execute("ALTER TABLE batches DROP COLUMN units_json")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    reopened = Store(store.path)
    assert reopened.batch(batch_id).units is None
    reopened.set_units(batch_id, {"t": "ns"})
    assert qpurun.results(batch_id, store=reopened).units == {"t": "ns"}


# ---- the CSV files


def _batch(store: Store, qubits: list[str], jobs: list[tuple[dict[str, Any], dict[str, int]]]) -> str:
    """A finished batch straight in the store: a register of `qubits`, each job's variables and counts."""
    register = [{"name": q, "x": 5.0 * i, "y": 0.0} for i, q in enumerate(qubits)]
    batch_id = store.create_batch(
        name="made",
        sequence_json=json.dumps({"register": register}),
        device_name="MockDevice",
        noise={},
        qpu_checks=False,
        open=False,
        jobs=[(sum(counts.values()), variables) for variables, counts in jobs],
    )
    for index, (_, counts) in enumerate(jobs):
        claim = store.claim(batch_id, index)
        assert claim is not None
        store.finish(batch_id, index, claim, counts=counts)
    return batch_id


def test_pandas_reads_the_bitstrings_as_text_with_every_outcome(rabi: tuple[Store, str, Path], home: Path) -> None:
    pandas = pytest.importorskip("pandas", reason="reading the CSV back needs pandas")
    _, _, out = rabi
    long = pandas.read_csv(out / "bitstrings.csv")  # no dtype override
    assert long["bitstring"].map(type).eq(str).all()
    assert set(long["bitstring"]) == {"'0", "'1"} and len(long) == 40  # both outcomes of every job
    at_1000 = long[(long["t [ns]"] == 1000) & (long["bitstring"] == "'1")]
    assert len(at_1000) == 1 and at_1000["count"].iloc[0] <= 10  # the minimum of the curve has its point
    per_job = pandas.read_csv(out / "results.csv")
    assert per_job["most_frequent"].map(type).eq(str).all() and len(per_job) == 20

    store = Store(home / "store.sqlite3")
    eight = _batch(store, [f"q{i}" for i in range(8)], [({}, {"10100101": 7, "00010000": 1})])
    four = _batch(store, ["a", "b", "c", "d"], [({}, {"0001": 5})])
    many = _batch(store, [f"q{i}" for i in range(11)], [({}, {"00000000001": 2, "10000000000": 1})])
    tables = {}
    for batch_id in (eight, four, many):
        batch, jobs = store.batch(batch_id), store.jobs(batch_id)
        (home / f"{batch_id}.csv").write_text(output.bitstrings_csv(batch, jobs))
        (home / f"{batch_id}-jobs.csv").write_text(output.results_csv(batch, jobs))
        tables[batch_id] = pandas.read_csv(home / f"{batch_id}.csv")
    read = {b.removeprefix("'"): n for b, n in zip(tables[eight]["bitstring"], tables[eight]["count"], strict=True)}
    assert read["10100101"] == 7 and read["00010000"] == 1 and len(read) == 256 and read["11111111"] == 0
    assert tables[four]["bitstring"].iloc[0] == "'0001" and len(tables[four]) == 16
    assert len(tables[many]) == 2  # 11 qubits: only what was measured
    jobs_four = pandas.read_csv(home / f"{four}-jobs.csv")
    assert jobs_four["most_frequent"].iloc[0] == "'0001"
    assert [jobs_four[f"occupation[{q}]"].iloc[0] for q in "abcd"] == [0.0, 0.0, 0.0, 1.0]


# ---- the run directory


def test_the_run_directory_holds_what_runs_it_again(lab: tuple[Store, str, Path, Path], qpurun: Any) -> None:
    _, batch_id, out, _ = lab
    assert (out / "lab.qx").read_text() == LAB  # the template as written
    rendered = (out / "lab.rendered.qx").read_text()
    assert "runs 20" in rendered and "{{" not in rendered
    assert json.loads((out / "values.json").read_text()) == {"shots": 20}
    assert (out / "lib" / "pulses.qx").read_text() == PULSES and (out / "lib" / "timing.qx").read_text() == TIMING
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["batch_id"] == batch_id and manifest["target"] == "qutip"
    assert manifest["files"] == ["lib/pulses.qx", "lib/timing.qx"] and manifest["not_copied"] == []
    assert manifest["rerun"] == "qpurun run lab.qx --backend qutip --params values.json"
    assert {"python", "qpurun", "pulser-core", "pulser-simulation", "qutip"} <= set(manifest["versions"])
    settings = manifest["configuration"]["settings"]
    assert settings["notify"]["value"] == "https://hooks.example.org/…"  # masked: only the host
    assert "qpurun.toml" in settings["notify"]["source"]
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert HOOK_PATH not in text and TOKEN not in text, path
    # From inside the run directory, without the project: the copied spec and its includes check.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(out)
        rendered_check = qpurun("check", "lab.rendered.qx")
        assert rendered_check.code == 0, rendered_check.err
        template_check = qpurun("check", "lab.qx", "--params", "values.json")
        assert template_check.code == 0, template_check.err
        assert "5 jobs" in template_check.out
