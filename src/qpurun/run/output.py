"""What a person reads after a run: the output directory, a tidy CSV, a summary table.

The output directory (`--out`, default `runs/<name>-<UTC timestamp>/`) holds

    <spec>.qx       the spec exactly as run
    sequence.json   the parametrized sequence (Pulser abstract representation)
    jobs.json       the job parameters ([{"runs", "variables"}])
    results.json    what `qpurun results --json` prints
    results.csv     one row per job and bitstring; the job's variables as columns

Read the CSV with pandas in one line — keep the bitstrings as text, or
"0011" becomes the number 11::

    df = pandas.read_csv("results.csv", dtype={"bitstring": str})

Files are written to a temporary name and renamed, so a full disk leaves
the previous file, never half of one. Nothing here imports Pulser.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qpurun.language.errors import HintedError
from qpurun.run.store import Batch, JobRow


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
        errors = [f"part {p.index}: {p.error}" for p in parts if p.error]
        merged.append(
            dataclasses.replace(
                parts[0],
                index=origin,
                job_id="+".join(p.job_id for p in parts),
                runs=sum(p.runs for p in parts),
                status=status,
                claim=None,
                finished_at=max(f for f in finished if f) if all(finished) else None,
                error="; ".join(errors) or None,
                result_json=None,
                counts=counts or None,
            )
        )
    return merged


def job_json(job: JobRow) -> dict[str, Any]:
    record: dict[str, Any] = {
        "index": job.index,
        "job_id": job.job_id,
        "variables": job.variables,
        "runs": job.runs,
        "status": job.status,
        "counts": job.counts,
        "finished_at": job.finished_at,
    }
    if job.error:
        record["error"] = job.error
    return record


def results_json(batch: Batch, jobs: Sequence[JobRow], status: str) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "name": batch.name,
        "status": status,
        "device": batch.device_name,
        "spec_sha256": batch.spec_sha256,
        "jobs": [job_json(job) for job in jobs],
    }


def status_json(batch: Batch, jobs: Sequence[JobRow], status: str) -> dict[str, Any]:
    records = []
    for job in jobs:
        record: dict[str, Any] = {"index": job.index, "status": job.status, "finished_at": job.finished_at}
        if job.error:
            record["error"] = job.error
        records.append(record)
    return {"batch_id": batch.batch_id, "name": batch.name, "status": status, "jobs": records}


def _flat(variables: dict[str, Any]) -> dict[str, Any]:
    """Array variables become one column per item: `theta[0]`, `theta[1]`, ..."""
    flat: dict[str, Any] = {}
    for name, value in variables.items():
        if isinstance(value, list):
            for i, item in enumerate(value):
                flat[f"{name}[{i}]"] = item
        elif isinstance(value, dict):
            flat[name] = json.dumps(value, sort_keys=True)
        else:
            flat[name] = value
    return flat


def csv_text(jobs: Sequence[JobRow]) -> str:
    """One row per job and bitstring (jobs without results get one row with empty counts)."""
    columns: list[str] = []
    for job in jobs:
        for column in _flat(job.variables):
            if column not in columns:
                columns.append(column)
    header = ["job", *columns, "runs", "status", "bitstring", "count", "probability", "excitations"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for job in jobs:
        flat = _flat(job.variables)
        values = [flat.get(column, "") for column in columns]
        if not job.counts:
            writer.writerow([job.index, *values, job.runs, job.status, "", "", "", ""])
            continue
        total = sum(job.counts.values())
        for bitstring, count in sorted(job.counts.items(), key=lambda item: (-item[1], item[0])):
            writer.writerow(
                [
                    job.index,
                    *values,
                    job.runs,
                    job.status,
                    bitstring,
                    count,
                    f"{count / total:.6g}",
                    bitstring.count("1"),
                ]
            )
    return buffer.getvalue()


def mean_excitation(counts: dict[str, int]) -> float:
    """Mean number of atoms measured in 1 per shot (for one atom: the excited population)."""
    total = sum(counts.values())
    return sum(b.count("1") * n for b, n in counts.items()) / total if total else float("nan")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def summary_table(jobs: Sequence[JobRow], *, limit: int = 25) -> str:
    """Per job: its variables, the most frequent bitstrings, the mean excitation."""
    rows = [["job", "variables", "status", "most frequent", "mean excitation"]]
    shown = jobs if len(jobs) <= limit else [*jobs[: limit - 5], *jobs[-5:]]
    for job in shown:
        variables = ", ".join(f"{k}={_value(v)}" for k, v in job.variables.items()) or "-"
        if job.counts:
            total = sum(job.counts.values())
            top = sorted(job.counts.items(), key=lambda item: (-item[1], item[0]))[:3]
            frequent = "  ".join(f"{b} {n / total:.0%}" for b, n in top)
            excitation = f"{mean_excitation(job.counts):.3f}"
        else:
            frequent = (job.error or "")[:60]
            excitation = ""
        rows.append([str(job.index), variables, job.status, frequent, excitation])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if len(jobs) > limit:
        lines.insert(len(lines) - 5, f"... {len(jobs) - len(shown)} more jobs (all of them in results.csv)")
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
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


def write_inputs(out_dir: Path, batch: Batch, jobs: Iterable[JobRow]) -> None:
    """The spec, sequence and jobs: written before any job runs."""
    prepare_out_dir(out_dir)
    if batch.spec_text is not None:
        _write(out_dir / spec_file_name(batch), batch.spec_text)
    _write(out_dir / "sequence.json", json.dumps(json.loads(batch.sequence_json), sort_keys=True, indent=2) + "\n")
    params = [{"runs": job.runs, **({"variables": job.variables} if job.variables else {})} for job in jobs]
    _write(out_dir / "jobs.json", json.dumps(params, indent=2) + "\n")


def write_results(out_dir: Path, batch: Batch, jobs: Sequence[JobRow], status: str) -> None:
    prepare_out_dir(out_dir)
    _write(out_dir / "results.json", json.dumps(results_json(batch, jobs, status), indent=2) + "\n")
    _write(out_dir / "results.csv", csv_text(jobs))
