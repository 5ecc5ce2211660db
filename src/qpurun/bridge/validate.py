"""Checked before it runs: the sequence and every job, on the device, for the target, located.

What `QPUBackend.run` checks (`validate_sequence(mimic_qpu=True)`,
`validate_job_params`) is what only a QPU demands: errors for a QPU target,
located warnings for an emulator (`qpu_findings`). Then every job is built,
on every target, because a variable value can break a device limit that the
parametrized sequence hides.
A job that fails is built once more through our own lowering with its values
bound, which finds the statement that broke and says so in Pulser's words.

Building every job is the slow part of a large sweep, so it is done by
`JobBuilder`, which gives each job the verdict `sequence.build(**variables)`
gives it, with less work:

- `Sequence.build` starts each job by creating `Sequence(register, device)`,
  which validates the register and its layout on the device again, and by
  replaying every call made before the first variable. None of that sees a
  variable: it is the same for every job, and it already succeeded once, when
  the parametrized sequence was made. `JobBuilder` does it once, pickles the
  result, and starts each job from a copy of it (`pickle.loads` of a few
  kilobytes, some 20 µs). The register, the device, its channels and the
  recorded calls' arguments are not copied but shared, as `Sequence.build`
  shares them. Then it assigns the job's values and replays the calls that
  depend on them, as `Sequence.build` does, line for line; a job that Pulser
  refuses raises the same exception from the same call.
- Jobs with identical values (compared exactly: a float by its bits, an int
  apart from a float) are built once.
- With many jobs and several cores, the jobs are split between forked worker
  processes; each builds its share and reports the indices that failed.

Whenever it cannot take the short way (a mappable register, a subclass of
`Sequence`, a start it cannot copy), `JobBuilder` calls `sequence.build`
itself; without `fork` (or inside a thread or a daemon), one process builds.
Anything a worker sees other than Pulser refusing the job (a bug, or a
warning) is redone in this process, in job order, so that it is raised or
shown here exactly as the plain loop would.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulser
from pulser.backend import QPUBackend
from pulser.devices import Device
from pulser.parametrized import Parametrized

from qpurun.bridge.lower import PULSER_REFUSALS, hint_for, lower
from qpurun.language.errors import QxDeviceError, QxError, QxJobError, QxWarning, Source, Span, raise_all

if TYPE_CHECKING:
    from qpurun.api import Experiment
    from qpurun.bridge.jobs import Job

MAX_REPORTED_JOBS = 10
MAX_EXAMINED_JOBS = 1000
"""Failing jobs sorted into reasons (each is built once more); the rest are counted."""

MAX_RELOWERED_JOBS = 200
"""How many jobs to lower again, at most, to locate the warnings their builds gave."""

PARALLEL_MIN_JOBS = 1000
"""Below this many distinct jobs, forking workers costs more than it saves."""

_CHUNKS_PER_WORKER = 4


def validate(experiment: Experiment, *, workers: int | None = None) -> None:
    """Raise every problem that would stop the batch on its target; warn of what only a QPU refuses.

    `workers` caps the processes that build jobs (default: the usable cores;
    1 builds everything in this process).
    """
    sequence = experiment.sequence
    target = experiment.target
    findings = qpu_findings(experiment)
    errors: list[QxError] = []
    if target.qpu:
        errors += [f.error(target.name) for f in findings]
    else:
        experiment.warnings.extend(f.warning() for f in findings)
    errors += emulator_limits(experiment)
    experiment.warnings.extend(memory_limits(experiment))
    raise_all(errors)
    if sequence.is_parametrized():
        # Pulser warns per job (a variable duration rounded to the clock): record, then locate.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            failures = build_failures(experiment, workers=workers)
        raise_all(failures)
        known = {w.message for w in experiment.warnings}
        messages = {str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)} - known
        found, refused = job_warnings(experiment, messages)
        raise_all(refused)
        experiment.warnings.extend(found)


def emulator_limits(experiment: Experiment) -> list[QxError]:
    """What the target's emulator itself cannot take (checked here, not found out job by job)."""
    checked = experiment.checked
    if experiment.sequence.is_empty() and not experiment.target.qpu:
        # qutip: "No instructions given"; emu-sv and emu-mps: a ZeroDivisionError. Say it before the run.
        return [
            QxDeviceError(
                f"{experiment.target.name} cannot emulate an empty sequence: it plays no pulse",
                checked.sequence.span,
                checked.source,
                hint="add a pulse to a declared channel",
            )
        ]
    if experiment.target.name == "emu-mps":
        atoms = len(experiment.sequence.get_register(include_mappable=True).qubit_ids)
        if atoms < 2:
            return [
                QxDeviceError(
                    f"emu-mps needs at least 2 atoms, and this register has {atoms}",
                    checked.register.span,
                    checked.source,
                    hint="run it on emu-sv or qutip (exact for so few atoms)",
                )
            ]
    return []


