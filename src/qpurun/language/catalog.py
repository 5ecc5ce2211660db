"""Every Pulser construct a spec can name, one table each.

Pulser's own `json/abstract_repr/signatures.py` is the model: one table that
every reader consults. The checker binds and types calls with `Signature`s,
the lowering builds Pulser objects with each entry's `build`, the importer
reads an abstract-representation `kind` back with `Representation`s, and the
printer writes what the checker accepts. Adding a waveform kind is one entry
in `WAVEFORMS` (and its test); nothing else changes.

Pulser is imported only inside `build` functions and the device lookups, so
this module (and `qpurun --help`) stays light.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pulser.devices._device_datacls import BaseDevice as BaseDevice

# ---- units and dimensions --------------------------------------------------------


class Dimension(enum.Enum):
    TIME = "a time"
    FREQUENCY = "an angular frequency"
    DISTANCE = "a distance"
    ANGLE = "an angle"
    FIELD = "a magnetic field"


class Unit(enum.Enum):
    """A unit as written, in ASCII (`fmt` writes this spelling)."""

    NS = "ns"
    US = "us"
    MS = "ms"
    RAD_PER_US = "rad/us"
    MHZ = "MHz"
    UM = "um"
    NM = "nm"
    RAD = "rad"
    DEG = "deg"
    GAUSS = "G"
    MILLITESLA = "mT"


@dataclass(frozen=True)
class UnitEntry:
    dimension: Dimension
    scale: int | float
    """From the written unit to Pulser's. Times scale by integers, so that `3 us` stays the int 3000."""
    spellings: tuple[str, ...] = ()
    """Other ways to write it (`µs`), besides the ASCII name."""


UNITS: dict[Unit, UnitEntry] = {
    Unit.NS: UnitEntry(Dimension.TIME, 1),
    Unit.US: UnitEntry(Dimension.TIME, 1000, ("µs",)),
    Unit.MS: UnitEntry(Dimension.TIME, 1_000_000),
    Unit.RAD_PER_US: UnitEntry(Dimension.FREQUENCY, 1, ("rad/µs",)),
    Unit.MHZ: UnitEntry(Dimension.FREQUENCY, 2 * math.pi),  # MHz is a frequency f; Pulser takes ω = 2π f
    Unit.UM: UnitEntry(Dimension.DISTANCE, 1, ("µm",)),
    Unit.NM: UnitEntry(Dimension.DISTANCE, 1e-3),
    Unit.RAD: UnitEntry(Dimension.ANGLE, 1),
    Unit.DEG: UnitEntry(Dimension.ANGLE, math.pi / 180),
    Unit.GAUSS: UnitEntry(Dimension.FIELD, 1),
    Unit.MILLITESLA: UnitEntry(Dimension.FIELD, 10),
}

SPELLINGS: dict[str, Unit] = {
    spelling: unit for unit, entry in UNITS.items() for spelling in (unit.value, *entry.spellings)
}
"""Every way a unit may be written, for the lexer and the transformer."""

PULSER_UNIT: dict[Dimension, Unit] = {
    Dimension.TIME: Unit.NS,
    Dimension.FREQUENCY: Unit.RAD_PER_US,
    Dimension.DISTANCE: Unit.UM,
    Dimension.ANGLE: Unit.RAD,
    Dimension.FIELD: Unit.GAUSS,
}
"""Pulser's own unit for each dimension: a bare number is in it."""

_EXPONENTS: dict[Dimension | None, tuple[int, int, int]] = {
    None: (0, 0, 0),
    Dimension.ANGLE: (0, 0, 0),  # radians are a ratio: rad/us is 1/us
    Dimension.TIME: (1, 0, 0),
    Dimension.FREQUENCY: (-1, 0, 0),
    Dimension.DISTANCE: (0, 1, 0),
    Dimension.FIELD: (0, 0, 1),
}
"""Each dimension as powers of time, distance and field, so that products and quotients have one."""

_COHERENT_SCALE: dict[Dimension | None, float] = {Dimension.FREQUENCY: 1e-3}
"""Each Pulser unit in the coherent units (rad, ns, um, G): rad/us is 1e-3 rad/ns, the rest are 1."""


