"""A batch on a Dask cluster (`--cluster`): what a local run stores, a worker or the client killed, once each.

One `LocalCluster(n_workers=2, processes=True)` serves the module; its workers import Pulser once (warmed
up front), and those SIGKILLed are restarted by their nannies.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from qpurun.run.backends import BackendError  # noqa: E402
from run.conftest import QPURUN, ROOT, RUN_SPECS, SPECS, spawn  # noqa: E402

RABI = SPECS / "rabi.qx"
SIX = ROOT / "bench" / "six_atoms.qx"


def six_atoms(directory: Path, jobs: int) -> Path:
    """The bench's six-atom spec with `jobs` jobs of about half a second each, 100 shots."""
    text = SIX.read_text()
    text = text.replace("runs 500", "runs 100")
    text = text.replace("delta_f = [-2, -1, 0, 1, 2, 3, 4, 5, 6, 7] * 2 * pi rad/us", "delta_f = [0] * 2 * pi rad/us")
    text = text.replace(
        "t = 3000 ns .. 5700 ns step 300 ns", f"t = 3000 ns .. {3000 + 100 * (jobs - 1)} ns step 100 ns"
    )
    path = directory / "six.qx"
    path.write_text(text)
    return path


def _warm() -> None:
    import pulser_simulation  # noqa: F401

    import qpurun.run.cluster  # noqa: F401


@pytest.fixture(scope="module")
def local_rabi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`qpurun run rabi.qx --workers 1 --json`, before the cluster's client starts threads in this process
    (a single-threaded runner forks its worker, which then imports nothing)."""
    import contextlib
    import io
    import json
    from unittest import mock

    from qpurun import cli

    where = tmp_path_factory.mktemp("local")
    out = io.StringIO()
    with mock.patch.dict(os.environ, {"QPURUN_HOME": str(where / "home")}), contextlib.redirect_stdout(out):
        code = cli.main(["run", str(RABI), "--workers", "1", "--json", "--out", str(where / "out")])
    assert code == 0
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


@pytest.fixture(scope="module")
def cluster(local_rabi: dict[str, Any]) -> Iterator[Any]:
    """A 2-worker LocalCluster; a job that kills 2 workers is given up (allowed-failures = 1)."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        local = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
        )
    client = distributed.Client(local, set_as_default=False)
    client.run(_warm)
    yield client
    client.close()
    local.close()


def rows(home: Path) -> list[tuple[Any, ...]]:
    """(batch, index, status, finished_at, result, claim) of every job, read behind qpurun's back."""
    path = home / "store.sqlite3"
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=10)
    try:
        return db.execute(
            "SELECT batch_id, job_index, status, finished_at, result_json, claim FROM jobs ORDER BY batch_id, job_index"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def wait_until(condition: Any, process: subprocess.Popen[str] | None = None, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None:
            assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)


def occupation(counts: Mapping[str, int]) -> float:
    return sum(n for bits, n in counts.items() if bits == "1") / sum(counts.values())


def test_rabi_on_the_cluster_stores_what_a_local_run_stores(  # type: ignore[no-untyped-def]
    home: Path, qpurun, cluster: Any, local_rabi: dict[str, Any]
) -> None:
    address = cluster.scheduler.address
    # The address from the project configuration next to the spec: `cluster = "..."`.
    project = home.parent / "project"
    project.mkdir()
    (project / "rabi.qx").write_text(RABI.read_text())
    (project / "qpurun.toml").write_text(f'cluster = "{address}"\n')
    remote = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(home.parent / "remote"))
    assert remote.code == 0, remote.err
    ours, theirs = local_rabi, remote.json()
    assert theirs["status"] == "DONE" and theirs["target"] == "qutip"
    assert len(theirs["jobs"]) == len(ours["jobs"]) == 20
    for mine, other in zip(ours["jobs"], theirs["jobs"], strict=True):
        assert other["variables"] == mine["variables"] and other["runs"] == mine["runs"] == 200
        assert sum(other["counts"].values()) == sum(mine["counts"].values()) == 200
        p, q = occupation(mine["counts"]), occupation(other["counts"])
        noise = math.sqrt(max(p * (1 - p), q * (1 - q), 1 / 200) * 2 / 200)
        assert abs(p - q) <= 5 * noise, (mine["variables"], p, q)
    status = qpurun("status", theirs["batch_id"], "--json").json()
    assert status["status"] == "DONE" and all(job["status"] == "DONE" for job in status["jobs"])
    assert (home.parent / "remote" / "results.csv").exists()


