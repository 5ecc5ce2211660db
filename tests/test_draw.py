"""`qpurun draw`: what is drawn (read back from the figures' artists), and the files the command writes."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from pulser.sampler import sample

import qpurun
from conftest import ROOT
from qpurun.cli import main
from qpurun.command import UsageProblem
from qpurun.draw import TRAP_NUMBER, Drawing, draw

SPECS = ROOT / "specs"
AFM = SPECS / "afm_ramp.qx"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def afm() -> Any:
    return qpurun.load(AFM)


@pytest.fixture(scope="module")
def afm_job0(afm: Any) -> Drawing:
    return draw(afm)


@pytest.fixture(autouse=True)
def _own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPURUN_HOME", str(tmp_path / "home"))


def scatter(figure: Figure, label: str) -> list[np.ndarray]:
    """The offsets of every scatter labelled `label` ("atoms", "traps"), one array per axes."""
    return [
        np.asarray(c.get_offsets())
        for axes in figure.axes
        for c in axes.collections
        if isinstance(c, PathCollection) and c.get_label() == label
    ]


def trap_labels(figure: Figure) -> list[tuple[str, tuple[float, float]]]:
    return [
        (text.get_text(), (float(text.xy[0]), float(text.xy[1])))
        for axes in figure.axes
        for text in axes.texts
        if (text.get_gid() or "").startswith(TRAP_NUMBER)
    ]


def coordinates(register: Any) -> np.ndarray:
    return np.array([register.qubits[q].as_array(detach=True) for q in register.qubit_ids], dtype=float)


def same_points(actual: np.ndarray, expected: np.ndarray) -> bool:
    """The same set of points, in any order."""
    key = lambda a: sorted(map(tuple, np.round(np.asarray(a, dtype=float), 6)))  # noqa: E731
    return key(actual) == key(expected)


# ---- the register -------------------------------------------------------------------------------------


def test_one_marker_per_atom_at_the_compiled_coordinates(afm: Any, afm_job0: Drawing) -> None:
    (atoms,) = scatter(afm_job0.register, "atoms")
    assert len(atoms) == 9
    np.testing.assert_allclose(atoms, coordinates(afm.sequence.register))


def test_the_layout_s_empty_traps_are_drawn(afm: Any, afm_job0: Drawing) -> None:
    (traps,) = scatter(afm_job0.register, "traps")
    layout = afm.sequence.register.layout
    occupied = {tuple(p) for p in coordinates(afm.sequence.register)}
    assert same_points(traps, np.array([p for p in layout.sorted_coords if tuple(p) not in occupied]))


def test_every_trap_is_labelled_with_its_number(afm: Any, afm_job0: Drawing) -> None:
    layout = afm.sequence.register.layout
    labels = trap_labels(afm_job0.register)
    assert [text for text, _ in labels] == [str(trap) for trap in layout.traps_dict]
    np.testing.assert_allclose([xy for _, xy in labels], layout.sorted_coords)
    # afm_ramp's q3 = trap 5: the label "5" is where q3 is.
    position = dict(labels)["5"]
    np.testing.assert_allclose(position, afm.sequence.register.qubits["q3"].as_array(detach=True))


def test_qubit_names_are_written(afm_job0: Drawing) -> None:
    texts = {
        t.get_text()
        for axes in afm_job0.register.axes
        for t in axes.texts
        if not (t.get_gid() or "").startswith(TRAP_NUMBER)
    }
    assert {f"q{i}" for i in range(9)} <= texts


def test_a_traps_layout_is_numbered_as_written() -> None:
    # Pulser sorts the traps: (0, 0) is its trap 0 and (8, 0) its trap 2; the spec's trap 0 is (8, 0).
    spec = """\
