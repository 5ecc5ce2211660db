"""Jobs run in worker processes; a dispatcher thread hands them out one at a time.

Why this shape:

- Each worker is a long-lived process that imports Pulser once, if at all.
  On Linux the first workers are forked from the runner, which has Pulser
  loaded already (only while it has a single thread: forking a threaded
  process can deadlock); replacements come from a `forkserver` that has
  imported pulser-simulation (`qpurun.run.worker`) once, so a new worker
  costs milliseconds, not an import. BLAS/OpenMP are held to one thread per
  worker, so N workers use N cores.
- A worker runs one job at a time, and while there are jobs enough for every
  worker, its next one already waits in its pipe: it starts the moment the
  last is committed, not when the dispatcher next gets a core (the workers
  hold them). The dispatcher knows which job each one runs, so a worker that
  dies (segfault, out of memory, SIGKILL) costs that job alone: it is
  committed ERROR with the reason, the job waiting in its pipe goes to
  another worker under the same claim, a fresh worker takes its place, and
  the others go on. (A `ProcessPoolExecutor` breaks the whole pool and
  cannot say which job killed it.)
- The worker commits the job's result to the store itself, in one
  transaction, the moment the job ends; the dispatcher only claims jobs and
  keeps count. If the runner is killed, an orphaned worker still commits the
  job it was running, then exits at the closed pipe.
- Ctrl-C / `stop()`: workers ignore SIGINT; the dispatcher terminates them
  and returns their jobs to PENDING, so `qpurun resume` continues.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qpurun.language.errors import HintedError
from qpurun.run import store as store_module
from qpurun.run.store import Store, StoreError


class ExecutorError(HintedError):
    """The workers cannot run at all (they fail to start); no job is blamed."""


_POLL = 0.2

# Set in each worker before numpy loads: one BLAS/OpenMP thread per worker.
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _context() -> Any:
    """forkserver where available (workers forked from a process that imported Pulser), else spawn."""
    if sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["qpurun.run._threads", "qpurun.run.worker"])
        return context
    return multiprocessing.get_context("spawn")


def _worker_main(
    connection: Any, store_path: str, timeout: float, emulator: str | None, inherited: tuple[Any, ...] = ()
) -> None:
    """The worker process's entry point (kept light: it names the module that imports Pulser).

    `inherited`: the runner's ends of the workers' pipes, which a forked worker holds copies of;
    closed at once, or a worker would never see its runner die (no EOF while it holds one itself).
    """
    for end in inherited:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker inherits the runner's handler
    os.environ.update(SINGLE_THREAD_ENV)
    from qpurun.run.worker import serve

    serve(connection, store_path, timeout, emulator)


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"it was killed by {name}{hint}"
    return f"it exited with code {exitcode}"


@dataclass
class _Worker:
    process: Any
    connection: Any
    # What it was sent, in order: the first is the job it runs, the next waits in its pipe.
    tasks: collections.deque[tuple[str, int, str]] = field(default_factory=collections.deque)
    ready: bool = False


@dataclass
class Batch:
    """A batch's jobs as an executor holds them: the runner token, whether more may come, and
    the indices not yet ended."""

    token: str
    open: bool
    outstanding: set[int] = field(default_factory=set)


class BatchQueue:
    """The bookkeeping every executor shares (this machine's workers, a Dask cluster): which
    batches it holds, and waiting for one to end. Subclasses set the attributes in `__init__`
    and run a dispatcher thread (`_ensure_thread`) that ends jobs with `_condition` held."""

    failure: Exception | None
    _batches: dict[str, Batch]
    _condition: threading.Condition
    _thread: threading.Thread | None

    _stop: threading.Event
    _queue: collections.deque[tuple[str, int]]
    store: store_module.Store
    _thread_name = "qpurun-dispatcher"
    _errors: tuple[type[Exception], ...] = (store_module.StoreError,)
    """What the dispatcher's loop raises on purpose: it becomes `failure` as it is."""

    def _loop(self) -> None:
        raise NotImplementedError

    def _shutdown(self) -> None:
        raise NotImplementedError

    def _failed(self, error: BaseException) -> Exception:
        """The executor's own error for what broke its dispatcher (a lost scheduler, a bug of ours)."""
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self._loop()
        except self._errors as error:
            self.failure = error
        except BaseException as error:  # a bug of ours, or the cluster gone: keep the store consistent
            self.failure = self._failed(error)
        finally:
            try:
                self._shutdown()
            except store_module.StoreError as error:
                self.failure = self.failure or error
            with self._condition:
                self._thread = None
                restart = bool(self._queue) and not self._stop.is_set() and self.failure is None
                self._condition.notify_all()
            if restart:  # jobs were added while this thread was winding down
                self._ensure_thread()

    def stop(self) -> None:
        """Stop now: the dispatcher ends what runs (its jobs go back to PENDING), and this waits for it."""
        self._stop.set()
        with self._condition:
            self._condition.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _ended(self, batch_id: str, index: int) -> None:
        with self._condition:
            batch = self._batches.get(batch_id)
            if batch is not None:
                batch.outstanding.discard(index)
            self._condition.notify_all()

    def _retire_finished(self) -> None:
        """Batches with nothing outstanding and closed: give up the runner token (lock held)."""
        for batch_id, batch in list(self._batches.items()):
            if not batch.outstanding and not batch.open:
                self.store.release(batch_id, batch.token)
                del self._batches[batch_id]
                self._forget(batch_id)

    def _forget(self, batch_id: str) -> None:
        """What a subclass keeps per batch, dropped when the batch is retired."""

    def _drop_queued(self) -> None:
        """Stopped or failed: the jobs not yet sent are dropped (a subclass clears what it queued too)."""
        self._queue.clear()

    def _give_back(self) -> None:
        """At the end of `_shutdown`: stopped or failed, every batch's runner token is given up (its
        claimed jobs go back to PENDING); else only the finished batches are retired."""
        with self._condition:
            if self._stop.is_set() or self.failure is not None:
                self._drop_queued()
                batches = list(self._batches.items())
                self._batches.clear()
                for batch_id, _ in batches:
                    self._forget(batch_id)
            else:
                self._retire_finished()
                batches = []
        for batch_id, batch in batches:
            # If the store cannot be written (disk full), `resume` finds the dead runner and takes over.
            with contextlib.suppress(store_module.StoreError):
                self.store.release(batch_id, batch.token)

    def _ensure_thread(self) -> None:
        with self._condition:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self.failure = None
            # Not a daemon: a script that submits and returns still gets its batch finished.
            self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=False)
            self._thread.start()

    def closed(self, batch_id: str) -> None:
        with self._condition:
            if batch_id in self._batches:
                self._batches[batch_id].open = False
            self._condition.notify_all()
        self._ensure_thread()

    def holds(self, batch_id: str) -> bool:
        with self._condition:
            return batch_id in self._batches

    def wait(self, batch_id: str, timeout: float | None = None) -> bool:
        """Block until the batch has no outstanding job (or the executor failed); False on timeout."""

        def finished() -> bool:
            batch = self._batches.get(batch_id)
            return batch is None or not batch.outstanding or self.failure is not None or self._thread is None

        with self._condition:
            done = self._condition.wait_for(finished, timeout=timeout)
        if self.failure is not None:
            raise self.failure
        return bool(done)


