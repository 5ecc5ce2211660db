"""`qpurun plot` (issue 8): what is drawn is what the store holds, in the spec's units.

Real runs for the Rabi example (one swept axis), a product sweep (a map) and a single job (a
histogram); hand-made results for what a run would make slow to reach (a third axis, zipped
variables, the antiferromagnetic quantities on known counts).
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.collections import QuadMesh
from matplotlib.container import BarContainer, ErrorbarContainer

import qpurun
from qpurun import plot
from qpurun.batch_results import BatchResults, JobResult
from qpurun.command import UsageProblem
from qpurun.run.store import Store
from run.conftest import SPECS
from run.conftest import main_captured as _main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

GRID = """\
experiment "grid"
device AnalogDevice
layout triangular(61, spacing = 5 um)
register { q0 = trap 0  q1 = trap 30 }
channel ryd = rydberg_global
var t: int
var delta: float
sequence {
  add pulse(amplitude = constant(t, 2 * pi rad/us), detuning = delta, phase = 0) on ryd
  measure ground-rydberg
}
runs 20
sweep {
  t = 100 ns .. 300 ns step 100 ns
  delta = [0.5, 1.5] MHz
}
"""

SINGLE = """\
experiment "single"
device AnalogDevice
layout triangular(61, spacing = 5 um)
register { q0 = trap 0  q1 = trap 1  q2 = trap 2 }
channel ryd = rydberg_global
sequence {
  add pulse(amplitude = constant(300 ns, 2 * pi rad/us), detuning = 0, phase = 0) on ryd
  measure ground-rydberg
}
runs 100
"""


@contextlib.contextmanager
def _in(root: Path) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QPURUN_HOME", str(root / "home"))
        patch.chdir(root)
        yield


def _run(root: Path, spec: Path) -> tuple[Store, str]:
    with _in(root):
        outcome = _main("run", str(spec), "--json", "--workers", "2", "--out", str(root / "out"))
    assert outcome.code == 0, outcome.err
    return Store(root / "home" / "store.sqlite3"), json.loads(outcome.out)["batch_id"]


@pytest.fixture(scope="module")
def rabi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str, Path]:
    """specs/rabi.qx with 40 shots a job (20 jobs, one atom): its store, batch id and directory."""
    root = tmp_path_factory.mktemp("rabi")
    spec = root / "rabi.qx"
    text = (SPECS / "rabi.qx").read_text()
    assert "runs 200" in text
    spec.write_text(text.replace("runs 200", "runs 40"))
    store, batch_id = _run(root, spec)
    return store, batch_id, root


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str]:
    """A product sweep: 3 durations (ns) × 2 detunings (MHz), two atoms, 20 shots."""
    root = tmp_path_factory.mktemp("grid")
    (root / "grid.qx").write_text(GRID)
    return _run(root, root / "grid.qx")


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str]:
    """One job (no sweep), three atoms, 100 shots."""
    root = tmp_path_factory.mktemp("single")
    (root / "single.qx").write_text(SINGLE)
    return _run(root, root / "single.qx")


def _errorbars(container: ErrorbarContainer) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, y, and each bar's bottom and top, as drawn."""
    line, _, (bars,) = container
    x, y = np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)
    low, high = np.full(len(x), np.nan), np.full(len(x), np.nan)
    for segment in bars.get_segments():
        if len(segment) == 0:  # a NaN point has an empty bar
            continue
        (x0, y0), (x1, y1) = segment
        assert x0 == x1, "error bars are vertical"
        (where,) = np.flatnonzero(x == x0)
        low[where], high[where] = min(y0, y1), max(y0, y1)
    return x, y, low, high


# ---- one swept axis: the Rabi curve