def memory_limits(experiment: Experiment) -> list[QxWarning]:
    """A job too large for this machine's memory on a local emulator: a warning at the register that
    names the targets that can take it (the estimate is `run.backends.memory_warning`'s)."""
    if experiment.target.kind != "local":
        return []
    from qpurun.run.backends import memory_warning

    atoms = len(experiment.sequence.get_register(include_mappable=True).qubit_ids)
    message = memory_warning(atoms, experiment.target.name)
    if message is None:
        return []
    checked = experiment.checked
    too_large, _, targets = message.partition(". Targets that can take it: ")
    return [
        QxWarning(too_large, checked.register.span, checked.source, hint=f"run it on {targets}" if targets else None)
    ]


# ---- what only a QPU demands ----------------------------------------------------------


@dataclass(frozen=True)
class QpuFinding:
    """Something a QPU would refuse: an error for a QPU target, a warning for an emulator."""

    what: str
    """What is refused: "register", "layout", "sequence", "device", "job 3"."""
    reason: str
    span: Span | None
    source: Source | None
    hint: str
    job: bool = False
    """About one job (its `reason` reads after the job's name): a QxJobError as an error."""

    def error(self, target: str) -> QxError:
        if self.job:
            return QxJobError(
                f"{self.what} {self.reason} ({target} refuses it)", self.span, self.source, hint=self.hint
            )
        message = f"{target} would refuse this {self.what}: {self.reason}"
        return QxDeviceError(message, self.span, self.source, hint=self.hint)

    def warning(self) -> QxWarning:
        message = (
            f"a QPU would refuse {self.what}: it {self.reason}"
            if self.job
            else (f"a QPU would refuse this {self.what}: {self.reason}")
        )
        return QxWarning(message, self.span, self.source, hint=self.hint)


def qpu_findings(experiment: Experiment) -> list[QpuFinding]:
    """What Pulser's QPU path (`mimic_qpu`, `validate_job_params`) would refuse, each at its statement.

    Pulser's `QPUBackend.validate_sequence` stops at the first refusal; these
    are its checks one by one, so that all of them are reported at once. It
    is still called last, so a rule Pulser adds is never missed.
    """
    sequence = experiment.sequence
    checked = experiment.checked
    target = experiment.target
    device = sequence.device
    source = checked.source
    found: list[QpuFinding] = []

    def finding(what: str, reason: str, node: Any, hint: str) -> None:
        found.append(QpuFinding(what, reason, node.span, source, hint))

    if not isinstance(device, Device):
        if target.qpu:
            finding(
                "device",
                f"{device.name} is a virtual device, and a QPU runs only on a real one",
                checked.device,
                f'write `device remote "{target.device}"` (the QPU\'s own specs)',
            )
        return found  # a virtual device is for emulation only: no QPU warnings
    if target.qpu and target.device is not None and device.name != target.device:
        finding(
            "device",
            f"it runs on {target.device}, but the spec is written for {device.name}",
            checked.device,
            f'write `device remote "{target.device}"`: the specs {target.device} is calibrated to today',
        )
    if sequence.is_empty():
        finding("sequence", "it is empty", checked.sequence, "add a pulse to a declared channel")
    register = sequence.get_register(include_mappable=True)
    layout = register.layout
    if device.requires_layout and layout is None:
        finding(
            "register",
            "it is not defined on a layout",
            checked.register,
            "add `auto_layout`, or place the atoms on a layout",
        )
    if not device.accepts_new_layouts and layout is not None and layout not in device.pre_calibrated_layouts:
        names = ", ".join(f'"{each!s}"' for each in device.pre_calibrated_layouts) or "none"
        finding(
            "layout",
            f"{device.name} takes no new layouts, and this one is not among its calibrated layouts",
            checked.layout or checked.register,
            f"use `layout calibrated NAME`; {device.name}'s: {names}",
        )
    if not found:
        try:
            QPUBackend.validate_sequence(sequence, mimic_qpu=True)
        except PULSER_REFUSALS as refusal:  # a rule of Pulser's that the checks above do not know
            finding("sequence", str(refusal), checked.device, hint_for(str(refusal)))
    found += _runs_findings(experiment)
    return found


