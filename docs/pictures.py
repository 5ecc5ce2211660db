"""Regenerate the pictures the docs show, under docs/images: `python docs/pictures.py [NAME ...]`.

They are made by the code they illustrate (the `qpurun draw` picture is the command's own
output), so a change in what qpurun draws shows up in the committed pictures' diff. One
function per picture, registered with `@picture`; with no argument, all are made. PNGs at
100 dpi and 256 colours stay well under 150 KB each.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable
from pathlib import Path

from qpurun.draw import use_backend

use_backend()  # Agg: no window, no display needed; before Pulser imports pyplot

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"

PICTURES: dict[str, Callable[[], Path]] = {}


def picture(make: Callable[[], Path]) -> Callable[[], Path]:
    """Register a picture under its function's name."""
    PICTURES[make.__name__] = make
    return make


@picture
def draw_afm_ramp() -> Path:
    """`qpurun draw specs/afm_ramp.qx`: the register on its layout, above the schedule of job 0."""
    from qpurun.cli import main

    output = IMAGES / "draw-afm_ramp.png"
    with contextlib.redirect_stdout(io.StringIO()):  # the command prints the path: main says it
        status = main(["draw", str(ROOT / "specs" / "afm_ramp.qx"), "-o", str(output)])
    if status != 0:
        raise SystemExit(f"qpurun draw failed ({status})")
    return output


@picture
def trap_numbers() -> Path:
    """How Pulser numbers the traps of each lattice, and the ladder that `trap 0..N-1` makes of
    two rows (docs/language.md, "Trap numbers")."""
    import matplotlib.pyplot as plt
    from pulser.register.special_layouts import (
        RectangularLatticeLayout,
        SquareLatticeLayout,
        TriangularLatticeLayout,
    )

    from qpurun.draw import draw_register, figure_png, layout_axes, stack_png, write_png

    square = SquareLatticeLayout(3, 4, 5)
    triangular = TriangularLatticeLayout(19, 5)
    rectangular = RectangularLatticeLayout(2, 6, 8, 10)  # Pulser: columns' spacing, then rows'
    names = [f"q{i}" for i in range(6)]
    ladder = rectangular.define_register(*range(6), qubit_ids=names)
    chain = rectangular.define_register(*range(0, 12, 2), qubit_ids=names)

    figure, panels = plt.subplots(2, 2, figsize=(11, 7), layout="constrained", gridspec_kw={"height_ratios": [3, 1.4]})
    layout_axes(panels[0, 0], square, title="square(3, 4, spacing = 5 um): column by column, each bottom up")
    layout_axes(panels[0, 1], triangular, title="triangular(19, spacing = 5 um): the same, by x then y")
    draw_register(panels[1, 0], ladder, title="rectangular(2, 6, 10 um, 8 um), q0..q5 = trap 0..5: a ladder")
    draw_register(panels[1, 1], chain, title="the same, q0..q5 = trap 0, 2, ..., 10: a chain")
    for axes in panels[1]:
        legend = axes.get_legend()
        if legend is not None:
            legend.remove()  # it would sit on the atoms; the titles say which are which

    output = IMAGES / "trap-numbers.png"
    write_png(output, stack_png([figure_png(figure)]))
    plt.close("all")
    return output


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in PICTURES]
    if unknown:
        print(f"no picture {', '.join(unknown)}; there are: {', '.join(PICTURES)}", file=sys.stderr)
        return 2
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name in names or list(PICTURES):
        path = PICTURES[name]()
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