@pytest.mark.parametrize("target", ["emu-sv", "emu-mps"])
def test_the_emulators_run_on_the_cluster_too(home: Path, qpurun, cluster: Any, target: str) -> None:  # type: ignore[no-untyped-def]
    from qpurun.run.emulator import available

    if available(target):
        pytest.skip(f"{target} is not installed")
    spec = home.parent / "pair.qx"
    text = (RUN_SPECS / "sweep4.qx").read_text().replace("  q2 = trap 2  q3 = trap 3", "")
    spec.write_text(text.replace("t = 400 ns .. 1960 ns step 40 ns", "t = [400, 440] ns"))
    outcome = qpurun("run", str(spec), "--backend", target, "--cluster", cluster.scheduler.address, "--json")
    assert outcome.code == 0, outcome.err
    report = outcome.json()
    assert report["target"] == target and [job["status"] for job in report["jobs"]] == ["DONE", "DONE"]
    assert all(sum(job["counts"].values()) == 100 and len(next(iter(job["counts"]))) == 2 for job in report["jobs"])


def test_a_worker_killed_mid_job_is_replaced_and_the_job_runs_once(home: Path, cluster: Any) -> None:
    spec = six_atoms(home.parent, 6)
    process = spawn(home, "run", str(spec), "--cluster", cluster.scheduler.address, "--json", "--out", "out")

    def busy() -> dict[str, int]:
        executing = cluster.run(lambda dask_worker: [t.key for t in dask_worker.state.executing])
        return {address: len(keys) for address, keys in executing.items() if any("qpurun-" in k for k in keys)}

    victim = next(iter(wait_until(busy, process)))
    pid = cluster.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    _, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    jobs = rows(home)
    assert len(jobs) == 6 and {job[1] for job in jobs} == set(range(6))
    assert all(job[2] == "DONE" and job[4] is not None for job in jobs)
    assert pid not in cluster.run(os.getpid).values()  # the nanny started a new process


