"""`qpurun draw`: the register and the pulse schedule of one job, drawn to be looked at.

A physicist checks an experiment by eye: where the atoms sit and in which traps (as the
spec numbers them: `rectangular(2, 8)` with `trap 0..7` is a ladder, not a chain), which
atoms blockade each other at the drive's amplitude, what each channel plays. Pulser draws
the register (`Register.draw`) and the schedule (`Sequence.draw`); this module picks the
job, adds what Pulser leaves out (trap numbers, the blockade radius at the job's
amplitude, the job's values) and writes both drawings into one file.

Nothing here picks matplotlib's backend on import: `use_backend` does, for the command
(Agg unless a window is asked for), so that a notebook importing this keeps its own.
The functions return the figures, so that tests and `docs/pictures.py` can look at them.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qpurun.command import EnvironmentProblem, UsageProblem
from qpurun.command import jobs as count_jobs

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from qpurun.api import Experiment

FORMATS = (".png", ".svg", ".pdf")
"""What `qpurun draw -o` writes: one raster and two vector formats cover screens, pages and papers."""

DPI = 100
"""PNG resolution: Pulser's 20-inch schedule is then 2,000 pixels wide, plenty for a screen."""

TRAP_NUMBER = "trap-number"
"""Each trap-number label's `gid` is this, then `-` and Pulser's trap id: a test (or a script) finds
them among the texts, and in an SVG they are ids (unique, as ids must be)."""


def use_backend(*, window: bool = False) -> None:
    """Agg unless a window is asked for: `qpurun draw` over ssh, in CI or in a batch job must never
    try to open one (nor fail for want of a display). Call it before Pulser is imported."""
    if not window:
        import matplotlib

        matplotlib.use("Agg")


def output_path(output: str | None, spec: str, job: int) -> Path:
    """Where the drawing goes: `-o FILE`, else `<spec stem>-job<N>.png` here; refused before any work
    if it names a format qpurun does not write."""
    path = Path(output) if output else Path(f"{Path(spec).stem}-job{job}.png")
    if path.suffix.lower() not in FORMATS:
        written = f"a {path.suffix} file" if path.suffix else "a file without an extension"
        raise UsageProblem(f"cannot draw to {path}: {written}", hint="name a .png, .svg or .pdf file")
    return path


@dataclass
class Drawing:
    """One job drawn: the register and the schedule, as two matplotlib figures."""

    register: Figure
    schedule: Figure
    job: int
    variables: dict[str, Any] = field(default_factory=dict)
    """The job's values, in Pulser's units (what the sequence was built with)."""
    amplitude: float | None = None
    """The highest amplitude of the job's Rydberg channels, rad/µs (None without one)."""
    blockade_radius: float | None = None
    """The device's blockade radius at `amplitude`, µm."""


def draw(experiment: Experiment, job: int = 0, *, keep_open: bool = False) -> Drawing:
    """Draw job `job` (counting from 0, as `qpurun results` numbers them) of a compiled spec.

    The figures are closed in pyplot (so that a script drawing many jobs holds no
    window or memory) unless `keep_open`, which `plt.show()` needs.
    """
    import matplotlib.pyplot as plt

    sequence = job_sequence(experiment, job)
    variables = dict(experiment.job_params[job].get("variables", {}))
    amplitude = max_rydberg_amplitude(sequence)
    radius = float(sequence.device.rydberg_blockade_radius(amplitude)) if amplitude else None
    heading = f"{experiment.name}: job {job} of {count_jobs(len(experiment.jobs))}"
    values = job_values(experiment, variables)
    drawing = Drawing(
        register=register_figure(
            sequence.register,
            numbers=trap_numbers(experiment, sequence.register.layout),
            blockade_radius=radius,
            title=register_title(sequence.register, amplitude, radius),
        ),
        schedule=schedule_figure(sequence, title=f"{heading}{': ' if values else ''}{values}"),
        job=job,
        variables=variables,
        amplitude=amplitude,
        blockade_radius=radius,
    )
    if not keep_open:
        plt.close(drawing.register)
        plt.close(drawing.schedule)
    return drawing


def job_sequence(experiment: Experiment, job: int) -> Any:
    """The sequence of job `job`, built with its values (a sequence without variables is itself)."""
    count = len(experiment.jobs)
    if not 0 <= job < count:
        hint = f"--job 0 to --job {count - 1}" if count > 1 else "--job 0, or leave --job out"
        raise UsageProblem(f"--job {job}: the spec has {count_jobs(count)}, counting from 0", hint=hint)
    sequence = experiment.sequence
    if not (sequence.is_parametrized() or sequence.is_register_mappable()):
        return sequence  # Pulser warns on building a sequence that has nothing to build
    return sequence.build(**experiment.job_params[job].get("variables", {}))