class Executor(BatchQueue):
    """Runs queued jobs of one or more batches on `workers` processes.

    `emulator`: `module:function` that runs every job (a test's faulty one, say);
    by default each batch's jobs run on the emulator of its target.
    """

    _errors = (StoreError, ExecutorError)

    def __init__(
        self,
        store: Store,
        *,
        workers: int | None = None,
        emulator: str | None = None,
        on_job_end: Callable[[str, int, str], None] | None = None,
    ) -> None:
        self.store = store
        self.workers = workers if workers is not None else default_workers()
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        self.emulator = emulator
        self.on_job_end = on_job_end
        self.failure: Exception | None = None
        self._queue: collections.deque[tuple[str, int]] = collections.deque()
        self._reserved: collections.deque[tuple[str, int, str]] = collections.deque()
        self._batches: dict[str, Batch] = {}
        self._pool: list[_Worker] = []
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: Any = None

    # ---- the caller's side

    def add(self, batch_id: str, token: str, indices: list[int], *, open: bool) -> None:
        """Queue jobs of a batch this process holds the runner token of."""
        with self._condition:
            batch = self._batches.setdefault(batch_id, Batch(token, open))
            batch.open = open
            batch.outstanding.update(indices)
            self._queue.extend((batch_id, i) for i in indices)
            self._condition.notify_all()
            idle = self._thread is None
            pending = len(self._queue)
        if idle and pending:
            self._prefork(min(self.workers, pending))
        self._ensure_thread()

    # ---- the dispatcher thread

    def _failed(self, error: BaseException) -> Exception:  # pragma: no cover - a bug of ours
        return ExecutorError(f"the dispatcher failed: {type(error).__name__}: {error}")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._fill()
            busy = [w for w in self._pool if w.tasks]
            if not busy:
                with self._condition:
                    if self._queue or self._reserved:
                        continue
                    self._retire_finished()
                    # Idle: the thread ends (an open batch keeps its runner token; `add` starts a new thread).
                    return
            waitables = [w.connection for w in busy] + [w.process.sentinel for w in self._pool]
            ready = set(multiprocessing.connection.wait(waitables, timeout=_POLL))
            for worker in list(self._pool):
                if worker.connection in ready or worker.process.sentinel in ready:
                    self._service(worker)

    def _next_task(self) -> tuple[str, int, str] | None:
        while True:
            with self._condition:
                if not self._queue:
                    return None
                batch_id, index = self._queue.popleft()
            claim = self.store.claim(batch_id, index)
            if claim is not None:
                return batch_id, index, claim
            self._job_ended(batch_id, index, "SKIPPED")

    def _take(self) -> tuple[str, int, str] | None:
        return self._reserved.popleft() if self._reserved else self._next_task()

    def _fill(self) -> None:
        for worker in self._pool:
            if not worker.tasks and not self._stop.is_set():
                task = self._take()
                if task is None:
                    break
                self._send(worker, task)
        while len(self._pool) < self.workers and not self._stop.is_set():
            task = self._take()
            if task is None:
                break
            worker = self._spawn()
            self._send(worker, task)
        # Each worker's next job waits in its pipe, so it starts the moment the last one is committed
        # (not when this thread next gets a core, which the workers are using). Only while there are
        # jobs enough for every worker: at the end of a batch, a job waits for the first free worker.
        for worker in self._pool:
            if len(worker.tasks) == 1 and worker.ready and not self._stop.is_set():
                if len(self._reserved) + len(self._queue) < self.workers:
                    break
                task = self._take()
                if task is None:
                    break
                self._send(worker, task)
        # Claim the next jobs while the workers compute: a claim is a durable commit (an fsync),
        # which would otherwise keep a worker waiting between two jobs.
        while len(self._reserved) < self.workers and not self._stop.is_set():
            task = self._next_task()
            if task is None:
                break
            self._reserved.append(task)

    def _send(self, worker: _Worker, task: tuple[str, int, str]) -> None:
        worker.tasks.append(task)
        with contextlib.suppress(OSError):  # it died; its sentinel says so on the next turn
            worker.connection.send(task)

    def _spawn(self) -> _Worker:
        if self._context is None:
            self._context = _context()
        worker = self._start(self._context)
        self._pool.append(worker)
        return worker

    def _start(self, context: Any, *, forked: bool = False) -> _Worker:
        ours, theirs = context.Pipe(duplex=True)
        inherited = (ours, *(w.connection for w in self._pool)) if forked else ()
        process = context.Process(
            target=_worker_main,
            args=(theirs, str(self.store.path), self.store.timeout, self.emulator, inherited),
            name="qpurun-worker",
            daemon=True,
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def _prefork(self, count: int) -> None:
        """Fork the first workers from this process, which has Pulser imported already: no import at all.

        Only while this process has a single thread (forking a threaded process can deadlock the
        child) and on Linux; otherwise, and for replacements, workers come from the forkserver.
        """
        if sys.platform != "linux" or threading.active_count() != 1 or self._pool:
            return
        if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover
            return
        import qpurun.run.worker  # noqa: F401  (loaded once here, shared by the forked workers)

        context = multiprocessing.get_context("fork")
        for _ in range(count):
            self._pool.append(self._start(context, forked=True))

    def _service(self, worker: _Worker) -> None:
        message: Any = None
        try:
            if worker.connection.poll():
                message = worker.connection.recv()
        except (EOFError, OSError):
            message = None
        if message is not None:
            kind = message[0]
            if kind == "ready":
                worker.ready = True
            elif kind == "done":
                _, batch_id, index, _claim, status = message
                worker.tasks.popleft()
                self._job_ended(batch_id, index, status)
            elif kind == "store-error":
                worker.tasks.popleft()
                self._reserved.extendleft(reversed(worker.tasks))  # sent, never started
                worker.tasks.clear()
                raise getattr(store_module, message[1], StoreError)(message[2], hint=message[3])
            return
        if worker.process.is_alive():
            return
        self._pool.remove(worker)
        worker.process.join(timeout=1)
        with_task = worker.tasks.popleft() if worker.tasks else None
        # The jobs waiting in its pipe never started: another worker takes them, under the same claims.
        self._reserved.extendleft(reversed(worker.tasks))
        worker.tasks.clear()
        if not worker.ready:
            if with_task is not None:
                self.store.unclaim(*with_task)
            raise ExecutorError(
                f"a worker process failed to start: {describe_exit(worker.process.exitcode)}",
                hint="a script that uses LocalConnection must guard its code with `if __name__ == '__main__':` "
                "(multiprocessing imports the main module in each worker)",
            )
        if with_task is not None:
            batch_id, index, claim = with_task
            reason = f"the worker process died while running this job: {describe_exit(worker.process.exitcode)}"
            self.store.finish(batch_id, index, claim, error=reason)
            self._job_ended(batch_id, index, "ERROR")

    def _job_ended(self, batch_id: str, index: int, status: str) -> None:
        self._ended(batch_id, index)
        if self.on_job_end is not None and status != "SKIPPED":
            self.on_job_end(batch_id, index, status)

    def _shutdown(self) -> None:
        for worker in self._pool:
            if not worker.tasks:
                with contextlib.suppress(OSError):
                    worker.connection.send(None)
            else:
                worker.process.terminate()
        for worker in self._pool:
            worker.process.join(timeout=5)
            if worker.process.is_alive():  # pragma: no cover
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self._pool.clear()
        self._give_back()

    def _drop_queued(self) -> None:
        super()._drop_queued()
        self._reserved.clear()  # their claims are released with their batches