def combine(multiply: bool, left: Dimension | None, right: Dimension | None) -> tuple[Dimension | None, float] | None:
    """The dimension of `left * right` (or `left / right`) and the factor that brings Pulser's
    numbers for the two sides to Pulser's unit for the result: `2 rad / 100 ns` is 0.02 in
    rad/ns, so 20 in rad/us (factor 1000); `1 MHz * 1 us` is 2pi * 1000 * 1e-3 rad.

    None when the result has no dimension a spec can use (a time squared, a speed).
    """
    sign = 1 if multiply else -1
    exponents = tuple(a + sign * b for a, b in zip(_EXPONENTS[left], _EXPONENTS[right], strict=True))
    if exponents == (0, 0, 0):
        if multiply:
            angle = Dimension.ANGLE in (left, right) or {left, right} == {Dimension.TIME, Dimension.FREQUENCY}
        else:
            angle = left is Dimension.ANGLE and right is not Dimension.ANGLE
        result: Dimension | None = Dimension.ANGLE if angle else None
    else:
        named = [d for d, e in _EXPONENTS.items() if e == exponents and d is not None]
        if not named:
            return None
        (result,) = named
    scale = _COHERENT_SCALE.get(left, 1.0) * _COHERENT_SCALE.get(right, 1.0) ** sign
    return result, scale / _COHERENT_SCALE.get(result, 1.0)


def unit_pattern() -> str:
    """The lexer's regular expression for a unit: longest spelling first, not followed by a word or `/`."""
    spellings = sorted(SPELLINGS, key=len, reverse=True)
    return "(" + "|".join(re.escape(s).replace("/", "\\/") for s in spellings) + r")(?![\w\/])"


def units_of(dimension: Dimension) -> str:
    """'ns, us or ms': the units a slot of this dimension takes."""
    names = [unit.value for unit, entry in UNITS.items() if entry.dimension is dimension]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def describe(dimension: Dimension) -> str:
    """'a time (ns, us or ms)': how an error names what a slot takes."""
    return f"{dimension.value} ({units_of(dimension)})"


def all_units() -> str:
    """'ns, us, ms, rad/us, ...': every unit, for a hint."""
    return ", ".join(unit.value for unit in UNITS)


# ---- signatures ---------------------------------------------------------------------


class Kind(enum.Enum):
    NUMBER = "a number"
    ARRAY = "a list of numbers"
    WAVEFORM = "a waveform"
    PULSE = "a pulse"


VALUE = "value"
"""The dimension of a waveform's samples, decided where it is used (rad/µs for an amplitude, rad for a phase)."""


@dataclass(frozen=True)
class Param:
    name: str
    kinds: tuple[Kind, ...]
    dimension: Dimension | str | None
    required: bool = True
    variadic: bool = False
    positional: bool = True
    """Whether it may be given by position; `max` and a pulse's `duration` may not."""
    by_name: bool = False
    """Whether the importer writes it as `name = value` (it writes parameters in the order listed)."""


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple[Param, ...]
    result: Kind
    doc: str


def _p(
    name: str,
    *kinds: Kind,
    dim: Dimension | str | None = None,
    required: bool = True,
    variadic: bool = False,
    positional: bool = True,
    by_name: bool = False,
) -> Param:
    return Param(name, kinds or (Kind.NUMBER,), dim, required, variadic, positional, by_name)


_T = Dimension.TIME
_W = Kind.WAVEFORM
_N = Kind.NUMBER
_A = Kind.ARRAY


# ---- waveforms -------------------------------------------------------------------------


@dataclass(frozen=True)
class Representation:
    """One abstract-representation `kind` of a waveform, and how its fields are the call's parameters."""

    kind: str
    fields: Mapping[str, str]
    """Parameter name to JSON field name."""
    omitted: Mapping[str, Callable[[Any, Mapping[str, Any]], bool]] = field(default_factory=dict)
    """Parameters left out of the call when the JSON's value is the default (value, whole JSON)."""


@dataclass(frozen=True)
class WaveformKind:
    signature: Signature
    build: Callable[[Mapping[str, Any]], Any]
    """The Pulser waveform from the evaluated arguments (variables stay symbolic)."""
    representations: tuple[Representation, ...]
    pulser: str
    """The Pulser class, for docs and hovers."""


def _waveforms() -> Any:
    import pulser.waveforms

    return pulser.waveforms


def _blackman(args: Mapping[str, Any]) -> Any:
    cls = _waveforms().BlackmanWaveform
    return cls.from_max_val(args["max"], args["area"]) if "max" in args else cls(args["duration"], args["area"])