def max_rydberg_amplitude(sequence: Any) -> float | None:
    """The highest amplitude any ground-Rydberg channel plays, rad/µs: the blockade radius the
    atoms see is the device's at this Rabi frequency. None when nothing drives that transition."""
    from pulser.channels.dmm import DMM
    from pulser.sampler import sample

    samples = sample(sequence)
    highest = 0.0
    for name in samples.channels:
        channel = sequence.declared_channels[name]
        if channel.basis != "ground-rydberg" or isinstance(channel, DMM):
            continue
        amplitude = samples.channel_samples[name].amp.as_array(detach=True)
        if len(amplitude):
            highest = max(highest, float(amplitude.max()))
    return highest or None


def trap_numbers(experiment: Experiment, layout: Any) -> dict[int, int]:
    """Pulser's trap id -> the number the spec writes for that trap (`trap N`).

    They are the same but for a `traps { }` layout, whose traps the spec numbers in the
    order written while Pulser numbers them after sorting their coordinates.
    """
    if layout is None:
        return {}
    from qpurun.language import ast

    if isinstance(experiment.checked.layout, ast.TrapsLayout):
        written = layout._coords  # the points as the spec wrote them; Pulser keeps them unsorted
        return {int(trap): index for index, trap in enumerate(layout.get_traps_from_coordinates(*written))}
    return {trap: trap for trap in range(layout.number_of_traps)}


def job_values(experiment: Experiment, variables: Mapping[str, Any]) -> str:
    """`omega_max = 1.5 MHz, t = 2 us`: a job's values in the units its sweep wrote them in."""
    from qpurun.language.catalog import UNITS

    shown = []
    for name, value in variables.items():
        if name == "qubits":  # a mappable register's placement: the register drawing shows it
            continue
        unit = experiment.checked.variable_units.get(name)
        scale = UNITS[unit].scale if unit is not None else 1
        text = _number(value, scale)
        shown.append(f"{name} = {text} {unit.value}" if unit is not None else f"{name} = {text}")
    return ", ".join(shown)


def _number(value: Any, scale: float) -> str:
    if isinstance(value, Iterable) and not isinstance(value, str):
        return "[" + ", ".join(_number(v, scale) for v in value) + "]"
    return f"{float(value) / scale:.4g}"


def register_title(register: Any, amplitude: float | None, radius: float | None) -> str:
    """What the register drawing says besides the atoms: the layout, and the blockade radius with
    the amplitude it was taken at (the circles are half of it: two atoms blockade where theirs overlap)."""
    atoms = len(register.qubit_ids)
    title = f"{atoms} atom{'s' if atoms != 1 else ''}"
    if register.layout is not None:
        title += f" in {register.layout.number_of_traps} traps of {register.layout.slug or 'a layout'}"
    if amplitude is not None and radius is not None:
        title += (
            f"\nblockade radius {radius:.3g} µm at Ω = {amplitude:.4g} rad/µs "
            f"(Ω/2π = {amplitude / (2 * math.pi):.3g} MHz); circles: half of it"
        )
    return title


def register_figure(
    register: Any,
    *,
    numbers: Mapping[int, int] | None = None,
    blockade_radius: float | None = None,
    title: str = "",
) -> Figure:
    """The register in a figure of its own, sized to the layout (see `draw_register`)."""
    import matplotlib.pyplot as plt
    from pulser.register import Register3D

    if isinstance(register, Register3D):
        return _register_3d(register, numbers, title)
    layout = register.layout
    points = layout.sorted_coords if layout is not None else _coordinates(register)
    figure = plt.figure(figsize=_register_size(points, blockade_radius), layout="constrained")
    draw_register(figure.add_subplot(), register, numbers=numbers, blockade_radius=blockade_radius, title=title)
    return figure


def draw_register(
    axes: Axes,
    register: Any,
    *,
    numbers: Mapping[int, int] | None = None,
    blockade_radius: float | None = None,
    title: str = "",
) -> None:
    """A 2D register drawn by Pulser on `axes` (qubit names, the layout's empty traps, half the
    blockade radius around each atom, a line between atoms that blockade), plus every trap's number."""
    layout = register.layout
    alone = len(register.qubit_ids) == 1  # Pulser draws no blockade radius around a single atom
    radius = None if alone else blockade_radius
    register.draw(
        custom_ax=axes,
        show=False,
        with_labels=True,
        draw_empty_sites=layout is not None and layout.number_of_traps > len(register.qubit_ids),
        blockade_radius=radius,
        draw_half_radius=radius is not None,
        draw_graph=radius is not None,
    )
    if alone and blockade_radius is not None:
        from matplotlib.patches import Circle

        axes.add_patch(Circle(tuple(_coordinates(register)[0]), blockade_radius / 2, alpha=0.1, color="darkgreen"))
    if layout is not None:
        label_traps(axes, layout.sorted_coords, numbers or {})
    axes.set_title(title, fontsize=10)


