"""LocalConnection as Pulser sees it: QPUBackend, RemoteResults (also from another process), open batches, faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pulser.backend import BackendConfig, QPUBackend
from pulser.backend.remote import BatchStatus, JobStatus, RemoteResults, RemoteResultsError

import qpurun
from qpurun.run import LocalConnection, Store
from qpurun.run.emulator import plan_shots
from qpurun.run.store import BatchBusy, UnknownBatch
from run.conftest import SPECS, environment


@pytest.fixture
def rabi() -> qpurun.Experiment:
    return qpurun.load(SPECS / "rabi.qx")


def test_qpubackend_run_and_reattach_from_a_new_process(home: Path, rabi: qpurun.Experiment) -> None:
    with LocalConnection(workers=2) as connection:
        backend = QPUBackend(rabi.sequence, connection, config=BackendConfig(default_num_shots=200))
        remote = backend.run(rabi.job_params, wait=True)
        assert remote.get_batch_status() is BatchStatus.DONE
        counts = [dict(r.final_bitstrings) for r in remote.results]
        job_ids = remote.job_ids
    assert len(counts) == 20 and all(sum(c.values()) == 200 for c in counts)

    script = (
        "import json, sys\n"
        "from pulser.backend.remote import RemoteResults\n"
        "from qpurun.run import LocalConnection\n"
        "results = RemoteResults(sys.argv[1], LocalConnection())\n"
        "print(json.dumps({'status': results.get_batch_status().name, 'ids': results.job_ids,\n"
        "                  'counts': [dict(r.final_bitstrings) for r in results.results]}))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script, remote.batch_id],
        env=environment(home),
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(process.stdout)
    assert seen == {"status": "DONE", "ids": job_ids, "counts": counts}


def test_open_batch(home: Path, rabi: qpurun.Experiment) -> None:
    with LocalConnection(workers=1) as connection:
        backend = QPUBackend(rabi.sequence, connection)
        with backend.open_batch():
            first = backend.run(rabi.job_params[:2])
            second = backend.run(rabi.job_params[2:3])
            assert first.batch_id == second.batch_id
            assert connection._get_batch_status(first.batch_id) in (BatchStatus.PENDING, BatchStatus.RUNNING)
        connection.wait(first.batch_id)
        results = RemoteResults(first.batch_id, connection)
        assert results.get_batch_status() is BatchStatus.DONE
        assert len(results.results) == 3
        with pytest.raises(ValueError, match="closed"):
            connection.submit(rabi.sequence, batch_id=first.batch_id, job_params=rabi.job_params[:1])


def test_a_failing_job_and_a_dying_worker_cost_only_their_job(home: Path, rabi: qpurun.Experiment) -> None:
    with LocalConnection(workers=2, emulator="run.faulty:run_job") as connection:
        remote = QPUBackend(rabi.sequence, connection).run(rabi.job_params, wait=True)
        assert remote.get_batch_status() is BatchStatus.ERROR
        progress = connection._query_job_progress(remote.batch_id)
        jobs = {job.variables["t"]: job for job in connection.store.jobs(remote.batch_id)}
    assert jobs[300].status == "ERROR" and "broke on purpose" in (jobs[300].error or "")
    assert jobs[500].status == "ERROR" and "worker process died" in (jobs[500].error or "")
    assert "SIGKILL" in (jobs[500].error or "")
    assert {t for t, job in jobs.items() if job.status == "DONE"} == set(range(100, 2001, 100)) - {300, 500}
    assert sum(status is JobStatus.DONE and result is not None for status, result in progress.values()) == 18
    with pytest.raises(RemoteResultsError):
        _ = remote.results
    assert len(remote.get_available_results()) == 18


def test_the_job_waiting_in_a_dead_worker_s_pipe_runs_elsewhere(home: Path, rabi: qpurun.Experiment) -> None:
    """A worker is sent its next job while it runs one (so it never waits for the runner between
    two); when it dies, that next job was never started: it is not blamed, and runs once, elsewhere."""
    params = [{"runs": 10, "variables": {"t": t}} for t in (500, 100, 200)]
    with LocalConnection(workers=1, emulator="run.faulty:run_job") as connection:
        remote = connection.submit(rabi.sequence, job_params=params, wait=True)
        jobs = connection.store.jobs(remote.batch_id)
    died, *others = jobs
    assert died.status == "ERROR" and "worker process died" in (died.error or "")
    assert [(job.status, sum((job.counts or {}).values())) for job in others] == [("DONE", 10), ("DONE", 10)]


def test_a_job_that_does_not_build_fails_alone(home: Path, rabi: qpurun.Experiment) -> None:
    # Submitted directly (no qpurun validation): t = 0 ns cannot be built.
    with LocalConnection(workers=1) as connection:
        params = [{"runs": 10, "variables": {"t": 0}}, {"runs": 10, "variables": {"t": 100}}]
        remote = connection.submit(rabi.sequence, job_params=params, wait=True)
        first, second = connection.store.jobs(remote.batch_id)
    assert first.status == "ERROR" and first.error
    assert second.status == "DONE" and sum((second.counts or {}).values()) == 10


def test_submit_checks_job_params(home: Path, rabi: qpurun.Experiment) -> None:
    with LocalConnection(workers=1) as connection:
        with pytest.raises(ValueError, match="runs"):
            connection.submit(rabi.sequence, job_params=[{"variables": {"t": 100}}])
        with pytest.raises(ValueError, match="missing"):
            connection.submit(rabi.sequence, job_params=[{"runs": 5}])
    assert Store().batches() == []


def test_devices_offered(home: Path) -> None:
    import dataclasses

    from pulser.devices import AnalogDevice, DigitalAnalogDevice

    lab = dataclasses.replace(AnalogDevice, name="LabDevice")
    devices = LocalConnection(devices=[lab]).fetch_available_devices()
    assert devices["AnalogDevice"] == AnalogDevice and devices["DigitalAnalogDevice"] == DigitalAnalogDevice
    assert devices["LabDevice"] == lab


def test_noise_block_becomes_the_noise_model(home: Path, rabi: qpurun.Experiment) -> None:
    noise = {"p_false_pos": 0.2, "p_false_neg": 0.0}
    plan = plan_shots(200, noise)
    assert (plan.trajectories, plan.shots_per_trajectory, plan.stochastic) == (1, 200, False)
    stochastic = {"state_prep_error": 0.05, "runs": 10}
    plan = plan_shots(200, stochastic)
    assert (plan.trajectories, plan.shots_per_trajectory, plan.total) == (10, 20, 200)
    assert plan_shots(200, {"state_prep_error": 0.05}).total == 200
    with LocalConnection(workers=1, noise=noise) as connection:
        # t = 1000 ns: the atom is back in the ground state; only false positives excite it.
        remote = connection.submit(rabi.sequence, job_params=[{"runs": 400, "variables": {"t": 1000}}], wait=True)
        (counts,) = [dict(r.final_bitstrings) for r in remote.results]
    assert sum(counts.values()) == 400
    assert 40 <= counts.get("1", 0) <= 120  # 0.2 × 400 = 80, σ = 8
    with LocalConnection(workers=1, noise=stochastic) as connection:
        remote = connection.submit(rabi.sequence, job_params=[{"runs": 200, "variables": {"t": 500}}], wait=True)
        assert sum(remote.results[0].final_bitstrings.values()) == 200


def test_a_store_error_keeps_its_hint_apart(home: Path) -> None:
    store = Store()
    with pytest.raises(UnknownBatch) as caught:
        store.batch("no-such-batch")
    assert caught.value.message == f"no batch 'no-such-batch' in the store {store.path}"
    assert caught.value.hint == "`qpurun runs` lists the batches"
    assert str(caught.value) == f"{caught.value.message}\n  hint: {caught.value.hint}"  # the house format


def test_one_runner_per_batch(home: Path, rabi: qpurun.Experiment) -> None:
    store = Store()
    batch_id = store.create_batch(
        name="x", sequence_json="{}", device_name="d", noise={}, qpu_checks=False, open=False, jobs=[(1, {})]
    )
    token = store.acquire(batch_id)
    with pytest.raises(BatchBusy, match=f"process {os.getpid()}"):
        store.acquire(batch_id)
    claim = store.claim(batch_id, 0)
    assert claim is not None and store.claim(batch_id, 0) is None
    store.release(batch_id, token)
    assert store.job(batch_id, 0).status == "PENDING"
    # The released claim is stale: a late result from it is refused.
    assert not store.finish(batch_id, 0, claim, counts={"0": 1})
    store.acquire(batch_id)
    fresh = store.claim(batch_id, 0)
    assert fresh is not None and store.finish(batch_id, 0, fresh, counts={"0": 1})
