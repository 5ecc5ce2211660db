"""A batch's results as data: `qpurun.results(batch_id)` gives numpy arrays and a pandas DataFrame.

Everything comes from the store, so it works from any process, while the
batch runs or long after, for any target. Variables are in the unit the spec
wrote them in (the store keeps Pulser's: rad/µs, ns), so that a sweep written
in MHz is analysed in MHz. The per-job table is the one `results.csv` holds.
pandas is optional (`pip install 'qpurun[analysis]'`); numpy comes with Pulser.

The module is not named `results`: importing a submodule sets the package's
attribute of that name, which would hide the `qpurun.results` function.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from qpurun.language.errors import HintedError
from qpurun.run import output
from qpurun.run.store import Batch, JobRow, Store, UnknownBatch, batch_status

if TYPE_CHECKING:
    import pandas

    from qpurun.api import Experiment

__all__ = ["BatchResults", "JobResult", "MissingExtra", "results"]


class MissingExtra(HintedError, ImportError):
    """An optional dependency is not installed; the hint names the pip extra that brings it."""


@dataclass(frozen=True)
class JobResult:
    """One job as written (parts of a `--split-runs` job merged): its variables in the spec's units."""

    index: int
    job_id: str
    variables: dict[str, Any]
    status: str
    runs: int
    counts: dict[str, int]
    """Bitstring -> shots; empty while the job has no result."""
    error: str | None
    started_at: str | None
    finished_at: str | None

    @property
    def shots(self) -> int:
        return sum(self.counts.values())

    @property
    def seconds(self) -> float | None:
        """From the job's start to its end (for a cloud job: as the polls saw them)."""
        if not self.started_at or not self.finished_at:
            return None
        return (datetime.fromisoformat(self.finished_at) - datetime.fromisoformat(self.started_at)).total_seconds()


@dataclass(frozen=True)
class BatchResults:
    """A batch's results; arrays have one row per job, in job order."""

    batch_id: str
    name: str
    target: str
    device: str
    status: str
    variables: list[str]
    """The variables the jobs bind, in the spec's order."""
    units: dict[str, str]
    """Variable -> the unit its values are in (`{"delta": "MHz"}`); a variable without one is not here."""
    qubits: list[str]
    """The register's qubit ids in its order: the i-th character of a bitstring is `qubits[i]`."""
    jobs: list[JobResult]
    table: output.JobTable
    """The per-job table `results.csv` holds, unformatted (what `to_pandas` shows)."""

    def __len__(self) -> int:
        return len(self.jobs)

    def __repr__(self) -> str:
        done = sum(job.status == "DONE" for job in self.jobs)
        return (
            f"<BatchResults {self.batch_id[:12]} {self.name!r}: {self.status}, {done}/{len(self.jobs)} jobs done, "
            f"variables {self.variables}, qubits {self.qubits}>"
        )

    @property
    def counts(self) -> list[dict[str, int]]:
        """Per job, bitstring -> shots (empty for a job without a result)."""
        return [dict(job.counts) for job in self.jobs]

    @property
    def shots(self) -> npt.NDArray[np.int64]:
        """Per job, the number of bitstrings measured (0 without a result)."""
        return np.array([job.shots for job in self.jobs], dtype=np.int64)

    @property
    def occupation(self) -> npt.NDArray[np.float64]:
        """jobs × qubits: the fraction of shots that measured each qubit in `1` (excited, in the
        ground-rydberg basis). NaN for a job without a result, or a qubit a mappable register left out."""
        return np.array(
            [output.occupation(job.counts, len(self.qubits)) for job in self.jobs], dtype=np.float64
        ).reshape(len(self.jobs), len(self.qubits))

    @property
    def mean_excitation(self) -> npt.NDArray[np.float64]:
        """Per job, the mean number of qubits measured in `1` per shot (NaN without a result)."""
        return np.array(
            [output.mean_excitation(job.counts) if job.counts else math.nan for job in self.jobs], dtype=np.float64
        )

    @property
    def most_frequent(self) -> list[str | None]:
        """Per job, its most frequent bitstring (None without a result)."""
        return [top[0] if (top := output.most_frequent(job.counts)) else None for job in self.jobs]

    def values(self, name: str) -> npt.NDArray[Any]:
        """The variable's value in each job, in its unit (`units[name]`); NaN where a job does not bind it."""
        if name not in self.variables:
            raise KeyError(f"batch {self.batch_id[:12]} has no variable {name!r}; it has {self.variables}")
        found = [job.variables.get(name, math.nan) for job in self.jobs]
        if not any(isinstance(v, dict) for v in found):
            with contextlib.suppress(ValueError):  # ragged: arrays of different lengths
                return np.array(found)
        objects = np.empty(len(found), dtype=object)  # placements (`qubits`), ragged arrays: one object a job
        objects[:] = found
        return objects

    def to_pandas(self) -> pandas.DataFrame:
        """One row per job: `job`, each variable with its unit in the column name (`delta [MHz]`),
        `runs`, `status`, `shots`, `occupation[q0]`..., `mean_excitation`, `most_frequent` (a str) and its
        probability, `error`. `attrs["units"]` maps each variable to its unit, `attrs["columns"]` to its column.

        Needs pandas: `pip install 'qpurun[analysis]'`.
        """
        try:
            import pandas
        except ImportError:
            raise MissingExtra(
                "BatchResults.to_pandas() needs pandas, which is not installed",
                hint="pip install 'qpurun[analysis]'",
            ) from None
        frame = pandas.DataFrame(self.table.rows, columns=self.table.columns)
        frame.attrs.update(
            {
                "batch_id": self.batch_id,
                "name": self.name,
                "target": self.target,
                "device": self.device,
                "units": dict(self.units),
                "columns": {name: output.column(name, self.units.get(name)) for name in self.variables},
                "qubits": list(self.qubits),
            }
        )
        return frame


