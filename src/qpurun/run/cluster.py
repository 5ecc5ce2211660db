"""A batch's jobs on a Dask cluster (`run --cluster ADDRESS`), stored as durably as local workers store them.

Why this shape:

- The cluster computes, this process stores. Each task is `run_task`: it gets
  the parametrized sequence's abstract representation, the job's variables and
  runs, the noise and the emulator's settings, and returns Pulser's `Results`
  as JSON (with the bitstring counts). A worker needs Pulser, the target's
  emulator and an importable qpurun (for this module); never the store, the
  spec or any credential.
- `DaskExecutor` has the interface of the local `Executor`, so `LocalConnection`
  (Pulser's `RemoteConnection`: submission, open batches, status, results) and
  every command work unchanged. It claims each job in the store when it submits
  it, as the local dispatcher does, and commits its end with that claim as the
  task completes (`distributed.as_completed`): `Store.finish` accepts one result
  per claim, from a job still RUNNING, so a result never lands twice, even when
  Dask reruns a task that had in fact finished (its worker died before the
  result was fetched) or the same completion is seen twice.
- Tasks are submitted a window at a time (twice the cluster's threads), so the
  store's RUNNING jobs are about those the cluster is running, as locally, and
  Ctrl-C or a kill leaves few claims to undo. Every task's key carries its
  claim: a resumed batch never picks up a stale result of a dead client.
- Faults: a worker that dies mid-job is Dask's to handle (its nanny restarts
  it, the scheduler reruns the task elsewhere); a job that killed
  `distributed.scheduler.allowed-failures` + 1 workers is ERROR, as a job that
  kills its local worker is. A job the emulator refuses returns its error (it
  is not raised, so Dask does not retry it): ERROR once, with Pulser's words.
  `retries` are for a worker that cannot run the target at all (its emulator
  does not import there): another worker may. A task the scheduler drops
  (it restarted, the connection was lost) stops the run: its job goes back
  to PENDING and `qpurun resume --cluster` carries on.

`distributed` is imported only here, and only when a cluster is used.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qpurun.run.backends import BackendError, LocalRunner
from qpurun.run.executor import Batch, BatchQueue
from qpurun.run.store import Store, StoreError

if TYPE_CHECKING:
    from qpurun.run.targets import Target

__all__ = ["ClusterRunner", "DaskExecutor", "run_task", "security"]

INSTALL = "pip install 'qpurun[dask]'"
RETRIES = 2
CONNECT_TIMEOUT = 10.0
_POLL = 0.05
_SIZE_EVERY = 1.0  # seconds between two looks at how many threads the cluster has


class WorkerCannotRun(RuntimeError):
    """This worker lacks what the target needs (raised, not returned: Dask retries it on another worker)."""


# ---- on a worker


@functools.lru_cache(maxsize=4)
def _sequence(sequence_json: str) -> Any:
    """The parametrized sequence, rebuilt once per worker process for the jobs of a batch."""
    import pulser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pulser.Sequence.from_abstract_repr(sequence_json)


def run_task(
    sequence_json: str,
    variables: Mapping[str, Any],
    runs: int,
    noise: Mapping[str, Any],
    settings: Mapping[str, Any],
    target: str,
    emulator: str | None = None,
) -> dict[str, Any]:
    """One job, on a Dask worker: `{"result": Results JSON, "counts": {...}}` or `{"error": one line}`.

    `emulator`: `module:function` instead of the target's (for tests). Imports Pulser and the
    target's emulator only, through qpurun's emulator module; touches no store.
    """
    from qpurun.run.emulator import available
    from qpurun.run.worker import counts_of, emulator_for, load_emulator, reason

    if emulator is None:
        missing = available(target)
        if missing is not None:
            import socket

            raise WorkerCannotRun(f"worker {socket.gethostname()}: {missing}")
    try:
        run_job = load_emulator(emulator or emulator_for(target))
        results = run_job(_sequence(sequence_json), dict(variables), runs, dict(noise), dict(settings))
        return {"result": results.to_abstract_repr(), "counts": counts_of(results)}
    except Exception as failure:
        return {"error": reason(failure)}


# ---- on the client


def security(
    address: str,
    *,
    tls_ca_file: Path | None = None,
    tls_client_cert: Path | None = None,
    tls_client_key: Path | None = None,
) -> Any:
    """Dask's `Security` for the configured TLS files (None for a `tcp://` address without any: Dask's own
    configuration applies).

    With TLS files the connection must be encrypted: a `tcp://` address is refused here rather than
    sending the sequence in the clear. A `tls://` address needs a CA and a client certificate, from the
    files or from Dask's configuration (`distributed.comm.tls.*`): without them Dask has no SSL context
    to connect with, and says so with a TypeError.
    """
    files = {"tls_ca_file": tls_ca_file, "tls_client_cert": tls_client_cert, "tls_client_key": tls_client_key}
    given = {name: str(path) for name, path in files.items() if path is not None}
    encrypted = address.startswith("tls://")
    if not given and not encrypted:
        return None
    if not encrypted:
        raise BackendError(
            f"the cluster address {address} is not encrypted, but TLS files are configured",
            hint='write it as tls://host:port (the scheduler started with `--tls-ca-file ...`): cluster.address = "tls://..."',
        )
    for name, path in given.items():
        if not Path(path).is_file():
            raise BackendError(f"cluster.{name}: no file {path}", hint="paths in qpurun.toml are relative to it")
    try:
        from distributed import Security
    except ImportError:
        return None  # connect() says what to install
    tls = Security(require_encryption=True, **given)  # what is not given comes from Dask's configuration
    missing = [f"cluster.{name}" for name in ("tls_ca_file", "tls_client_cert") if not getattr(tls, name)]
    if missing:
        raise BackendError(
            f"the cluster address {address} is encrypted, but no {' or '.join(missing)} is configured",
            hint="a tls:// scheduler accepts only a client whose certificate its CA signed: set tls_ca_file, "
            "tls_client_cert and tls_client_key under [cluster] in qpurun.toml (paths relative to it)",
        )
    return tls


def connect(address: str, *, security: Any = None, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A `distributed.Client` for the scheduler at `address`; BackendError when it cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise BackendError(
            "--cluster needs Dask's distributed, which is not installed", hint=f"install it with: {INSTALL}"
        ) from None
    try:
        return Client(address, security=security, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        from distributed.comm.core import CommClosedError, FatalCommClosedError

        hint = "start one (`dask scheduler`, then `dask worker ADDRESS` on each machine) or check --cluster"
        if isinstance(error, FatalCommClosedError):  # the scheduler answered; the TLS handshake failed
            hint = (
                "check [cluster] in qpurun.toml: tls_ca_file must be the CA that signed the scheduler's "
                "certificate, and tls_client_cert (with tls_client_key) one that the scheduler's CA signed"
            )
        elif isinstance(error, CommClosedError) and address.startswith("tcp://"):  # something answered, then hung up
            hint += "; if the scheduler uses TLS, write the address as tls://"
        raise BackendError(
            f"cannot reach the Dask scheduler at {address}: {type(error).__name__}: {error}", hint=hint
        ) from None


@dataclass(frozen=True)
class _Spec:
    """What every task of a batch shares."""

    sequence_json: str
    noise: dict[str, Any]
    settings: dict[str, Any]
    target: str


class DaskExecutor(BatchQueue):
    """Runs queued jobs of one or more batches on a Dask cluster; the local `Executor`'s interface.

    `client`: a connected `distributed.Client` to use (it is not closed by `stop`); else one is
    opened on `address` with `security`. `emulator`: `module:function` that runs every job (tests).
    """

    _thread_name = "qpurun-dask"
    _errors = (StoreError, BackendError)

    def __init__(
        self,
        store: Store,
        address: str,
        *,
        security: Any = None,
        client: Any = None,
        emulator: str | None = None,
        retries: int = RETRIES,
    ) -> None:
        self.store = store
        self.address = address
        self.security = security
        self.emulator = emulator
        self.retries = retries
        self.failure: Exception | None = None
        self._client: Any = client
        self._own_client = client is None
        self._queue: collections.deque[tuple[str, int]] = collections.deque()
        self._batches: dict[str, Batch] = {}
        self._specs: dict[str, _Spec] = {}
        self._running: dict[str, tuple[str, int, str]] = {}  # task key -> (batch, job, claim)
        self._futures: dict[str, Any] = {}
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._threads = 0
        self._sized = 0.0

    # ---- the caller's side

    def connect(self) -> Any:
        """The client, connected now if it is not (so that an unreachable scheduler is said before any work)."""
        if self._client is None or self._client.status in ("closing", "closed"):
            self._client = connect(self.address, security=self.security)
            self._own_client = True
        return self._client

    @property
    def workers(self) -> int:
        """The cluster's threads: how many jobs it runs at once."""
        return self._size(self.connect(), now=True)

    def describe(self) -> str:
        client = self.connect()
        workers = len(client.nthreads())
        return f"Dask cluster {self.address}: {workers} worker(s), {self._size(client, now=True)} thread(s)"

    def add(self, batch_id: str, token: str, indices: list[int], *, open: bool) -> None:
        """Queue jobs of a batch this process holds the runner token of."""
        self.connect()
        with self._condition:
            batch = self._batches.setdefault(batch_id, Batch(token, open))
            batch.open = open
            batch.outstanding.update(indices)
            self._queue.extend((batch_id, i) for i in indices)
            self._condition.notify_all()
        self._ensure_thread()

    def stop(self) -> None:
        """Stop now: cancel the tasks in flight (their jobs go back to PENDING) and close the client."""
        super().stop()
        if self._own_client and self._client is not None:
            with contextlib.suppress(Exception):  # closing a client whose scheduler is gone
                self._client.close(timeout=5)
            self._client = None

    # ---- the dispatcher thread

    def _failed(self, error: BaseException) -> Exception:
        """The scheduler went away mid-call, or a bug of ours: the batch stays resumable."""
        return BackendError(
            f"the Dask cluster at {self.address} failed: {type(error).__name__}: {error}",
            hint="`qpurun resume BATCH --cluster ADDRESS` runs the jobs without a result",
        )

    def _loop(self) -> None:
        from distributed import as_completed

        client = self.connect()
        completed = as_completed(loop=client.loop, with_results=True, raise_errors=False)
        while not self._stop.is_set():
            self._fill(client, completed)
            if not self._running:
                with self._condition:
                    if self._queue:
                        continue
                    self._retire_finished()
                    return  # idle: an open batch keeps its token; `add` starts a new thread
            ended = completed.next_batch(block=False)
            if not ended:
                with self._condition:
                    self._condition.wait(timeout=_POLL)
                continue
            for future, result in ended:
                self._record(future, result)

    def _size(self, client: Any, *, now: bool = False) -> int:
        """The cluster's threads, asked of the scheduler at most once a second (workers come and go)."""
        if now or time.monotonic() - self._sized > _SIZE_EVERY:
            self._threads = sum(client.nthreads().values())
            self._sized = time.monotonic()
        return self._threads

    def _fill(self, client: Any, completed: Any) -> None:
        window = max(2, 2 * self._size(client))
        while len(self._running) < window and not self._stop.is_set():
            with self._condition:
                if not self._queue:
                    return
                batch_id, index = self._queue.popleft()
            claim = self.store.claim(batch_id, index)
            if claim is None:  # no longer PENDING (canceled, or done by a previous runner)
                self._ended(batch_id, index)
                continue
            spec = self._spec(batch_id)
            job = self.store.job(batch_id, index)
            key = f"qpurun-{batch_id[:12]}-{index}-{claim[:8]}"
            try:
                future = client.submit(
                    run_task,
                    spec.sequence_json,
                    job.variables,
                    job.runs,
                    spec.noise,
                    spec.settings,
                    spec.target,
                    self.emulator,
                    key=key,
                    pure=False,
                    retries=self.retries,
                )
            except BaseException:
                self.store.unclaim(batch_id, index, claim)
                raise
            self._running[key] = (batch_id, index, claim)
            self._futures[key] = future
            completed.add(future)

    def _spec(self, batch_id: str) -> _Spec:
        spec = self._specs.get(batch_id)
        if spec is None:
            batch = self.store.batch(batch_id)
            spec = _Spec(batch.sequence_json, dict(batch.noise), dict(batch.settings), batch.target)
            self._specs[batch_id] = spec
        return spec

    def _record(self, future: Any, result: Any) -> None:
        """Commit one finished task under its claim (a second sight of it, or a stale claim, lands nothing)."""
        from distributed import KilledWorker

        task = self._running.pop(future.key, None)
        self._futures.pop(future.key, None)
        if task is None:
            return
        batch_id, index, claim = task
        status = future.status
        if status == "finished" and isinstance(result, dict) and ("result" in result or "error" in result):
            if "error" in result:
                self.store.finish(batch_id, index, claim, error=str(result["error"]))
            else:
                self.store.finish(batch_id, index, claim, result_json=result["result"], counts=result["counts"])
        elif status == "error":
            error = result[1] if isinstance(result, tuple) and len(result) == 3 else result
            if isinstance(error, KilledWorker):
                why = (
                    f"the worker process died while running this job, on {error.allowed_failures + 1} workers "
                    "in turn (out of memory?)"
                )
            else:
                from qpurun.run.worker import reason

                why = f"on the cluster: {reason(error) if isinstance(error, BaseException) else error}"
            self.store.finish(batch_id, index, claim, error=why)
        elif status == "finished":
            self.store.finish(batch_id, index, claim, error=f"the task returned no result: {result!r:.200}")
        else:  # cancelled, lost: not the job's fault
            self.store.unclaim(batch_id, index, claim)
            if self._stop.is_set():
                return
            raise BackendError(
                f"the Dask scheduler at {self.address} dropped job {index} of batch {batch_id} ({status})",
                hint=f"`qpurun resume {batch_id} --cluster {self.address}` runs the jobs without a result",
            )
        self._ended(batch_id, index)

    def _forget(self, batch_id: str) -> None:
        self._specs.pop(batch_id, None)

    def _shutdown(self) -> None:
        futures = list(self._futures.values())
        if futures and self._client is not None:
            with contextlib.suppress(Exception):  # the scheduler may be gone: its tasks are then too
                self._client.cancel(futures)
        self._running.clear()
        self._futures.clear()
        self._give_back()


class ClusterRunner(LocalRunner):
    """A local target's batch on a Dask cluster: a `LocalRunner` whose jobs go to a `DaskExecutor`."""

    def __init__(
        self,
        store: Store,
        target: Target,
        address: str,
        *,
        security: Any = None,
        settings: Mapping[str, Any] | None = None,
        devices: tuple[Any, ...] = (),
        emulator: str | None = None,
    ) -> None:
        # The CLI says what went wrong in its own words (a lost scheduler: which job, how to resume);
        # Dask's client would also log each failed reconnection with a traceback.
        logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
        self.executor = DaskExecutor(store, address, security=security, emulator=emulator)
        self.executor.connect()  # an unreachable scheduler is reported before the spec is compiled
        super().__init__(store, target, settings=settings, devices=devices, executor=self.executor)

    def describe(self) -> str:
        return self.executor.describe()