def _kaiser(args: Mapping[str, Any]) -> Any:
    cls = _waveforms().KaiserWaveform
    beta = {"beta": args["beta"]} if "beta" in args else {}
    if "max" in args:
        return cls.from_max_val(args["max"], args["area"], **beta)
    return cls(args["duration"], args["area"], **beta)


def _interpolated(args: Mapping[str, Any]) -> Any:
    times = {"times": args["times"]} if "times" in args else {}
    return _waveforms().InterpolatedWaveform(args["duration"], args["values"], **times)


KAISER_BETA = 14.0
"""Pulser's default `beta` for a Kaiser window."""


def waveform_duration_from_max(name: str, args: Mapping[str, Any]) -> float | None:
    """About how long (ns) a `blackman` or `kaiser` given `max =` and `area =` lasts, as Pulser
    estimates it: area over the window's mean height (`max` in rad/us, `area` in rad)."""
    import numpy as np

    if name == "blackman":
        mean = 0.42  # np.blackman's mean over a long window
    elif name == "kaiser":
        window = np.kaiser(100, float(args.get("beta", KAISER_BETA)))
        mean = float(np.sum(window)) / 100
    else:
        return None
    return abs(float(args["area"])) * 1000 / (abs(float(args["max"])) * mean)


def _default_beta(value: Any, _: Mapping[str, Any]) -> bool:
    return bool(value == KAISER_BETA)


def _default_times(value: Any, _: Mapping[str, Any]) -> bool:
    """Pulser writes the default times (evenly spaced over [0, 1]) out in full."""
    if not isinstance(value, list) or not all(isinstance(t, int | float) for t in value):
        return False
    count = len(value)
    return count > 1 and all(abs(t - i / (count - 1)) < 1e-12 for i, t in enumerate(value))


WAVEFORMS: dict[str, WaveformKind] = {
    "constant": WaveformKind(
        Signature("constant", (_p("duration", dim=_T), _p("value", dim=VALUE)), _W, "constant(duration, value)"),
        lambda a: _waveforms().ConstantWaveform(a["duration"], a["value"]),
        (Representation("constant", {"duration": "duration", "value": "value"}),),
        "pulser.waveforms.ConstantWaveform",
    ),
    "ramp": WaveformKind(
        Signature(
            "ramp",
            (_p("duration", dim=_T), _p("start", dim=VALUE), _p("stop", dim=VALUE)),
            _W,
            "ramp(duration, start, stop)",
        ),
        lambda a: _waveforms().RampWaveform(a["duration"], a["start"], a["stop"]),
        (Representation("ramp", {"duration": "duration", "start": "start", "stop": "stop"}),),
        "pulser.waveforms.RampWaveform",
    ),
    "blackman": WaveformKind(
        Signature(
            "blackman",
            (
                _p("duration", dim=_T, required=False),
                _p("max", dim=VALUE, required=False, positional=False, by_name=True),
                _p("area", dim=Dimension.ANGLE, by_name=True),
            ),
            _W,
            "blackman(duration, area = a) or blackman(max = m, area = a)",
        ),
        _blackman,
        (
            Representation("blackman", {"duration": "duration", "area": "area"}),
            Representation("blackman_max", {"max": "max_val", "area": "area"}),
        ),
        "pulser.waveforms.BlackmanWaveform",
    ),
    "kaiser": WaveformKind(
        Signature(
            "kaiser",
            (
                _p("duration", dim=_T, required=False),
                _p("max", dim=VALUE, required=False, positional=False, by_name=True),
                _p("area", dim=Dimension.ANGLE, by_name=True),
                _p("beta", required=False, by_name=True),
            ),
            _W,
            "kaiser(duration, area = a, beta = 14) or kaiser(max = m, area = a, beta = b)",
        ),
        _kaiser,
        (
            Representation("kaiser", {"duration": "duration", "area": "area", "beta": "beta"}, {"beta": _default_beta}),
            Representation("kaiser_max", {"max": "max_val", "area": "area", "beta": "beta"}, {"beta": _default_beta}),
        ),
        "pulser.waveforms.KaiserWaveform",
    ),
    "interpolated": WaveformKind(
        Signature(
            "interpolated",
            (
                _p("duration", dim=_T),
                _p("values", _A, dim=VALUE, by_name=True),
                _p("times", _A, required=False, by_name=True),
            ),
            _W,
            "interpolated(duration, values = [...], times = [...])",
        ),
        _interpolated,
        (
            Representation(
                "interpolated",
                {"duration": "duration", "values": "values", "times": "times"},
                {"times": _default_times},
            ),
        ),
        "pulser.waveforms.InterpolatedWaveform",
    ),
    "composite": WaveformKind(
        Signature("composite", (_p("waveforms", _W, variadic=True),), _W, "composite(w1, w2, ...)"),
        lambda a: _waveforms().CompositeWaveform(*a["waveforms"]),
        (Representation("composite", {"waveforms": "waveforms"}),),
        "pulser.waveforms.CompositeWaveform",
    ),
    "custom": WaveformKind(
        Signature("custom", (_p("samples", _A, dim=VALUE),), _W, "custom([samples...])"),
        lambda a: _waveforms().CustomWaveform(a["samples"]),
        (Representation("custom", {"samples": "samples"}),),
        "pulser.waveforms.CustomWaveform",
    ),
}


