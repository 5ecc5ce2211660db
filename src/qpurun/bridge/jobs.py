"""Sweeps and job lists become the job parameters Pulser's backends take.

Lines of a `sweep` combine as a Cartesian product in the order written, the
last varying fastest; a `zip` group is one axis; `sweep` and `jobs` blocks
concatenate in order. Each job must bind every declared variable exactly once,
with a value of the declared type.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qpurun.language import ast
from qpurun.language.catalog import Dimension
from qpurun.language.checker import Checked
from qpurun.language.errors import QxError, QxSweepError, QxTypeError, Span, raise_all
from qpurun.language.evaluate import MAX_VALUES, MAX_WAVEFORM_NS, Evaluator


@dataclass(frozen=True)
class Job:
    """One job: what Pulser gets, and the line it came from for error messages."""

    index: int
    runs: int
    variables: dict[str, Any]
    span: Span | None
    runs_span: Span | None
    origin: int | None = None
    """With --split-runs: the index of the job as written, which this one is a part of."""

    @property
    def written_index(self) -> int:
        """The job's index as the spec wrote it (results merge split parts back on it)."""
        return self.index if self.origin is None else self.origin

    def params(self, *, with_variables: bool) -> dict[str, Any]:
        if with_variables:
            return {"runs": self.runs, "variables": self.variables}
        return {"runs": self.runs}

    def describe(self) -> str:
        """`job 3 (t = 400, omega = 6.28)`: how an error names a job."""
        values = ", ".join(f"{k} = {_short(v)}" for k, v in self.variables.items())
        return f"job {self.index}" + (f" ({values})" if values else "")


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


Constant = Callable[[ast.Expr], Any]
MAX_RUNS = 10_000_000
"""More shots than a QPU takes in days; an emulator would sample them one by one for hours."""

# One job before typing: its values, runs, where it was written, where its runs
# were, and the line that gave each variable its value (for a located type error).
_Raw = tuple[dict[str, Any], Any, Span | None, Span | None, dict[str, Span | None]]
_Axis = tuple[tuple[str, ...], list[tuple[Any, ...]], Span | None]


def _values(name: str, value: Any, checked: Checked, span: Span | None) -> list[Any]:
    """The list of values one sweep line gives one variable."""
    declaration = checked.variables.get(name)
    array = np.asarray(value, dtype=object if isinstance(value, list) else None)
    if declaration is not None and declaration.size is not None:
        # An array variable: one list is one value; a list of lists sweeps.
        rows = [item for item in array if isinstance(item, list | np.ndarray)] if array.ndim == 1 else []
        if rows:
            lengths = sorted({len(row) for row in rows} | ({1} if len(rows) < len(array) else set()))
            raise QxSweepError(
                f"the values of `{name}` are lists of different lengths ({', '.join(map(str, lengths))})",
                span,
                hint=f"each value of `{name}` is a list of {declaration.size} numbers",
            )
        if array.ndim == 1:
            return [list(array)]
        if array.ndim == 2:
            return [list(row) for row in array]
        raise QxSweepError(
            f"`{name}` is an array of {declaration.size}; give a list, or a list of lists to sweep", span
        )
    if array.ndim == 0:
        return [array.item()]
    if array.ndim == 1:
        return list(array.tolist())
    raise QxSweepError(f"`{name}` takes single numbers; this is a nested list", span)


def _range(axis: ast.SweepRange, constant: Constant) -> list[Any]:
    start, stop, step = (constant(e) for e in (axis.start, axis.stop, axis.step))
    for part, value in (("start", start), ("stop", stop), ("step", step)):
        if not isinstance(value, int | float | np.integer | np.floating):
            raise QxSweepError(f"the range {part} must be a single number", axis.span)
    if step == 0:
        raise QxSweepError("the range step is zero", axis.step.span, hint="use a non-zero step")
    steps = (stop - start) / step
    if not math.isfinite(steps) or steps >= MAX_VALUES:
        raise QxSweepError(
            f"the range {start:g} .. {stop:g} step {step:g} has too many values; at most {MAX_VALUES} are allowed",
            axis.span,
            hint="use a larger step",
        )
    count = math.floor(steps + 1e-9) + 1
    if count < 1:
        raise QxSweepError(
            f"the range {start:g} .. {stop:g} step {step:g} is empty",
            axis.span,
            hint="the step goes away from the stop value" if (stop - start) * step < 0 else None,
        )
    integral = all(isinstance(v, int | np.integer) for v in (start, step))
    return [start + i * step if integral else float(start + i * step) for i in range(count)]