device AnalogDevice
layout traps { (8, 0), (0, 0), (0, 8) } um
register { a = trap 0 }
channel ryd = rydberg_global
sequence {
  add pulse(amplitude = constant(100 ns, 1 rad/us)) on ryd
}
runs 10
"""
    drawing = draw(qpurun.loads(spec))
    labels = dict(trap_labels(drawing.register))
    assert labels == {"0": (8.0, 0.0), "1": (0.0, 0.0), "2": (0.0, 8.0)}
    by_id = {t.get_gid(): t.get_text() for t in drawing.register.axes[0].texts if t.get_gid()}
    assert by_id == {f"{TRAP_NUMBER}-0": "1", f"{TRAP_NUMBER}-1": "2", f"{TRAP_NUMBER}-2": "0"}  # Pulser's id: ours
    (atoms,) = scatter(drawing.register, "atoms")
    np.testing.assert_allclose(atoms, [[8.0, 0.0]])


def test_half_the_blockade_radius_at_the_job_s_amplitude_around_each_atom(afm: Any) -> None:
    drawing = draw(afm, 3)
    omega = drawing.variables["omega_max"]
    assert omega == pytest.approx(1.9 * 2 * math.pi)
    assert drawing.amplitude == pytest.approx(omega)
    assert drawing.blockade_radius == pytest.approx(afm.device.rydberg_blockade_radius(omega))
    circles = [p for axes in drawing.register.axes for p in axes.patches if isinstance(p, Circle)]
    assert len(circles) == 9
    assert all(c.get_radius() == pytest.approx(drawing.blockade_radius / 2) for c in circles)
    assert same_points(np.array([c.center for c in circles]), coordinates(afm.sequence.register))
    title = drawing.register.axes[0].get_title()
    assert f"blockade radius {drawing.blockade_radius:.3g} µm" in title
    assert f"Ω = {omega:.4g} rad/µs" in title


def test_one_atom_gets_its_circle_too() -> None:
    drawing = draw(qpurun.load(SPECS / "rabi.qx"))
    (circle,) = [p for p in drawing.register.axes[0].patches if isinstance(p, Circle)]
    assert circle.get_radius() == pytest.approx(drawing.blockade_radius / 2)  # type: ignore[operator]


def test_no_rydberg_drive_no_blockade_radius() -> None:
    spec = """\
device DigitalAnalogDevice
layout triangular(61, spacing = 5 um)
register { q0 = trap 0  q1 = trap 1 }
channel raman = raman_local target q0
sequence {
  add pulse(amplitude = constant(100 ns, 1 rad/us)) on raman
}
runs 10
"""
    drawing = draw(qpurun.loads(spec))
    assert drawing.amplitude is None and drawing.blockade_radius is None
    assert not [p for p in drawing.register.axes[0].patches if isinstance(p, Circle)]
    assert "blockade" not in drawing.register.axes[0].get_title()


def test_a_mappable_register_is_drawn_where_the_job_places_it() -> None:
    experiment = qpurun.load(SPECS / "mappable_pairs.qx")
    for job, params in enumerate(experiment.job_params):
        drawing = draw(experiment, job)
        (atoms,) = scatter(drawing.register, "atoms")
        layout = experiment.sequence.get_register(include_mappable=True).layout
        placed = params["variables"]["qubits"]
        np.testing.assert_allclose(atoms, [layout.traps_dict[placed[q]] for q in sorted(placed)])


def test_a_3d_register_is_drawn_as_its_three_projections() -> None:
    spec = """\