def waveform_for(kind: str) -> tuple[WaveformKind, Representation] | None:
    """The catalog entry (the first that claims it) for an abstract-representation waveform `kind`."""
    for entry in WAVEFORMS.values():
        for representation in entry.representations:
            if representation.kind == kind:
                return entry, representation
    return None


def waveform_duration(waveform: Mapping[str, Any]) -> Any:
    """A waveform's duration as its JSON gives it, or None when it is computed (e.g. from a variable)."""
    kind = waveform.get("kind")
    if kind == "custom":
        samples = waveform.get("samples")
        return len(samples) if isinstance(samples, list) else None
    if kind == "composite":
        parts = [waveform_duration(w) for w in waveform.get("waveforms", ())]
        if all(isinstance(p, int | float) and not isinstance(p, bool) for p in parts):
            return sum(parts)
        return None
    found = waveform_for(str(kind))
    if found is None or "duration" not in found[1].fields:
        return None
    return waveform.get(found[1].fields["duration"])


# ---- pulses, EOM, noise and the other calls ---------------------------------------------------

PULSE = Signature(
    "pulse",
    (
        _p("amplitude", _W, _N, dim=Dimension.FREQUENCY, required=False),
        _p("detuning", _W, _N, dim=Dimension.FREQUENCY, required=False),
        _p("phase", _W, _N, dim=Dimension.ANGLE, required=False),
        _p("post_phase_shift", dim=Dimension.ANGLE, required=False),
        _p("duration", dim=_T, required=False, positional=False),
    ),
    Kind.PULSE,
    "pulse(amplitude = A, detuning = D, phase = P, post_phase_shift = S) "
    "or pulse(duration = T, amplitude = a, detuning = d, phase = p)",
)


def build_pulse(args: Mapping[str, Any], is_waveform: Callable[[Any], bool]) -> Any:
    """The `pulser.Pulse` constructor a careful user would pick for these slots."""
    import pulser

    phase = args.get("phase", 0)
    shift = args.get("post_phase_shift", 0)
    amplitude = args.get("amplitude", 0)
    detuning = args.get("detuning", 0)
    if "duration" in args:
        return pulser.Pulse.ConstantPulse(args["duration"], amplitude, detuning, phase, shift)
    if is_waveform(phase):
        return pulser.Pulse.ArbitraryPhase(amplitude, phase, shift)
    if is_waveform(amplitude) and is_waveform(detuning):
        return pulser.Pulse(amplitude, detuning, phase, shift)
    if is_waveform(amplitude):
        return pulser.Pulse.ConstantDetuning(amplitude, detuning, phase, shift)
    return pulser.Pulse.ConstantAmplitude(amplitude, detuning, phase, shift)


LINSPACE = Signature("linspace", (_p("start"), _p("stop"), _p("num")), Kind.ARRAY, "linspace(start, stop, num)")


@dataclass(frozen=True)
class MathFunction:
    """A function Pulser can apply to a variable and still serialize the sequence."""

    name: str
    numpy: str | None
    """The numpy ufunc (which dispatches to Pulser's variables); None for Python's builtin of that name."""
    takes: Dimension | Literal["any"] | None = None
    """What its argument may be: "any" keeps the argument's dimension (`abs`, `floor`); an angle
    for `sin`; else a bare number (`exp` of a time has no meaning)."""

    def function(self) -> Callable[[Any], Any]:
        if self.numpy is None:
            result: Callable[[Any], Any] = getattr(__import__("builtins"), self.name)
            return result
        import numpy as np

        ufunc: Callable[[Any], Any] = getattr(np, self.numpy)
        return ufunc


