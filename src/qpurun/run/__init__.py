"""Running a spec's batch: `LocalConnection` (a Pulser `RemoteConnection` on pulser-simulation),
its SQLite store, the worker processes, and the `run`/`runs`/`status`/`results`/`resume` commands.

    connection.py  LocalConnection: submit, status, results, devices (Pulser's interface)
    store.py       the durable SQLite store (no Pulser)
    executor.py    worker processes and the dispatcher thread (no Pulser)
    worker.py      what a worker process runs (imports Pulser once, in the forkserver)
    emulator.py    one job on QutipBackendV2: noise model, shots × trajectories
    output.py      the output directory, results.csv, the summary table
    commands.py    the CLI commands, registered by qpurun.cli

Pulser is imported only by connection, worker and emulator, and only when used,
so `qpurun --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qpurun.run.connection import LocalConnection
    from qpurun.run.store import Store

__all__ = ["LocalConnection", "Store"]


def __getattr__(name: str) -> Any:
    if name == "LocalConnection":
        from qpurun.run.connection import LocalConnection

        return LocalConnection
    if name == "Store":
        from qpurun.run.store import Store

        return Store
    raise AttributeError(f"module 'qpurun.run' has no attribute {name!r}")
