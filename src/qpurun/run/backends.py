"""One seam between the run commands and the place a batch runs.

`run`, `resume`, `status`, `results` and `cancel` talk to a `Runner` and
never ask which kind it is::

    Runner              submit · resume · wait (progress is in the store) · refresh · cancel · stop
    ├── LocalRunner     qutip, emu-sv, emu-mps: LocalConnection and this machine's workers
    │   └── ClusterRunner   the same targets with --cluster: LocalConnection, jobs on a Dask cluster
    │                       (qpurun.run.cluster; this process stores each result)
    └── CloudRunner     pasqal:<DEVICE>, pasqal:EMU_*: PasqalCloudConnection (qpurun.run.cloud)

Every runner writes what happens into the one SQLite store as it happens, so
the commands read progress and results from the store alone, from any process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from qpurun.language.errors import HintedError
from qpurun.run.store import Batch, Store
from qpurun.run.targets import Target

if TYPE_CHECKING:
    from qpurun.api import Experiment
    from qpurun.config import ClusterSettings
    from qpurun.run.connection import JobExecutor


class BackendError(HintedError):
    """The place the batch runs cannot be reached or refused it; the message (or hint) says what to do."""


class SubmissionRefused(BackendError):
    """The backend refused the batch before running anything (exit 2: fix the spec or the options)."""


class Runner(Protocol):
    """What the run commands need of a place to run a batch."""

    store: Store

    def describe(self) -> str:
        """Where the jobs run, for the line `run` prints (`2 worker(s)`, `Pasqal Cloud batch 1a2b...`)."""
        ...

    def fetch_devices(self) -> dict[str, Any]:
        """The devices `device remote "NAME"` can name on this target (a cloud: what it offers now)."""
        ...

    def submit(
        self, experiment: Experiment, *, out_dir: str | None, on_stored: Callable[[str], None] | None = None
    ) -> str:
        """Record the batch in the store, send it, return its qpurun batch id.

        `on_stored(batch_id)` is called once the batch is in the store, before anything is sent to a
        cloud: whatever happens next, the batch can be named and resumed.
        """
        ...

    def resume(self, batch: Batch, *, retry_failed: bool = False) -> None:
        """Carry on with a stored batch: run (or poll for) the jobs without a result."""
        ...

    def wait(self, batch_id: str, timeout: float) -> bool:
        """Wait up to `timeout` s for the batch to end (progress lands in the store); whether it has."""
        ...

    def refresh(self, batch_id: str) -> None:
        """Bring the store up to date with the backend once (a cloud poll; nothing locally)."""
        ...

    def cancel(self, batch_id: str) -> int:
        """Cancel what has not run; how many jobs were canceled."""
        ...

    def stop(self) -> None:
        """Stop following now (local workers end; a cloud batch runs on); the store keeps everything."""
        ...


class LocalRunner:
    """qutip, emu-sv, emu-mps on this machine: Pulser's RemoteBackend over a LocalConnection."""

    def __init__(
        self,
        store: Store,
        target: Target,
        *,
        workers: int | None = None,
        settings: Mapping[str, Any] | None = None,
        devices: tuple[Any, ...] = (),
        emulator: str | None = None,
        executor: JobExecutor | None = None,
    ) -> None:
        from qpurun.run.connection import LocalConnection

        self.store = store
        self.target = target
        self.connection = LocalConnection(
            store=store,
            workers=workers,
            devices=devices,
            target=target.name,
            settings=settings,
            emulator=emulator,
            executor=executor,
        )

    def describe(self) -> str:
        return f"{self.connection.workers} worker(s)"

    def fetch_devices(self) -> dict[str, Any]:
        return offline_devices(self.store)

    def submit(
        self, experiment: Experiment, *, out_dir: str | None, on_stored: Callable[[str], None] | None = None
    ) -> str:
        from pulser.backend import BackendConfig
        from pulser.backend.remote import RemoteBackend

        sequence = experiment.sequence
        self.connection.noise = dict(experiment.noise)
        runs = experiment.jobs[0].runs if experiment.jobs else None
        # Emulators take what only a QPU refuses (the checks warned of it): no mimic_qpu.
        backend = RemoteBackend(
            sequence, self.connection, mimic_qpu=False, config=BackendConfig(default_num_shots=runs)
        )
        with self.connection.describing(name=experiment.name, source=experiment.source, out_dir=out_dir):
            try:
                remote = backend.run(experiment.job_params, wait=False)  # type: ignore[arg-type]
            except (ValueError, TypeError) as error:
                self.connection.stop()
                raise SubmissionRefused(f"the batch was refused at submission: {error}") from None
        if on_stored is not None:
            on_stored(remote.batch_id)
        return remote.batch_id

    def resume(self, batch: Batch, *, retry_failed: bool = False) -> None:
        self.connection.resume(batch.batch_id, retry_failed=retry_failed)

    def wait(self, batch_id: str, timeout: float) -> bool:
        return self.connection.wait(batch_id, timeout=timeout)

    def refresh(self, batch_id: str) -> None:
        return None  # the workers write the store themselves

    def cancel(self, batch_id: str) -> int:
        # Jobs running now finish (their workers commit them); the rest are never claimed.
        return self.store.cancel(batch_id)

    def stop(self) -> None:
        self.connection.stop()

    @property
    def failure(self) -> Exception | None:
        return self.connection.failure


