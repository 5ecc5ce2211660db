"""`qpurun run --backend pasqal:...` end to end against the fake cloud on loopback: durable, never duplicated.

Every fault case asserts what the store holds afterwards and how many batches the cloud holds.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.fake_cloud import DEFAULT_PROJECT_ID, FakePasqalCloud
from run.conftest import SPECS, Outcome, spawn

USER, PASSWORD = "alice@example.org", "s3cret-pw"

# The same two-atom Rabi flop as specs/rabi.qx, on the QPU's own specs (`device remote`).
FRESNEL_SPEC = """\
experiment "rabi-fresnel"
device remote "FRESNEL"
layout triangular(61, spacing = 5 um)
register { q0 = trap 0 }
channel ryd = rydberg_global
var t: int
sequence {
  add pulse(amplitude = constant(t, 2 * pi rad/us), detuning = 0, phase = 0) on ryd
  measure ground-rydberg
}
runs 100
sweep {
  t = 100 ns .. 600 ns step 100 ns
}
"""


@pytest.fixture
def cloud() -> Iterator[FakePasqalCloud]:
    with FakePasqalCloud(polls_to_finish=1) as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, home: Path, cloud: FakePasqalCloud, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory whose qpurun.toml points at the fake cloud; credentials in the environment."""
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "qpurun.toml").write_text(
        f"""\
backend = "pasqal:EMU_MPS"

[pasqal]
project_id = "{DEFAULT_PROJECT_ID}"
core_url = "{cloud.url}/core"
account_url = "{cloud.url}/account"
token_url = "{cloud.url}/oauth/token"
poll_interval = 0.05
"""
    )
    (directory / "rabi.qx").write_text((SPECS / "rabi.qx").read_text())
    (directory / "fresnel.qx").write_text(FRESNEL_SPEC)
    monkeypatch.setenv("PASQAL_USERNAME", USER)
    monkeypatch.setenv("PASQAL_PASSWORD", PASSWORD)
    monkeypatch.delenv("PASQAL_TOKEN", raising=False)
    monkeypatch.delenv("QPURUN_CREDENTIALS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no credentials file of the machine's user
    return directory


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """pasqal-cloud's own HTTP retries sleep 2**i s; the fake answers at once, so keep the suite fast."""
    import types

    import pasqal_cloud.utils.retry

    monkeypatch.setattr(pasqal_cloud.utils.retry, "time", types.SimpleNamespace(sleep=lambda seconds: None))


def run_rabi(qpurun, project: Path) -> Outcome:  # type: ignore[no-untyped-def]
    """`qpurun run rabi.qx --json` in the project (its qpurun.toml: pasqal:EMU_MPS on the fake)."""
    outcome: Outcome = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"))
    return outcome


def store_rows(home: Path) -> list[tuple[int, str, str | None, str | None]]:
    with sqlite3.connect(home / "store.sqlite3") as db:
        return db.execute("SELECT job_index, status, remote_id, counts_json FROM jobs ORDER BY job_index").fetchall()


def batch_row(home: Path) -> tuple[str, str, str | None, str | None, str]:
    with sqlite3.connect(home / "store.sqlite3") as db:
        rows = db.execute("SELECT batch_id, target, remote_id, remote_tag, submit_state FROM batches").fetchall()
    assert len(rows) == 1, rows
    return rows[0]  # type: ignore[no-any-return]


def assert_complete(home: Path, cloud: FakePasqalCloud, jobs: int) -> None:
    """One batch on the cloud, every job's result in the store, each under the cloud's own job id."""
    _, _, remote_id, tag, state = batch_row(home)
    assert state == "submitted" and tag is not None
    assert cloud.batch_count() == 1 and cloud.batch_count(tag) == 1
    assert remote_id in cloud.batches
    cloud_jobs = cloud.batches[remote_id]["jobs"]
    rows = store_rows(home)
    assert [row[2] for row in rows] == [job["id"] for job in cloud_jobs]
    assert [row[1] for row in rows] == ["DONE"] * jobs
    assert all(sum(json.loads(row[3]).values()) > 0 for row in rows)


def test_emu_mps_runs_rabi_end_to_end(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 0, outcome.err
    assert_complete(home, cloud, 20)
    [remote] = cloud.batches.values()
    assert remote["device_type"] == "EMU_MPS"
    assert remote["backend_configuration"]  # the EmulationConfig went with it
    report = outcome.json()
    assert isinstance(report, dict) and report["status"] == "DONE"
    # The Rabi flop: t = 500 ns is a pi pulse at 2π rad/µs... population 1, t = 1 µs is back to 0.
    populations = {job["variables"]["t"]: job["counts"].get("1", 0) / job["runs"] for job in report["jobs"]}
    assert populations[500] > 0.9 and populations[1000] < 0.1

    # `results` and Pulser's own RemoteResults read the same counts.
    results = qpurun("results", report["batch_id"], "--json").json()
    assert [job["counts"] for job in results["jobs"]] == [job["counts"] for job in report["jobs"]]
    from pasqal_cloud import PasqalCloudConnection
    from pulser.backend.remote import RemoteResults

    connection = PasqalCloudConnection(
        username=USER,
        password=PASSWORD,
        project_id=DEFAULT_PROJECT_ID,
        endpoints=cloud.endpoints,
        auth_config=cloud.auth_config,
    )
    pulser_results = RemoteResults(batch_row(home)[2], connection).results
    assert [dict(r.final_bitstrings) for r in pulser_results] == [job["counts"] for job in report["jobs"]]

    runs = qpurun("runs", "--json").json()
    assert isinstance(runs, list) and runs[0]["target"] == "pasqal:EMU_MPS" and runs[0]["remote_id"] in cloud.batches


def test_the_qpu_runs_a_spec_it_takes_and_its_specs_are_cached_for_offline_checks(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun
) -> None:  # type: ignore[no-untyped-def]
    outcome = qpurun("run", "--backend", "pasqal:FRESNEL", str(project / "fresnel.qx"), "--out", str(project / "out"))
    assert outcome.code == 0, outcome.err
    assert_complete(home, cloud, 6)
    [remote] = cloud.batches.values()
    assert remote["device_type"] in (None, "FRESNEL")
    assert json.loads(remote["sequence_builder"])["device"]["name"] == "FRESNEL"

    cloud.stop()  # offline now: the check answers from the specs the run fetched
    check = qpurun("check", "--backend", "pasqal:FRESNEL", str(project / "fresnel.qx"))
    assert check.code == 0, check.err
    assert "device FRESNEL: the specs Pasqal Cloud offered on" in check.err and "min old" in check.err
    assert "ok — 6 jobs valid on FRESNEL for pasqal:FRESNEL" in check.out


def test_a_500_then_success_makes_one_batch(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    cloud.fail_next("POST", r"/core/api/v1/batches$", status=500)
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 0, outcome.err
    assert len(cloud.requests_to("POST", r"/core/api/v1/batches$")) == 2
    assert_complete(home, cloud, 20)


def test_accepted_but_unanswered_is_found_by_its_tag_not_sent_again(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun
) -> None:  # type: ignore[no-untyped-def]
    cloud.accept_then_drop("POST", r"/core/api/v1/batches$")
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 0, outcome.err
    assert len(cloud.requests_to("POST", r"/core/api/v1/batches$")) == 1  # 0 duplicate batches
    assert cloud.requests_to("GET", r"/core/api/v1/batches$")  # looked for it by its tag
    assert_complete(home, cloud, 20)


def test_429_waits_for_retry_after(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import qpurun.run.cloud as cloud_module

    slept: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(min(seconds, 0.05))

    monkeypatch.setattr(cloud_module.time, "sleep", sleep)
    cloud.fail_next("POST", r"/core/api/v1/batches$", status=429, headers={"Retry-After": "7"})
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 0, outcome.err
    assert 7.0 in slept  # as the cloud asked, not the default backoff of 1 s
    assert "Pasqal Cloud asks to wait: sending batch" in outcome.err and "again in 7 s" in outcome.err
    assert_complete(home, cloud, 20)


def test_an_expired_token_is_renewed(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    cloud.polls_to_finish = 4
    cloud.expire_tokens(after=3)  # the login's token dies after the submission and a first poll
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 0, outcome.err
    assert len(cloud.requests_to("POST", r"/oauth/token$")) >= 2  # logged in again
    assert_complete(home, cloud, 20)


def test_wrong_credentials_are_a_clean_error_that_shows_no_secret(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PASQAL_PASSWORD", "wrong-horse-battery")
    outcome = qpurun("run", str(project / "rabi.qx"), "--out", str(project / "out"))
    assert outcome.code == 3
    assert "Pasqal Cloud refused the credentials (401" in outcome.err or "(403" in outcome.err
    assert "wrong-horse-battery" not in outcome.err + outcome.out
    assert "Traceback" not in outcome.err
    assert cloud.batch_count() == 0


def test_a_missing_password_is_an_error_not_a_prompt(
    project: Path, home: Path, qpurun, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import getpass

    monkeypatch.delenv("PASQAL_PASSWORD")
    monkeypatch.setattr(getpass, "getpass", lambda *a, **k: pytest.fail("prompted for a password"))
    outcome = qpurun("run", str(project / "rabi.qx"), "--out", str(project / "out"))
    assert outcome.code == 3, outcome.err
    assert "PASQAL_PASSWORD" in outcome.err


def test_a_job_failing_on_the_cloud_is_recorded_once(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    cloud.fail_job(lambda job: (job.get("variables") or {}).get("t") == 300, "the QPU lost the atoms")
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 1
    rows = store_rows(home)
    statuses = [row[1] for row in rows]
    assert statuses.count("ERROR") == 1 and statuses.count("DONE") == 19
    report = outcome.json()
    assert isinstance(report, dict)
    [failed] = [job for job in report["jobs"] if job["status"] == "ERROR"]
    assert failed["variables"] == {"t": 300} and "the QPU lost the atoms" in failed["error"]


def test_results_arriving_over_several_polls(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    cloud.polls_to_finish = 5
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 0, outcome.err
    assert len(cloud.requests_to("GET", r"/core/api/v2/batches/")) >= 3  # each poll advances a job by two
    assert_complete(home, cloud, 20)


def test_sigkill_between_submission_and_results_then_resume(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun
) -> None:  # type: ignore[no-untyped-def]
    cloud.polls_to_finish = 10**6  # nothing finishes while the first client lives
    process = spawn(home, "run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"), cwd=project)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (home / "store.sqlite3").exists():
            try:
                if batch_row(home)[4] == "submitted":
                    break
            except (sqlite3.OperationalError, AssertionError):
                pass
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    batch_id, _, remote_id, _, _ = batch_row(home)
    assert remote_id in cloud.batches  # 0 lost batch ids
    assert all(row[2] is not None for row in store_rows(home))

    cloud.polls_to_finish = 1
    outcome = qpurun("resume", batch_id, "--json")
    assert outcome.code == 0, outcome.err
    assert_complete(home, cloud, 20)  # 0 lost results, 0 duplicate batches


def test_killed_after_the_cloud_accepted_but_before_the_id_was_stored(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from qpurun.run.cloud import CloudRunner

    def killed(self, batch, remote, complete):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # as if the process died right after the cloud's answer

    with monkeypatch.context() as patched:
        patched.setattr(CloudRunner, "_record", killed)
        assert qpurun("run", str(project / "rabi.qx"), "--out", str(project / "out")).code == 130
    batch_id, _, remote_id, _, state = batch_row(home)
    assert (remote_id, state) == (None, "submitting") and cloud.batch_count() == 1
    outcome = qpurun("resume", batch_id, "--json")
    assert outcome.code == 0, outcome.err
    assert_complete(home, cloud, 20)


def test_status_asks_the_cloud_and_cancel_cancels_there(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun
) -> None:  # type: ignore[no-untyped-def]
    from qpurun.run.cloud import CloudRunner

    cloud.polls_to_finish = 10**6

    def interrupt(self, batch_id, timeout):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # Ctrl-C right after submission

    original = CloudRunner.wait
    CloudRunner.wait = interrupt  # type: ignore[method-assign]
    try:
        outcome = qpurun("run", str(project / "rabi.qx"), "--out", str(project / "out"))
    finally:
        CloudRunner.wait = original  # type: ignore[method-assign]
    assert outcome.code == 130 and "runs on, on the cloud" in outcome.err
    batch_id, _, remote_id, _, _ = batch_row(home)
    status = qpurun("status", batch_id)
    assert status.code == 0 and f"on pasqal:EMU_MPS (cloud batch {remote_id}): RUNNING" in status.out
    canceled = qpurun("cancel", batch_id)
    assert canceled.code == 0, canceled.err
    assert "20 job(s) canceled" in canceled.out
    assert cloud.batches[remote_id]["status"] == "CANCELED"
    assert {row[1] for row in store_rows(home)} == {"CANCELED"}


def test_a_large_sweep_goes_out_as_one_open_batch_in_chunks(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun
) -> None:  # type: ignore[no-untyped-def]
    config = project / "qpurun.toml"
    config.write_text(config.read_text() + "max_jobs_per_batch = 6\n")
    cloud.accept_then_drop("POST", r"/core/api/v2/batches/[^/]+/jobs$")  # a chunk lands, its answer is lost
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 0, outcome.err
    assert len(cloud.requests_to("POST", r"/core/api/v2/batches/[^/]+/jobs$")) == 3  # 6 + 6 + 6 + 2: no repeat
    assert cloud.requests_to("PATCH", r"/complete$")  # closed once all were in
    assert_complete(home, cloud, 20)


def test_nothing_a_run_writes_holds_the_secret(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    outcome = qpurun("run", str(project / "rabi.qx"), "--out", str(project / "out"))
    assert outcome.code == 0, outcome.err
    tokens = {r.headers.get("Authorization", "").removeprefix("Bearer ") for r in cloud.requests} - {""}
    assert tokens
    secrets = [PASSWORD, *tokens]
    written = [outcome.out, outcome.err]
    for path in [*home.rglob("*"), *(project / "out").rglob("*")]:
        if path.is_file():
            written.append(path.read_bytes().decode("utf-8", "replace"))
    for secret in secrets:
        assert all(secret not in text for text in written)


def test_backends_refresh_caches_the_device_specs_even_without_credentials(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(project)  # its qpurun.toml points at the fake
    monkeypatch.delenv("PASQAL_USERNAME")
    monkeypatch.delenv("PASQAL_PASSWORD")
    listing = qpurun("backends", "--refresh")
    assert listing.code == 0, listing.err
    assert "refreshed: FRESNEL" in listing.out and "device specs cached: FRESNEL, fetched" in listing.out
    assert "Pasqal Cloud credentials: none found; set PASQAL_TOKEN" in listing.out
    assert cloud.requests_to("GET", r"/devices/public-specs$") and not cloud.requests_to("POST", r"/oauth/token$")
    cloud.stop()
    check = qpurun("check", "--backend", "pasqal:FRESNEL", str(project / "fresnel.qx"))
    assert check.code == 0 and "the specs Pasqal Cloud offered on" in check.err
    listed = qpurun("backends", "--json").json()
    assert isinstance(listed, dict) and "FRESNEL" in listed["devices"]
    assert {t["target"] for t in listed["targets"]} >= {
        "qutip",
        "emu-sv",
        "emu-mps",
        "pasqal:EMU_MPS",
        "pasqal:FRESNEL",
    }


# ---- what a review found: interrupted chunks, two processes, cancel then resume, refusals, missing results


def interrupted_before_sending(qpurun, project: Path, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    """A run killed after the batch was stored and before it was sent; the batch id."""
    from qpurun.run.cloud import CloudRunner

    def killed(self, batch):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(CloudRunner, "_send", killed)
        outcome = qpurun("run", str(project / "rabi.qx"), "--out", str(project / "out"))
    assert outcome.code == 130
    assert "interrupted while submitting; batch" in outcome.err and "`qpurun resume" in outcome.err
    return outcome.err.split("interrupted while submitting; batch ")[1].split()[0]


def test_an_open_batch_interrupted_between_chunks_is_completed_by_resume(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from qpurun.run.cloud import CloudRunner

    config = project / "qpurun.toml"
    config.write_text(config.read_text() + "max_jobs_per_batch = 6\n")
    original = CloudRunner._add_chunk
    calls = {"n": 0}

    def second_chunk_kills(self, batch, remote, chunk):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, batch, remote, chunk)

    with monkeypatch.context() as patched:
        patched.setattr(CloudRunner, "_add_chunk", second_chunk_kills)
        assert qpurun("run", str(project / "rabi.qx"), "--out", str(project / "out")).code == 130
    batch_id, _, remote_id, _, state = batch_row(home)
    assert state == "filling" and len(cloud.batches[remote_id]["jobs"]) == 12 and cloud.batches[remote_id]["open"]
    assert "PAUSED" in qpurun("status", batch_id).out
    outcome = qpurun("resume", batch_id, "--json")
    assert outcome.code == 0, outcome.err
    assert not cloud.batches[remote_id]["open"]
    assert len(cloud.requests_to("POST", r"/core/api/v2/batches/[^/]+/jobs$")) == 3  # 6 + 6 | + 6 + 2
    assert_complete(home, cloud, 20)
    # The inputs were written before anything was sent, and are there after the resume.
    assert (project / "out" / "sequence.json").is_file() and (project / "out" / "rabi.qx").is_file()


def test_a_second_process_cannot_send_a_batch_another_is_sending(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from qpurun.run.store import Store

    batch_id = interrupted_before_sending(qpurun, project, monkeypatch)
    store = Store(home / "store.sqlite3")
    token = store.acquire(batch_id)  # a live process (this one) is sending it
    assert "PENDING" in qpurun("status", batch_id).out  # being sent, not paused
    busy = qpurun("resume", batch_id)
    assert busy.code == 3 and f"batch {batch_id} is being run by process {os.getpid()}" in busy.err
    assert cloud.batch_count() == 0
    store.release(batch_id, token)
    assert qpurun("resume", batch_id, "--json").code == 0
    assert_complete(home, cloud, 20)


def test_a_batch_canceled_before_it_was_sent_is_never_sent(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    batch_id = interrupted_before_sending(qpurun, project, monkeypatch)
    canceled = qpurun("cancel", batch_id)
    assert canceled.code == 0 and "20 job(s) canceled, now CANCELED" in canceled.out
    resumed = qpurun("resume", batch_id, "--json")
    assert resumed.code == 1  # nothing ran: every job is CANCELED
    assert cloud.batch_count() == 0 and not cloud.requests_to("POST", r"/core/api/v1/batches$")
    assert batch_row(home)[4] == "canceled"
    assert "0 job(s) canceled, now CANCELED" in qpurun("cancel", batch_id).out  # twice is harmless


def test_a_refused_batch_ends_in_error_and_is_not_sent_again(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun
) -> None:  # type: ignore[no-untyped-def]
    cloud.fail_next("POST", r"/core/api/v1/batches$", status=422)
    outcome = qpurun("run", str(project / "rabi.qx"), "--out", str(project / "out"))
    assert outcome.code == 2 and "Pasqal Cloud refused the batch" in outcome.err
    batch_id, _, _, _, state = batch_row(home)
    assert batch_id in outcome.err and state == "refused"
    assert {row[1] for row in store_rows(home)} == {"ERROR"}
    assert "ERROR" in qpurun("status", batch_id).out
    qpurun("resume", batch_id)
    assert len(cloud.requests_to("POST", r"/core/api/v1/batches$")) == 1 and cloud.batch_count() == 0


def test_a_server_error_of_any_kind_may_have_landed(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    cloud.accept_then_drop("POST", r"/core/api/v1/batches$")  # accepted, no answer...
    cloud.fail_next("GET", r"/core/api/v1/batches$", status=524)  # ...and the first look times out at a proxy
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 0, outcome.err
    assert len(cloud.requests_to("POST", r"/core/api/v1/batches$")) == 1
    assert_complete(home, cloud, 20)


def test_a_job_done_before_its_results_exist_is_fetched_at_the_next_poll(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun
) -> None:  # type: ignore[no-untyped-def]
    no_link = {"status": "success", "code": 200, "message": "OK", "data": {"results_link": None}}
    cloud.fail_next("GET", r"/results_link$", status=200, body=no_link, times=3)
    outcome = run_rabi(qpurun, project)
    assert outcome.code == 0, outcome.err
    assert_complete(home, cloud, 20)


def test_device_specs_the_cloud_will_not_give_are_a_clean_error(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(project)
    cloud.fail_next("GET", r"/devices/specs$", status=404, times=10)
    listing = qpurun("backends", "--refresh")
    assert listing.code == 3 and "cannot fetch Pasqal Cloud's devices" in listing.err
    run = qpurun("run", "--backend", "pasqal:FRESNEL", str(project / "fresnel.qx"))
    assert run.code == 3 and "cannot fetch Pasqal Cloud's devices" in run.err
    assert "Traceback" not in listing.err + run.err


def test_canceling_a_finished_cloud_batch_is_a_no_op(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    assert qpurun("run", str(project / "rabi.qx"), "--out", str(project / "out")).code == 0
    batch_id = batch_row(home)[0]
    canceled = qpurun("cancel", batch_id)
    assert canceled.code == 0 and "0 job(s) canceled, now DONE" in canceled.out
    assert not cloud.requests_to("PATCH", r"/cancel$")


def test_error_lines_show_a_url_only_up_to_its_host() -> None:
    import requests

    from qpurun.run.cloud import _first_line

    error = requests.HTTPError("403 Client Error: Forbidden for url: https://bucket.example.org/r/j1?X-Signature=abc")
    assert _first_line(error) == "HTTPError: 403 Client Error: Forbidden for url: https://bucket.example.org/…"
