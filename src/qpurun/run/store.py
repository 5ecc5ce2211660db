"""The durable store: one SQLite file that never loses a finished job.

Layout (schema version 3)::

    meta     key/value: schema_version
    batches  one row per batch: the spec as run (text, name, sha256), the
             parametrized sequence's abstract representation, the target and
             the emulator's noise and settings, whether jobs may still be added
             (`open`), the output directory, who is running it now
             (`runner_*`), for a cloud batch its tag, its id on the
             cloud (`remote_id`) and how far its submission got (`submit_state`),
             and the unit each variable was written in (`units_json`)
    jobs     one row per job: runs, variables, status, the claim of the
             attempt that runs it, timestamps, the error, the result (Pulser
             `Results.to_abstract_repr()` and bitstring counts), and for a
             cloud batch the job's id on the cloud
    devices  the device specs a cloud connection last offered, with their date,
             so that `qpurun check --backend pasqal:...` answers offline

Why it is safe:

- WAL journal with `synchronous=FULL`: a commit is on disk when it returns,
  readers never block the writer, and several processes share one file.
- A job's result is written in one transaction the moment the job ends, by
  the worker that ran it; a crash loses at most the jobs still running.
- Each attempt at a job carries a fresh *claim*; a result is accepted only
  from the attempt holding the claim. A worker orphaned by a killed runner
  cannot overwrite the job a resumed runner has taken over.
- A batch has at most one live *runner* (pid, host, process start time); a
  second `resume` of a running batch is refused instead of running it twice.

`sqlite3` errors are translated into `StoreError` subclasses whose message
names the file and whose `hint` says what to do; nothing here prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qpurun.language.errors import HintedError

SCHEMA_VERSION = 3
DEFAULT_TIMEOUT = 10.0
STORE_FILE = "store.sqlite3"

TERMINAL = frozenset({"DONE", "ERROR", "CANCELED"})

# How far a cloud batch's submission got. `submitting`: stored, perhaps sent, no answer recorded yet;
# `filling`: on the cloud as an open batch, chunks of jobs still to add or the batch to close;
# `submitted`: every job on the cloud, the batch closed; `canceled` before it landed; `refused` by the cloud.
SUBMITTING, FILLING, SUBMITTED, CANCELED, REFUSED = "submitting", "filling", "submitted", "canceled", "refused"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id       TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    spec_name      TEXT,
    spec_text      TEXT,
    spec_sha256    TEXT,
    sequence_json  TEXT NOT NULL,
    device_name    TEXT NOT NULL,
    noise_json     TEXT NOT NULL,
    qpu_checks     INTEGER NOT NULL,
    open           INTEGER NOT NULL,
    out_dir        TEXT,
    created_at     TEXT NOT NULL,
    closed_at      TEXT,
    runner_token   TEXT,
    runner_pid     INTEGER,
    runner_host    TEXT,
    runner_started TEXT,
    target         TEXT NOT NULL DEFAULT 'qutip',
    settings_json  TEXT NOT NULL DEFAULT '{}',
    remote_tag     TEXT,
    remote_id      TEXT,
    submit_state   TEXT,
    units_json     TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    batch_id      TEXT NOT NULL REFERENCES batches(batch_id),
    job_index     INTEGER NOT NULL,
    job_id        TEXT NOT NULL UNIQUE,
    runs          INTEGER NOT NULL,
    variables     TEXT NOT NULL,
    status        TEXT NOT NULL,
    claim         TEXT,
    worker_pid    INTEGER,
    started_at    TEXT,
    finished_at   TEXT,
    error         TEXT,
    result_json   TEXT,
    counts_json   TEXT,
    remote_id     TEXT,
    PRIMARY KEY (batch_id, job_index)
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (batch_id, status);
CREATE TABLE IF NOT EXISTS devices (
    provider    TEXT NOT NULL,
    name        TEXT NOT NULL,
    specs_json  TEXT NOT NULL,
    fetched_at  TEXT NOT NULL,
    PRIMARY KEY (provider, name)
);
"""