def _coordinates(register: Any) -> np.ndarray:
    import numpy as np

    return np.array([register.qubits[q].as_array(detach=True) for q in register.qubit_ids], dtype=float)


def _register_size(points: np.ndarray, blockade_radius: float | None) -> tuple[float, float]:
    """Inches: the longer side 6 (a layout of 61 traps stays legible), the shorter at least 3.5
    (room for the legend and the two-line title), in the drawing's proportions."""
    import numpy as np

    margin = 6.0 + (blockade_radius or 0.0)
    width, height = (np.ptp(points, axis=0)[:2] if len(points) else np.zeros(2)) + margin
    scale = 6.0 / max(width, height)
    return max(3.5, float(width * scale)), max(3.5, float(height * scale) + 0.6)


def label_traps(
    axes: Axes,
    coordinates: np.ndarray,
    numbers: Mapping[int, int],
    plane: tuple[int, int] = (0, 1),
    fontsize: float = 7,
) -> None:
    """Write each trap's number (Pulser's id, or `numbers[id]`) below and left of it, small and grey,
    where Pulser's qubit names (above, right) do not cover it."""
    x, y = plane
    for trap, point in enumerate(coordinates):
        axes.annotate(
            str(numbers.get(trap, trap)),
            (float(point[x]), float(point[y])),
            xytext=(-3, -3),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=fontsize,
            color="0.35",
            gid=f"{TRAP_NUMBER}-{trap}",
        )


def layout_axes(axes: Axes, layout: Any, numbers: Mapping[int, int] | None = None, title: str = "") -> None:
    """A layout on its own, every trap numbered: `RegisterLayout.draw` makes its own figure, and a
    page comparing lattices needs several in one."""
    coordinates = layout.sorted_coords
    axes.scatter(coordinates[:, 0], coordinates[:, 1], s=50, facecolors="none", edgecolors="black", alpha=0.7)
    label_traps(axes, coordinates, numbers or {}, fontsize=9)
    axes.set_xlabel("x (µm)")
    axes.set_ylabel("y (µm)")
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_title(title, fontsize=10)


def _register_3d(register: Any, numbers: Mapping[int, int] | None, title: str) -> Figure:
    """A 3D register as its three projections. Pulser's `Register3D.draw` takes no axes and calls
    `plt.show()` itself, so this draws the same marks (hollow traps, filled atoms) directly."""
    import matplotlib.pyplot as plt

    layout = register.layout
    atoms = _coordinates(register)
    figure, panels = plt.subplots(1, 3, figsize=(13, 4.6), layout="constrained")
    for axes, plane in zip(panels, ((0, 1), (0, 2), (1, 2)), strict=True):
        x, y = plane
        if layout is not None:
            traps = layout.sorted_coords
            axes.scatter(
                traps[:, x], traps[:, y], s=50, facecolors="none", edgecolors="black", alpha=0.7, label="traps"
            )
            label_traps(axes, traps, numbers or {}, plane)
        axes.scatter(atoms[:, x], atoms[:, y], s=30, c="darkgreen", alpha=0.7, label="atoms")
        for name, point in zip(register.qubit_ids, atoms, strict=True):
            axes.annotate(str(name), (point[x], point[y]), xytext=(2, 2), textcoords="offset points", fontsize=10)
        axes.set_xlabel(f"{'xyz'[x]} (µm)")
        axes.set_ylabel(f"{'xyz'[y]} (µm)")
        axes.set_aspect("equal", adjustable="datalim")
        axes.legend(loc="best", fontsize=8)
    figure.suptitle(title, fontsize=10)
    return figure