MATH: dict[str, MathFunction] = {
    m.name: m
    for m in (
        MathFunction("abs", None, "any"),
        MathFunction("floor", "floor", "any"),
        MathFunction("ceil", "ceil", "any"),
        MathFunction("sqrt", "sqrt"),
        MathFunction("exp", "exp"),
        MathFunction("log", "log"),
        MathFunction("log2", "log2"),
        MathFunction("sin", "sin", Dimension.ANGLE),
        MathFunction("cos", "cos", Dimension.ANGLE),
        MathFunction("tan", "tan", Dimension.ANGLE),
        MathFunction("tanh", "tanh"),
    )
}
"""By name, which is also the abstract representation's `expression`."""

OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "pow": "**"}
"""The abstract representation's binary `expression`s, by the operator a spec writes."""

MATH_SIGNATURES = {name: Signature(name, (_p("x", _N, _A),), Kind.NUMBER, f"{name}(x)") for name in MATH}

UNSERIALIZABLE = {
    "round": "use floor(x + 0.5)",
    "min": "compute the value in the sweep instead",
    "max": "compute the value in the sweep instead",
    "pow": "use x ** y",
    "int": "declare the variable `int` instead",
    "float": "declare the variable `float` instead",
    "arcsin": "compute the value in the sweep instead",
    "arccos": "compute the value in the sweep instead",
    "arctan": "compute the value in the sweep instead",
}
"""Python has these, Pulser cannot serialize them on a variable: say so."""

EOM = Signature(
    "eom",
    (
        _p("amplitude", dim=Dimension.FREQUENCY),
        _p("detuning_on", dim=Dimension.FREQUENCY),
        _p("optimal_detuning_off", dim=Dimension.FREQUENCY, required=False),
        _p("correct_phase_drift", required=False),
    ),
    Kind.NUMBER,
    "eom CH (amplitude = a, detuning_on = d, optimal_detuning_off = o, correct_phase_drift = 1)",
)
SETPOINT = Signature(
    "setpoint",
    (
        _p("amplitude", dim=Dimension.FREQUENCY),
        _p("detuning_on", dim=Dimension.FREQUENCY),
        _p("optimal_detuning_off", dim=Dimension.FREQUENCY, required=False),
        _p("correct_phase_drift", required=False),
    ),
    Kind.NUMBER,
    "setpoint (amplitude = a, detuning_on = d, optimal_detuning_off = o, correct_phase_drift)",
)


def signatures() -> dict[str, Signature]:
    """Every function a spec may call, from the tables as they are now (a test may add a waveform kind)."""
    return {
        **{name: entry.signature for name, entry in WAVEFORMS.items()},
        "pulse": PULSE,
        "linspace": LINSPACE,
        **MATH_SIGNATURES,
    }


BUILTINS = ("pi", "device")
"""Names a spec may not declare: the constant and the device's properties."""

NOISE_PARAMETERS = (
    "runs",
    "samples_per_run",
    "state_prep_error",
    "p_false_pos",
    "p_false_neg",
    "temperature",
    "laser_waist",
    "amp_sigma",
    "relaxation_rate",
    "dephasing_rate",
    "hyperfine_dephasing_rate",
    "depolarizing_rate",
    "detuning_sigma",
)
"""`pulser.NoiseModel`'s parameters, which the `noise { }` block passes on by name."""

# ---- layouts and register shapes -----------------------------------------------------------------


def _shape(name: str, *counts: str, spacing: tuple[str, ...] = ("spacing",), optional: bool = False) -> Signature:
    params = tuple(Param(c, (Kind.NUMBER,), None) for c in counts) + tuple(
        Param(s, (Kind.NUMBER,), Dimension.DISTANCE, required=not optional) for s in spacing
    )
    return Signature(name, params, Kind.NUMBER, f"{name}({', '.join(p.name for p in params)})")


@dataclass(frozen=True)
class Lattice:
    """A layout Pulser names: `layout triangular(61, spacing = 5 um)`."""

    signature: Signature
    """Keyword names are Pulser's, since the lowering passes them through."""
    build: Callable[[Mapping[str, Any]], Any]
    slug: re.Pattern[str]
    """How Pulser names the layout it builds, which the importer recognises."""


def _special_layouts() -> Any:
    import pulser.register.special_layouts

    return pulser.register.special_layouts