# Version 1 to 2: the columns the targets brought (the devices table is created by _SCHEMA).
_MIGRATE_1_TO_2 = (
    "ALTER TABLE batches ADD COLUMN target TEXT NOT NULL DEFAULT 'qutip'",
    "ALTER TABLE batches ADD COLUMN settings_json TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE batches ADD COLUMN remote_tag TEXT",
    "ALTER TABLE batches ADD COLUMN remote_id TEXT",
    "ALTER TABLE batches ADD COLUMN submit_state TEXT",
    "ALTER TABLE jobs ADD COLUMN remote_id TEXT",
)
# Version 2 to 3: the units the spec wrote each variable in (NULL: not known, e.g. a batch stored before).
_MIGRATE_2_TO_3 = ("ALTER TABLE batches ADD COLUMN units_json TEXT",)


class StoreError(HintedError):
    """The store cannot be used; the message says which file, the hint what to do."""


class StoreLocked(StoreError):
    pass


class StoreCorrupt(StoreError):
    pass


class StoreFull(StoreError):
    pass


class UnknownBatch(StoreError, KeyError):
    """No batch has the id; a KeyError too, whose quoting `str()` does not inherit."""


class BatchBusy(StoreError):
    """Another live process is running the batch."""


def default_home() -> Path:
    """`$QPURUN_HOME`, else the per-user data directory."""
    home = os.environ.get("QPURUN_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("qpurun", appauthor=False))


def default_path() -> Path:
    return default_home() / STORE_FILE


def now() -> str:
    """UTC, ISO 8601 with microseconds: sorts as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _start_time(pid: int) -> str:
    """The process's start time (Linux), so a reused pid is not taken for the runner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def process_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or _start_time(pid) in ("", started)


@dataclass(frozen=True)
class Batch:
    batch_id: str
    name: str
    spec_name: str | None
    spec_text: str | None
    spec_sha256: str | None
    sequence_json: str
    device_name: str
    noise: dict[str, Any]
    qpu_checks: bool
    open: bool
    out_dir: str | None
    created_at: str
    closed_at: str | None
    runner_pid: int | None
    runner_host: str | None
    runner_started: str | None
    runner_token: str | None
    target: str = "qutip"
    settings: dict[str, Any] = field(default_factory=dict)
    remote_tag: str | None = None
    remote_id: str | None = None
    submit_state: str | None = None
    units: dict[str, str] | None = None
    """Variable name -> the unit its sweep was written in (`{"delta": "MHz"}`); job variables are in
    Pulser's units. None when not recorded (a batch submitted from Python, or stored by an older qpurun)."""

    @property
    def remote(self) -> bool:
        """Whether the batch runs on a cloud (its jobs are not run by this machine's workers)."""
        return self.remote_tag is not None

    def runner_alive(self) -> bool:
        if self.runner_token is None or self.runner_pid is None:
            return False
        if self.runner_host != socket.gethostname():
            return True  # cannot tell: assume it lives
        return process_alive(self.runner_pid, self.runner_started)


def batch_status(batch: Batch, counts: Mapping[str, int], *, running_here: bool = False) -> str:
    """A batch's status (a `pulser.backend.remote.BatchStatus` name) from its jobs and its runner.

    DONE: closed and every job DONE. ERROR: closed, every job ended, some in
    ERROR. RUNNING / PENDING: a live runner has it. PAUSED: jobs remain but
    nobody runs them (interrupted or killed) — `qpurun resume` continues it.
    """
    unfinished = counts.get("PENDING", 0) + counts.get("RUNNING", 0)
    if unfinished == 0 and not batch.open:
        if counts.get("ERROR", 0):
            return "ERROR"
        if counts and counts.get("CANCELED", 0) == sum(counts.values()):
            return "CANCELED"
        return "DONE"
    if batch.remote and batch.submit_state == SUBMITTED:
        # The cloud runs it whether or not a qpurun follows it.
        return "RUNNING" if any(counts.get(s, 0) for s in ("RUNNING", "DONE", "ERROR")) else "PENDING"
    if running_here or batch.runner_alive():
        if unfinished == 0 or not any(counts.get(s, 0) for s in ("RUNNING", "DONE", "ERROR")):
            return "PENDING"
        return "RUNNING"
    return "PAUSED"


@dataclass(frozen=True)
class JobRow:
    batch_id: str
    index: int
    job_id: str
    runs: int
    variables: dict[str, Any]
    status: str
    claim: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    result_json: str | None
    counts: dict[str, int] | None
    remote_id: str | None = None


_BATCH_COLUMNS = (
    "batch_id, name, spec_name, spec_text, spec_sha256, sequence_json, device_name, noise_json, qpu_checks, "
    "open, out_dir, created_at, closed_at, runner_pid, runner_host, runner_started, runner_token, target, "
    "settings_json, remote_tag, remote_id, submit_state, units_json"
)
_JOB_COLUMNS = (
    "batch_id, job_index, job_id, runs, variables, status, claim, started_at, finished_at, error, result_json, "
    "counts_json, remote_id"
)


def _batch(row: sqlite3.Row) -> Batch:
    return Batch(
        batch_id=row[0],
        name=row[1],
        spec_name=row[2],
        spec_text=row[3],
        spec_sha256=row[4],
        sequence_json=row[5],
        device_name=row[6],
        noise=json.loads(row[7]),
        qpu_checks=bool(row[8]),
        open=bool(row[9]),
        out_dir=row[10],
        created_at=row[11],
        closed_at=row[12],
        runner_pid=row[13],
        runner_host=row[14],
        runner_started=row[15],
        runner_token=row[16],
        target=row[17],
        settings=json.loads(row[18]),
        remote_tag=row[19],
        remote_id=row[20],
        submit_state=row[21],
        units=None if row[22] is None else json.loads(row[22]),
    )


def _job(row: sqlite3.Row) -> JobRow:
    return JobRow(
        batch_id=row[0],
        index=row[1],
        job_id=row[2],
        runs=row[3],
        variables=json.loads(row[4]),
        status=row[5],
        claim=row[6],
        started_at=row[7],
        finished_at=row[8],
        error=row[9],
        result_json=row[10],
        counts=None if row[11] is None else json.loads(row[11]),
        remote_id=row[12],
    )


_NEW_FILE_SECONDS = 5.0
"""How long an empty store file may be one that another process is creating."""

_OPEN: weakref.WeakSet[Store] = weakref.WeakSet()


def close_all() -> None:
    """Close this thread's connection to every store of this process (the `qpurun` command, ending
    without Python's teardown): the last connection to close folds the WAL into the file, so that
    `store.sqlite3` alone holds every result."""
    for store in list(_OPEN):
        store.close()


class Store:
    """The SQLite store at `path`; one connection per thread, opened on first use."""

    def __init__(self, path: str | Path | None = None, *, timeout: float | None = None) -> None:
        # Absolute: worker processes may run in another directory.
        self.path = (Path(path) if path is not None else default_path()).expanduser().absolute()
        if timeout is None:
            timeout = float(os.environ.get("QPURUN_STORE_TIMEOUT", DEFAULT_TIMEOUT))
        self.timeout = timeout
        self._local = threading.local()
        self._pid = os.getpid()
        _OPEN.add(self)

    # ---- connection and errors

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and self._pid == os.getpid():
            return connection
        self._pid = os.getpid()
        with self._translate():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot create the store's directory {self.path.parent}: {error.strerror}") from None
            self._refuse_truncated()
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            connection.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA foreign_keys = ON")
            self._local.connection = connection
            self._migrate(connection)
        return connection

    def _refuse_truncated(self) -> None:
        """SQLite takes an empty file for a new database: a store truncated to 0 bytes would
        silently become an empty one. A file qpurun just created (another process opening a new
        store this instant) is empty only for a moment, so only an old empty file is refused."""
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return
        if status.st_size == 0 and time.time() - status.st_mtime > _NEW_FILE_SECONDS:
            raise StoreCorrupt(
                f"the store {self.path} is empty (0 bytes): it was truncated, and its results are gone",
                hint="restore it from a backup; to start a new store, delete the empty file",
            )

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        """sqlite3 and OS errors as StoreErrors that name the file and a way out."""
        where = str(self.path)
        try:
            yield
        except sqlite3.OperationalError as error:
            text = str(error)
            if "locked" in text or "busy" in text:
                raise StoreLocked(
                    f"the store {where} is locked by another process (waited {self.timeout:g} s)",
                    hint="wait for the other qpurun to finish, or raise QPURUN_STORE_TIMEOUT",
                ) from None
            if "full" in text or "disk I/O" in text:
                raise StoreFull(
                    f"cannot write to the store {where}: {text}",
                    hint="free disk space, then `qpurun resume` the batch — nothing stored was lost",
                ) from None
            if "unable to open" in text or "readonly" in text:
                raise StoreError(
                    f"cannot open the store {where}: {text}", hint="check the path and QPURUN_HOME"
                ) from None
            raise StoreError(f"the store {where} failed: {text}") from None
        except sqlite3.DatabaseError as error:
            text = str(error)
            if "not a database" in text or "malformed" in text or "corrupt" in text:
                raise StoreCorrupt(
                    f"the store {where} is corrupt ({text})",
                    hint="move it aside (qpurun starts a new one) and restore it from a backup",
                ) from None
            raise StoreError(f"the store {where} failed: {text}") from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: the writer lock is taken up front, so no deadlock."""
        connection = self._connection()
        with self._translate():
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        connection = self._connection()
        with self._translate():
            return connection.execute(sql, parameters).fetchall()

    def _migrate(self, connection: sqlite3.Connection) -> None:
        row = None
        with contextlib.suppress(sqlite3.OperationalError):
            row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and int(row[0]) == SCHEMA_VERSION:
            return
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema version {row[0]}, newer than this qpurun ({SCHEMA_VERSION})",
                hint="upgrade qpurun",
            )
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = int(row[0]) if row is not None else SCHEMA_VERSION
            steps = [(1, _MIGRATE_1_TO_2), (2, _MIGRATE_2_TO_3)]
            for start, statements in steps:
                if version <= start:
                    for statement in statements:
                        connection.execute(statement)
            # One statement at a time: executescript() would commit the open transaction first.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def check(self) -> None:
        """Open the store now, so that a locked or corrupt file is reported before any work."""
        with self._translate():
            self._connection().execute("SELECT count(*) FROM batches").fetchone()

    # ---- batches

    def create_batch(
        self,
        *,
        name: str,
        sequence_json: str,
        device_name: str,
        noise: Mapping[str, Any],
        qpu_checks: bool,
        open: bool,
        spec_name: str | None = None,
        spec_text: str | None = None,
        out_dir: str | None = None,
        jobs: Sequence[tuple[int, dict[str, Any]]] = (),
        target: str = "qutip",
        settings: Mapping[str, Any] | None = None,
        remote: bool = False,
    ) -> str:
        """Record a batch and its jobs in one transaction; its id.

        `remote`: the batch goes to a cloud: it gets a tag (written into the
        cloud batch, so that a submission whose answer was lost can be found
        again) and starts in the `submitting` state, before anything is sent.
        """
        batch_id = uuid.uuid4().hex
        tag = f"qpurun-{batch_id}" if remote else None
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO batches (batch_id, name, spec_name, spec_text, spec_sha256, sequence_json, device_name, "
                "noise_json, qpu_checks, open, out_dir, created_at, target, settings_json, remote_tag, submit_state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch_id,
                    name,
                    spec_name,
                    spec_text,
                    None if spec_text is None else sha256(spec_text),
                    sequence_json,
                    device_name,
                    json.dumps(dict(noise), sort_keys=True),
                    int(qpu_checks),
                    int(open),
                    out_dir,
                    now(),
                    target,
                    json.dumps(dict(settings or {}), sort_keys=True),
                    tag,
                    SUBMITTING if remote else None,
                ),
            )
            self._insert_jobs(connection, batch_id, 0, jobs)
        return batch_id

    def add_jobs(self, batch_id: str, jobs: Sequence[tuple[int, dict[str, Any]]]) -> list[int]:
        """Append jobs to an open batch; their indices."""
        with self.transaction() as connection:
            batch = self._batch_in(connection, batch_id)
            if not batch.open:
                raise StoreError(f"batch {batch_id} is closed: no jobs can be added")
            start = connection.execute(
                "SELECT coalesce(max(job_index) + 1, 0) FROM jobs WHERE batch_id = ?", (batch_id,)
            ).fetchone()[0]
            return self._insert_jobs(connection, batch_id, start, jobs)

    @staticmethod
    def _insert_jobs(
        connection: sqlite3.Connection, batch_id: str, start: int, jobs: Sequence[tuple[int, dict[str, Any]]]
    ) -> list[int]:
        rows = [
            (batch_id, start + offset, uuid.uuid4().hex, runs, json.dumps(variables), "PENDING")
            for offset, (runs, variables) in enumerate(jobs)
        ]
        connection.executemany(
            "INSERT INTO jobs (batch_id, job_index, job_id, runs, variables, status) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
        return [row[1] for row in rows]

    def close_batch(self, batch_id: str) -> None:
        with self.transaction() as connection:
            self._batch_in(connection, batch_id)
            connection.execute(
                "UPDATE batches SET open = 0, closed_at = ? WHERE batch_id = ? AND open = 1", (now(), batch_id)
            )

    def _batch_in(self, connection: sqlite3.Connection, batch_id: str) -> Batch:
        row = connection.execute(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        if row is None:
            raise self._unknown(batch_id)
        return _batch(row)

    def _unknown(self, batch_id: str) -> UnknownBatch:
        return UnknownBatch(f"no batch {batch_id!r} in the store {self.path}", hint="`qpurun runs` lists the batches")

    def resolve(self, batch_id: str) -> str:
        """The full id of a batch given by its id or a unique prefix (like git)."""
        if len(batch_id) < 4 or any(c not in "0123456789abcdef" for c in batch_id.lower()):
            if self._read("SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,)):
                return batch_id
            raise self._unknown(batch_id)
        rows = self._read(
            "SELECT batch_id FROM batches WHERE batch_id >= ? AND batch_id < ? ORDER BY batch_id LIMIT 3",
            (batch_id.lower(), batch_id.lower() + "g"),
        )
        if not rows:
            raise self._unknown(batch_id)
        if len(rows) > 1:
            raise UnknownBatch(f"batch id {batch_id!r} is ambiguous in {self.path}", hint="give more characters")
        full: str = rows[0][0]
        return full

    def set_parts(self, batch_id: str, origins: Sequence[int]) -> None:
        """Record, for a batch split with --split-runs, the job as written that each job is part of."""
        with self.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"parts:{batch_id}", json.dumps(origins))
            )

    def set_units(self, batch_id: str, units: Mapping[str, str]) -> None:
        """Record the unit each variable was written in, so that results show values as written."""
        with self.transaction() as connection:
            self._batch_in(connection, batch_id)
            connection.execute(
                "UPDATE batches SET units_json = ? WHERE batch_id = ?",
                (json.dumps(dict(units), sort_keys=True), batch_id),
            )

    def parts(self, batch_id: str) -> list[int] | None:
        """What `set_parts` recorded for the batch, or None when its jobs were not split."""
        rows = self._read("SELECT value FROM meta WHERE key = ?", (f"parts:{batch_id}",))
        return [int(i) for i in json.loads(rows[0][0])] if rows else None

    def batch(self, batch_id: str) -> Batch:
        rows = self._read(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE batch_id = ?", (batch_id,))
        if not rows:
            raise self._unknown(batch_id)
        return _batch(rows[0])

    def batches(self) -> list[Batch]:
        """Every batch, oldest first."""
        return [_batch(r) for r in self._read(f"SELECT {_BATCH_COLUMNS} FROM batches ORDER BY created_at, rowid")]

    def jobs(self, batch_id: str) -> list[JobRow]:
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE batch_id = ? ORDER BY job_index", (batch_id,))
        return [_job(r) for r in rows]

    def job(self, batch_id: str, index: int) -> JobRow:
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE batch_id = ? AND job_index = ?", (batch_id, index))
        if not rows:
            raise StoreError(f"batch {batch_id} has no job {index}")
        return _job(rows[0])

    def counts(self, batch_id: str) -> dict[str, int]:
        """How many jobs of the batch are in each status."""
        rows = self._read("SELECT status, count(*) FROM jobs WHERE batch_id = ? GROUP BY status", (batch_id,))
        return {status: n for status, n in rows}

    # ---- running

    def acquire(self, batch_id: str, *, retry_failed: bool = False) -> str:
        """Become the batch's runner; jobs a dead runner left RUNNING become PENDING again.

        Returns the runner token. Raises BatchBusy if a live process runs it.
        """
        token = uuid.uuid4().hex
        pid = os.getpid()
        with self.transaction() as connection:
            batch = self._batch_in(connection, batch_id)
            if batch.runner_alive():
                where = "" if batch.runner_host == socket.gethostname() else f" on {batch.runner_host}"
                raise BatchBusy(
                    f"batch {batch_id} is being run by process {batch.runner_pid}{where}",
                    hint="wait for it (`qpurun status`), or stop that process and `qpurun resume` again",
                )
            connection.execute(
                "UPDATE batches SET runner_token = ?, runner_pid = ?, runner_host = ?, runner_started = ? "
                "WHERE batch_id = ?",
                (token, pid, socket.gethostname(), _start_time(pid), batch_id),
            )
            if batch.remote:
                return token  # the cloud runs its jobs: their statuses are the cloud's, not a dead worker's
            connection.execute(
                "UPDATE jobs SET status = 'PENDING', claim = NULL, worker_pid = NULL, started_at = NULL "
                "WHERE batch_id = ? AND status = 'RUNNING'",
                (batch_id,),
            )
            if retry_failed:
                connection.execute(
                    "UPDATE jobs SET status = 'PENDING', claim = NULL, error = NULL, finished_at = NULL "
                    "WHERE batch_id = ? AND status = 'ERROR'",
                    (batch_id,),
                )
        return token

    def release(self, batch_id: str, token: str) -> None:
        """Stop being the runner; jobs still RUNNING go back to PENDING for `resume`."""
        with self.transaction() as connection:
            mine = connection.execute(
                "UPDATE batches SET runner_token = NULL, runner_pid = NULL, runner_host = NULL, runner_started = NULL "
                "WHERE batch_id = ? AND runner_token = ?",
                (batch_id, token),
            ).rowcount
            if mine and not self._batch_in(connection, batch_id).remote:
                connection.execute(
                    "UPDATE jobs SET status = 'PENDING', claim = NULL, worker_pid = NULL, started_at = NULL "
                    "WHERE batch_id = ? AND status = 'RUNNING'",
                    (batch_id,),
                )

    def pending(self, batch_id: str) -> list[int]:
        rows = self._read(
            "SELECT job_index FROM jobs WHERE batch_id = ? AND status = 'PENDING' ORDER BY job_index", (batch_id,)
        )
        return [r[0] for r in rows]

    def claim(self, batch_id: str, index: int) -> str | None:
        """Mark a PENDING job RUNNING under a fresh claim; None if it is not PENDING any more."""
        claim = uuid.uuid4().hex
        with self.transaction() as connection:
            changed = connection.execute(
                "UPDATE jobs SET status = 'RUNNING', claim = ?, started_at = ? "
                "WHERE batch_id = ? AND job_index = ? AND status = 'PENDING'",
                (claim, now(), batch_id, index),
            ).rowcount
        return claim if changed else None

    def finish(
        self,
        batch_id: str,
        index: int,
        claim: str,
        *,
        result_json: str | None = None,
        counts: Mapping[str, int] | None = None,
        error: str | None = None,
    ) -> bool:
        """Commit a job's end, in one transaction; False if the claim is stale (the job was taken over)."""
        status = "ERROR" if error is not None else "DONE"
        with self.transaction() as connection:
            changed = connection.execute(
                "UPDATE jobs SET status = ?, result_json = ?, counts_json = ?, error = ?, finished_at = ? "
                "WHERE batch_id = ? AND job_index = ? AND claim = ? AND status = 'RUNNING'",
                (
                    status,
                    result_json,
                    None if counts is None else json.dumps(dict(counts), sort_keys=True),
                    error,
                    now(),
                    batch_id,
                    index,
                    claim,
                ),
            ).rowcount
        return bool(changed)

    def unclaim(self, batch_id: str, index: int, claim: str) -> None:
        with self.transaction() as connection:
            connection.execute(
                "UPDATE jobs SET status = 'PENDING', claim = NULL, started_at = NULL, worker_pid = NULL "
                "WHERE batch_id = ? AND job_index = ? AND claim = ? AND status = 'RUNNING'",
                (batch_id, index, claim),
            )

    # ---- cloud batches

    def record_remote(self, batch_id: str, remote_id: str, job_ids: Sequence[str], *, complete: bool) -> None:
        """The cloud's id for the batch and its jobs (jobs 0, 1, ... in order), in one commit.

        `complete`: every job is on the cloud and the batch is closed (`submitted`); else `filling`.
        """
        with self.transaction() as connection:
            batch = self._batch_in(connection, batch_id)
            if batch.remote_id not in (None, remote_id):
                raise StoreError(f"batch {batch_id} is already on the cloud as {batch.remote_id}, not {remote_id}")
            connection.execute(
                "UPDATE batches SET remote_id = ?, submit_state = ? WHERE batch_id = ?",
                (remote_id, SUBMITTED if complete else FILLING, batch_id),
            )
            connection.executemany(
                "UPDATE jobs SET remote_id = ? WHERE batch_id = ? AND job_index = ?",
                [(job_id, batch_id, index) for index, job_id in enumerate(job_ids)],
            )

    def end_submission(self, batch_id: str, state: str, *, reason: str | None = None) -> None:
        """A cloud batch that will never be (further) sent: `canceled` by the user, or `refused` by the cloud.

        A refusal ends the jobs that did not reach the cloud in ERROR, with the cloud's reason.
        """
        with self.transaction() as connection:
            self._batch_in(connection, batch_id)
            connection.execute("UPDATE batches SET submit_state = ? WHERE batch_id = ?", (state, batch_id))
            if reason is not None:
                connection.execute(
                    "UPDATE jobs SET status = 'ERROR', error = ?, finished_at = ? "
                    "WHERE batch_id = ? AND status = 'PENDING' AND remote_id IS NULL",
                    (reason[:1000], now(), batch_id),
                )

    def update_remote_job(
        self,
        batch_id: str,
        index: int,
        status: str,
        *,
        result_json: str | None = None,
        counts: Mapping[str, int] | None = None,
        error: str | None = None,
    ) -> bool:
        """What the cloud says of a job; False if the job had ended already (a result never lands twice)."""
        finished = now() if status in TERMINAL else None
        with self.transaction() as connection:
            changed = connection.execute(
                "UPDATE jobs SET status = ?, result_json = ?, counts_json = ?, error = ?, finished_at = ?, "
                "started_at = coalesce(started_at, ?) "
                "WHERE batch_id = ? AND job_index = ? AND status NOT IN ('DONE', 'ERROR', 'CANCELED')",
                (
                    status,
                    result_json,
                    None if counts is None else json.dumps(dict(counts), sort_keys=True),
                    error,
                    finished,
                    now() if status != "PENDING" else None,
                    batch_id,
                    index,
                ),
            ).rowcount
        return bool(changed)

    def cancel(self, batch_id: str, *, running_too: bool = False) -> int:
        """Cancel the jobs that have not started (and, with `running_too`, those running); how many."""
        statuses = ("PENDING", "RUNNING") if running_too else ("PENDING",)
        with self.transaction() as connection:
            self._batch_in(connection, batch_id)
            changed = connection.execute(
                f"UPDATE jobs SET status = 'CANCELED', claim = NULL, finished_at = ? "
                f"WHERE batch_id = ? AND status IN ({', '.join('?' * len(statuses))})",
                (now(), batch_id, *statuses),
            ).rowcount
            connection.execute(
                "UPDATE batches SET open = 0, closed_at = coalesce(closed_at, ?) WHERE batch_id = ?", (now(), batch_id)
            )
        return int(changed)

    # ---- device specs a connection offered

    def save_devices(self, provider: str, specs: Mapping[str, str]) -> None:
        """Cache the device specs (abstract representation) a connection just fetched."""
        fetched = now()
        with self.transaction() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO devices (provider, name, specs_json, fetched_at) VALUES (?, ?, ?, ?)",
                [(provider, name, text, fetched) for name, text in specs.items()],
            )

    def cached_devices(self, provider: str) -> dict[str, tuple[str, str]]:
        """name -> (specs JSON, when fetched) of what `save_devices` cached for the provider."""
        rows = self._read("SELECT name, specs_json, fetched_at FROM devices WHERE provider = ?", (provider,))
        return {name: (text, fetched) for name, text, fetched in rows}