def _axis(axis: ast.SweepAxis, checked: Checked, constant: Constant) -> tuple[str, list[Any]]:
    if isinstance(axis, ast.SweepRange):
        return axis.name.name, _range(axis, constant)
    values = _values(axis.name.name, constant(axis.values), checked, axis.span)
    if not values:
        raise QxSweepError(f"`{axis.name}` is given no values", axis.span)
    return axis.name.name, values


def _sweep(block: ast.Sweep, checked: Checked, constant: Constant, default_runs: tuple[Any, Span | None]) -> list[_Raw]:
    axes: list[_Axis] = []
    runs, runs_span = default_runs
    for line in block.lines:
        if isinstance(line, ast.SweepValues) and line.name.name == "runs":
            runs, runs_span = constant(line.values), line.span
            continue
        if isinstance(line, ast.ZipGroup):
            named = [_axis(a, checked, constant) for a in line.axes]
            lengths = {name: len(values) for name, values in named}
            if len(set(lengths.values())) > 1:
                listed = ", ".join(f"`{n}` has {k}" for n, k in lengths.items())
                raise QxSweepError(
                    f"the values of a `zip` group must be equally many: {listed}",
                    line.span,
                    hint="zip pairs the i-th values; use separate sweep lines for a product",
                )
            axes.append((tuple(n for n, _ in named), list(zip(*(v for _, v in named), strict=True)), line.span))
        else:
            name, values = _axis(line, checked, constant)
            axes.append(((name,), [(v,) for v in values], line.span))
    total = math.prod(len(values) for _, values, _ in axes)
    if total > MAX_VALUES:
        raise QxSweepError(
            f"this sweep makes {total} jobs; at most {MAX_VALUES} are allowed",
            block.span,
            hint="sweep fewer values, or split the experiment",
        )
    where = {name: span for names, _, span in axes for name in names}
    jobs: list[_Raw] = []
    for combination in itertools.product(*(values for _, values, _ in axes)):
        variables: dict[str, Any] = {}
        for (names, _, _), chosen in zip(axes, combination, strict=True):
            variables.update(zip(names, chosen, strict=True))
        jobs.append((variables, runs, block.span, runs_span, where))
    return jobs


def _explicit(block: ast.Jobs, constant: Constant, default_runs: tuple[Any, Span | None]) -> list[_Raw]:
    jobs: list[_Raw] = []
    for job in block.jobs:
        runs, runs_span = default_runs
        variables: dict[str, Any] = {}
        for binding in job.bindings:
            if binding.name.name == "runs" and isinstance(binding, ast.Binding):
                runs, runs_span = constant(binding.value), binding.span
            elif isinstance(binding, ast.Binding):
                value = constant(binding.value)
                variables[binding.name.name] = value.tolist() if isinstance(value, np.ndarray) else value
            else:
                variables[binding.name.name] = {p.qubit.name: p.trap for p in binding.placements}
        where = {binding.name.name: binding.span for binding in job.bindings}
        jobs.append((variables, runs, job.span, runs_span, where))
    return jobs


def _typed(name: str, value: Any, checked: Checked, job: str, span: Span | None) -> Any:
    """The value as Pulser's variable wants it: int or float, scalar or list."""
    declaration = checked.variables[name]
    dtype = int if declaration.dtype.name == "int" else float

    def one(x: Any) -> Any:
        if isinstance(x, np.generic):
            x = x.item()
        if not isinstance(x, int | float) or isinstance(x, bool):
            what = "a list" if isinstance(x, list | tuple | np.ndarray) else f"`{x}`"
            raise QxTypeError(f"{job}: `{name}` takes numbers, not {what}", span)
        if dtype is int:
            if isinstance(x, float) and not x.is_integer():
                raise QxTypeError(
                    f"{job}: `{name}` is declared `int` but is given {x:g}",
                    span,
                    hint=f"declare `var {name}: float`, or give whole numbers",
                )
            return int(x)
        return float(x)

    if declaration.size is None:
        if isinstance(value, list | np.ndarray):
            raise QxTypeError(f"{job}: `{name}` takes one number, not a list", span)
        return one(value)
    items = list(value) if isinstance(value, list | np.ndarray) else [value]
    if len(items) != declaration.size:
        raise QxTypeError(f"{job}: `{name}` holds {declaration.size} values, but is given {len(items)}", span)
    return [one(x) for x in items]


