"""Nothing stored is ever lost: SIGKILL and resume, Ctrl-C, a locked or corrupt store, a full disk, two runners."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from run.conftest import RUN_SPECS, SPECS, spawn

SWEEP = str(RUN_SPECS / "sweep4.qx")  # 40 four-atom jobs: a few seconds
STORE = "store.sqlite3"


def rows(home: Path) -> list[tuple[Any, ...]]:
    """(batch, index, status, finished_at, result) of every job, read behind qpurun's back."""
    path = home / STORE
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=10)
    try:
        return db.execute(
            "SELECT batch_id, job_index, status, finished_at, result_json FROM jobs ORDER BY batch_id, job_index"
        ).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        db.close()


def wait_for_done(home: Path, process: subprocess.Popen[str], at_least: int) -> None:
    deadline = time.monotonic() + 120
    while sum(r[2] == "DONE" for r in rows(home)) < at_least:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)


def test_sigkill_then_resume_keeps_finished_jobs(home: Path, qpurun) -> None:  # type: ignore[no-untyped-def]
    process = spawn(home, "run", SWEEP, "--workers", "2", "--json", "--out", str(home.parent / "out"))
    wait_for_done(home, process, 3)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    before = {r[1]: r for r in rows(home) if r[2] == "DONE"}
    assert 3 <= len(before) < 40, "the kill came too late to test anything"
    (batch_id,) = {r[0] for r in rows(home)}

    status = qpurun("status", batch_id, "--json").json()
    assert status["status"] == "PAUSED"

    outcome = qpurun("resume", batch_id, "--json")
    assert outcome.code == 0, outcome.err
    after = {r[1]: r for r in rows(home)}
    assert len(after) == 40 and all(r[2] == "DONE" for r in after.values())
    for index, row in before.items():  # not re-run: same result, same finished_at
        assert after[index] == row
    report = outcome.json()
    assert report["status"] == "DONE" and len(report["jobs"]) == 40
    assert (home.parent / "out" / "results.csv").exists()


def test_ctrl_c_leaves_a_consistent_resumable_batch(home: Path, qpurun) -> None:  # type: ignore[no-untyped-def]
    # 100 jobs, longer ones last: still running while two other qpurun processes start and read the store.
    longer = home.parent / "sweep4_long.qx"
    longer.write_text(Path(SWEEP).read_text().replace("1960 ns", "4360 ns"))
    # A session of its own, signalled as a whole: what a terminal's Ctrl-C does.
    process = spawn(
        home, "run", str(longer), "--workers", "2", "--out", str(home.parent / "out"), start_new_session=True
    )
    try:
        wait_for_done(home, process, 2)
        (batch_id,) = {r[0] for r in rows(home)}
        # Meanwhile another qpurun reads the same store, and may not run the batch a second time.
        assert qpurun("status", batch_id, "--json").json()["status"] == "RUNNING"
        refused = qpurun("resume", batch_id)
        assert refused.code == 3 and f"being run by process {process.pid}" in refused.err
    finally:
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "qpurun resume" in err and "Traceback" not in err
    states = {r[2] for r in rows(home)}
    assert "RUNNING" not in states  # every claimed job went back to PENDING (or finished)
    if "PENDING" in states:
        assert qpurun("status", batch_id, "--json").json()["status"] == "PAUSED"
    outcome = qpurun("resume", batch_id)
    assert outcome.code == 0, outcome.err
    assert {r[2] for r in rows(home)} == {"DONE"}


@pytest.mark.parametrize("whole_group", [True, False], ids=["ctrl-c", "kill-int-main-only"])
def test_an_interrupt_says_which_batch_and_how_to_resume_once(home: Path, whole_group: bool) -> None:
    """Ctrl-C signals the whole group; `kill -INT PID` only the main process: both print one report."""
    process = spawn(home, "run", SWEEP, "--workers", "2", "--out", str(home.parent / "out"), start_new_session=True)
    try:
        wait_for_done(home, process, 1)
        (batch_id,) = {r[0] for r in rows(home)}
    finally:
        if whole_group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.count("qpurun: interrupted") == 1, err
    assert f"batch {batch_id} is stored with" in err and f"`qpurun resume {batch_id}` runs the rest" in err
    assert "Traceback" not in err


