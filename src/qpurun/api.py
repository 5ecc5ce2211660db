"""The library's front door: `load(path)` and `loads(text)` give an Experiment.

The stages run in order, each its own module: parse (parser, transformer),
check (checker), lower (lower, jobs) and validate (validate). Each may also be
called on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulser

from qpurun.bridge.jobs import Job, expand, split_runs
from qpurun.bridge.lower import Lowerer, RemoteDevices, to_json
from qpurun.language.checker import Checked, check
from qpurun.language.errors import QxError, QxWarning, Source
from qpurun.language.includes import resolve
from qpurun.language.parser import parse
from qpurun.language.templates import is_template, render
from qpurun.run.targets import DEFAULT_TARGET, Target, parse_target


@dataclass
class Experiment:
    """A compiled spec: the Pulser sequence and the job list of its batch."""

    name: str
    sequence: pulser.Sequence[Any]
    jobs: list[Job]
    source: Source
    checked: Checked
    warnings: list[QxWarning] = field(default_factory=list)
    noise: dict[str, Any] = field(default_factory=dict)
    """The `noise { ... }` block's values, for the emulator's `pulser.NoiseModel`."""
    target: Target = field(default_factory=lambda: parse_target(DEFAULT_TARGET))
    """Where the batch is meant to run: what was checked as an error and what as a warning."""

    @property
    def job_params(self) -> list[dict[str, Any]]:
        """`[{"runs": N, "variables": {...}}]`, ready for `QPUBackend.run`.

        No `variables` key when the sequence declares none.
        """
        with_variables = bool(self.checked.variables) or self.checked.mappable  # placements go in `variables`
        return [job.params(with_variables=with_variables) for job in self.jobs]

    @property
    def device(self) -> Any:
        return self.sequence.device

    def sequence_json(self) -> str:
        """The (parametrized) sequence as Pulser abstract-representation JSON, keys sorted."""
        return to_json(self.sequence)


def compile_source(
    source: Source,
    *,
    target: Target | str | None = None,
    allow_paths: Sequence[str | Path] = (),
    split: bool = False,
    remote_devices: RemoteDevices | None = None,
    validate: bool = True,
) -> Experiment:
    """Parse, check, lower and (by default) validate one spec."""
    try:
        spec = parse(source.text, filename=source.name)
    except QxError as error:
        for each in error.errors:
            each.source = source  # a rendered template's source maps lines back
        raise
    spec = resolve(spec, source, allow_paths=allow_paths)
    checked = check(spec, source)
    checked.allowed_paths = tuple(str(p) for p in allow_paths)
    lowerer = Lowerer(checked, remote_devices=remote_devices)
    lowered = lowerer.lower()
    try:
        jobs = expand(checked, lowerer.evaluator)
        if checked.mappable and lowerer.written_traps is not None:  # placements numbered as written
            jobs = [
                dataclasses.replace(
                    job, variables={**job.variables, "qubits": lowerer.placement(job.variables["qubits"], job.span)}
                )
                for job in jobs
            ]
        parameters = checked.noise.parameters if checked.noise is not None else ()
        noise = {p.name.name: lowerer.constant(p.value) for p in parameters if p.name is not None}
    except QxError as error:
        for each in error.errors:
            each.located(source)
        raise
    if split:
        jobs = split_runs(jobs, lowered.sequence.device.max_runs)
    experiment = Experiment(
        name=checked.name,
        sequence=lowered.sequence,
        jobs=jobs,
        source=source,
        checked=checked,
        warnings=lowered.warnings,
        noise=noise,
        target=_target(target),
    )
    if validate:
        from qpurun.bridge.validate import validate as validate_experiment

        validate_experiment(experiment)
    return experiment


def _target(target: Target | str | None) -> Target:
    if isinstance(target, Target):
        return target
    return parse_target(target or DEFAULT_TARGET)


def loads(
    text: str,
    *,
    filename: str = "<spec>",
    target: Target | str | None = None,
    values: Mapping[str, Any] | None = None,
    allow_paths: Sequence[str | Path] = (),
    split_runs: bool = False,
    remote_devices: RemoteDevices | None = None,
    validate: bool = True,
) -> Experiment:
    """Compile spec text; `filename` is what errors print and where relative paths start.

    A spec using Jinja syntax (or given `values`) is rendered in the sandbox first.
    """
    source = Source(filename, text)
    if values or is_template(text):
        source = render(text, values or {}, filename=filename)
    return compile_source(
        source,
        target=target,
        allow_paths=allow_paths,
        split=split_runs,
        remote_devices=remote_devices,
        validate=validate,
    )


def load(
    path: str | Path,
    *,
    target: Target | str | None = None,
    values: Mapping[str, Any] | None = None,
    allow_paths: Sequence[str | Path] = (),
    split_runs: bool = False,
    remote_devices: RemoteDevices | None = None,
    validate: bool = True,
) -> Experiment:
    """Compile the spec file at `path`.

    `target`: where the batch is meant to run (`qutip` by default, `pasqal:FRESNEL`, ...);
    what only a QPU demands is an error for a QPU target and a warning otherwise.
    `split_runs`: a job asking for more shots than the device's `max_runs`
    becomes several jobs (`Job.origin` names the job as written).
    `remote_devices`: where `device remote "NAME"` is looked up, e.g. a
    connection's `fetch_available_devices` (default: Pulser's real devices,
    which the embedded local connection offers).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    return loads(
        text,
        filename=str(path),
        target=target,
        values=values,
        allow_paths=allow_paths,
        split_runs=split_runs,
        remote_devices=remote_devices,
        validate=validate,
    )
