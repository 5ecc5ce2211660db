"""What a person reads after a run: the output directory, the CSV tables, a summary table.

The output directory (`--out`, default `runs/<name>-<UTC timestamp>/`) holds

    <spec>.qx            the spec as written (a template: the template)
    <stem>.rendered.qx   a template only: the spec it rendered to, and
    values.json          the values it was rendered with
    lib/...              the files the spec names (includes, device and layout files), at their
                         paths relative to the spec, so that the directory checks and runs on its own
    manifest.json        target, options, the resolved configuration (secrets masked), versions
    sequence.json        the parametrized sequence (Pulser abstract representation)
    jobs.json            the job parameters ([{"runs", "variables"}], Pulser's units)
    results.json         what `qpurun results --json` prints
    results.csv          one row per job: variables with units, per-qubit occupation, ...
    bitstrings.csv       one row per job and bitstring (every bitstring up to 10 qubits)

Variables are shown in the unit the spec wrote them in (`delta [MHz]`), while
the store and `jobs.json` keep Pulser's (rad/µs, ns): that is what a person
plotted against when writing the sweep. Bitstrings in the CSV files carry a
leading `'` (a spreadsheet's text prefix), because pandas and spreadsheets read
`0011` as the number 11 otherwise.

Files are written to a temporary name and renamed, so a full disk leaves
the previous file, never half of one. Nothing here imports Pulser.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import itertools
import json
import math
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qpurun.language.errors import HintedError
from qpurun.run.store import Batch, JobRow

if TYPE_CHECKING:
    from qpurun.api import Experiment

TEXT_PREFIX = "'"
"""Before every bitstring in a CSV file: pandas and spreadsheets then keep `0011` as text."""
MAX_ENUMERATED_QUBITS = 10
"""Up to this many qubits, bitstrings.csv lists every bitstring of a job, those never measured with count 0
(2^10 = 1024 rows a job); beyond, only the measured ones."""
RESULTS_CSV = "results.csv"
BITSTRINGS_CSV = "bitstrings.csv"
MANIFEST = "manifest.json"
VALUES = "values.json"
_WRITTEN = frozenset({"sequence.json", "jobs.json", "results.json", RESULTS_CSV, BITSTRINGS_CSV, MANIFEST, VALUES})


class OutputError(HintedError):
    """The output directory cannot be written."""


def default_out_dir(name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "batch"
    return Path("runs") / f"{safe}-{stamp}"


def merge_parts(jobs: Sequence[JobRow], origins: Sequence[int] | None) -> list[JobRow]:
    """Jobs split with --split-runs, merged back into one row per job as written.

    Counts and runs add up; the row is DONE when every part is, ERROR when one
    failed. A merged row has no single Pulser `Results` (`result_json` is None).
    """
    if not origins or len(origins) != len(jobs):
        return list(jobs)
    groups: dict[int, list[JobRow]] = {}
    for origin, job in zip(origins, jobs, strict=True):
        groups.setdefault(origin, []).append(job)
    merged = []
    for origin, parts in groups.items():
        if len(parts) == 1:
            merged.append(dataclasses.replace(parts[0], index=origin))
            continue
        statuses = [p.status for p in parts]
        status = next((s for s in ("ERROR", "RUNNING", "PENDING") if s in statuses), statuses[0])
        counts: dict[str, int] = {}
        for part in parts:
            for bitstring, count in (part.counts or {}).items():
                counts[bitstring] = counts.get(bitstring, 0) + count
        finished = [p.finished_at for p in parts]
        started = [p.started_at for p in parts if p.started_at]
        errors = [f"part {p.index}: {p.error}" for p in parts if p.error]
        merged.append(
            dataclasses.replace(
                parts[0],
                index=origin,
                job_id="+".join(p.job_id for p in parts),
                runs=sum(p.runs for p in parts),
                status=status,
                claim=None,
                started_at=min(started) if started else None,
                finished_at=max(f for f in finished if f) if all(finished) else None,
                error="; ".join(errors) or None,
                result_json=None,
                counts=counts or None,
            )
        )
    return merged


# ---- units: values as the spec wrote them


def units_of(experiment: Experiment) -> dict[str, str]:
    """Each variable's unit, for results: the unit its sweep was written in, else Pulser's unit
    when the checker knows its dimension (a bare number is in Pulser's unit), else none."""
    from qpurun.language.catalog import PULSER_UNIT

    checked = experiment.checked
    units: dict[str, str] = {}
    for name in checked.variables:
        written = checked.variable_units.get(name)
        dimension = checked.variable_dimensions.get(name)
        if written is not None:
            units[name] = written.value
        elif dimension is not None:
            units[name] = PULSER_UNIT[dimension].value
    return units


def _scale(unit: str | None) -> float | int:
    """From the unit to Pulser's (value_in_pulser = written * scale); 1 for no or an unknown unit."""
    if not unit:
        return 1
    from qpurun.language.catalog import UNITS, Unit

    try:
        return UNITS[Unit(unit)].scale
    except ValueError:
        return 1


def _as_written_number(value: float | int, scale: float | int) -> float | int:
    if isinstance(value, int) and isinstance(scale, int):
        return value // scale if value % scale == 0 else value / scale
    exact = value / scale
    if not math.isfinite(exact):
        return exact
    # The shortest decimal that gives back Pulser's value: `0.5 MHz` is stored as π and shown as 0.5,
    # not 0.49999999999999994.
    for digits in range(1, 16):
        candidate = float(f"{exact:.{digits}g}")
        if math.isclose(candidate * scale, value, rel_tol=1e-14, abs_tol=0.0):
            return candidate
    return exact


def as_written(value: Any, unit: str | None) -> Any:
    """A job variable (Pulser's units) in the unit the spec wrote it in; lists item by item."""
    scale = _scale(unit)
    if scale == 1:
        return value
    if isinstance(value, list):
        return [as_written(item, unit) for item in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return _as_written_number(value, scale)


def shown_variables(variables: Mapping[str, Any], units: Mapping[str, str]) -> dict[str, Any]:
    return {name: as_written(value, units.get(name)) for name, value in variables.items()}


def column(name: str, unit: str | None) -> str:
    """`delta [MHz]`: a variable's column header, with its unit."""
    return f"{name} [{unit}]" if unit else name


def variable_names(jobs: Iterable[JobRow]) -> list[str]:
    """The variables the jobs bind, in the order the spec's jobs bind them."""
    names: dict[str, None] = {}
    for job in jobs:
        names.update(dict.fromkeys(job.variables))
    return list(names)


# ---- the register and the bitstrings


def qubit_ids(batch: Batch) -> list[str]:
    """The register's qubit ids in its order, which is the order of a bitstring's characters.

    Read from the stored abstract representation (`name` in a register, `qid` in a mappable one).
    """
    try:
        register = json.loads(batch.sequence_json).get("register")
    except (ValueError, AttributeError):
        return []
    if not isinstance(register, list):
        return []
    ids = []
    for qubit in register:
        if not isinstance(qubit, dict):
            return []
        name = qubit.get("name", qubit.get("qid"))
        if name is None:
            return []
        ids.append(str(name))
    return ids


def qubit_labels(batch: Batch, jobs: Sequence[JobRow]) -> list[str]:
    """The register's ids; when it cannot be read, positions `0`, `1`, ... as long as the bitstrings."""
    ids = qubit_ids(batch)
    if ids:
        return ids
    longest = max((len(b) for job in jobs for b in job.counts or {}), default=0)
    return [str(i) for i in range(longest)]


def occupation(counts: Mapping[str, int], qubits: int) -> list[float]:
    """Per qubit, the fraction of shots that measured it in `1` (excited, in the ground-rydberg basis).

    NaN for a qubit the bitstrings do not reach (a mappable register placing fewer qubits) or without shots.
    """
    total = sum(counts.values())
    excited = [0] * qubits
    width = 0
    for bitstring, count in counts.items():
        width = max(width, len(bitstring))
        for i, bit in enumerate(bitstring[:qubits]):
            if bit == "1":
                excited[i] += count
    return [excited[i] / total if total and i < width else math.nan for i in range(qubits)]


def mean_excitation(counts: Mapping[str, int]) -> float:
    """Mean number of atoms measured in 1 per shot (for one atom: the excited population)."""
    total = sum(counts.values())
    return sum(b.count("1") * n for b, n in counts.items()) / total if total else float("nan")


def most_frequent(counts: Mapping[str, int]) -> tuple[str, float] | None:
    """The most frequent bitstring and its probability (ties: the first in order)."""
    total = sum(counts.values())
    if not total:
        return None
    bitstring, count = min(counts.items(), key=lambda item: (-item[1], item[0]))
    return bitstring, count / total


def outcomes(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """The job's bitstrings, most frequent first; up to MAX_ENUMERATED_QUBITS qubits, the unseen ones
    too with count 0 (so that a curve through 0 has its points), after the measured ones."""
    measured = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    widths = {len(b) for b in counts}
    if len(widths) != 1 or (width := widths.pop()) > MAX_ENUMERATED_QUBITS:
        return measured
    unseen = ("".join(bits) for bits in itertools.product("01", repeat=width))
    return measured + [(b, 0) for b in unseen if b not in counts]


# ---- JSON


def job_json(job: JobRow, units: Mapping[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "index": job.index,
        "job_id": job.job_id,
        "variables": shown_variables(job.variables, units),
        "runs": job.runs,
        "status": job.status,
        "counts": job.counts,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }
    if job.error:
        record["error"] = job.error
    return record


def results_json(batch: Batch, jobs: Sequence[JobRow], status: str) -> dict[str, Any]:
    """The batch's results; `variables` of each job in `units` (the spec's), `qubits` in bitstring order."""
    units = batch.units or {}
    return {
        "batch_id": batch.batch_id,
        "name": batch.name,
        "status": status,
        "target": batch.target,
        "device": batch.device_name,
        "spec_sha256": batch.spec_sha256,
        "units": {name: units[name] for name in variable_names(jobs) if name in units},
        "qubits": qubit_labels(batch, jobs),
        "jobs": [job_json(job, units) for job in jobs],
    }


def status_json(batch: Batch, jobs: Sequence[JobRow], status: str) -> dict[str, Any]:
    records = []
    for job in jobs:
        record: dict[str, Any] = {"index": job.index, "status": job.status, "finished_at": job.finished_at}
        if job.error:
            record["error"] = job.error
        records.append(record)
    return {"batch_id": batch.batch_id, "name": batch.name, "status": status, "jobs": records}


# ---- tables


def _flat(variables: Mapping[str, Any], units: Mapping[str, str]) -> dict[str, Any]:
    """Columns of the variables, in their units: an array `x` becomes `x[0] [MHz]`, `x[1] [MHz]`, ..."""
    flat: dict[str, Any] = {}
    for name, value in variables.items():
        unit = units.get(name)
        shown = as_written(value, unit)
        if isinstance(shown, list):
            for i, item in enumerate(shown):
                flat[column(f"{name}[{i}]", unit)] = item
        elif isinstance(shown, dict):
            flat[column(name, unit)] = json.dumps(shown, sort_keys=True)
        else:
            flat[column(name, unit)] = shown
    return flat


def _variable_columns(jobs: Sequence[JobRow], units: Mapping[str, str]) -> list[str]:
    columns: dict[str, None] = {}
    for job in jobs:
        columns.update(dict.fromkeys(_flat(job.variables, units)))
    return list(columns)


def occupation_column(qubit: str) -> str:
    return f"occupation[{qubit}]"


@dataclass(frozen=True)
class JobTable:
    """One row per job, as `results.csv` and `BatchResults.to_pandas()` show it (values unformatted)."""

    columns: list[str]
    rows: list[list[Any]]
    bitstring_columns: frozenset[str] = field(default=frozenset({"most_frequent"}))


def job_table(batch: Batch, jobs: Sequence[JobRow]) -> JobTable:
    """`job`, the variables in their units, `runs`, `status`, `shots`, `occupation[q]` per qubit,
    `mean_excitation`, `most_frequent` and its probability, `error`."""
    units = batch.units or {}
    variables = _variable_columns(jobs, units)
    qubits = qubit_labels(batch, jobs)
    columns = [
        "job",
        *variables,
        "runs",
        "status",
        "shots",
        *(occupation_column(q) for q in qubits),
        "mean_excitation",
        "most_frequent",
        "most_frequent_probability",
        "error",
    ]
    rows = []
    for job in jobs:
        flat = _flat(job.variables, units)
        counts = job.counts or {}
        top = most_frequent(counts)
        rows.append(
            [
                job.index,
                *(flat.get(c) for c in variables),
                job.runs,
                job.status,
                sum(counts.values()),
                *occupation(counts, len(qubits)),
                mean_excitation(counts) if counts else math.nan,
                top[0] if top else None,
                top[1] if top else math.nan,
                job.error,
            ]
        )
    return JobTable(columns, rows)


def _cell(value: Any, *, bitstring: bool = False) -> Any:
    """A CSV cell: empty for nothing (None, NaN), a bitstring with its text prefix."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if bitstring:
        return TEXT_PREFIX + str(value)
    return value


def _csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], bitstrings: Iterable[str]) -> str:
    marked = {i for i, name in enumerate(columns) if name in set(bitstrings)}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(value, bitstring=i in marked) for i, value in enumerate(row)])
    return buffer.getvalue()


def results_csv(batch: Batch, jobs: Sequence[JobRow]) -> str:
    """`results.csv`: one row per job (see `job_table`)."""
    table = job_table(batch, jobs)
    return _csv(table.columns, table.rows, table.bitstring_columns)


def bitstrings_csv(batch: Batch, jobs: Sequence[JobRow]) -> str:
    """`bitstrings.csv`: one row per job and bitstring, zero counts included up to MAX_ENUMERATED_QUBITS
    qubits (a job without results gets one row with empty counts)."""
    units = batch.units or {}
    variables = _variable_columns(jobs, units)
    columns = ["job", *variables, "runs", "status", "bitstring", "count", "probability", "excitations"]
    rows: list[list[Any]] = []
    for job in jobs:
        flat = _flat(job.variables, units)
        values = [flat.get(c) for c in variables]
        if not job.counts:
            rows.append([job.index, *values, job.runs, job.status, None, None, None, None])
            continue
        total = sum(job.counts.values())
        for bitstring, count in outcomes(job.counts):
            excitations = bitstring.count("1")
            rows.append([job.index, *values, job.runs, job.status, bitstring, count, count / total, excitations])
    return _csv(columns, rows, {"bitstring"})


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def summary_table(batch: Batch, jobs: Sequence[JobRow], *, limit: int = 25) -> str:
    """Per job: each variable in its unit (`t [ns]`), the most frequent bitstrings, the mean excitation."""
    units = batch.units or {}
    names = variable_names(jobs)
    rows = [["job", *(column(n, units.get(n)) for n in names), "status", "most frequent", "mean excitation"]]
    shown = jobs if len(jobs) <= limit else [*jobs[: limit - 5], *jobs[-5:]]
    for job in shown:
        values = shown_variables(job.variables, units)
        cells = [_value(values[n]) if n in values else "" for n in names]
        if job.counts:
            total = sum(job.counts.values())
            top = sorted(job.counts.items(), key=lambda item: (-item[1], item[0]))[:3]
            frequent = "  ".join(f"{b} {n / total:.0%}" for b, n in top)
            excitation = f"{mean_excitation(job.counts):.3f}"
        else:
            frequent = (job.error or "")[:60]
            excitation = ""
        rows.append([str(job.index), *cells, job.status, frequent, excitation])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if len(jobs) > limit:
        lines.insert(len(lines) - 5, f"... {len(jobs) - len(shown)} more jobs (all of them in results.csv)")
    return "\n".join(lines)


# ---- the output directory


def _write(path: Path, text: str | bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        if isinstance(text, bytes):
            temporary.write_bytes(text)
        else:
            temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def spec_file_name(batch: Batch) -> str:
    if batch.spec_name and not batch.spec_name.startswith("<"):
        return Path(batch.spec_name).name
    return f"{batch.name}.qx"


def prepare_out_dir(out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output directory {out_dir}: {error.strerror or error}") from None
    return out_dir


@dataclass(frozen=True)
class RunInputs:
    """What a run directory needs beyond the batch to run again: the spec as written (a template's
    text and values), the files it names, and how it was run (target, options, configuration)."""

    template: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    files: Sequence[tuple[Path, str]] = ()
    """(the file, its path relative to the spec) for every file the spec names inside its directory."""
    outside: Sequence[str] = ()
    """Files the spec names outside its directory (allowed by --allow-path): not copied."""
    options: Mapping[str, Any] = field(default_factory=dict)
    configuration: Mapping[str, Any] = field(default_factory=dict)
    """`qpurun config --json` of the run: secrets masked, credentials never in it."""


def named_files(experiment: Experiment) -> tuple[list[tuple[Path, str]], list[str]]:
    """The files a compiled spec names (includes, nested ones, a device or layout file), as
    (path, relative to the spec's directory) inside it, and the paths of those outside it.

    Includes are found by parsing again: the compiled spec holds their declarations, not their paths.
    """
    from qpurun.language import ast
    from qpurun.language.errors import QxError
    from qpurun.language.parser import parse

    source = experiment.source
    top = Path(source.name).parent.resolve()
    found: dict[Path, None] = {}

    def visit(text: str, filename: str, directory: Path) -> None:
        try:
            spec = parse(text, filename=filename)
        except QxError:
            return
        for statement in spec.statements:
            if not isinstance(statement, ast.Include):
                continue
            path = (directory / statement.path.name).resolve()
            if path in found:
                continue
            found[path] = None
            try:
                included = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            visit(included, str(path), path.parent)

    visit(source.text, source.name, Path(source.name).parent)
    checked = experiment.checked
    if checked.device.is_file:
        found[(top / checked.device.name.name).resolve()] = None
    if isinstance(checked.layout, ast.FileLayout):
        found[(top / checked.layout.path).resolve()] = None
    inside: list[tuple[Path, str]] = []
    outside: list[str] = []
    for path in found:
        if path.is_relative_to(top) and path.relative_to(top).as_posix() not in _WRITTEN:
            inside.append((path, path.relative_to(top).as_posix()))
        else:
            outside.append(str(path))
    return inside, outside


def run_inputs(
    experiment: Experiment,
    *,
    values: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> RunInputs:
    files, outside = named_files(experiment)
    return RunInputs(
        template=experiment.source.template,
        values=dict(values or {}),
        files=files,
        outside=outside,
        options=dict(options or {}),
        configuration=dict(configuration or {}),
    )


def versions(target: str) -> dict[str, str]:
    """The versions a run depends on: Python, qpurun, Pulser, and the target's emulator or client."""
    from importlib import metadata

    import qpurun

    names = ["pulser-core", "pulser-simulation"]
    if target in ("qutip", "local"):
        names += ["qutip"]
    elif target in ("emu-sv", "emu-mps"):
        names += [target, "emu-base", "torch"]
    elif target.startswith("pasqal:"):
        names += ["pasqal-cloud"]  # the cloud's emulator or QPU has its own version, not known here
    found = {"python": platform.python_version(), "qpurun": qpurun.__version__}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def _rerun(spec: str, target: str, inputs: RunInputs) -> str:
    words = ["qpurun", "run", spec, "--backend", target]
    if inputs.template is not None:
        words += ["--params", VALUES]
    if inputs.options.get("split_runs"):
        words.append("--split-runs")
    for path in inputs.options.get("allow_paths") or ():
        words += ["--allow-path", str(path)]
    return " ".join(words)


def write_inputs(out_dir: Path, batch: Batch, jobs: Iterable[JobRow], inputs: RunInputs | None = None) -> None:
    """The spec, the files it names, the sequence, the jobs and the manifest: written before any job runs.

    Without `inputs` (a batch resumed from the store alone) the spec is the text that ran (a template's
    rendering) and there is no manifest.
    """
    prepare_out_dir(out_dir)
    spec = spec_file_name(batch)
    template = inputs.template if inputs is not None else None
    if template is not None:
        _write(out_dir / spec, template)
        rendered = f"{Path(spec).stem}.rendered.qx"
        if batch.spec_text is not None:
            _write(out_dir / rendered, batch.spec_text)
        _write(out_dir / VALUES, json.dumps(dict(inputs.values if inputs else {}), indent=2, default=str) + "\n")
    elif batch.spec_text is not None:
        _write(out_dir / spec, batch.spec_text)
    _write(out_dir / "sequence.json", json.dumps(json.loads(batch.sequence_json), sort_keys=True, indent=2) + "\n")
    params = [{"runs": job.runs, **({"variables": job.variables} if job.variables else {})} for job in jobs]
    _write(out_dir / "jobs.json", json.dumps(params, indent=2) + "\n")
    if inputs is None:
        return
    for path, relative in inputs.files:
        target = out_dir / relative
        try:
            content = path.read_bytes()  # byte for byte: the file as it was compiled
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot copy {path} into {out_dir}: {error.strerror or error}") from None
        _write(target, content)
    manifest = {
        "batch_id": batch.batch_id,
        "name": batch.name,
        "spec": spec,
        "spec_sha256": batch.spec_sha256,
        "template": None if template is None else {"rendered": f"{Path(spec).stem}.rendered.qx", "values": VALUES},
        "files": [relative for _, relative in inputs.files],
        "not_copied": list(inputs.outside),
        "target": batch.target,
        "device": batch.device_name,
        "options": dict(inputs.options),
        "rerun": _rerun(spec, batch.target, inputs),
        "configuration": dict(inputs.configuration),
        "versions": versions(batch.target),
        "created_at": batch.created_at,
    }
    _write(out_dir / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")


def write_results(out_dir: Path, batch: Batch, jobs: Sequence[JobRow], status: str) -> None:
    prepare_out_dir(out_dir)
    _write(out_dir / "results.json", json.dumps(results_json(batch, jobs, status), indent=2) + "\n")
    _write(out_dir / RESULTS_CSV, results_csv(batch, jobs))
    _write(out_dir / BITSTRINGS_CSV, bitstrings_csv(batch, jobs))
