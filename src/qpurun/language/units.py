"""Physical dimensions and the conversion of written units to Pulser's own.

Pulser's units are ns (integer) for time, rad/µs for amplitude and detuning,
µm for distance, rad for phase and gauss for the magnetic field. A bare number
already is in Pulser's unit; a literal with a unit is scaled to it.
"""

from __future__ import annotations

import enum
import math

from qpurun.language.ast import Unit


class Dimension(enum.Enum):
    TIME = "a time"
    FREQUENCY = "an angular frequency"
    DISTANCE = "a distance"
    ANGLE = "an angle"
    FIELD = "a magnetic field"


UNIT_DIMENSION: dict[Unit, Dimension] = {
    Unit.NS: Dimension.TIME,
    Unit.US: Dimension.TIME,
    Unit.MS: Dimension.TIME,
    Unit.RAD_PER_US: Dimension.FREQUENCY,
    Unit.MHZ: Dimension.FREQUENCY,
    Unit.UM: Dimension.DISTANCE,
    Unit.NM: Dimension.DISTANCE,
    Unit.RAD: Dimension.ANGLE,
    Unit.DEG: Dimension.ANGLE,
    Unit.GAUSS: Dimension.FIELD,
    Unit.MILLITESLA: Dimension.FIELD,
}

# Scale from the written unit to Pulser's. Times scale by integers so that
# `3 us` stays the int 3000 that Pulser wants for a duration.
UNIT_SCALE: dict[Unit, int | float] = {
    Unit.NS: 1,
    Unit.US: 1000,
    Unit.MS: 1_000_000,
    Unit.RAD_PER_US: 1,
    Unit.MHZ: 2 * math.pi,  # MHz is a frequency f; Pulser takes ω = 2π f
    Unit.UM: 1,
    Unit.NM: 1e-3,
    Unit.RAD: 1,
    Unit.DEG: math.pi / 180,
    Unit.GAUSS: 1,
    Unit.MILLITESLA: 10,
}

UNITS_OF: dict[Dimension, str] = {
    Dimension.TIME: "ns, us or ms",
    Dimension.FREQUENCY: "rad/us or MHz",
    Dimension.DISTANCE: "um or nm",
    Dimension.ANGLE: "rad or deg",
    Dimension.FIELD: "G or mT",
}

PULSER_UNIT: dict[Dimension, str] = {
    Dimension.TIME: "ns",
    Dimension.FREQUENCY: "rad/µs",
    Dimension.DISTANCE: "µm",
    Dimension.ANGLE: "rad",
    Dimension.FIELD: "G",
}


def describe(dimension: Dimension) -> str:
    """'a time (ns, us or ms)': how an error names what a slot takes."""
    return f"{dimension.value} ({UNITS_OF[dimension]})"
