"""`qpurun plot`: a batch's measured quantity against what its sweep varies, as the spec wrote it.

A physicist reads a sweep as a curve (one swept axis), a map (two) or a row of maps (three),
in the unit the sweep was written in (`delta [MHz]`, not rad/µs), with the shot noise that
says how far to trust each point. One job is a distribution, drawn as its bitstring histogram.

What is measured (`--y`), every value computed from the bitstring counts:

- `occupation` (the default): per qubit, the fraction of shots that measured it in `1`; one
  series per qubit on a curve, their mean on a map. `occupation:q3`: that qubit alone.
- `bitstring:0101`: the probability of that bitstring (characters in the register's order).
- `excitations`: the mean number of qubits measured in `1` per shot.
- `staggered`: the staggered magnetisation, `|sum_i s_i (2 n_i - 1)| / N` per shot averaged over
  shots, where `s_i` is +1 or -1 by the qubit's sublattice (see `checkerboard`). Each Néel state
  gives 1, a disordered state about 1/sqrt(N). The absolute value is per shot: a finite system's
  antiferromagnetic ground state is a superposition of both Néel states, whose signed mean is 0.
- `neel`: the probability of measuring either Néel state (sublattice A excited, B not, or the reverse).

Error bars are one standard error: sqrt(p(1 - p) / shots) for a probability (binomial shot
noise); for a per-shot mean (`excitations`, `staggered`) the sample standard deviation of the
per-shot values over sqrt(shots). Jobs with the same values (a sweep that repeats a point) are
pooled into one point. A job without a result (failed, not run yet) leaves a gap.

The figures are `matplotlib.figure.Figure`s made without pyplot: no window, no backend chosen,
nothing to close, and a test or a notebook can look at the artists.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qpurun.command import EXIT_OK, EnvironmentProblem, UsageProblem

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.figure import Figure

    from qpurun.batch_results import BatchResults
    from qpurun.run.store import Batch, Store

QUANTITIES = ("occupation", "occupation:QUBIT", "bitstring:BITS", "excitations", "staggered", "neel")
"""What `--y` takes (QUBIT a qubit id, BITS a bitstring in the register's order)."""
FORMATS = (".png", ".svg", ".pdf")
DPI = 100
TOP = 20
"""A histogram shows this many bitstrings, most frequent first: beyond, bars are too thin to read."""
MAX_AXES = 3
GRID_TOLERANCE = 0.05
"""How far (in lattice spacings) an atom may sit from a square grid's site and still be on it."""


# ---- what the sweep varies


@dataclass(frozen=True)
class Axis:
    """One independent direction of a sweep: a variable, with the variables zipped to it (those whose
    values go one to one with its values over the jobs), which the axis does not show separately."""

    names: tuple[str, ...]
    """The plotted variable first, then those zipped to it."""
    unit: str | None
    values: tuple[Any, ...]
    """Its distinct values in plotting order (ascending when they are numbers), in `unit`."""
    numeric: bool
    """Numbers: the axis is the value itself. Otherwise (placements, lists) values are categories."""
    index: tuple[int, ...]
    """Per job, the position of its value in `values`."""

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def label(self) -> str:
        """`delta [MHz]`, and what is zipped to it: `delta_0 [MHz] (zipped with delta_f)`."""
        text = f"{self.name} [{self.unit}]" if self.unit else self.name
        if len(self.names) > 1:
            text += f" (zipped with {', '.join(self.names[1:])})"
        return text

    @property
    def positions(self) -> npt.NDArray[np.float64]:
        """Where each value sits on the axis: the value, or its rank for categories."""
        import numpy as np

        if self.numeric:
            return np.array(self.values, dtype=np.float64)
        return np.arange(len(self.values), dtype=np.float64)

    def text(self, position: int) -> str:
        """A value as a tick label or panel title shows it."""
        value = self.values[position]
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, (int, str)):
            return str(value)
        return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _key(value: Any) -> str:
    """A job's value, comparable whatever its type (a float, a list, a placement dict)."""
    return json.dumps(value, sort_keys=True, default=str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def sweep_axes(results: BatchResults) -> list[Axis]:
    """The sweep's independent axes, read from the jobs' values (not from the spec): a variable
    that never changes is no axis, and variables that change together (a `zip`) share one."""
    keyed = []
    for name in results.variables:
        keys = [_key(job.variables.get(name)) for job in results.jobs]
        if len(set(keys)) > 1:
            keyed.append((name, keys))
    groups: list[list[tuple[str, list[str]]]] = []
    for name, keys in keyed:
        for group in groups:
            first = group[0][1]
            if len(set(first)) == len(set(keys)) == len(set(zip(first, keys, strict=True))):
                group.append((name, keys))
                break
        else:
            groups.append([(name, keys)])
    axes = []
    for group in groups:
        names = [name for name, _ in group]
        numeric = [n for n in names if all(_is_number(job.variables.get(n)) for job in results.jobs)]
        shown = numeric[0] if numeric else names[0]
        ordered = (shown, *(n for n in names if n != shown))
        raw = [job.variables.get(shown) for job in results.jobs]
        if numeric:
            values: list[Any] = sorted(set(raw))
            where = {value: i for i, value in enumerate(values)}
            index = tuple(where[value] for value in raw)
        else:
            first_seen: dict[str, int] = {}
            values = []
            for value in raw:
                if _key(value) not in first_seen:
                    first_seen[_key(value)] = len(values)
                    values.append(value)
            index = tuple(first_seen[_key(value)] for value in raw)
        axes.append(Axis(ordered, results.units.get(shown), tuple(values), bool(numeric), index))
    return axes


# ---- the register's two sublattices


def checkerboard(coordinates: Any) -> tuple[list[int], bool]:
    """Each atom's sublattice (0 or 1) for the staggered magnetisation and the Néel states, and
    whether it came from the atoms' positions.

    From positions when the atoms sit on a square grid (a chain included) of spacing d, the
    smallest distance between two atoms, in any orientation: the grid is aligned with that
    closest pair, and an atom at grid coordinates (i, j) is on sublattice (i + j) mod 2, so
    nearest neighbours are on opposite ones. Otherwise (a triangular lattice, which has no two
    sublattices; a 3D register; one atom) by the register's order: q0, q2, q4... on 0.
    """
    import numpy as np

    points = np.asarray(coordinates, dtype=np.float64)
    count = len(points)
    by_order = [i % 2 for i in range(count)]
    if count < 2 or points.ndim != 2 or points.shape[1] != 2:
        return by_order, False
    differences = points[:, None, :] - points[None, :, :]
    distances = np.hypot(differences[..., 0], differences[..., 1])
    distances[np.diag_indices(count)] = np.inf
    a, b = np.unravel_index(np.argmin(distances), distances.shape)
    spacing = float(distances[a, b])
    if not spacing > 0:
        return by_order, False
    along = (points[b] - points[a]) / spacing
    across = np.array([-along[1], along[0]])
    relative = points - points[0]
    i, j = relative @ along / spacing, relative @ across / spacing
    if np.abs(i - np.round(i)).max() > GRID_TOLERANCE or np.abs(j - np.round(j)).max() > GRID_TOLERANCE:
        return by_order, False
    return [int(k) % 2 for k in np.round(i) + np.round(j)], True


def register_coordinates(sequence_json: str, results: BatchResults) -> list[Any]:
    """Per job, the atoms' positions (µm, in the register's order), from the batch's stored sequence:
    the register's own, or for a mappable register the layout's traps the job places its qubits in."""
    import numpy as np

    data = json.loads(sequence_json)
    register = data.get("register") or []
    if register and all("x" in qubit for qubit in register):
        fixed = np.array([[q["x"], q["y"], *([q["z"]] if "z" in q else [])] for q in register], dtype=np.float64)
        return [fixed] * len(results.jobs)
    layout = (data.get("layout") or {}).get("coordinates")
    if not layout:
        return [None] * len(results.jobs)
    from pulser.register import RegisterLayout

    traps = RegisterLayout(layout).sorted_coords  # Pulser's trap ids number the sorted coordinates
    found: list[Any] = []
    for job in results.jobs:
        placement = job.variables.get("qubits")
        if not isinstance(placement, Mapping):
            found.append(None)
            continue
        ids = [q.get("qid") for q in register]
        found.append(traps[[int(placement[q]) for q in ids if q in placement]])
    return found


# ---- what is measured


@dataclass(frozen=True)
class Quantity:
    """A `--y`, parsed: what to measure from a job's counts."""

    kind: str
    """occupation, qubit, bitstring, excitations, staggered, neel"""
    argument: str = ""
    """The qubit of `occupation:Q`, the bitstring of `bitstring:B`."""

    @property
    def key(self) -> str:
        """As `--y` writes it, and as the default file name ends (`:` made `-`)."""
        return {"qubit": "occupation", "bitstring": "bitstring"}.get(self.kind, self.kind) + (
            f":{self.argument}" if self.argument else ""
        )

    def label(self, qubits: Sequence[str], *, mean: bool = False) -> str:
        """The y axis' (or the colour bar's) name."""
        if self.kind == "occupation":
            if len(qubits) == 1:
                return f"occupation of {qubits[0]} (P(1))"
            return f"mean occupation of the {len(qubits)} qubits" if mean else "occupation (P(1))"
        return {
            "qubit": f"occupation of {self.argument}",
            "bitstring": f"P({self.argument})",
            "excitations": "mean number of excitations",
            "staggered": "staggered magnetisation |m_s|",
            "neel": "P(Néel)",
        }[self.kind]

    def upper(self, qubits: Sequence[str]) -> float:
        """The largest value it can take: the colour scale's top and the y axis' range."""
        return float(len(qubits)) if self.kind == "excitations" else 1.0


def quantity(y: str | None, qubits: Sequence[str]) -> Quantity:
    """Parse `--y`, checking a named qubit or bitstring against the register."""
    text = (y or "occupation").strip()
    kind, _, argument = text.partition(":")
    kind = kind.lower().replace("é", "e")
    if kind == "occupation" and argument:
        if argument not in qubits:
            raise UsageProblem(
                f"--y {text}: the register has no qubit {argument!r}", hint=f"its qubits: {', '.join(qubits)}"
            )
        return Quantity("qubit", argument)
    if kind == "bitstring":
        if not argument or set(argument) - {"0", "1"} or (qubits and len(argument) != len(qubits)):
            example = ("01" * len(qubits))[: len(qubits)] or "01"
            raise UsageProblem(
                f"--y {text}: name a bitstring of 0s and 1s, one per qubit ({len(qubits)})",
                hint=f"in the register's order ({', '.join(qubits)}): e.g. --y bitstring:{example}",
            )
        return Quantity("bitstring", argument)
    if kind in ("occupation", "excitations", "staggered", "neel") and not argument:
        return Quantity(kind)
    raise UsageProblem(f"--y {text}: not a quantity qpurun plots", hint=f"--y takes {', '.join(QUANTITIES)}")


def measure(
    what: Quantity, counts: Mapping[str, int], qubits: Sequence[str], sublattice: Sequence[int] | None = None
) -> tuple[list[float], list[float]]:
    """Per series (a qubit of `occupation`, else the one), the value and its standard error."""
    from qpurun.run import output

    shots = sum(counts.values())
    if what.kind == "occupation":
        values = output.occupation(counts, len(qubits))
        return values, [_binomial(p, shots) for p in values]
    if not shots:
        return [math.nan], [math.nan]
    if what.kind == "qubit":
        p = output.occupation(counts, len(qubits))[list(qubits).index(what.argument)]
        return [p], [_binomial(p, shots)]
    if what.kind == "bitstring":
        p = counts.get(what.argument, 0) / shots
        return [p], [_binomial(p, shots)]
    if what.kind == "excitations":
        return _mean({b: float(b.count("1")) for b in counts}, counts)
    signs = sublattice if sublattice is not None else [i % 2 for i in range(len(qubits))]
    if what.kind == "staggered":
        per_shot = {
            b: abs(sum((1 if s == 0 else -1) * (2 * (c == "1") - 1) for c, s in zip(b, signs, strict=False))) / len(b)
            for b in counts
            if b
        }
        return _mean(per_shot, counts)
    width = max((len(b) for b in counts), default=0)
    first = "".join("1" if s == 0 else "0" for s in signs[:width])
    second = "".join("0" if s == 0 else "1" for s in signs[:width])
    p = (counts.get(first, 0) + (counts.get(second, 0) if second != first else 0)) / shots
    return [p], [_binomial(p, shots)]


def _binomial(p: float, shots: int) -> float:
    """One standard error of a probability estimated from `shots` shots."""
    if not shots or math.isnan(p):
        return math.nan
    return math.sqrt(max(p * (1 - p), 0.0) / shots)


def _mean(per_shot: Mapping[str, float], counts: Mapping[str, int]) -> tuple[list[float], list[float]]:
    """The mean of a per-shot value and its standard error (sample standard deviation / sqrt(shots))."""
    shots = sum(counts[b] for b in per_shot)
    if not shots:
        return [math.nan], [math.nan]
    mean = sum(per_shot[b] * counts[b] for b in per_shot) / shots
    if shots < 2:
        return [mean], [math.nan]
    variance = sum(counts[b] * (per_shot[b] - mean) ** 2 for b in per_shot) / (shots - 1)
    return [mean], [math.sqrt(variance / shots)]


# ---- pooling jobs into points


@dataclass(frozen=True)
class Points:
    """The quantity at each point of the sweep's grid: `values[..., s]` for series `s`."""

    axes: list[Axis]
    what: Quantity
    series: list[str]
    values: npt.NDArray[np.float64]
    """Shape (*(len(axis.values) for axis in axes), len(series)); NaN where no job has a result."""
    errors: npt.NDArray[np.float64]
    shots: npt.NDArray[np.int64]
    """Shape of the grid: the shots pooled at each point."""
    from_positions: bool
    """Whether the sublattices (`staggered`, `neel`) came from the atoms' positions, not their order."""


def points(
    results: BatchResults,
    what: Quantity,
    axes: list[Axis],
    *,
    coordinates: Sequence[Any] | None = None,
    mean: bool = False,
) -> Points:
    """Pool the jobs at each point of the grid the axes span and measure `what` there.

    `mean`: an `occupation` becomes one series, the mean over the qubits (for a map).
    """
    import numpy as np

    qubits = results.qubits
    shape = tuple(len(axis.values) for axis in axes)
    pooled: dict[tuple[int, ...], dict[str, int]] = {}
    first_job: dict[tuple[int, ...], int] = {}
    for position, job in enumerate(results.jobs):
        cell = tuple(axis.index[position] for axis in axes)
        first_job.setdefault(cell, position)
        into = pooled.setdefault(cell, {})
        for bitstring, count in job.counts.items():
            into[bitstring] = into.get(bitstring, 0) + count
    series = list(qubits) if what.kind == "occupation" and not mean else [what.label(qubits, mean=mean)]
    values = np.full((*shape, len(series)), np.nan)
    errors = np.full((*shape, len(series)), np.nan)
    shots = np.zeros(shape, dtype=np.int64)
    from_positions = bool(coordinates)
    cache: dict[str, tuple[list[int], bool]] = {}
    for cell, counts in pooled.items():
        sublattice = None
        if what.kind in ("staggered", "neel"):
            where = coordinates[first_job[cell]] if coordinates else None
            if where is None:
                sublattice, from_positions = [i % 2 for i in range(len(qubits))], False
            else:
                key = _key(np.asarray(where).tolist())
                if key not in cache:
                    cache[key] = checkerboard(where)
                sublattice, on_grid = cache[key]
                from_positions = from_positions and on_grid
        if what.kind == "occupation" and mean:
            value, error = _mean({b: b.count("1") / len(b) for b in counts if b}, counts)
        else:
            value, error = measure(what, counts, qubits, sublattice)
        values[cell] = value
        errors[cell] = error
        shots[cell] = sum(counts.values())
    return Points(axes, what, series, values, errors, shots, from_positions)


# ---- the figures


def figure(results: BatchResults, y: str | None = None, *, coordinates: Sequence[Any] | None = None) -> Figure:
    """The plot of `results` for `--y y`: a curve per series for one swept axis, a map for two, a
    row of maps for three; without a swept axis, the bitstring histogram (when `y` is None) or a
    bar per series.

    `coordinates`: per job, the atoms' positions (`register_coordinates`), which the sublattices of
    `staggered` and `neel` come from; without, they follow the register's order.
    """
    axes = sweep_axes(results)
    if len(axes) > MAX_AXES:
        raise UsageProblem(
            f"batch {results.batch_id[:12]} sweeps {len(axes)} independent axes "
            f"({', '.join(a.name for a in axes)}); qpurun plots up to {MAX_AXES}",
            hint="plot a slice from Python: qpurun.results(BATCH).to_pandas()",
        )
    if not axes and y is None:
        return histogram(results)
    what = quantity(y, results.qubits)
    found = points(results, what, axes, coordinates=coordinates, mean=len(axes) >= 2)
    if not axes:
        return _bars(results, found)
    if len(axes) == 1:
        return _curves(results, found)
    return _maps(results, found)


def _title(results: BatchResults, extra: str = "") -> str:
    title = f"{results.name} — batch {results.batch_id[:8]} on {results.target}, {results.device}"
    return f"{title}\n{extra}" if extra else title


def _note(found: Points) -> str:
    """What the reader needs to know beyond the axes: the shots, how the sublattices were chosen."""
    import numpy as np

    measured = found.shots[found.shots > 0]
    if measured.size == 0:
        return "no results yet"
    low, high = int(measured.min()), int(measured.max())
    note = f"{low} shots a point" if low == high else f"{low}–{high} shots a point"
    note += (
        "; error bars: one standard error"
        if len(found.axes) <= 1
        else "; shot noise ≤ " + (f"{float(np.nanmax(found.errors)):.2g}" if np.isfinite(found.errors).any() else "?")
    )
    if found.what.kind in ("staggered", "neel"):
        note += "; sublattices by " + ("position (a square grid)" if found.from_positions else "qubit order")
    return note


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _curves(results: BatchResults, found: Points) -> Figure:
    """One swept axis: each series against it, with error bars; categories on a categorical axis."""
    axis = found.axes[0]
    fig = _new_figure(7.5, 4.5)
    ax = fig.add_subplot()
    x = axis.positions
    for s, label in enumerate(found.series):
        ax.errorbar(
            x,
            found.values[:, s],
            yerr=found.errors[:, s],
            marker="o",
            markersize=4,
            capsize=3,
            linewidth=1.2,
            linestyle="-" if axis.numeric else "none",  # no line between categories: nothing lies between
            label=label,
            gid=f"series-{s}",
        )
    ax.set_xlabel(axis.label)
    ax.set_ylabel(found.what.label(results.qubits))
    top = found.what.upper(results.qubits)
    ax.set_ylim(-0.03 * top, 1.03 * top)
    if not axis.numeric:
        ax.set_xticks(x, [axis.text(i) for i in range(len(axis.values))], rotation=30, ha="right")
    if len(found.series) > 1:
        ax.legend(title="qubit", fontsize=8, ncols=max(1, math.ceil(len(found.series) / 12)), loc="best")
    ax.grid(alpha=0.3)
    ax.set_title(_title(results, _note(found)), fontsize=10)
    return fig


def _edges(axis: Axis) -> npt.NDArray[np.float64]:
    """Cell boundaries: halfway between neighbouring values, half a step beyond the ends, so that each
    cell is centred on its value and the axis spans exactly the sweep (in the spec's unit)."""
    import numpy as np

    centres = axis.positions
    if len(centres) == 1:
        half = abs(centres[0]) * 0.5 if axis.numeric and centres[0] else 0.5
        return np.array([centres[0] - half, centres[0] + half])
    middle = (centres[:-1] + centres[1:]) / 2
    return np.concatenate([[centres[0] - (middle[0] - centres[0])], middle, [centres[-1] + (centres[-1] - middle[-1])]])


def _maps(results: BatchResults, found: Points) -> Figure:
    """Two swept axes: a map, the first axis across, the second up; a third: one map per value."""
    import numpy as np

    first, second = found.axes[0], found.axes[1]
    panels = len(found.axes[2].values) if len(found.axes) == 3 else 1
    columns = min(panels, 4)
    rows = math.ceil(panels / columns)
    fig = _new_figure(min(4.2 * columns + 1.2, 18), 3.6 * rows + 0.9)
    grid = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    top = found.what.upper(results.qubits)
    mesh = None
    for p in range(rows * columns):
        ax = grid[p // columns][p % columns]
        if p >= panels:
            ax.set_visible(False)
            continue
        values = found.values[..., 0] if panels == 1 else found.values[:, :, p, 0]
        mesh = ax.pcolormesh(
            _edges(first), _edges(second), np.ma.masked_invalid(values.T), vmin=0, vmax=top, cmap="viridis"
        )
        for axis, set_ticks in ((first, ax.set_xticks), (second, ax.set_yticks)):
            if not axis.numeric or len(axis.values) <= 12:
                set_ticks(axis.positions, [axis.text(i) for i in range(len(axis.values))])
        if p // columns == rows - 1 or p + columns >= panels:
            ax.set_xlabel(first.label)
        if p % columns == 0:
            ax.set_ylabel(second.label)
        if panels > 1:
            third = found.axes[2]
            unit = f" {third.unit}" if third.unit else ""
            ax.set_title(f"{third.name} = {third.text(p)}{unit}", fontsize=10)
    assert mesh is not None
    fig.colorbar(mesh, ax=grid, label=found.what.label(results.qubits, mean=True), shrink=0.9)
    fig.suptitle(_title(results, _note(found)), fontsize=10)
    return fig


def _bars(results: BatchResults, found: Points) -> Figure:
    """No swept axis, a quantity asked for: a bar per series (per qubit for `occupation`)."""
    fig = _new_figure(max(4.0, 0.5 * len(found.series) + 2.5), 4.0)
    ax = fig.add_subplot()
    positions = list(range(len(found.series)))
    ax.bar(positions, found.values.reshape(-1), yerr=found.errors.reshape(-1), capsize=3)
    ax.set_xticks(positions, found.series)
    ax.set_ylabel(found.what.label(results.qubits))
    top = found.what.upper(results.qubits)
    ax.set_ylim(0, 1.03 * top)
    ax.set_title(_title(results, _note(found)), fontsize=10)
    return fig


def histogram(results: BatchResults, top: int = TOP) -> Figure:
    """The bitstrings measured (every job pooled: one job, or jobs that repeat one point), most
    frequent first (ties by bitstring), the `top` most frequent, with binomial error bars."""
    counts: dict[str, int] = {}
    for job in results.jobs:
        for bitstring, count in job.counts.items():
            counts[bitstring] = counts.get(bitstring, 0) + count
    shots = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ranked[:top]
    fig = _new_figure(max(4.5, 0.38 * len(shown) + 2.5), 4.5)
    ax = fig.add_subplot()
    labels = [bitstring for bitstring, _ in shown]
    probabilities = [count / shots for _, count in shown]
    ax.bar(
        range(len(shown)),
        probabilities,
        yerr=[_binomial(p, shots) for p in probabilities],
        capsize=3,
        color="tab:blue",
    )
    ax.set_xticks(range(len(shown)), labels, rotation=90 if len(shown) > 6 or len(results.qubits) > 4 else 0)
    ax.set_xlabel(f"bitstring ({', '.join(results.qubits)})" if len(results.qubits) <= 8 else "bitstring")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.05 * max(probabilities, default=1.0) + 0.02)
    jobs = len(results.jobs)
    extra = f"{shots} shots" + (f" of {jobs} jobs pooled" if jobs > 1 else "") if shots else "no results yet"
    if len(ranked) > len(shown):
        extra += f"; the {len(shown)} most frequent of {len(ranked)} bitstrings"
    ax.set_title(_title(results, extra), fontsize=10)
    return fig


# ---- the command


def output_path(output: str | None, results: BatchResults, y: str) -> Path:
    """`-o FILE`, else `<name>-<batch8>-<y>.png` here; a format qpurun does not write is refused."""
    if output:
        path = Path(output)
    else:
        safe = re.sub(r"[^\w.-]+", "-", f"{results.name}-{results.batch_id[:8]}-{y}").strip("-")
        path = Path(f"{safe}.png")
    if path.suffix.lower() not in FORMATS:
        written = f"a {path.suffix} file" if path.suffix else "a file without an extension"
        raise UsageProblem(f"cannot plot to {path}: {written}", hint="name a .png, .svg or .pdf file")
    return path


def needs_positions(y: str | None) -> bool:
    """Whether `--y` needs the atoms' positions (which cost reading the sequence, maybe Pulser)."""
    return y is not None and y.split(":")[0].lower().replace("é", "e") in ("staggered", "neel")


def save(fig: Figure, path: Path) -> None:
    """Write the figure by its extension, with no metadata naming a URL or a date (reproducible files)."""
    metadata: dict[str, Any] = {"Software": None} if path.suffix.lower() == ".png" else {"Creator": None}
    if path.suffix.lower() == ".svg":
        metadata["Date"] = None
    try:
        fig.savefig(path, dpi=DPI, metadata=metadata, facecolor="white")
    except OSError as error:
        raise EnvironmentProblem(f"cannot write {path}: {error.strerror or error}") from None


def command(args: argparse.Namespace, store: Store, batch: Batch) -> int:
    """`qpurun plot BATCH [--y Y] [-o FILE]`, once the batch is found."""
    from qpurun.batch_results import results as read

    found = read(batch.batch_id, store=store)
    if args.y is not None:
        shown = quantity(args.y, found.qubits).key  # a mistake in --y is reported before any work
    else:
        shown = "occupation" if sweep_axes(found) else "histogram"
    path = output_path(args.output, found, shown)
    coordinates = register_coordinates(batch.sequence_json, found) if needs_positions(args.y) else None
    save(figure(found, args.y, coordinates=coordinates), path)
    print(path)
    return EXIT_OK