def test_locked_store(home: Path, qpurun, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert qpurun("runs").code == 0  # creates the store
    monkeypatch.setenv("QPURUN_STORE_TIMEOUT", "0.2")
    holder = sqlite3.connect(home / STORE, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        outcome = qpurun("run", str(SPECS / "rabi.qx"))
        assert outcome.code == 3
        assert "locked by another process" in outcome.err and "QPURUN_STORE_TIMEOUT" in outcome.err
        assert "Traceback" not in outcome.err
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert qpurun("runs", "--json").json() == []


def test_corrupt_store(home: Path, qpurun) -> None:  # type: ignore[no-untyped-def]
    home.mkdir(parents=True)
    (home / STORE).write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    for args in (("runs",), ("status", "abcdef12"), ("run", str(SPECS / "rabi.qx"))):
        outcome = qpurun(*args)
        assert outcome.code == 3, args
        assert "is corrupt" in outcome.err and "move it aside" in outcome.err
    assert (home / STORE).read_bytes().startswith(b"this is not a database")  # left as found


def test_a_store_truncated_to_zero_bytes_is_not_taken_for_a_new_one(home: Path, qpurun) -> None:  # type: ignore[no-untyped-def]
    home.mkdir(parents=True)
    store = home / STORE
    store.write_bytes(b"")
    old = time.time() - 60
    os.utime(store, (old, old))
    for args in (("runs",), ("run", str(SPECS / "rabi.qx"))):
        outcome = qpurun(*args)
        assert outcome.code == 3, args
        assert "is empty (0 bytes): it was truncated" in outcome.err
    assert store.stat().st_size == 0  # left as found, not initialised


def _limit_file_size(limit: int) -> Any:
    def limit_it() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_it


def test_full_disk(home: Path, qpurun) -> None:  # type: ignore[no-untyped-def]
    earlier = qpurun("run", str(RUN_SPECS / "mock.qx"), "--json", "--out", str(home.parent / "earlier"))
    assert earlier.code == 0
    stored = rows(home)
    db = sqlite3.connect(home / STORE)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the write-ahead log starts empty
    db.close()
    limit = 300_000
    assert (home / STORE).stat().st_size < limit
    # No file may grow past 300 kB: the store's write-ahead log fills up part-way through the batch.
    process = spawn(
        home,
        "run",
        str(SPECS / "rabi.qx"),
        "--json",
        "--out",
        str(home.parent / "out"),
        preexec_fn=_limit_file_size(limit),
    )
    _, err = process.communicate(timeout=120)
    assert process.returncode == 3, err
    assert "cannot write" in err and "Traceback" not in err
    now = rows(home)
    assert set(stored) <= set(now)  # the earlier batch is intact
    new = {r[0] for r in now} - {r[0] for r in stored}
    for batch_id in new:  # disk space is back: the batch finishes
        assert f"qpurun resume {batch_id}" in err
        # Jobs may still say RUNNING (the disk was too full to say otherwise), but their runner is dead.
        assert qpurun("status", batch_id, "--json").json()["status"] == "PAUSED"
        outcome = qpurun("resume", batch_id)
        assert outcome.code == 0, outcome.err
    assert {r[2] for r in rows(home)} == {"DONE"}


def test_two_runs_share_one_store(home: Path, qpurun) -> None:  # type: ignore[no-untyped-def]
    other = spawn(home, "run", str(RUN_SPECS / "mock.qx"), "--workers", "1", "--json", "--out", str(home.parent / "a"))
    ours = qpurun("run", str(RUN_SPECS / "mock.qx"), "--workers", "1", "--json", "--out", str(home.parent / "b"))
    _, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    assert ours.code == 0, ours.err
    listed = qpurun("runs", "--json").json()
    assert [b["jobs"] for b in listed] == [2, 2]
    assert all(b["status"] == "DONE" for b in listed)