def _runs_findings(experiment: Experiment) -> list[QpuFinding]:
    """Jobs asking for more runs than the device's `max_runs` (Pulser's `validate_job_params`)."""
    checked = experiment.checked
    max_runs = experiment.sequence.device.max_runs
    found: list[QpuFinding] = []
    refused = []
    for job in experiment.jobs:
        try:
            QPUBackend.validate_job_params([job.params(with_variables=False)], max_runs)  # type: ignore[list-item]
        except ValueError as error:
            refused.append((job, error))
    for job, reason in refused[:MAX_REPORTED_JOBS]:
        found.append(
            QpuFinding(
                job.describe(),
                f"asks for {job.runs} runs: {reason}",
                job.runs_span or job.span,
                checked.source,
                "lower `runs`, or split the job with --split-runs",
                job=True,
            )
        )
    if len(refused) > MAX_REPORTED_JOBS:
        last = found[-1]
        found[-1] = dataclasses.replace(last, hint=last.hint + f" ({len(refused) - MAX_REPORTED_JOBS} more such jobs)")
    return found


def job_warnings(experiment: Experiment, messages: set[str]) -> tuple[list[QxWarning], list[QxError]]:
    """Locate warnings Pulser gave while building jobs: lower those jobs again, bound.

    Pulser only warns where our lowering is stricter (a duration of 100.5 ns,
    which Pulser would round): such a job comes back as an error.
    """
    found: list[QxWarning] = []
    refused: list[QxError] = []
    remaining = set(messages)
    for job in experiment.jobs[:MAX_RELOWERED_JOBS]:
        if not remaining or len(found) + len(refused) >= MAX_REPORTED_JOBS:
            break
        try:
            lowered = lower(experiment.checked, bindings=job.variables, device=experiment.device)
        except QxError as error:
            refused.append(_does_not_build(job, error))
            continue
        for warning in lowered.warnings:
            if warning.message in remaining:
                remaining.discard(warning.message)
                found.append(dataclasses.replace(warning, message=f"{job.describe()}: {warning.message}"))
    if remaining and not refused:
        checked = experiment.checked
        found.append(
            QxWarning(
                f"{len(remaining)} more warnings from building jobs, not shown",
                checked.sequence.span,
                checked.source,
            )
        )
    return found, refused


def build_failures(experiment: Experiment, *, workers: int | None = None) -> list[QxError]:
    """Build every job; the failures, one message for each distinct reason (see `grouped`)."""
    builder = JobBuilder(experiment.sequence)
    failed = failing_jobs(experiment, workers=workers, builder=builder)
    refusals: list[tuple[Job, Exception]] = []
    for index in failed[:MAX_EXAMINED_JOBS]:
        job = experiment.jobs[index]
        error = builder.refusal(job.variables)
        if error is None:  # pragma: no cover - Pulser's build is deterministic
            raise AssertionError(f"{job.describe()} failed in a worker but builds here")
        refusals.append((job, error))
    return grouped(experiment, refusals, len(failed))


def grouped(experiment: Experiment, refusals: list[tuple[Job, Exception]], failed: int) -> list[QxError]:
    """One located message for each distinct reason jobs were refused (Pulser's same words).

    It says how many of the batch's jobs fail so, names the first few, and
    where their values come from: one mistake, one message. `refusals` are the
    first failing jobs in order; the last message counts the `failed` jobs not shown.
    """
    reasons: dict[str, list[tuple[Job, Exception]]] = {}
    for job, error in refusals:
        reasons.setdefault(f"{type(error).__name__}: {error}", []).append((job, error))
    failures: list[QxError] = []
    shown = 0
    for members in list(reasons.values())[:MAX_REPORTED_JOBS]:
        job, error = members[0]
        located = locate_failure(experiment, job, error)
        shown += len(members)
        if len(members) > 1:
            named = ", ".join(j.describe() for j, _ in members[:3]) + (", ..." if len(members) > 3 else "")
            reason = located.message.split(" does not build: ", 1)[-1]
            origin = f"their values come from line {job.span.line}" if job.span is not None else None
            located = QxJobError(
                f"{len(members)} of {len(experiment.jobs)} jobs do not build ({named}): {reason}",
                located.span,
                located.source,
                hint="; ".join(h for h in (located.hint, origin) if h) or None,
            )
        failures.append(located)
    if failed > shown:
        last = failures[-1]
        last.hint = (last.hint or "") + f" ({failed - shown} more failing jobs not shown)"
    return failures


