"""The run commands across targets: the project configuration, the store's schema, cancel, the webhook."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from loopback import serve_posts
from qpurun.run.store import Store
from run.conftest import SPECS

RABI = str(SPECS / "rabi.qx")


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook on loopback: its URL (with a secret path) and the JSON bodies it received."""
    received: list[dict[str, Any]] = []

    def answer(request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        received.append(json.loads(body))
        return 200, {}, b"ok"

    with serve_posts(answer) as url:
        yield f"{url}/services/T000/B000/s3cretpath", received


def test_run_posts_one_summary_to_the_webhook_and_never_prints_its_url(qpurun, webhook, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, received = webhook
    outcome = qpurun("run", RABI, "--workers", "1", "--notify", url, "--out", str(tmp_path / "out"))
    assert outcome.code == 0, outcome.err
    [summary] = received
    assert summary["target"] == "qutip" and summary["jobs"] == 20 and summary["done"] == 20
    assert "rabi" in summary["text"] and "20/20" in summary["text"]
    assert "s3cretpath" not in outcome.out + outcome.err


def test_a_failing_webhook_is_a_warning_not_a_failed_batch(qpurun, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = "http://127.0.0.1:9/hooks/s3cretpath"  # the discard port: nothing listens
    outcome = qpurun("run", RABI, "--workers", "1", "--notify", url, "--out", str(tmp_path / "out"))
    assert outcome.code == 0
    assert "qpurun: warning: webhook http://127.0.0.1:9/" in outcome.err
    assert "s3cretpath" not in outcome.err


def test_the_project_configuration_sets_the_target_and_the_store(qpurun, tmp_path: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "lab"
    project.mkdir()
    (project / "qpurun.toml").write_text('backend = "emu-sv"\nstore = "data/lab.sqlite3"\n\n[emulator]\ndt = 10\n')
    spec = project / "rabi.qx"
    spec.write_text((SPECS / "rabi.qx").read_text().replace("runs 200", "runs 50"))
    outcome = qpurun("run", str(spec), "--workers", "1", "--json", "--out", str(tmp_path / "out"))
    assert outcome.code == 0, outcome.err
    store = Store(project / "data" / "lab.sqlite3")
    [batch] = store.batches()
    settings = {"dt": 10, "gpu": False, "max_bond_dim": None, "optimize_qubit_ordering": True}
    assert (batch.target, batch.settings) == ("emu-sv", settings)
    assert not (home / "store.sqlite3").exists()

    config = qpurun("config", str(spec))
    assert "backend = emu-sv  (lab/qpurun.toml:1)" in config.out
    flagged = qpurun("config", str(spec), "--backend", "qutip")
    assert "backend = qutip  (--backend)" in flagged.out


def test_a_bad_configuration_is_located_and_stops_the_run(qpurun, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "qpurun.toml").write_text("backend = 'qutip'\nworkers = 0\n")
    spec = tmp_path / "rabi.qx"
    spec.write_text((SPECS / "rabi.qx").read_text())
    outcome = qpurun("run", str(spec))
    assert outcome.code == 2
    assert "qpurun.toml:2:1: config error: `workers` must be a whole number of at least 1, not 0" in outcome.err
    assert "Traceback" not in outcome.err


def test_runs_shows_each_batch_target(qpurun, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert qpurun("run", RABI, "--workers", "1", "--json", "--out", str(tmp_path / "a")).code == 0
    listing = qpurun("runs")
    header, row = listing.out.splitlines()[:2]
    assert header.split()[:4] == ["batch", "created", "(UTC)", "name"] and "target" in header
    assert " qutip " in row
    [record] = qpurun("runs", "--json").json()  # type: ignore[misc]
    assert record["target"] == "qutip" and record["remote_id"] is None


def test_cancel_a_paused_local_batch(qpurun, tmp_path: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    store = Store(home / "store.sqlite3")
    batch_id = store.create_batch(
        name="paused",
        sequence_json="{}",
        device_name="AnalogDevice",
        noise={},
        qpu_checks=False,
        open=False,
        jobs=[(10, {"t": 100}), (10, {"t": 200})],
    )
    outcome = qpurun("cancel", batch_id[:8])
    assert outcome.code == 0, outcome.err
    assert "2 job(s) canceled, now CANCELED" in outcome.out
    assert {job.status for job in store.jobs(batch_id)} == {"CANCELED"}


def test_a_store_of_schema_1_opens_and_keeps_its_batches(home: Path) -> None:
    """A store written by an earlier qpurun (schema 1) gains the target and units columns; its batches ran on qutip."""
    home.mkdir(parents=True)
    path = home / "store.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1');
            CREATE TABLE batches (
                batch_id TEXT PRIMARY KEY, name TEXT NOT NULL, spec_name TEXT, spec_text TEXT, spec_sha256 TEXT,
                sequence_json TEXT NOT NULL, device_name TEXT NOT NULL, noise_json TEXT NOT NULL,
                qpu_checks INTEGER NOT NULL, open INTEGER NOT NULL, out_dir TEXT, created_at TEXT NOT NULL,
                closed_at TEXT, runner_token TEXT, runner_pid INTEGER, runner_host TEXT, runner_started TEXT);
            CREATE TABLE jobs (
                batch_id TEXT NOT NULL, job_index INTEGER NOT NULL, job_id TEXT NOT NULL UNIQUE, runs INTEGER NOT NULL,
                variables TEXT NOT NULL, status TEXT NOT NULL, claim TEXT, worker_pid INTEGER, started_at TEXT,
                finished_at TEXT, error TEXT, result_json TEXT, counts_json TEXT, PRIMARY KEY (batch_id, job_index));
            INSERT INTO batches VALUES ('b1', 'old', NULL, NULL, NULL, '{}', 'AnalogDevice', '{}', 1, 0, NULL,
                '2026-11-01T00:00:00+00:00', NULL, NULL, NULL, NULL, NULL);
            INSERT INTO jobs VALUES ('b1', 0, 'j1', 10, '{}', 'DONE', NULL, NULL, NULL, '2026-11-01', NULL, NULL,
                '{"1": 10}');
            """
        )
    store = Store(path)
    [batch] = store.batches()
    assert (batch.batch_id, batch.target, batch.remote_tag, batch.remote_id) == ("b1", "qutip", None, None)
    assert store.jobs("b1")[0].counts == {"1": 10}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    assert batch.units is None  # not recorded then: values are shown as stored, without units


def populations(report: Any) -> dict[int, tuple[float, int]]:
    """t -> (mean excitation per atom, shots) of a `run --json` report."""
    found = {}
    for job in report["jobs"]:
        shots = sum(job["counts"].values())
        atoms = len(next(iter(job["counts"])))
        excited = sum(bits.count("1") * n for bits, n in job["counts"].items()) / (shots * atoms)
        found[job["variables"]["t"]] = (excited, shots * atoms)
    return found


def assert_within_shot_noise(a: dict[int, tuple[float, int]], b: dict[int, tuple[float, int]]) -> None:
    assert a.keys() == b.keys()
    for t in a:
        (pa, na), (pb, nb) = a[t], b[t]
        p = (pa * na + pb * nb) / (na + nb)
        sigma = math.sqrt(max(p * (1 - p), 1 / (na + nb)) * (1 / na + 1 / nb))
        assert abs(pa - pb) <= 5 * sigma, f"t = {t}: {pa:.3f} vs {pb:.3f} (5σ = {5 * sigma:.3f})"


def test_emu_sv_runs_the_rabi_example_as_qutip_does(qpurun, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    qutip = qpurun("run", RABI, "--json", "--out", str(tmp_path / "qutip"))
    emu_sv = qpurun("run", RABI, "--backend", "emu-sv", "--json", "--out", str(tmp_path / "sv"))
    assert qutip.code == emu_sv.code == 0, emu_sv.err
    assert_within_shot_noise(populations(emu_sv.json()), populations(qutip.json()))
    excited = populations(emu_sv.json())
    for t, (p, _) in excited.items():  # sin²(π t / 1 µs): the Rabi flop itself
        assert abs(p - math.sin(math.pi * t / 1000) ** 2) < 0.15, (t, p)
    assert qpurun("runs", "--json").json()[1]["target"] == "emu-sv"  # type: ignore[index]


def test_emu_mps_runs_a_two_atom_rabi_as_qutip_does(qpurun, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "rabi2.qx"
    text = (SPECS / "rabi.qx").read_text().replace("  q0 = trap 0\n", "  q0 = trap 0\n  q1 = trap 30\n")
    spec.write_text(text.replace("t = 100 ns .. 2 us step 100 ns", "t = 250 ns .. 1 us step 250 ns"))
    qutip = qpurun("run", str(spec), "--json", "--out", str(tmp_path / "qutip"))
    emu_mps = qpurun("run", str(spec), "--backend", "emu-mps", "--workers", "2", "--json", "--out", str(tmp_path / "m"))
    assert qutip.code == emu_mps.code == 0, emu_mps.err
    assert_within_shot_noise(populations(emu_mps.json()), populations(qutip.json()))
    # One atom alone is no MPS: emu-mps says so at the register, before anything runs.
    one = qpurun("check", "--backend", "emu-mps", RABI)
    assert one.code == 2 and "emu-mps needs at least 2 atoms" in one.err