LATTICES: dict[str, Lattice] = {
    "triangular": Lattice(
        _shape("triangular", "n_traps"),
        lambda a: _special_layouts().TriangularLatticeLayout(a["n_traps"], a["spacing"]),
        re.compile(r"TriangularLatticeLayout\((\d+), ([0-9.e+-]+)µm\)\Z"),
    ),
    "square": Lattice(
        _shape("square", "rows", "columns"),
        lambda a: _special_layouts().SquareLatticeLayout(a["rows"], a["columns"], a["spacing"]),
        re.compile(r"SquareLatticeLayout\((\d+)x(\d+), ([0-9.e+-]+)µm\)\Z"),
    ),
    "rectangular": Lattice(
        _shape("rectangular", "rows", "cols", spacing=("row_spacing", "col_spacing")),
        lambda a: _special_layouts().RectangularLatticeLayout(
            rows=a["rows"], columns=a["cols"], row_spacing=a["row_spacing"], col_spacing=a["col_spacing"]
        ),
        re.compile(r"RectangularLatticeLayout\((\d+)x(\d+), ([0-9.e+-]+)x([0-9.e+-]+)µm\)\Z"),
    ),
}
ALIASES = {"rectangular": {"columns": "cols"}}
"""Other names a lattice's parameters go by: Pulser's `RectangularLatticeLayout` says `columns`."""


@dataclass(frozen=True)
class Shape:
    """A register Pulser generates: `register square(3, spacing = 5 um)`, qubits q0, q1, ..."""

    signature: Signature
    factory: str
    """The `pulser.Register` class method."""
    needs_device: bool = False
    importable: bool = True
    """Whether the importer tries it when it meets a register of named points."""

    def build(self, positional: list[Any], keywords: Mapping[str, Any], device: Any) -> Any:
        import pulser

        make = getattr(pulser.Register, self.factory)
        if self.needs_device:
            return make(positional[0], device, *positional[1:], prefix="q", **keywords)
        return make(*positional, prefix="q", **keywords)


SHAPES: dict[str, Shape] = {
    "square": Shape(_shape("square", "side", optional=True), "square"),
    "rectangle": Shape(_shape("rectangle", "rows", "columns", optional=True), "rectangle"),
    "triangular": Shape(_shape("triangular", "rows", "atoms_per_row", optional=True), "triangular_lattice"),
    "hexagon": Shape(_shape("hexagon", "layers", optional=True), "hexagon"),
    "max_connectivity": Shape(
        _shape("max_connectivity", "n_qubits", optional=True), "max_connectivity", needs_device=True, importable=False
    ),
}

# ---- devices and their properties ----------------------------------------------------------------------

DEVICE_PROPERTIES: dict[str, Dimension | None] = {
    "max_atom_num": None,
    "max_runs": None,
    "min_atom_distance": Dimension.DISTANCE,
    "max_radial_distance": Dimension.DISTANCE,
    "max_sequence_duration": Dimension.TIME,
    "interaction_coeff": None,
    "rydberg_level": None,
    "max_layout_filling": None,
    "min_layout_filling": None,
    "max_layout_traps": None,
    "min_layout_traps": None,
}
"""`device.<name>`: the numeric properties of a Pulser device a spec may read, with their dimension."""

CHANNEL_PROPERTIES: dict[str, Dimension | None] = {
    "max_amp": Dimension.FREQUENCY,
    "max_abs_detuning": Dimension.FREQUENCY,
    "min_avg_amp": Dimension.FREQUENCY,
    "min_duration": Dimension.TIME,
    "max_duration": Dimension.TIME,
    "clock_period": Dimension.TIME,
    "min_retarget_interval": Dimension.TIME,
    "fixed_retarget_t": Dimension.TIME,
}
"""`<channel>.<name>`: the numeric properties of a Pulser channel."""


def is_device(value: object) -> bool:
    """A Pulser device, real or virtual."""
    from pulser.devices._device_datacls import BaseDevice

    return isinstance(value, BaseDevice)


@functools.cache
def devices() -> Mapping[str, BaseDevice]:
    """Pulser's own devices by the name a spec writes (`device AnalogDevice`), real and virtual."""
    import pulser.devices

    found = {name: getattr(pulser.devices, name) for name in dir(pulser.devices) if not name.startswith("_")}
    return {name: device for name, device in sorted(found.items()) if is_device(device)}


def real_devices() -> dict[str, BaseDevice]:
    """Pulser's real devices (not virtual) by their own name: what the embedded local connection offers."""
    from pulser.devices import Device

    return {device.name: device for device in devices().values() if isinstance(device, Device)}
