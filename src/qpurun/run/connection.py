"""`LocalConnection`: Pulser's `RemoteConnection`, served by pulser-simulation on this machine.

`QPUBackend(sequence, LocalConnection(...)).run(job_params)` takes the path
a QPU submission takes — `validate_sequence(mimic_qpu=True)`,
`update_sequence_device`, `validate_job_params`, `submit` — and Pulser's
`RemoteResults(batch_id, connection)` reads the batch back, from this
process or any other that opens the same store.

The batch, its parametrized sequence (abstract representation: Pulser cannot
serialize some *built* sequences, e.g. a variable `target index`), its jobs
and each result live in the SQLite store (`qpurun.run.store`); jobs run in
worker processes (`qpurun.run.executor`), each built with its variables and
emulated by `QutipBackendV2` (`qpurun.run.emulator`, where the noise block
and the shot count meet).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import typing
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulser
import pulser.devices
from pulser.backend.remote import (
    BatchStatus,
    JobStatus,
    RemoteConnection,
    RemoteResults,
    RemoteResultsError,
)
from pulser.backend.results import Results

from qpurun.language.catalog import real_devices
from qpurun.run import emulator as emulator_module
from qpurun.run.executor import Executor
from qpurun.run.store import Store, batch_status

if typing.TYPE_CHECKING:
    from qpurun.language.catalog import BaseDevice

__all__ = ["JobExecutor", "LocalConnection"]


class JobExecutor(typing.Protocol):
    """What runs a connection's jobs and commits their ends to the store: `Executor` (this machine's
    worker processes) or `qpurun.run.cluster.DaskExecutor` (a Dask cluster)."""

    failure: Exception | None

    @property
    def workers(self) -> int: ...

    def add(self, batch_id: str, token: str, indices: list[int], *, open: bool) -> None: ...

    def closed(self, batch_id: str) -> None: ...

    def holds(self, batch_id: str) -> bool: ...

    def wait(self, batch_id: str, timeout: float | None = None) -> bool: ...

    def stop(self) -> None: ...


class LocalConnection(RemoteConnection):
    """A `RemoteConnection` whose "QPU" is pulser-simulation, with a durable store.

    Args:
        store: a `Store`, or the path of its SQLite file (default: under `$QPURUN_HOME`).
        workers: worker processes (default: the usable cores).
        devices: devices offered besides Pulser's real ones (e.g. one loaded from
            a JSON file); they take precedence over a Pulser device of the same name.
        noise: the emulator's noise, as a spec's `noise { ... }` block:
            `pulser.NoiseModel` arguments plus `runs` (trajectories) and
            `samples_per_run` (see `qpurun.run.emulator`).
        target: the local emulator that runs the jobs: `qutip` (QutipBackendV2, the
            default), `emu-sv` or `emu-mps` (see `qpurun.run.emulator`).
        settings: the emulator's settings: `dt` (ns), `max_bond_dim`, `gpu`.
        emulator: `module:function` that runs every job instead (for tests).
        executor: what runs the jobs instead of this machine's worker processes, with the
            same interface (`qpurun.run.cluster.DaskExecutor`: a Dask cluster); `workers`
            and `emulator` are then its business.
    """

    def __init__(
        self,
        *,
        store: Store | str | Path | None = None,
        workers: int | None = None,
        devices: Iterable[BaseDevice] = (),
        noise: Mapping[str, Any] | None = None,
        target: str = "qutip",
        settings: Mapping[str, Any] | None = None,
        emulator: str | None = None,
        executor: JobExecutor | None = None,
    ) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        self.noise = dict(noise or {})
        self.target = target
        self.settings = dict(settings or {})
        self._devices = {device.name: device for device in devices}
        self._executor: JobExecutor = (
            executor if executor is not None else Executor(self.store, workers=workers, emulator=emulator)
        )
        self._metadata: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def workers(self) -> int:
        return self._executor.workers

    # ---- RemoteConnection

    def supports_open_batch(self) -> bool:
        return True

    def fetch_available_devices(self) -> dict[str, pulser.devices.Device]:
        """Pulser's real devices, plus (overriding by name) the ones given to this connection."""
        devices: dict[str, BaseDevice] = dict(real_devices())
        devices.update(self._devices)
        return typing.cast(dict[str, pulser.devices.Device], devices)

    def add_device(self, device: BaseDevice) -> None:
        self._devices[device.name] = device

    def submit(
        self,
        sequence: pulser.Sequence[Any],
        wait: bool = False,
        open: bool = False,
        batch_id: str | None = None,
        **kwargs: Any,
    ) -> RemoteResults:
        """Store the batch (or add jobs to an open one) and start running its jobs.

        `job_params`: `[{"runs": N, "variables": {...}}]`. Also accepted:
        `noise` (overrides the connection's for this batch).
        """
        job_params = kwargs.pop("job_params", None)
        noise = dict(kwargs.pop("noise", self.noise))
        if kwargs:
            raise TypeError(f"LocalConnection.submit() got unexpected arguments: {sorted(kwargs)}")
        sequence = self._add_measurement_to_sequence(sequence)
        jobs = self._jobs(sequence, job_params, open=open or batch_id is not None)
        if batch_id is not None:
            return self._add_to_open_batch(sequence, batch_id, jobs, wait=wait)
        self._check_noise(noise)
        metadata = dict(self._metadata)
        source = metadata.get("source")
        batch_id = self.store.create_batch(
            name=metadata.get("name") or "batch",
            sequence_json=sequence.to_abstract_repr(),
            device_name=sequence.device.name,
            noise=noise,
            qpu_checks=bool(metadata.get("qpu_checks", False)),
            open=open,
            spec_name=getattr(source, "name", None),
            spec_text=getattr(source, "text", None),
            out_dir=metadata.get("out_dir"),
            jobs=jobs,
            target=self.target,
            settings=self.settings,
        )
        token = self.store.acquire(batch_id)
        self._executor.add(batch_id, token, list(range(len(jobs))), open=open)
        if wait:
            self.wait(batch_id)
        return RemoteResults(batch_id, self)

    def _close_batch(self, batch_id: str) -> None:
        self.store.close_batch(batch_id)
        self._executor.closed(batch_id)

    def _get_batch_status(self, batch_id: str) -> BatchStatus:
        batch = self.store.batch(batch_id)
        status = batch_status(batch, self.store.counts(batch_id), running_here=self._executor.holds(batch_id))
        return BatchStatus[status]

    def _get_job_ids(self, batch_id: str) -> list[str]:
        self.store.batch(batch_id)
        return [job.job_id for job in self.store.jobs(batch_id)]

    def _query_job_progress(self, batch_id: str) -> Mapping[str, tuple[JobStatus, Results | None]]:
        self.store.batch(batch_id)
        return {
            job.job_id: (
                JobStatus[job.status],
                Results.from_abstract_repr(job.result_json) if job.result_json is not None else None,
            )
            for job in self.store.jobs(batch_id)
        }

    def _fetch_result(self, batch_id: str, job_ids: list[str] | None) -> typing.Sequence[Results]:
        self.store.batch(batch_id)
        jobs = {job.job_id: job for job in self.store.jobs(batch_id)}
        wanted = list(jobs) if job_ids is None else job_ids
        missing = [jobs[j] for j in wanted if j in jobs and jobs[j].result_json is None]
        if missing:
            first = missing[0]
            detail = f": {first.error}" if first.error else ""
            raise RemoteResultsError(
                f"{len(missing)} job(s) of batch {batch_id} have no result; job {first.index} is {first.status}{detail}"
            )
        return [Results.from_abstract_repr(typing.cast(str, jobs[j].result_json)) for j in wanted]

    # ---- beyond Pulser's interface

    @contextlib.contextmanager
    def describing(
        self, *, name: str | None = None, source: Any = None, out_dir: str | None = None, qpu_checks: bool = False
    ) -> Iterator[None]:
        """Label the batches submitted inside the block (the spec they came from, where outputs go)."""
        with self._lock:
            previous = self._metadata
            self._metadata = {"name": name, "source": source, "out_dir": out_dir, "qpu_checks": qpu_checks}
        try:
            yield
        finally:
            self._metadata = previous

    def resume(self, batch_id: str, *, retry_failed: bool = False, wait: bool = False) -> RemoteResults:
        """Run the jobs of a stored batch that have not finished (and, if asked, those that failed)."""
        batch = self.store.batch(batch_id)
        token = self.store.acquire(batch_id, retry_failed=retry_failed)
        self._executor.add(batch_id, token, self.store.pending(batch_id), open=batch.open)
        if wait:
            self.wait(batch_id)
        return RemoteResults(batch_id, self)

    def wait(self, batch_id: str, timeout: float | None = None) -> bool:
        """Block until this connection has no job of the batch left to run; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self._executor.wait(batch_id, timeout=left if left is None else min(left, 1.0)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def stop(self) -> None:
        """Stop running jobs now; the unfinished ones stay PENDING for `resume`."""
        self._executor.stop()

    def close(self) -> None:
        self.stop()
        self.store.close()

    def __enter__(self) -> LocalConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def failure(self) -> Exception | None:
        """A store error that stopped the workers (e.g. a full disk), if any."""
        return self._executor.failure

    # ---- helpers

    @staticmethod
    def _jobs(
        sequence: pulser.Sequence[Any], job_params: list[Mapping[str, Any]] | None, *, open: bool
    ) -> list[tuple[int, dict[str, Any]]]:
        if job_params is None:
            if open:
                return []
            raise ValueError("LocalConnection needs job_params: [{'runs': N, 'variables': {...}}, ...]")
        declared = set(sequence.declared_variables)
        if sequence.is_register_mappable():
            declared.add("qubits")  # the trap of each qubit, given to `Sequence.build(qubits=...)`
        jobs = []
        for number, params in enumerate(job_params):
            runs = params.get("runs")
            if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
                raise ValueError(f"job {number}: 'runs' must be a whole number of at least 1, not {runs!r}")
            variables = dict(params.get("variables") or {})
            if set(variables) != declared:
                missing, extra = sorted(declared - set(variables)), sorted(set(variables) - declared)
                raise ValueError(
                    f"job {number}: variables do not match the sequence's (missing {missing}, unknown {extra})"
                )
            jobs.append((runs, _plain(variables)))
        return jobs

    def _add_to_open_batch(
        self, sequence: pulser.Sequence[Any], batch_id: str, jobs: list[tuple[int, dict[str, Any]]], *, wait: bool
    ) -> RemoteResults:
        batch = self.store.batch(batch_id)
        if not batch.open:
            raise ValueError(f"batch {batch_id} is closed: no jobs can be added")
        if json.loads(sequence.to_abstract_repr()) != json.loads(batch.sequence_json):
            raise ValueError(f"the sequence differs from the one of open batch {batch_id}")
        indices = self.store.add_jobs(batch_id, jobs)
        if not self._executor.holds(batch_id):
            token = self.store.acquire(batch_id)
            self._executor.add(batch_id, token, self.store.pending(batch_id), open=True)
        else:
            self._executor.add(batch_id, "", indices, open=True)
        if wait:
            self.wait(batch_id)
        return RemoteResults(batch_id, self)

    @staticmethod
    def _check_noise(noise: Mapping[str, Any]) -> None:
        """Fail at submission, not in every worker, if the noise block is not a valid NoiseModel."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            emulator_module.noise_model(noise)


def _plain(value: Any) -> Any:
    """JSON-ready job variables (numpy scalars and arrays become numbers and lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return value