def offline_devices(store: Store) -> dict[str, Any]:
    """Pulser's real devices, overridden by the specs a cloud connection last offered (the store's cache)."""
    from pulser.json.abstract_repr.deserializer import deserialize_device

    from qpurun.language.catalog import real_devices
    from qpurun.run.store import StoreError

    found: dict[str, Any] = dict(real_devices())
    with contextlib.suppress(StoreError):  # no store, or a locked one: Pulser's devices still answer
        for name, (text, _fetched) in store.cached_devices("pasqal").items():
            found[name] = deserialize_device(text)
    return found


def runner_for(
    target: Target,
    store: Store,
    *,
    workers: int | None = None,
    settings: Mapping[str, Any] | None = None,
    devices: tuple[Any, ...] = (),
    cloud: Mapping[str, Any] | None = None,
    cluster: ClusterSettings | None = None,
    cluster_given: bool = False,
) -> Runner:
    """The runner of a target. `cloud`: the Pasqal settings and credentials source (see qpurun.run.cloud);
    `cluster`: a Dask scheduler's address and TLS files, for a local target's jobs (see qpurun.run.cluster).

    A project's `cluster` does not apply to a cloud target; `--cluster` (`cluster_given`) with one is refused.
    """
    if cluster is not None and cluster.address and (target.kind == "local" or cluster_given):
        if target.kind != "local":
            raise BackendError(
                f"--cluster runs local emulators' jobs; {target.name} runs on Pasqal Cloud",
                hint="use --backend qutip, emu-sv or emu-mps with --cluster, or drop --cluster",
            )
        from qpurun.run.cluster import ClusterRunner, security

        # The workers import the emulator, not this process: whether they can is theirs to say.
        tls = security(
            cluster.address,
            tls_ca_file=cluster.tls_ca_file,
            tls_client_cert=cluster.tls_client_cert,
            tls_client_key=cluster.tls_client_key,
        )
        return ClusterRunner(store, target, cluster.address, security=tls, settings=settings, devices=devices)
    missing = target.missing()
    if missing:
        raise BackendError(missing)
    if target.kind == "local":
        return LocalRunner(store, target, workers=workers, settings=settings, devices=devices)
    from qpurun.run.cloud import CloudRunner

    return CloudRunner(store, target, settings=settings, **dict(cloud or {}))


def warn(message: str) -> None:
    print(f"qpurun: warning: {message}", file=sys.stderr)


# ---- how large a register each local emulator can hold here

_GB = 2**30
_AMPLITUDE = 16  # bytes of one complex128 amplitude


def job_memory(atoms: int, target: str) -> int | None:
    """About how many bytes one job of `atoms` two-level atoms needs on a local target (None: emu-mps).

    qutip builds every term of the Hamiltonian as a sparse 2^N × 2^N operator, one diagonal per pair
    of atoms, before summing them: about 2^N × 16 B × (N²/2 + N + 10) (measured at 16 atoms: 0.15 GB
    beyond the interpreter's 0.35). emu-sv holds the state and its Lanczos vectors: about 2^N × 16 B × 30
    (up to `max_krylov_dim` = 100 of them). emu-mps grows with entanglement (the bond dimension,
    capped by `max_bond_dim`), not with 2^N: no estimate from the size alone.
    """
    amplitudes = (1 << atoms) * _AMPLITUDE
    if target == "qutip":
        return amplitudes * (atoms * atoms // 2 + atoms + 10)
    if target == "emu-sv":
        return amplitudes * 30
    return None


def available_memory() -> int | None:
    """The memory this machine can give a new process now, in bytes (Linux: MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):  # pragma: no cover - not POSIX
        return None


def memory_warning(atoms: int, target: str, *, available: int | None = None, workers: int = 1) -> str | None:
    """Why a job of `atoms` atoms will not fit in this machine's memory on `target` (with `workers` jobs at
    once), naming the targets that can take it; None when it fits or cannot be told."""
    need = job_memory(atoms, target)
    free = available if available is not None else available_memory()
    if need is None or free is None or need * workers <= free:
        return None
    others = [name for name in ("emu-sv",) if name != target and (job_memory(atoms, name) or 0) * workers <= free]
    others += [
        "emu-mps (its memory grows with entanglement, not 2^N)",
        "pasqal:EMU_MPS",
        "--cluster workers with the memory",
    ]
    each = f" each, {workers} at once" if workers > 1 else ""
    return (
        f"a job of {atoms} atoms needs about {need / _GB:.1f} GB on {target}{each}; this machine has "
        f"{free / _GB:.1f} GB available. Targets that can take it: {', '.join(others)}"
    )