device MockDevice
register { a = (0, 0, 0) um  b = (6, 0, 2) um  c = (0, 7, 4) um }
channel ryd = rydberg_global
sequence {
  add pulse(amplitude = constant(100 ns, 1 rad/us)) on ryd
}
runs 10
"""
    drawing = draw(qpurun.loads(spec))
    points = np.array([[0, 0, 0], [6, 0, 2], [0, 7, 4]], dtype=float)
    projections = scatter(drawing.register, "atoms")
    assert len(projections) == 3
    for offsets, plane in zip(projections, [(0, 1), (0, 2), (1, 2)], strict=True):
        np.testing.assert_allclose(offsets, points[:, plane])


# ---- the schedule -------------------------------------------------------------------------------------


def channel_rows(figure: Figure, channels: list[str]) -> dict[str, list[Any]]:
    """Pulser draws a frame axes per channel (its y label is the channel's name), then one axes per curve."""
    rows: dict[str, list[Any]] = {}
    current: list[Any] | None = None
    for axes in figure.axes:
        if axes.get_ylabel() in channels:
            current = rows.setdefault(axes.get_ylabel(), [])
        elif current is not None:
            current.append(axes)
    return rows


def curve(axes_list: list[Any], symbol: str) -> np.ndarray:
    """The programmed curve drawn on the axes whose label holds `symbol` (Ω, δ): the one long line."""
    (axes,) = [a for a in axes_list if symbol in a.get_ylabel()]
    (line,) = [line for line in axes.get_lines() if len(line.get_xdata()) > 2]
    return np.asarray(line.get_ydata(), dtype=float)


def test_one_row_per_channel_with_its_samples() -> None:
    experiment = qpurun.load(SPECS / "local_gates.qx")
    drawing = draw(experiment, 1)
    built = experiment.sequence.build(**experiment.job_params[1]["variables"])
    channels = list(built.declared_channels)
    rows = channel_rows(drawing.schedule, channels)
    assert list(rows) == channels == ["raman", "ryd", "dmm_0"]
    samples = sample(built)
    for name, axes_list in rows.items():
        ours = samples.channel_samples[name]
        for symbol, values in (("Omega", ours.amp), ("delta", ours.det)):
            expected = values.as_array(detach=True)
            if not np.any(expected):
                assert not [a for a in axes_list if symbol in a.get_ylabel()], f"{name}: an empty {symbol} row"
                continue
            drawn = curve(axes_list, symbol)
            np.testing.assert_allclose(drawn[: len(expected)], expected, err_msg=f"{name} {symbol}")
            assert not np.any(drawn[len(expected) :]), f"{name}: {symbol} after the channel's end"


def test_job_3_draws_job_3_s_values(afm: Any) -> None:
    drawing = draw(afm, 3)
    variables = afm.job_params[3]["variables"]
    assert drawing.job == 3 and drawing.variables == variables
    built = afm.sequence.build(**variables)
    (row,) = channel_rows(drawing.schedule, ["ryd"]).values()
    ryd = sample(built).channel_samples["ryd"]
    amplitude, detuning = curve(row, "Omega"), curve(row, "delta")
    np.testing.assert_allclose(amplitude[: len(ryd.amp)], ryd.amp.as_array(detach=True))
    np.testing.assert_allclose(detuning[: len(ryd.det)], ryd.det.as_array(detach=True))
    assert amplitude.max() == pytest.approx(1.9 * 2 * math.pi)
    assert detuning[0] == pytest.approx(-8 * 2 * math.pi) and detuning.max() == pytest.approx(4 * 2 * math.pi)
    title = drawing.schedule.get_suptitle()
    assert title.startswith("afm-ramp: job 3 of 4 jobs")
    assert f"omega_max = {1.9 * 2 * math.pi:.4g} rad/us" in title


def test_job_values_are_titled_in_the_units_the_sweep_wrote() -> None:
    spec = """\
device AnalogDevice
layout triangular(61, spacing = 5 um)
register { q0 = trap 0  q1 = trap 1 }
channel ryd = rydberg_global
var delta: float
var t: int
sequence {
  add pulse(amplitude = constant(t, 1 MHz), detuning = delta) on ryd
}
runs 10
sweep {
  delta = 0.5 MHz .. 1.5 MHz step 0.5 MHz
  t = [200, 400] ns
}
"""
    drawing = draw(qpurun.loads(spec), 3)
    assert drawing.schedule.get_suptitle().endswith("job 3 of 6 jobs: delta = 1 MHz, t = 400 ns")


def test_a_sequence_without_variables_is_drawn_as_it_is() -> None:
    # Building it would warn (a warning fails the tests): it is drawn without.
    drawing = draw(qpurun.loads(_PLAIN))
    assert drawing.variables == {}
    assert drawing.schedule.get_suptitle().endswith("job 0 of 1 job")


_PLAIN = """\
experiment "plain"
device AnalogDevice
layout triangular(61, spacing = 5 um)
register { q0 = trap 0  q1 = trap 1 }
channel ryd = rydberg_global
sequence {
  add pulse(amplitude = constant(500 ns, 1 MHz)) on ryd
  measure ground-rydberg
}
runs 10
"""


def test_a_job_out_of_range_is_refused(afm: Any) -> None:
    with pytest.raises(UsageProblem) as caught:
        draw(afm, 4)
    assert "--job 4: the spec has 4 jobs, counting from 0" in str(caught.value)


# ---- the command --------------------------------------------------------------------------------------


@pytest.fixture
def here(tmp_path: Path) -> Iterator[Path]:
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


def test_draw_writes_a_png_named_after_the_spec_and_job(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", str(AFM), "--job", "2"]) == 0
    out = capsys.readouterr().out
    assert out == "afm_ramp-job2.png\n"
    picture = here / "afm_ramp-job2.png"
    assert picture.read_bytes().startswith(PNG_MAGIC)
    from PIL import Image

    with Image.open(picture) as image:
        width, height = image.size
    assert width >= 1500 and height > 800  # Pulser's 20-inch schedule below the register


def test_draw_writes_one_svg_holding_both_drawings(tmp_path: Path) -> None:
    output = tmp_path / "afm.svg"
    assert main(["draw", str(AFM), "-o", str(output)]) == 0
    root = ElementTree.fromstring(output.read_text(encoding="utf-8"))
    svg = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{svg}svg"
    assert len(root.findall(f"{svg}svg")) == 2  # the register, then the schedule
    ids = [element.get("id") for element in root.iter() if element.get("id")]
    assert len(ids) == len(set(ids)), "two figures' ids collide"
    texts = "".join(root.itertext())
    assert "q8" in texts and "24" in texts and "omega_max" in texts  # text stays text (svg.fonttype none)


def test_draw_writes_a_pdf_with_a_page_each(tmp_path: Path) -> None:
    output = tmp_path / "afm.pdf"
    assert main(["draw", str(AFM), "-o", str(output)]) == 0
    data = output.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b(?!s)", data)) == 2


@pytest.mark.parametrize("name", ["afm.gif", "afm"])
def test_an_unsupported_format_is_refused_before_any_work(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["draw", str(AFM), "-o", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"qpurun: cannot draw to {tmp_path / name}")
    assert "name a .png, .svg or .pdf file" in err
    assert "Traceback" not in err
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("job", ["4", "-1"])
def test_a_bad_job_index_is_a_clean_error(job: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", str(AFM), "--job", job, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert f"qpurun: --job {job}: the spec has 4 jobs, counting from 0" in err
    assert "hint: --job 0 to --job 3" in err
    assert not (tmp_path / "x.png").exists()


def test_a_spec_error_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.qx"
    spec.write_text(_PLAIN.replace("constant(500 ns, 1 MHz)", "constant(5 rad/us, 1 MHz)"))
    assert main(["draw", str(spec), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"bad\.qx:7:\d+: unit error", err), err
    assert "Traceback" not in err


def test_an_unwritable_output_is_an_environment_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", str(AFM), "-o", str(tmp_path / "missing" / "x.png")]) == 3
    assert "qpurun: cannot write" in capsys.readouterr().err


def test_template_values_are_taken(tmp_path: Path) -> None:
    output = tmp_path / "chain.png"
    assert main(["draw", str(SPECS / "chain_template.qx"), "--set", "atoms=6", "-o", str(output)]) == 0
    assert output.read_bytes().startswith(PNG_MAGIC)


def test_the_chain_template_draws_a_chain() -> None:
    experiment = qpurun.load(SPECS / "chain_template.qx", values={"atoms": 6, "spacing": 7})
    (atoms,) = scatter(draw(experiment).register, "atoms")
    np.testing.assert_allclose(atoms[:, 1], 0.0)  # one row
    np.testing.assert_allclose(np.diff(atoms[:, 0]), 7.0)  # q0, q1, ... in order, 7 µm apart


# ---- no window, and no Pulser for --help --------------------------------------------------------------

_FAKE_BACKEND = """\
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas  # noqa: F401

Path(os.environ["FAKE_BACKEND_MARKS"], "loaded").touch()


def show(*args, **kwargs):
    Path(os.environ["FAKE_BACKEND_MARKS"], "shown").touch()
"""


def _draw_in_a_subprocess(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`qpurun draw` with no display and an interactive backend configured: it must not load it."""
    (tmp_path / "fake_window_backend.py").write_text(_FAKE_BACKEND)
    (tmp_path / "marks").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(
        MPLBACKEND="module://fake_window_backend",
        FAKE_BACKEND_MARKS=str(tmp_path / "marks"),
        PYTHONPATH=os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]),
        QPURUN_HOME=str(tmp_path / "home"),
    )
    return subprocess.run(
        [sys.executable, "-m", "qpurun", "draw", str(AFM), *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_draw_opens_no_window(tmp_path: Path) -> None:
    done = _draw_in_a_subprocess(tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "afm_ramp-job0.png").read_bytes().startswith(PNG_MAGIC)
    assert not list((tmp_path / "marks").iterdir()), "qpurun draw loaded the interactive backend"


def test_show_asks_for_a_window(tmp_path: Path) -> None:
    done = _draw_in_a_subprocess(tmp_path, "--show")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "marks" / "shown").exists()
    assert done.stdout == "" and not (tmp_path / "afm_ramp-job0.png").exists()  # no -o: nothing written


@pytest.mark.parametrize("argv", [["--help"], ["draw", "--help"]])
def test_help_imports_neither_pulser_nor_matplotlib(argv: list[str]) -> None:
    code = (
        "import sys\nfrom qpurun.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "loaded = {m.split('.')[0] for m in sys.modules} & {'pulser', 'matplotlib'}\n"
        "assert not loaded, f'qpurun --help imported {loaded}'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