def failing_jobs(experiment: Experiment, *, workers: int | None = None, builder: JobBuilder | None = None) -> list[int]:
    """The indices of the jobs whose `sequence.build(**variables)` Pulser refuses, in order."""
    builder = builder or JobBuilder(experiment.sequence)
    jobs = experiment.jobs
    # Jobs with identical values share one build.
    first_of: dict[Any, int] = {}
    representative: list[int] = []
    for index, job in enumerate(jobs):
        key = _exact_key(job.variables)
        representative.append(index if key is None else first_of.setdefault(key, index))
    distinct = [index for index, first in enumerate(representative) if first == index]
    variables = [jobs[index].variables for index in distinct]
    refused = set(_refused(builder, variables, _worker_count(workers, len(variables))))
    failed_distinct = {distinct[i] for i in refused}
    return [index for index, first in enumerate(representative) if first in failed_distinct]


def _does_not_build(job: Job, located: QxError) -> QxJobError:
    """A job's failure, at the statement (in whichever file) that the bound lowering named."""
    return QxJobError(
        f"{job.describe()} does not build: {located.message}", located.span, located.source, hint=located.hint
    )


def locate_failure(experiment: Experiment, job: Job, error: Exception) -> QxError:
    """Lower the spec again with the job's values bound, to find the statement that fails."""
    checked = experiment.checked
    try:
        lower(checked, bindings=job.variables, device=experiment.device)
    except QxError as located:
        return _does_not_build(job, located)
    message = str(error)
    return QxJobError(
        f"{job.describe()} does not build: {message}",
        checked.sequence.span,
        checked.source,
        hint=hint_for(message),
    )


# ---- building jobs ------------------------------------------------------------------


class JobBuilder:
    """`sequence.build(**variables)` for many jobs, without redoing the variable-free start.

    `build` returns the same sequence, and raises the same exception, as
    `sequence.build(**variables)` (see the module docstring for why).
    """

    def __init__(self, sequence: pulser.Sequence[Any]) -> None:
        self.sequence = sequence
        self._shared: list[Any] = []
        self._start: bytes | None = self._pickled_start(sequence)

    @property
    def shortcut(self) -> bool:
        """Whether jobs start from a copy of the common start (else: `sequence.build`)."""
        return self._start is not None

    def _pickled_start(self, sequence: pulser.Sequence[Any]) -> bytes | None:
        if type(sequence) is not pulser.Sequence or not sequence.is_parametrized():
            return None
        if sequence.is_register_mappable():
            return None  # build() places the qubits per job; keep it whole
        try:
            # What Sequence.build does before it assigns the variables.
            start = pulser.Sequence(sequence._register, sequence._device)
            for call in sequence._calls[1:]:
                getattr(start, call.name)(*call.args, **call.kwargs)
            device = sequence._device
            shared: list[Any] = [sequence._register, device, *device.channels.values()]
            shared += getattr(device, "dmm_objects", ())
            for call in start._calls:
                shared.append(call)
                shared.extend(call.args)
                shared.extend(call.kwargs.values())
            identities = {id(each): number for number, each in enumerate(shared)}
            buffer = io.BytesIO()
            pickler = _SharingPickler(buffer, identities)
            pickler.dump(start)
            self._shared = shared
            blob = buffer.getvalue()
            _SharingUnpickler(io.BytesIO(blob), shared).load()  # it must come back
        except Exception:  # anything unusual: build the long way, as Pulser does
            return None
        return blob

    def build(self, variables: Mapping[str, Any]) -> pulser.Sequence[Any]:
        """The job's built sequence; raises what `sequence.build(**variables)` raises."""
        if self._start is None or "qubits" in variables:  # build() refuses `qubits` here: let it
            return self.sequence.build(**variables)
        # Sequence.build, from its first line on the variables to its end.
        template = self.sequence
        values = dict(variables)
        template._cross_check_vars(values)
        built: pulser.Sequence[Any] = _SharingUnpickler(io.BytesIO(self._start), self._shared).load()
        for name, value in values.items():
            template._variables[name]._assign(value)
        for call in template._to_build_calls:
            args = [arg.build() if isinstance(arg, Parametrized) else arg for arg in call.args]
            kwargs = {key: val.build() if isinstance(val, Parametrized) else val for key, val in call.kwargs.items()}
            getattr(built, call.name)(*args, **kwargs)
        return built

    def refusal(self, variables: Mapping[str, Any]) -> Exception | None:
        """Pulser's refusal of the job, or None if it builds."""
        try:
            self.build(variables)
        except PULSER_REFUSALS as error:
            return error
        return None


