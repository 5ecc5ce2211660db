"""The worker process: receive (batch, job, claim), run it, commit its result, say so.

Imported by the forkserver before any worker is forked, so Pulser,
pulser-simulation and QuTiP are loaded once, not once per worker.
"""

from __future__ import annotations

import importlib
import os
import traceback
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pulser
import pulser_simulation  # noqa: F401  (preloaded for the forked workers)

from qpurun.run.store import Store, StoreError

_CACHED_SEQUENCES = 4


def load_emulator(path: str) -> Callable[..., Any]:
    """`package.module:function` → the function."""
    module, _, name = path.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name or "run_job")
    return function


def reason(error: BaseException) -> str:
    """One line for the job's `error` column: the exception and where Pulser raised it."""
    message = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {message[0] if message else ''}".rstrip(": ")
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {os.path.basename(last.filename)}:{last.lineno})"
    return text[:1000]


def counts_of(results: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(results.final_bitstrings.items())}


def emulator_for(target: str) -> str:
    """The `module:function` that runs one job of a batch for a local target (`qutip`, `emu-sv`, ...)."""
    from qpurun.run.emulator import EMULATORS

    emulators: dict[str, str] = EMULATORS
    return emulators.get(target, emulators["qutip"])


def serve(connection: Any, store_path: str, timeout: float, emulator: str | None) -> None:
    """Run jobs until the runner says stop. `emulator`: one for every batch, else each batch's target's."""
    store = Store(store_path, timeout=timeout)
    sequences: OrderedDict[str, tuple[Any, dict[str, Any], dict[str, Any], Callable[..., Any]]] = OrderedDict()
    if not _send(connection, ("ready", os.getpid())):
        return
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        batch_id, index, claim = task
        try:
            error: str | None = None
            result_json: str | None = None
            counts: dict[str, int] | None = None
            try:
                if batch_id not in sequences:
                    batch = store.batch(batch_id)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        sequence = pulser.Sequence.from_abstract_repr(batch.sequence_json)
                    run_job = load_emulator(emulator or emulator_for(batch.target))
                    sequences[batch_id] = (sequence, batch.noise, batch.settings, run_job)
                    while len(sequences) > _CACHED_SEQUENCES:
                        sequences.popitem(last=False)
                sequence, noise, settings, run_job = sequences[batch_id]
                job = store.job(batch_id, index)
                results = run_job(sequence, job.variables, job.runs, noise, settings)
                result_json = results.to_abstract_repr()
                counts = counts_of(results)
            except StoreError:
                raise
            except Exception as failure:
                error = reason(failure)
            store.finish(batch_id, index, claim, result_json=result_json, counts=counts, error=error)
        except StoreError as failure:
            _send(connection, ("store-error", type(failure).__name__, failure.message, failure.hint))
            return
        if not _send(connection, ("done", batch_id, index, claim, "ERROR" if error else "DONE")):
            return


def _send(connection: Any, message: tuple[Any, ...]) -> bool:
    try:
        connection.send(message)
    except OSError:
        return False  # the runner is gone; what was committed stays committed
    return True