def test_the_client_killed_mid_batch_then_resume_runs_only_the_rest(home: Path, qpurun, cluster: Any) -> None:  # type: ignore[no-untyped-def]
    spec = six_atoms(home.parent, 12)
    address = cluster.scheduler.address
    process = spawn(home, "run", str(spec), "--cluster", address, "--json", "--out", "out")
    wait_until(lambda: sum(r[2] == "DONE" for r in rows(home)) >= 2, process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    before = {r[1]: r for r in rows(home) if r[2] == "DONE"}
    assert 2 <= len(before) < 12, "the kill came too late to test anything"
    (batch_id,) = {r[0] for r in rows(home)}
    assert qpurun("status", batch_id, "--json").json()["status"] == "PAUSED"

    outcome = qpurun("resume", batch_id, "--cluster", address)
    assert outcome.code == 0, outcome.err
    assert f"resuming {12 - len(before)} of 12 jobs" in outcome.err
    assert "Traceback" not in outcome.err
    after = {r[1]: r for r in rows(home)}
    assert len(after) == 12 and all(r[2] == "DONE" for r in after.values())
    for index, row in before.items():  # not run again: the same result, finished at the same time
        assert after[index] == row
    assert qpurun("status", batch_id, "--json").json()["status"] == "DONE"


def test_ctrl_c_gives_back_the_claims_and_the_hint_resumes_on_the_cluster(home: Path, qpurun, cluster: Any) -> None:  # type: ignore[no-untyped-def]
    spec = six_atoms(home.parent, 12)
    address = cluster.scheduler.address
    process = spawn(home, "run", str(spec), "--cluster", address, "--out", "out")
    wait_until(lambda: sum(r[2] == "DONE" for r in rows(home)) >= 2, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    (batch_id,) = {r[0] for r in rows(home)}
    command = f"qpurun resume {batch_id} --cluster {address}"
    assert f"`{command}` runs the rest" in err, err
    assert err.count("interrupted") == 1 and "Traceback" not in err, err
    before = {r[1]: r for r in rows(home)}
    assert all(r[2] in ("DONE", "PENDING") for r in before.values()), "a claim was left RUNNING"
    assert sum(r[2] == "PENDING" for r in before.values()) > 0, "the interrupt came too late to test anything"

    outcome = qpurun(*command.split()[1:])
    assert outcome.code == 0, outcome.err
    after = {r[1]: r for r in rows(home)}
    assert all(r[2] == "DONE" for r in after.values())
    assert all(after[index] == row for index, row in before.items() if row[2] == "DONE")


# ---- faults inside a job, with DaskExecutor under a LocalConnection


def faulty_job(
    sequence: Any, variables: Mapping[str, Any], runs: int, noise: Mapping[str, Any], settings: Mapping[str, Any]
) -> Any:
    """t = 300 fails in the emulator; t = 500 kills its worker, every time. Each call is logged."""
    from qpurun.run.emulator import run_job

    with open(settings["calls"], "a") as log:
        log.write(f"{variables['t']}\n")
    if variables["t"] == 300:
        raise RuntimeError("the emulator broke on purpose (t = 300)")
    if variables["t"] == 500:
        os.kill(os.getpid(), signal.SIGKILL)
    return run_job(sequence, variables, runs, noise, settings)


def test_a_failing_job_is_recorded_once_and_one_that_kills_workers_is_given_up(home: Path, cluster: Any) -> None:
    import qpurun
    from qpurun.run.cluster import DaskExecutor
    from qpurun.run.connection import LocalConnection
    from qpurun.run.store import Store

    store = Store(home / "store.sqlite3")
    calls = home.parent / "calls.txt"
    executor = DaskExecutor(store, cluster.scheduler.address, client=cluster, emulator="run.test_cluster:faulty_job")
    experiment = qpurun.load(RABI)
    by_t = {job["variables"]["t"]: job for job in experiment.job_params}
    with LocalConnection(store=store, executor=executor, settings={"calls": str(calls)}) as connection:
        remote = connection.submit(experiment.sequence, job_params=[by_t[t] for t in (100, 200, 300, 400)], wait=True)
        jobs = {job.variables["t"]: job for job in store.jobs(remote.batch_id)}
        assert jobs[300].status == "ERROR" and jobs[300].result_json is None
        assert "RuntimeError: the emulator broke on purpose (t = 300)" in (jobs[300].error or "")
        assert all(jobs[t].status == "DONE" for t in (100, 200, 400))
        assert calls.read_text().split().count("300") == 1  # an emulator's error is not retried
        # A result never lands twice: a late completion under the same claim is refused.
        done = jobs[100]
        assert done.claim is not None
        assert not store.finish(remote.batch_id, done.index, done.claim, result_json="{}", counts={"0": 1})
        assert store.job(remote.batch_id, done.index).result_json == done.result_json
        # Alone in its batch, so that no other job shares the workers it kills.
        killer = connection.submit(experiment.sequence, job_params=[by_t[500]], wait=True)
        (job,) = store.jobs(killer.batch_id)
        assert job.status == "ERROR" and "the worker process died" in (job.error or ""), job.error
        assert calls.read_text().split().count("500") == 2  # allowed-failures = 1: two workers died, then no more
    assert store.batch(remote.batch_id).runner_token is None


# ---- no cluster needed


def test_tls_files_need_a_tls_address(tmp_path: Path) -> None:
    from qpurun.run.cluster import security

    ca = tmp_path / "ca.pem"
    with pytest.raises(BackendError, match="not encrypted") as caught:
        security("tcp://host:8786", tls_ca_file=ca)
    assert "tls://" in (caught.value.hint or "")
    with pytest.raises(BackendError, match="no file"):
        security("tls://host:8786", tls_ca_file=ca)
    assert security("tcp://host:8786") is None  # no files: Dask's own configuration applies


def test_tls_settings_come_from_the_cluster_table(tmp_path: Path) -> None:
    from qpurun.config import resolve

    (tmp_path / "qpurun.toml").write_text(
        '[cluster]\naddress = "tls://scheduler:8786"\ntls_ca_file = "certs/ca.pem"\ntls_client_cert = "/abs/c.pem"\n'
    )
    resolved = resolve(
        tmp_path, overrides={"cluster.address": "tls://other:8786"}, flags={"cluster.address": "--cluster"}
    )
    cluster = resolved.config.cluster
    assert cluster.address == "tls://other:8786" and resolved.sources["cluster.address"] == "--cluster"
    assert cluster.tls_ca_file == tmp_path / "certs" / "ca.pem"  # relative to the file
    assert cluster.tls_client_cert == Path("/abs/c.pem") and cluster.tls_client_key is None
    (tmp_path / "qpurun.toml").write_text('cluster = "tcp://scheduler:8786"\n')
    resolved = resolve(tmp_path)
    assert resolved.config.cluster.address == "tcp://scheduler:8786"
    assert resolved.sources["cluster.address"].endswith("qpurun.toml:1")


def test_an_unreachable_scheduler_is_an_environment_problem() -> None:
    from qpurun.run.cluster import connect

    with pytest.raises(BackendError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        connect("tcp://127.0.0.1:9", timeout=0.5)


def test_help_does_not_import_distributed() -> None:
    code = "import sys; from qpurun.cli import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\n"
    code += "assert 'distributed' not in sys.modules and 'dask' not in sys.modules, 'imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert QPURUN[0] == sys.executable


def test_a_register_too_large_for_this_machine_is_said_with_the_targets_that_take_it() -> None:
    from qpurun.run.backends import available_memory, job_memory, memory_warning

    assert job_memory(16, "qutip") == 2**16 * 16 * (128 + 16 + 10)  # 0.15 GB: what bench_cluster.py measured
    assert job_memory(20, "emu-sv") == 2**20 * 16 * 30 and job_memory(40, "emu-mps") is None
    eight = 8 * 2**30
    assert memory_warning(16, "qutip", available=eight) is None
    warning = memory_warning(22, "qutip", available=eight) or ""
    assert "22 atoms needs about 17.1 GB on qutip" in warning and "8.0 GB available" in warning
    assert "emu-sv" in warning and "emu-mps" in warning  # emu-sv fits (1.9 GB)
    warning = memory_warning(30, "emu-sv", available=eight) or ""
    assert "emu-mps" in warning and "emu-sv, " not in warning.split("take it:")[1]
    assert memory_warning(23, "emu-sv", available=eight) is None  # 3.8 GB
    assert memory_warning(23, "emu-sv", available=eight, workers=4) is not None  # 4 jobs at once
    assert memory_warning(60, "emu-mps", available=eight) is None  # no estimate from the size alone
    free = available_memory()
    assert free is None or free > 0


def test_a_worker_without_the_target_s_emulator_raises_for_dask_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    from qpurun.run import cluster, emulator

    monkeypatch.setattr(emulator, "available", lambda name: f"the {name} emulator needs emu_sv")
    with pytest.raises(cluster.WorkerCannotRun, match="needs emu_sv"):
        cluster.run_task("{}", {}, 1, {}, {}, "emu-sv")


def test_cluster_is_for_local_targets(tmp_path: Path) -> None:
    from qpurun.config import ClusterSettings
    from qpurun.run.backends import runner_for
    from qpurun.run.store import Store
    from qpurun.run.targets import parse_target

    store = Store(tmp_path / "store.sqlite3")
    cloud = parse_target("pasqal:EMU_MPS")
    with pytest.raises(BackendError, match="--cluster runs local emulators' jobs"):
        runner_for(cloud, store, cluster=ClusterSettings(address="tcp://h:8786"), cluster_given=True)
