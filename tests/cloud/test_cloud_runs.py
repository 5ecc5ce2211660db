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
    outcome: Outcome = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"))
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
    outcome = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"))
    assert outcome.code == 0, outcome.err
    assert len(cloud.requests_to("POST", r"/core/api/v1/batches$")) == 2
    assert_complete(home, cloud, 20)


def test_accepted_but_unanswered_is_found_by_its_tag_not_sent_again(
    project: Path, home: Path, cloud: FakePasqalCloud, qpurun
) -> None:  # type: ignore[no-untyped-def]
    cloud.accept_then_drop("POST", r"/core/api/v1/batches$")
    outcome = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"))
    assert outcome.code == 0, outcome.err
    assert len(cloud.requests_to("POST", r"/core/api/v1/batches$")) == 1  # 0 duplicate batches
    assert cloud.requests_to("GET", r"/core/api/v1/batches$")  # looked for it by its tag
    assert_complete(home, cloud, 20)


def test_429_waits_for_retry_after(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    cloud.fail_next("POST", r"/core/api/v1/batches$", status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    outcome = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"))
    assert outcome.code == 0, outcome.err
    assert time.monotonic() - started >= 1.0
    assert_complete(home, cloud, 20)


def test_an_expired_token_is_renewed(project: Path, home: Path, cloud: FakePasqalCloud, qpurun) -> None:  # type: ignore[no-untyped-def]
    cloud.polls_to_finish = 4
    cloud.expire_tokens(after=3)  # the login's token dies after the submission and a first poll
    outcome = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"))
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
    outcome = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"))
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
    outcome = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"))
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

    def killed(self, batch, remote):  # type: ignore[no-untyped-def]
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
    outcome = qpurun("run", str(project / "rabi.qx"), "--json", "--out", str(project / "out"))
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