def expand(checked: Checked, evaluator: Evaluator) -> list[Job]:
    """Every job of the spec, in order, with typed values; all problems at once.

    `evaluator` knows the spec's device (a sweep may read `ryd.max_amp`).
    """
    constant: Constant = evaluator.constant
    default: tuple[Any, Span | None] = (None, None)
    if checked.runs is not None:
        default = (constant(checked.runs.value), checked.runs.span)
    raw: list[_Raw] = []
    errors: list[QxError] = []
    for block in checked.sweeps:
        try:
            if isinstance(block, ast.Sweep):
                found = _sweep(block, checked, constant, default)
            else:
                found = _explicit(block, constant, default)
            if not found:
                keyword = "sweep" if isinstance(block, ast.Sweep) else "jobs"
                raise QxSweepError(
                    f"this `{keyword}` block gives no jobs",
                    block.span,
                    hint="write at least one job, or remove the block",
                )
            raw.extend(found)
        except QxError as error:
            errors.append(error)
    raise_all(errors)
    if not checked.sweeps:
        raw.append(({}, default[0], checked.runs.span if checked.runs else None, default[1], {}))
    jobs: list[Job] = []
    for index, (variables, runs, span, runs_span, where) in enumerate(raw):
        label = f"job {index}"
        try:
            missing = [name for name in checked.variables if name not in variables]
            if checked.mappable and "qubits" not in variables:
                missing.append("qubits")  # a sweep cannot place qubits: each `jobs` line does
            if missing:
                raise QxSweepError(
                    f"{label} does not bind " + ", ".join(f"`{m}`" for m in missing),
                    span,
                    hint="every job binds every declared variable exactly once",
                )
            if runs is None:
                # With no sweep and no `runs`, the job is the sequence itself: point there.
                raise QxSweepError(
                    f"{label} has no number of runs", span or checked.sequence.span, hint="add e.g. `runs 500`"
                )
            if isinstance(runs, float) and runs.is_integer():
                runs = int(runs)
            if not isinstance(runs, int | np.integer) or runs < 1:
                raise QxTypeError(f"{label}: runs must be a whole number of at least 1, not {runs}", runs_span or span)
            if runs > MAX_RUNS:
                raise QxTypeError(
                    f"{label}: {runs:g} runs is more than any batch takes (at most {MAX_RUNS:,})",
                    runs_span or span,
                    hint="shots are sampled one by one; split the experiment into batches",
                )
            typed = {
                name: _typed(name, variables[name], checked, label, where.get(name) or span)
                for name in checked.variables
            }
            for name, value in typed.items():
                too_long = [v for v in (value if isinstance(value, list) else [value]) if abs(v) > MAX_WAVEFORM_NS]
                if checked.variable_dimensions.get(name) is Dimension.TIME and too_long:
                    raise QxSweepError(
                        f"{label}: `{name}` = {too_long[0]:g} ns is longer than any sequence can be sampled",
                        where.get(name) or span,
                        hint=f"times are at most {MAX_WAVEFORM_NS} ns (10 ms)",
                    )
            if checked.mappable:
                typed["qubits"] = variables["qubits"]
            jobs.append(Job(index, int(runs), typed, span, runs_span))
        except QxError as error:
            errors.append(error)
            if len(errors) >= 20:
                break
    raise_all(errors)
    return jobs


def split_runs(jobs: list[Job], max_runs: int | None) -> list[Job]:
    """Split every job asking for more than `max_runs` shots into near-equal parts.

    The parts keep the job's variables and name it as their `origin`, so that
    results can merge their counts back into one row.
    """
    if not max_runs:
        return jobs
    result: list[Job] = []
    for job in jobs:
        parts = max(1, math.ceil(job.runs / max_runs))
        base, extra = divmod(job.runs, parts)
        for part in range(parts):
            runs = base + (1 if part < extra else 0)
            result.append(dataclasses.replace(job, index=len(result), runs=runs, origin=job.written_index))
    return result