def schedule_figure(sequence: Any, *, title: str = "") -> Figure:
    """The schedule of every channel as Pulser draws it (the programmed and the modulated
    amplitude, detuning and phase, targets, EOM blocks, the measurement), one row per channel."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        sequence.draw(show=False)
    except (RuntimeError, ValueError) as error:  # e.g. "Can't draw an empty sequence."
        raise UsageProblem(f"Pulser cannot draw this sequence: {error}") from None
    made = [plt.figure(number) for number in plt.get_fignums() if number not in before]
    # Asked for no register and no per-qubit view, Pulser makes exactly one figure: the channels'.
    figure, *others = made
    for other in others:
        plt.close(other)
    if title:
        figure.suptitle(title, fontsize=14)
    return figure


def save(drawing: Drawing, path: Path) -> None:
    """Write both figures into one file, by its extension: PNG and SVG stack the register above
    the schedule in one picture; a PDF has a page each (matplotlib cannot merge two figures)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from matplotlib.backends.backend_pdf import PdfPages

        with PdfPages(path) as pages:
            pages.savefig(drawing.register, bbox_inches="tight")
            pages.savefig(drawing.schedule, bbox_inches="tight")
    elif suffix == ".svg":
        path.write_text(stack_svg([_svg(drawing.register), _svg(drawing.schedule)]), encoding="utf-8")
    elif suffix == ".png":
        write_png(path, stack_png([figure_png(drawing.register), figure_png(drawing.schedule)]))
    else:
        raise UsageProblem(f"cannot draw to {path}", hint="name a .png, .svg or .pdf file")


def write(experiment: Experiment, *, job: int, output: Path | None, window: bool = False) -> Drawing:
    """What `qpurun draw` does once the spec is compiled: draw, save to `output`, show if asked."""
    drawing = draw(experiment, job, keep_open=window)
    if output is not None:
        try:
            save(drawing, output)
        except OSError as error:
            raise EnvironmentProblem(f"cannot write {output}: {error.strerror or error}") from None
    if window:
        import matplotlib.pyplot as plt

        plt.show()
    return drawing


# ---- one picture out of two figures -------------------------------------------------------------------


def figure_png(figure: Figure) -> np.ndarray:
    """A figure as an RGBA image at `DPI`, cropped to what is drawn, on white."""
    import matplotlib.image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    buffer.seek(0)
    return matplotlib.image.imread(buffer, format="png")


def stack_png(images: list[np.ndarray], gap: int = 20) -> np.ndarray:
    """RGB images one above the other, each centred, on white."""
    import numpy as np

    width = max(image.shape[1] for image in images)
    height = sum(image.shape[0] for image in images) + gap * (len(images) - 1)
    canvas = np.ones((height, width, 3), dtype=np.float32)
    top = 0
    for image in images:
        left = (width - image.shape[1]) // 2
        canvas[top : top + image.shape[0], left : left + image.shape[1]] = image[..., :3]
        top += image.shape[0] + gap
    return canvas


def write_png(path: Path, image: np.ndarray) -> None:
    """An indexed PNG: a plot has few colours, and 256 of them make the file a third the size of RGB."""
    import numpy as np
    from PIL import Image

    rgb = Image.fromarray(np.round(image * 255).astype(np.uint8), mode="RGB")
    indexed = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    indexed.save(path, format="PNG", optimize=True, dpi=(DPI, DPI))


def _svg(figure: Figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: smaller, and searchable
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()


_ROOT = re.compile(r"<svg\b[^>]*>")
_SIZE = re.compile(r'\b(width|height)="([0-9.]+)pt"')


def stack_svg(documents: list[str], gap: float = 15.0) -> str:
    """SVG documents one above the other, each centred, as nested `<svg>`s of one document.

    Each inner document's ids get a prefix, so that two figures' `clip-path`s, markers and
    hatches cannot resolve to each other's.
    """
    parts: list[tuple[str, float, float]] = []
    for index, document in enumerate(documents):
        root = _ROOT.search(document)
        assert root is not None, "matplotlib wrote an SVG without <svg>"
        size = {name: float(value) for name, value in _SIZE.findall(root.group())}
        body = document[root.start() :]
        prefix = f"d{index}-"
        body = re.sub(r'\bid="', f'id="{prefix}', body)
        body = re.sub(r'(href=")#', rf"\1#{prefix}", body)
        body = body.replace("url(#", f"url(#{prefix}")
        parts.append((body, size["width"], size["height"]))
    width = max(w for _, w, _ in parts)
    height = sum(h for _, _, h in parts) + gap * (len(parts) - 1)
    out = [
        '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" '
        f'width="{width:g}pt" height="{height:g}pt" viewBox="0 0 {width:g} {height:g}">\n',
        f'<rect width="{width:g}" height="{height:g}" fill="white"/>\n',
    ]
    top = 0.0
    for body, w, h in parts:
        # Inside the outer viewBox one user unit is 1 pt: the inner size is given in user units.
        placed = _SIZE.sub(lambda m: f'{m.group(1)}="{m.group(2)}"', body[: body.index(">") + 1], count=2)
        placed = placed.replace("<svg ", f'<svg x="{(width - w) / 2:g}" y="{top:g}" ', 1)
        out.append(placed + body[body.index(">") + 1 :] + "\n")
        top += h + gap
    out.append("</svg>\n")
    return "".join(out)