def test_the_rabi_curve_is_the_stored_occupation_with_binomial_error_bars(rabi: tuple[Store, str, Path]) -> None:
    store, batch_id, _ = rabi
    results = qpurun.results(batch_id, store=store)
    fig = plot.figure(results)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "t [ns]"
    (container,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    x, y, low, high = _errorbars(container)
    assert list(x) == list(range(100, 2001, 100)) == list(results.values("t"))
    p = results.occupation[:, 0]
    assert np.array_equal(y, p)
    assert np.array_equal(p, [job.counts.get("1", 0) / 40 for job in results.jobs])
    sigma = np.sqrt(p * (1 - p) / results.shots)
    assert np.allclose(high - y, sigma) and np.allclose(y - low, sigma)
    assert sigma[9] == 0 or p[9] < 0.2  # t = 1000 ns: back near the ground state
    assert "40 shots a point" in ax.get_title()


def test_excitations_are_the_mean_with_its_standard_error(rabi: tuple[Store, str, Path]) -> None:
    store, batch_id, _ = rabi
    results = qpurun.results(batch_id, store=store)
    (ax,) = plot.figure(results, "excitations").axes
    _, y, _, high = _errorbars(ax.containers[0])
    assert np.array_equal(y, results.mean_excitation)
    # One atom: the number of excitations is 0 or 1, its sample standard deviation sqrt(p(1-p) N/(N-1)).
    p, shots = results.mean_excitation, results.shots
    assert np.allclose(high - y, np.sqrt(p * (1 - p) / (shots - 1)))
    assert ax.get_ylabel() == "mean number of excitations"


def test_a_named_bitstring_and_a_named_qubit(rabi: tuple[Store, str, Path]) -> None:
    store, batch_id, _ = rabi
    results = qpurun.results(batch_id, store=store)
    (ax,) = plot.figure(results, "bitstring:0").axes
    _, y, _, _ = _errorbars(ax.containers[0])
    assert np.allclose(y, 1 - results.occupation[:, 0])
    assert ax.get_ylabel() == "P(0)"
    (ax,) = plot.figure(results, "occupation:q0").axes
    assert np.array_equal(_errorbars(ax.containers[0])[1], results.occupation[:, 0])
    with pytest.raises(UsageProblem, match="no qubit 'q7'"):
        plot.figure(results, "occupation:q7")
    with pytest.raises(UsageProblem, match="one per qubit"):
        plot.figure(results, "bitstring:01")
    with pytest.raises(UsageProblem, match="not a quantity"):
        plot.figure(results, "fidelity")


def test_the_command_writes_the_file_it_names(rabi: tuple[Store, str, Path]) -> None:
    _, batch_id, root = rabi
    with _in(root):
        outcome = _main("plot", batch_id[:8])
        assert outcome.code == 0, outcome.err
        name = f"rabi-{batch_id[:8]}-occupation.png"
        assert outcome.out == f"{name}\n"
        assert (root / name).read_bytes().startswith(PNG_MAGIC)
        outcome = _main("plot", batch_id, "--y", "bitstring:1", "-o", "curve.svg")
        assert outcome.code == 0, outcome.err
        svg = (root / "curve.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        outcome = _main("plot", batch_id, "--y", "bitstring:1")
        assert outcome.out == f"rabi-{batch_id[:8]}-bitstring-1.png\n"
        refused = _main("plot", batch_id, "-o", "curve.txt")
        assert refused.code == 2 and "name a .png, .svg or .pdf file" in refused.err
        wrong = _main("plot", batch_id, "--y", "magnetisation")
        assert wrong.code == 2 and "--y takes occupation" in wrong.err
        unknown = _main("plot", "ffffffff")
        assert unknown.code == 3 and "no batch" in unknown.err


@pytest.mark.parametrize("argv", [["plot", "--help"], ["report", "--help"]])
def test_help_imports_neither_pulser_nor_matplotlib(argv: list[str]) -> None:
    code = (
        "import sys\nfrom qpurun.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "loaded = {m.split('.')[0] for m in sys.modules} & {'pulser', 'matplotlib'}\n"
        "assert not loaded, f'qpurun --help imported {loaded}'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---- two swept axes: a map in the spec's units


def test_a_product_sweep_is_a_map_with_its_axes_in_the_spec_units(grid: tuple[Store, str]) -> None:
    store, batch_id = grid
    results = qpurun.results(batch_id, store=store)
    assert results.units == {"t": "ns", "delta": "MHz"}
    fig = plot.figure(results)
    ax = fig.axes[0]
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    shown = mesh.get_array()
    assert shown.shape == (2, 3)  # rows: delta (up), columns: t (across)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("t [ns]", "delta [MHz]")
    assert ax.get_xlim() == (50, 350)  # cells centred on 100, 200, 300 ns
    assert ax.get_ylim() == (0, 2)  # and on 0.5, 1.5 MHz
    assert list(ax.get_xticks()) == [100, 200, 300] and list(ax.get_yticks()) == [0.5, 1.5]
    coordinates = mesh.get_coordinates()
    assert np.allclose(coordinates[0, :, 0], [50, 150, 250, 350]) and np.allclose(coordinates[:, 0, 1], [0, 1, 2])
    mean = results.occupation.mean(axis=1)
    for job, value in zip(results.jobs, mean, strict=True):
        row = [0.5, 1.5].index(job.variables["delta"])
        column = [100, 200, 300].index(job.variables["t"])
        assert shown[row, column] == pytest.approx(value)
    assert "mean occupation of the 2 qubits" in fig.axes[-1].get_ylabel()  # the colour bar
    (_, excitations) = plot.figure(results, "excitations").axes[:2]
    assert excitations.get_ylabel() == "mean number of excitations"


# ---- no sweep: the histogram


def test_one_job_is_its_histogram_most_frequent_first(single: tuple[Store, str]) -> None:
    store, batch_id = single
    results = qpurun.results(batch_id, store=store)
    assert len(results.jobs) == 1
    (ax,) = plot.figure(results).axes
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    heights = [bar.get_height() for bar in bars]
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    counts = results.jobs[0].counts
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: plot.TOP]
    assert labels == [bitstring for bitstring, _ in expected]
    assert heights == pytest.approx([n / 100 for _, n in expected])
    assert heights == sorted(heights, reverse=True)
    # A quantity asked for: one bar per qubit.
    (ax,) = plot.figure(results, "occupation").axes
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [bar.get_height() for bar in bars] == pytest.approx(list(results.occupation[0]))
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["q0", "q1", "q2"]


# ---- hand-made results


def _results(jobs: list[dict[str, Any]], qubits: list[str], units: dict[str, str] | None = None) -> BatchResults:
    names = list(dict.fromkeys(name for job in jobs for name in job["variables"]))
    return BatchResults(
        batch_id="0123456789abcdef0123456789abcdef",
        name="made",
        target="qutip",
        device="AnalogDevice",
        status="DONE",
        variables=names,
        units=units or {},
        qubits=qubits,
        jobs=[
            JobResult(
                index=i,
                job_id=f"job-{i}",
                variables=job["variables"],
                status="DONE" if job["counts"] else "ERROR",
                runs=sum(job["counts"].values()),
                counts=job["counts"],
                error=None,
                started_at=None,
                finished_at=None,
            )
            for i, job in enumerate(jobs)
        ],
        table=None,  # type: ignore[arg-type]  # not drawn
    )


def test_a_third_axis_is_a_map_per_value_on_one_colour_scale() -> None:
    jobs = [
        {"variables": {"a": a, "b": b, "c": c}, "counts": {"1": a + b + c, "0": 10 - a - b - c}}
        for a in (1, 2)
        for b in (0, 1, 2)
        for c in (0, 3)
    ]
    results = _results(jobs, ["q0"], {"a": "us", "c": "MHz"})
    fig = plot.figure(results)
    panels = [ax for ax in fig.axes if ax.collections and isinstance(ax.collections[0], QuadMesh)]
    assert [ax.get_title() for ax in panels] == ["c = 0 MHz", "c = 3 MHz"]
    for ax, c in zip(panels, (0, 3), strict=True):
        values = ax.collections[0].get_array()
        assert values.shape == (3, 2)
        assert np.allclose(values, [[(a + b + c) / 10 for a in (1, 2)] for b in (0, 1, 2)])
        assert ax.collections[0].get_clim() == (0, 1)
    assert panels[0].get_xlabel() == "a [us]" and panels[0].get_ylabel() == "b"
    with pytest.raises(UsageProblem, match="sweeps 4 independent axes"):
        four = [{**job, "variables": {**job["variables"], "d": i}} for i, job in enumerate(jobs)]
        plot.figure(_results(four, ["q0"]))


def test_zipped_variables_share_an_axis_and_repeated_points_are_pooled() -> None:
    jobs = [
        {"variables": {"d0": -6, "df": 2}, "counts": {"1": 3, "0": 1}},
        {"variables": {"d0": -8, "df": 4}, "counts": {"1": 1, "0": 3}},
        {"variables": {"d0": -6, "df": 2}, "counts": {"1": 1, "0": 3}},  # again: pooled with job 0
        {"variables": {"d0": -4, "df": 6}, "counts": {}},  # failed: a gap
    ]
    results = _results(jobs, ["q0"], {"d0": "MHz", "df": "MHz"})
    (axis,) = plot.sweep_axes(results)
    assert axis.names == ("d0", "df") and axis.label == "d0 [MHz] (zipped with df)"
    (ax,) = plot.figure(results).axes
    x, y, _, high = _errorbars(ax.containers[0])
    assert list(x) == [-8, -6, -4]
    assert y[:2] == pytest.approx([0.25, 0.5]) and math.isnan(y[2])
    assert high[1] - y[1] == pytest.approx(math.sqrt(0.25 / 8))  # 8 shots pooled at d0 = -6


def test_checkerboard_sublattices_from_positions_or_order() -> None:
    square = [(x, y) for x in (0, 7, 14) for y in (0, 7, 14)]
    sublattice, on_grid = plot.checkerboard(square)
    assert on_grid and sublattice == [0, 1, 0, 1, 0, 1, 0, 1, 0]
    turned = [(x * 0.6 - y * 0.8, x * 0.8 + y * 0.6) for x, y in square]  # any orientation
    assert plot.checkerboard(turned) == (sublattice, True)
    chain = [(0, 0), (5, 0), (15, 0)]  # a gap of one site
    assert plot.checkerboard(chain) == ([0, 1, 1], True)
    triangle = [(0, 0), (5, 0), (2.5, 5 * math.sqrt(3) / 2)]
    assert plot.checkerboard(triangle) == ([0, 1, 0], False)  # frustrated: the register's order


def test_staggered_magnetisation_and_neel_states_on_known_counts() -> None:
    # A chain of four: the Néel states are 1010 and 0101.
    chain = [np.array([(5.0 * i, 0.0) for i in range(4)])]
    counts = {"1010": 40, "0101": 40, "0000": 10, "1100": 10}
    results = _results([{"variables": {"x": x}, "counts": counts} for x in (0, 1)], list("abcd"))
    (ax,) = plot.figure(results, "staggered", coordinates=chain * 2).axes
    _, y, _, high = _errorbars(ax.containers[0])
    # |m_s| per shot: 1 for each Néel state, 0 for 0000 and for 1100.
    per_shot = np.array([1] * 80 + [0] * 20, dtype=float)
    assert y[0] == pytest.approx(per_shot.mean())
    assert high[0] - y[0] == pytest.approx(per_shot.std(ddof=1) / math.sqrt(100))
    assert "sublattices by position" in ax.get_title()
    (ax,) = plot.figure(results, "neel", coordinates=chain * 2).axes
    _, y, _, high = _errorbars(ax.containers[0])
    assert y[0] == pytest.approx(0.8) and high[0] - y[0] == pytest.approx(math.sqrt(0.8 * 0.2 / 100))
    assert ax.get_ylabel() == "P(Néel)"
    (ax,) = plot.figure(results, "neel").axes  # no positions: by order, the same for a chain
    assert "sublattices by qubit order" in ax.get_title()
