"""qpurun: declarative neutral-atom experiments, compiled to Pulser and run as one batch.

`qpurun.load(path)` / `qpurun.loads(text)` return an `Experiment` with the
`pulser.Sequence` and the job parameters of its batch; `qpurun.results(batch_id)`
a stored batch's results as arrays and a DataFrame. Pulser is imported on
first use, so that `qpurun --help` and `qpurun fmt` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qpurun.language.errors import QxError, QxErrors, QxWarning

if TYPE_CHECKING:
    from qpurun.api import Experiment, load, loads
    from qpurun.batch_results import BatchResults, results

__all__ = ["BatchResults", "Experiment", "QxError", "QxErrors", "QxWarning", "load", "loads", "results"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("Experiment", "load", "loads"):
        from qpurun import api

        return getattr(api, name)
    if name in ("results", "BatchResults"):
        from qpurun import batch_results

        return getattr(batch_results, name)
    raise AttributeError(f"module 'qpurun' has no attribute {name!r}")