def results(
    batch: Any,
    *,
    store: Store | str | Path | None = None,
    experiment: Experiment | None = None,
) -> BatchResults:
    """The results of a stored batch, as data.

    `batch`: a batch id or a unique prefix of one (as `qpurun results` takes), or a Pulser `RemoteResults`
    from a `LocalConnection` (its store is used) or from a cloud batch qpurun submitted (found by its cloud
    id). `store`: the store's file, default the project's (`store` in the nearest qpurun.toml from here,
    else `$QPURUN_HOME`). `experiment`: where units come from when the store has none (a batch submitted
    from Python through Pulser's backends, which qpurun cannot label).

    Raises UnknownBatch (a StoreError and a KeyError) when no batch has that id.
    """
    if isinstance(batch, str):
        opened = _open(store)
        batch_id = opened.resolve(batch)
    else:
        opened, batch_id = _from_remote(batch, store)
    stored = opened.batch(batch_id)
    jobs = output.merge_parts(opened.jobs(batch_id), opened.parts(batch_id))
    status = batch_status(stored, opened.counts(batch_id))
    return _build(stored, jobs, status, units=None if experiment is None else output.units_of(experiment))


def _build(batch: Batch, jobs: list[JobRow], status: str, *, units: Mapping[str, str] | None) -> BatchResults:
    if batch.units is None and units is not None:
        batch = _with_units(batch, units)
    known = batch.units or {}
    names = output.variable_names(jobs)
    return BatchResults(
        batch_id=batch.batch_id,
        name=batch.name,
        target=batch.target,
        device=batch.device_name,
        status=status,
        variables=names,
        units={name: known[name] for name in names if name in known},
        qubits=output.qubit_labels(batch, jobs),
        jobs=[
            JobResult(
                index=job.index,
                job_id=job.job_id,
                variables=output.shown_variables(job.variables, known),
                status=job.status,
                runs=job.runs,
                counts=dict(job.counts or {}),
                error=job.error,
                started_at=job.started_at,
                finished_at=job.finished_at,
            )
            for job in jobs
        ],
        table=output.job_table(batch, jobs),
    )


def _with_units(batch: Batch, units: Mapping[str, str]) -> Batch:
    import dataclasses

    return dataclasses.replace(batch, units=dict(units))


def _open(store: Store | str | Path | None) -> Store:
    if isinstance(store, Store):
        return store
    if store is None:
        from qpurun.config import resolve

        store = resolve(Path.cwd()).config.store  # as the CLI does; None: under $QPURUN_HOME
    return Store(store)


def _from_remote(remote: Any, store: Store | str | Path | None) -> tuple[Store, str]:
    """The store and qpurun batch id behind a Pulser `RemoteResults`."""
    remote_id = getattr(remote, "batch_id", None)
    if not isinstance(remote_id, str):
        raise TypeError(f"qpurun.results() takes a batch id or a Pulser RemoteResults, not {type(remote).__name__}")
    connection = getattr(remote, "_connection", None)
    own = getattr(connection, "store", None)
    if store is None and isinstance(own, Store):
        own.batch(remote_id)
        return own, remote_id
    opened = _open(store)
    try:
        return opened, opened.resolve(remote_id)
    except UnknownBatch:
        pass
    with_remote_id = [b.batch_id for b in opened.batches() if b.remote_id == remote_id]
    if not with_remote_id:
        raise UnknownBatch(
            f"no batch in the store {opened.path} is the cloud batch {remote_id!r}",
            hint="only batches qpurun stored can be read: `qpurun run --backend pasqal:...` stores them",
        )
    return opened, with_remote_id[-1]
