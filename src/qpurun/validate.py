"""Checked before it runs: the sequence and every job, on the device, located.

`QPUBackend.validate_sequence(mimic_qpu=True)` and `validate_job_params` are
exactly what `QPUBackend.run` will call; then every job is built, because a
variable value can break a device limit that the parametrized sequence hides.
A job that fails is built once more through our own lowering with its values
bound, which finds the statement that broke and says so in Pulser's words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pulser.backend import QPUBackend
from pulser.devices import Device

from qpurun.errors import QxDeviceError, QxError, QxJobError, raise_all
from qpurun.lower import PULSER_REFUSALS, hint_for, lower

if TYPE_CHECKING:
    from qpurun.api import Experiment
    from qpurun.jobs import Job

MAX_REPORTED_JOBS = 10


def validate(experiment: Experiment) -> None:
    """Raise every problem that would stop the batch on the device."""
    sequence = experiment.sequence
    checked = experiment.checked
    errors: list[QxError] = []
    if isinstance(sequence.device, Device):
        try:
            QPUBackend.validate_sequence(sequence, mimic_qpu=True)
        except PULSER_REFUSALS as error:
            message = str(error)
            node = checked.register if "layout" in message or "register" in message else checked.device
            errors.append(QxDeviceError(message, node.span, checked.source, hint=hint_for(message)))
    max_runs = sequence.device.max_runs
    for job in experiment.jobs:
        try:
            QPUBackend.validate_job_params([job.params(with_variables=False)], max_runs)  # type: ignore[list-item]
        except ValueError as error:
            errors.append(
                QxJobError(
                    f"{job.describe()} asks for {job.runs} runs: {error}",
                    job.runs_span or job.span,
                    checked.source,
                    hint="lower `runs`, or split the job (--split-runs, planned)",
                )
            )
            if len(errors) >= MAX_REPORTED_JOBS:
                break
    raise_all(errors)
    if sequence.is_parametrized():
        raise_all(build_failures(experiment))


def build_failures(experiment: Experiment) -> list[QxError]:
    """Build every job; each that fails, located at its statement."""
    failures: list[QxError] = []
    failed = 0
    sequence = experiment.sequence
    for job in experiment.jobs:
        try:
            sequence.build(**job.variables)
        except PULSER_REFUSALS as error:
            failed += 1
            if len(failures) < MAX_REPORTED_JOBS:
                failures.append(locate_failure(experiment, job, error))
    if failed > len(failures):
        last = failures[-1]
        last.hint = (last.hint or "") + f" ({failed - len(failures)} more failing jobs not shown)"
    return failures


def locate_failure(experiment: Experiment, job: Job, error: Exception) -> QxError:
    """Lower the spec again with the job's values bound, to find the statement that fails."""
    checked = experiment.checked
    try:
        lower(checked, bindings=job.variables)
    except QxError as located:
        return QxJobError(
            f"{job.describe()} does not build: {located.message}",
            located.span,
            checked.source,
            hint=located.hint,
        )
    message = str(error)
    return QxJobError(
        f"{job.describe()} does not build: {message}",
        checked.sequence.span,
        checked.source,
        hint=hint_for(message),
    )