class _SharingPickler(pickle.Pickler):
    """Pickles a sequence's start, leaving out the objects every build shares."""

    def __init__(self, file: io.BytesIO, identities: dict[int, int]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.identities = identities

    def persistent_id(self, obj: Any) -> int | None:
        return self.identities.get(id(obj))


class _SharingUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, shared: list[Any]) -> None:
        super().__init__(file)
        self.shared = shared

    def persistent_load(self, pid: Any) -> Any:
        return self.shared[pid]


def _exact_key(variables: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A key equal for two jobs only if their values are identical; None if unsure."""
    try:
        return tuple((name, _exact(value)) for name, value in variables.items())
    except TypeError:
        return None


def _exact(value: Any) -> Any:
    # float.hex tells -0.0 from 0.0; the type tells 1 from 1.0.
    if type(value) is float:
        return ("f", value.hex())
    if type(value) is int:
        return ("i", value)
    if type(value) is list:
        return ("l", tuple(_exact(v) for v in value))
    raise TypeError(type(value))


# ---- in this process or in forked workers ---------------------------------------------

# What the forked workers build: set just before they are forked, read in them.
_WORK: tuple[JobBuilder, Sequence[Mapping[str, Any]]] | None = None


@dataclass
class _Report:
    """What a worker found in its share: refused jobs, and jobs to redo here."""

    refused: list[int]
    redo: list[int]


def _worker_count(requested: int | None, jobs: int) -> int:
    if requested is not None:
        return max(1, requested)
    if jobs < PARALLEL_MIN_JOBS:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, jobs // (PARALLEL_MIN_JOBS // 2)))


def _can_fork() -> bool:
    import multiprocessing

    return (
        sys.platform.startswith("linux")  # macOS system libraries are not safe across fork
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon  # a pool's worker may not have children
        and threading.active_count() == 1  # other Python threads would be forked mid-step
    )


def _refused(builder: JobBuilder, variables: Sequence[Mapping[str, Any]], workers: int) -> list[int]:
    """The positions in `variables` of the jobs Pulser refuses."""
    if workers > 1 and len(variables) > 1 and _can_fork():
        return _refused_in_workers(builder, variables, workers)
    refused = []
    for index, values in enumerate(variables):
        if builder.refusal(values) is not None:
            refused.append(index)
    return refused


def _refused_in_workers(builder: JobBuilder, variables: Sequence[Mapping[str, Any]], workers: int) -> list[int]:
    import multiprocessing

    global _WORK
    count = len(variables)
    pieces = min(count, workers * _CHUNKS_PER_WORKER)
    bounds = [(count * k // pieces, count * (k + 1) // pieces) for k in range(pieces)]
    _WORK = (builder, variables)
    try:
        with warnings.catch_warnings():
            if sys.version_info >= (3, 12):
                # Python warns that any thread may hold a lock when it forks; ours run
                # no Python thread (checked above), and numpy's BLAS threads fork safely.
                warnings.filterwarnings(
                    "ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning
                )
            context = multiprocessing.get_context("fork")
            with context.Pool(min(workers, pieces)) as pool:
                reports = pool.map(_build_share, bounds, chunksize=1)
    finally:
        _WORK = None
    refused: list[int] = []
    redo: list[int] = []
    for report in reports:
        refused.extend(report.refused)
        redo.extend(report.redo)
    # A bug or a warning: build that job here, in job order, so it surfaces as the plain loop shows it.
    for index in sorted(redo):
        if builder.refusal(variables[index]) is not None:
            refused.append(index)
    return sorted(set(refused))


def _build_share(bounds: tuple[int, int]) -> _Report:
    """In a worker: build the jobs start..stop-1."""
    assert _WORK is not None
    builder, variables = _WORK
    report = _Report([], [])
    seen: set[tuple[type[Warning], str]] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for index in range(*bounds):
            try:
                builder.build(variables[index])
            except PULSER_REFUSALS:
                report.refused.append(index)
            except Exception:
                report.redo.append(index)
            if caught:
                kinds = {(w.category, str(w.message)) for w in caught}
                if kinds - seen:
                    seen |= kinds
                    report.redo.append(index)
                caught.clear()
    return report
