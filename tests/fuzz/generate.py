"""Spec texts built statement by statement from the grammar (qx.lark), mostly accepted by the parser.

A spec that fails to parse only exercises the parser, so the generator writes
what the grammar and docs/language.md accept (a device, a layout and register
that fit it, declared channels, variables bound by every job) and spends its
randomness on the values: numbers drawn with edge cases (0, negative, 1e308,
5000 digits, full-width digits, a fraction where an int goes), units from the
catalog, sizes and nesting depth. Every choice goes through a `Chooser`, so
hypothesis can drive (and shrink) the same generator that `bench/fuzz.py`
drives with `random.Random` at full speed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from qpurun.language.catalog import (
    CHANNEL_PROPERTIES,
    DEVICE_PROPERTIES,
    MATH,
    NOISE_PARAMETERS,
    SPELLINGS,
    UNITS,
    Dimension,
)

T = TypeVar("T")


class Chooser(Protocol):
    """Where every random choice comes from: hypothesis' `draw`, or `random.Random`."""

    def pick(self, options: Sequence[T]) -> T: ...

    def integer(self, low: int, high: int) -> int: ...

    def chance(self, percent: int) -> bool:
        """True `percent` times in a hundred; False is the simpler answer, which shrinking prefers."""
        ...


class RandomChooser:
    """Choices from `random.Random`: no shrinking, no overhead, for the long run."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, percent: int) -> bool:
        return percent > 0 and self.rng.randrange(100) < percent


# ---- numbers and units -----------------------------------------------------------

EDGE_NUMBERS = (
    "0", "0.0", "00", "-0", "1", "-1", "2", ".5", "0.5", "1.5", "2.0001", "4.5", "3.", "7", "1E3", "0e0",
    "1e-9", "1e-308", "5e-324", "1e-400", "1e9", "99999999999", "1e18", "9223372036854775808",
    "1e308", "1.7976931348623157e308", "1e309", "1e400", "10 ** 30", "2 ** 64", "2.0 ** 1023", "10 ** 308",
    "9" * 40, "9" * 400, "9" * 5000, "9" * 5000 + ".5", "1" + "0" * 4400, "0." + "0" * 400 + "1",
    "\uff11\uff12", "\u0663", "1e-9 ** 40", "(0 - 1) ** 0.5", "1 / 3", "1 % 0.3", "10 ** 10 ** 8",
)  # fmt: skip
"""Numbers that broke, or could break, something downstream. Full-width `１２` and Arabic-Indic `٣` match `\\d`;
`10 ** 10 ** 8` is an exact integer of 100 million digits, which takes Python minutes."""

EDGE_INTS = ("0", "1", "2", "3", "00", "61", "1000", "10000", "99999999999", "9" * 30, "9" * 5000, "\uff11")
"""What an INT terminal (`trap N`, `mappable N`, `float[N]`, a placement) can hold."""

UNITS_OF: dict[Dimension, tuple[str, ...]] = {
    dimension: tuple(s for s, unit in SPELLINGS.items() if UNITS[unit].dimension is dimension)
    for dimension in Dimension
}
ALL_UNITS = tuple(SPELLINGS)

NESTING = ("(", "-", "+", "abs(", "floor(", "sqrt(", "exp(", "sin(", "[")
"""How an expression can be wrapped many levels deep."""
DEPTHS = (2, 3, 5, 12, 25, 40, 120, 400, 1200, 3000)

DEVICES = ("AnalogDevice", "DigitalAnalogDevice", "MockDevice", "WeightedAnalogDevice")
CHANNELS = {
    "AnalogDevice": ("rydberg_global",),
    "WeightedAnalogDevice": ("rydberg_global",),
    "DigitalAnalogDevice": ("rydberg_global", "rydberg_local", "raman_local"),
    "MockDevice": ("rydberg_global", "rydberg_local", "raman_global", "raman_local", "mw_global"),
}
DMMS = {"DigitalAnalogDevice", "MockDevice", "WeightedAnalogDevice"}
PROTOCOLS = ("min-delay", "no-delay", "wait-for-all")
BASES = ("ground-rydberg", "digital", "XY")


@dataclass
class Scope:
    """What the spec declared so far, so that later statements name it."""

    device: str = "AnalogDevice"
    traps: int = 0
    qubits: list[str] = field(default_factory=list)
    mappable: int = 0
    channels: dict[str, str] = field(default_factory=dict)
    """Spec name to channel id."""
    variables: dict[str, tuple[Dimension | None, str, int | None]] = field(default_factory=dict)
    """Name to (the dimension of the slot it goes in, int or float, array size)."""
    lets: dict[str, Dimension | None] = field(default_factory=dict)
    waveforms: list[str] = field(default_factory=list)
    pulses: list[str] = field(default_factory=list)
    dmm: bool = False


class Generator:
    """One spec per `spec()` call; `c` decides everything."""

    def __init__(self, c: Chooser) -> None:
        self.c = c
        self.scope = Scope()
        # Per spec, in percent: most specs are plain (and compile), some are full of edge cases.
        self.edge = c.pick((0, 0, 1, 3, 8))
        """How often a number is an edge case."""
        self.odd = c.pick((0, 0, 2, 6))
        """How often a unit or a name is of the wrong kind on purpose."""
        self.deep = c.pick((0, 0, 0, 1, 4))
        """How often an expression is nested many levels deep."""
        self.fancy = c.pick((0, 10, 30))
        """How often an expression is computed rather than written as a number."""

    # ---- values

    def number(self, *, whole: bool = False, low: float = 0, high: float = 100) -> str:
        c = self.c
        if c.chance(self.edge):
            return c.pick(EDGE_NUMBERS)
        if whole or c.chance(50):
            return str(c.integer(int(low), int(high)))
        return f"{low + (high - low) * c.integer(0, 1000) / 1000:.3g}"

    def unit(self, dimension: Dimension | None) -> str:
        """A unit of `dimension`, or none (a bare number is in Pulser's unit); of another dimension if odd."""
        c = self.c
        if c.chance(self.odd):
            return " " + c.pick(ALL_UNITS)
        if dimension is None or c.chance(25):
            return ""
        return c.pick(("", " ")) + c.pick([u for u in UNITS_OF[dimension] if u not in ("nm", "ms")])

    def quantity(self, dimension: Dimension | None) -> str:
        """A number in a plausible range for its slot, with a unit of that dimension (mostly)."""
        c = self.c
        if c.chance(self.edge):
            return self.number() + self.unit(dimension)
        if dimension is Dimension.TIME:
            if c.chance(70):
                return f"{4 * c.integer(4, 250)}{c.pick((' ns', 'ns', ''))}"
            return f"{c.integer(1, 20) / 10:g}{c.pick((' us', ' µs', 'us'))}"
        if dimension is Dimension.FREQUENCY:
            return c.pick((f"{c.integer(0, 15) / 10:g} MHz", f"{c.integer(0, 80) / 10:g}{c.pick((' rad/us', ''))}"))
        if dimension is Dimension.DISTANCE:
            return f"{c.integer(5, 10)}{c.pick((' um', ' µm', ''))}"
        if dimension is Dimension.ANGLE:
            return c.pick(
                ("pi", "pi / 2", "pi / 4", "2 * pi", f"{c.integer(0, 60) / 10:g} rad", f"{c.integer(0, 360)} deg")
            )
        if dimension is Dimension.FIELD:
            return f"{c.integer(0, 50)}{c.pick((' G', ''))}"
        return self.number(high=10)

    def expr(self, dimension: Dimension | None, depth: int = 0) -> str:
        """An expression for a slot of `dimension` (None: a bare number); ill-typed only now and then, on purpose."""
        c = self.c
        if c.chance(self.deep):
            return self.nested(dimension)
        if depth >= 3 or not c.chance(self.fancy):
            return self.atom(dimension)
        if dimension is Dimension.TIME and not c.chance(self.odd):  # durations stay whole ns
            kind = c.pick(("sum", "times", "whole", "property"))
            if kind == "sum":
                return f"{self.expr(dimension, depth + 1)} + {self.expr(dimension, depth + 1)}"
            if kind == "times":
                return f"{c.integer(1, 4)} * {self.expr(dimension, depth + 1)}"
            if kind == "whole":
                return f"{c.pick(('floor', 'ceil'))}({self.expr(None, depth + 1)}){c.pick((' ns', ' us'))}"
            return self.property(dimension)
        kinds = ["add", "scale", "neg", "paren", "math", "pow", "property", "index"]
        kind = c.pick([*kinds, "list", "linspace"] if c.chance(self.odd) else kinds)
        if kind == "add":
            return f"{self.expr(dimension, depth + 1)} {c.pick(('+', '-', '%'))} {self.expr(dimension, depth + 1)}"
        if kind == "scale":
            return f"{self.expr(dimension, depth + 1)} {c.pick(('*', '/'))} {self.atom(None)}"
        if kind == "neg":
            return f"-{self.expr(dimension, depth + 1)}"
        if kind == "paren":
            return f"({self.expr(None, depth + 1)}){self.unit(dimension)}"
        if kind == "math":
            return f"{c.pick(sorted(MATH))}({self.expr(None, depth + 1)}){self.unit(dimension)}"
        if kind == "pow":
            return f"(({self.expr(None, depth + 1)}) ** {c.integer(0, 3)}){self.unit(dimension)}"
        if kind == "property":
            return self.property(dimension)
        if kind == "index":
            items = [self.expr(dimension, depth + 1) for _ in range(c.integer(1, 3))]
            return f"[{', '.join(items)}][{c.integer(-len(items), len(items) - 1)}]"
        if kind == "list":
            return self.list_of(dimension, depth + 1)
        return f"linspace({self.number(high=5)}, {self.number(high=10)}, {self.number(whole=True, high=6)})"

    def atom(self, dimension: Dimension | None) -> str:
        c = self.c
        names = [n for n, d in self.scope.lets.items() if d is dimension]
        names += [n for n, (d, _, size) in self.scope.variables.items() if d is dimension and size is None]
        arrays = [n for n, (d, _, size) in self.scope.variables.items() if d is dimension and size]
        if arrays and c.chance(15):
            return f"{c.pick(arrays)}[{c.integer(0, 2)}]"
        if names and c.chance(35):
            return c.pick(names)
        return self.quantity(dimension)

    def property(self, dimension: Dimension | None) -> str:
        """`ryd.max_amp`, `device.max_runs`: of the slot's dimension, unless odd on purpose."""
        c = self.c
        fits = lambda table: [n for n, d in table.items() if d is dimension or c.chance(self.odd)]  # noqa: E731
        channel, device = fits(CHANNEL_PROPERTIES), fits(DEVICE_PROPERTIES)
        if self.scope.channels and channel and (c.chance(70) or not device):
            return f"{c.pick(sorted(self.scope.channels))}.{c.pick(channel)}"
        return f"device.{c.pick(device)}" if device else self.quantity(dimension)

    def list_of(self, dimension: Dimension | None, depth: int = 0, size: int | None = None) -> str:
        c = self.c
        count = size if size is not None else c.integer(1, 4)
        if c.chance(40):  # the unit on the whole list, as the docs show
            items = ", ".join(self.number(low=0, high=5) for _ in range(count))
            return f"[{items}]{self.unit(dimension)}"
        # A list of variables is not a value Pulser computes with: only now and then.
        item = (lambda: self.expr(dimension, depth + 1)) if c.chance(self.odd) else lambda: self.quantity(dimension)
        return "[" + ", ".join(item() for _ in range(count)) + "]"

    def nested(self, dimension: Dimension | None) -> str:
        """An atom wrapped many levels deep: the RecursionError and doubling-cost classes."""
        c = self.c
        wrapper, depth = c.pick(NESTING), c.pick(DEPTHS)
        closer = {"(": ")", "[": "]"}.get(wrapper[-1], "")
        return wrapper * depth + self.atom(dimension) + closer * depth

    # ---- waveforms and pulses

    def duration(self) -> str:
        return self.expr(Dimension.TIME, depth=2)

    def waveform(self, dimension: Dimension | None, depth: int = 0, duration: str | None = None) -> str:
        """A waveform call (or a declared one); given `duration`, one that lasts exactly that."""
        c = self.c
        if self.scope.waveforms and duration is None and dimension is Dimension.FREQUENCY and c.chance(30):
            return c.pick(self.scope.waveforms)
        kinds = ["constant", "ramp", "blackman", "kaiser", "interpolated"]
        if duration is None:
            kinds += ["blackman_max", "custom"] + ["composite"] * (depth < 2)
        kind = c.pick(kinds)
        time = duration or self.duration()
        value = lambda: self.expr(dimension, depth=2)  # noqa: E731
        area = lambda: self.expr(Dimension.ANGLE, 2)  # noqa: E731
        if kind == "constant":
            if c.chance(30):
                return f"constant(duration = {time}, value = {value()})"
            return f"constant({time}, {value()})"
        if kind == "ramp":
            return f"ramp({time}, {value()}, {value()})"
        if kind == "blackman":
            return f"blackman({time}, area = {area()})"
        if kind == "blackman_max":
            return f"blackman(max = {value()}, area = {area()})"
        if kind == "kaiser":
            beta = f", beta = {self.number(high=20)}" if c.chance(40) else ""
            head = f"max = {value()}" if duration is None and c.chance(30) else time
            return f"kaiser({head}, area = {area()}{beta})"
        if kind == "interpolated":
            count = c.integer(2, 5)
            values = self.list_of(dimension, 2, size=count)
            if c.chance(self.odd):
                values = f"linspace(0, 1, {self.number(whole=True)})"
            times = ""
            if c.chance(40):
                times = ", times = [" + ", ".join(f"{i / (count - 1):.3g}" for i in range(count)) + "]"
            return f"interpolated({time}, values = {values}{times})"
        if kind == "custom":
            return f"custom({self.list_of(dimension, 2, size=c.integer(1, 24))})"
        count = c.integer(1 if c.chance(self.odd) else 2, 3)
        parts = ", ".join(self.waveform(dimension, depth + 1) for _ in range(count))
        return f"composite({parts})"

    @staticmethod
    def named(c: Chooser, name: str, value: str) -> str:
        return f"{name} = {value}" if c.chance(30) else value

    def pulse(self) -> str:
        """One of the five pulse shapes of docs/language.md, or a declared pulse."""
        c = self.c
        if self.scope.pulses and c.chance(40):
            return c.pick(self.scope.pulses)
        shape = c.pick(("both", "amplitude", "detuning", "constant", "phase", "positional"))
        freq, angle = Dimension.FREQUENCY, Dimension.ANGLE
        time = self.duration()
        slots: list[str] = []
        if shape == "both":
            slots = [
                f"amplitude = {self.waveform(freq, duration=time)}",
                f"detuning = {self.waveform(freq, duration=time)}",
            ]
        elif shape == "amplitude":
            slots = [f"amplitude = {self.waveform(freq)}", f"detuning = {self.expr(freq, 2)}"]
        elif shape == "detuning":
            slots = [f"amplitude = {self.expr(freq, 2)}", f"detuning = {self.waveform(freq)}"]
        elif shape == "constant":
            slots = [f"duration = {time}", f"amplitude = {self.expr(freq, 2)}"]
            slots += [f"detuning = {self.expr(freq, 2)}"] * c.chance(60)
        elif shape == "phase":
            slots = [
                f"amplitude = {self.waveform(freq, duration=time)}",
                f"phase = {self.waveform(angle, duration=time)}",
            ]
        else:
            return f"pulse({self.waveform(freq)}, {self.expr(freq, 2)}, {self.expr(angle, 2)})"
        if shape != "phase" and c.chance(50):
            slots.append(f"phase = {self.expr(angle, 2)}")
        if c.chance(25):
            slots.append(f"post_phase_shift = {self.expr(angle, 2)}")
        return f"pulse({', '.join(slots)})"

    # ---- statements

    def spec(self) -> str:
        """A whole spec: the statements in the order the docs write them, now and then shuffled."""
        c = self.c
        lines: list[str] = []
        if c.chance(50):
            lines.append(f'experiment "{c.pick(("fuzz", "x", "a b", ""))}"')
        lines.append(self.device())
        lines += self.atoms()
        lines += self.channels()
        lines += self.maps()
        lines += self.variables()
        lines += self.values()
        if c.chance(8):
            params = ", ".join(f"{c.pick(NOISE_PARAMETERS)} = {self.number(high=1)}" for _ in range(c.integer(0, 3)))
            lines.append(f"noise {{ {params} }}")
        lines.append(self.sequence())
        lines += self.runs_and_jobs()
        if c.chance(8):  # statement order is free: every name is collected before anything is checked
            order = [c.integer(0, 1000) for _ in lines]
            lines = [line for _, line in sorted(zip(order, lines, strict=True), key=lambda pair: pair[0])]
        return "\n".join(lines) + "\n"

    def device(self) -> str:
        c = self.c
        if c.chance(self.odd):
            return c.pick(('device "missing.json"', 'device remote "FRESNEL"', "device Nope", 'device remote "X"'))
        self.scope.device = c.pick(DEVICES)
        return f"device {self.scope.device}"

    def atoms(self) -> list[str]:
        """A layout and a register that fit the device (a MockDevice needs no layout)."""
        c, scope = self.c, self.scope
        needs_layout = scope.device != "MockDevice"
        kinds = ("traps", "traps", "traps", "shape", "mappable") if needs_layout else ("coords", "coords", "shape")
        kind = c.pick(kinds)
        if kind == "shape":
            return [self.shape(needs_layout)]
        if kind == "coords":
            if c.chance(15):
                return [self.layout(), self.coordinates()]
            return [self.coordinates()]
        lines = [self.layout()]
        if kind == "mappable":
            scope.mappable = c.integer(1, 3) if not c.chance(self.edge) else int(c.pick(EDGE_INTS[:8]))
            lines.append(f"register mappable {scope.mappable}")
            scope.qubits = [f"q{i}" for i in range(min(scope.mappable, 3))]
            return lines
        if scope.device == "WeightedAnalogDevice" and scope.traps >= 150:  # 35% to 50% full
            taken = [str(t) for t in range(-(-scope.traps * 35 // 100) + c.integer(0, 3))]
        else:  # at most half full, atoms near the centre
            count = c.integer(1, max(1, min(scope.traps // 2, 5)))
            taken = [str(t) for t in sample(c, range(min(scope.traps, 12)), count)] or ["0"]
        if c.chance(3 * self.edge):
            taken[0] = c.pick(EDGE_INTS)
        scope.qubits = [c.pick(("q", "a", "target")) + str(i) for i in range(len(taken))]
        entries = [f"{q} = trap {t}" for q, t in zip(scope.qubits, taken, strict=True)]
        lines.append("register { " + "  ".join(entries) + " }" if c.chance(50) else self.block("register", entries))
        return lines

    def coordinates(self) -> str:
        c, scope = self.c, self.scope
        three = c.chance(15)
        scope.qubits = [c.pick(("q", "a", "target", "index")) + str(i) for i in range(c.integer(1, 5))]
        entries = []
        for i, q in enumerate(scope.qubits):
            point = [str(6 * i), self.number(high=5)] + [self.number(high=5)] * three
            if c.chance(self.edge):
                point[c.integer(0, len(point) - 1)] = c.pick(EDGE_NUMBERS)
            entries.append(f"{q} = ({', '.join(point)}){self.unit(Dimension.DISTANCE)}")
        return self.block("register", entries)

    def shape(self, needs_layout: bool) -> str:
        """`register square(2, spacing = 5 um) auto_layout`: qubits q0, q1, ..."""
        c = self.c
        shapes = ["square", "rectangle", "triangular", "hexagon"]
        shape = c.pick([*shapes, "max_connectivity"] if needs_layout else shapes)
        counts = {"rectangle": 2, "triangular": 2}.get(shape, 1)
        args = [self.number(whole=True, low=1, high=3) for _ in range(counts)]
        args.append(f"spacing = {self.expr(Dimension.DISTANCE, 2)}")
        auto = " auto_layout" if needs_layout or c.chance(self.odd) else ""
        self.scope.qubits = ["q0"]
        return f"register {shape}({', '.join(args)}){auto}"

    def layout(self) -> str:
        c, scope = self.c, self.scope
        kinds = ["triangular", "square", "rectangular", "traps"]
        kind = c.pick([*kinds, "calibrated"] if scope.device == "AnalogDevice" else kinds)
        if scope.device == "WeightedAnalogDevice" and not c.chance(self.odd):
            kind = "triangular"  # its layouts hold 150 to 512 traps
        spacing = lambda: self.expr(Dimension.DISTANCE, 2) if c.chance(30) else f"{c.integer(5, 12)} um"  # noqa: E731
        if kind == "triangular":
            weighted = scope.device == "WeightedAnalogDevice"
            n = self.number(whole=True, low=150 if weighted else 2, high=160 if weighted else 100)
            scope.traps = self.as_int(n, 61)
            return f"layout triangular({self.named(c, 'n_traps', n)}, spacing = {spacing()})"
        if kind in ("square", "rectangular"):
            rows, cols = self.number(whole=True, low=1, high=6), self.number(whole=True, low=1, high=6)
            scope.traps = self.as_int(rows, 4) * self.as_int(cols, 4)
            if kind == "square":
                return f"layout square({rows}, {cols}, spacing = {spacing()})"
            return f"layout rectangular({rows}, {cols}, {spacing()}, {spacing()})"
        if kind == "traps":
            count = c.integer(1, 8)
            scope.traps = count
            points = ", ".join(f"({6 * i}, {self.number(high=5)})" for i in range(count))
            return f"layout traps {{ {points} }}{self.unit(Dimension.DISTANCE)}"
        scope.traps = 61
        name = "nope" if c.chance(self.odd) else "TriangularLatticeLayout(61, 5.0µm)"
        return f'layout calibrated "{name}"'

    @staticmethod
    def as_int(text: str, fallback: int) -> int:
        return int(text) if text.isascii() and text.isdigit() and len(text) < 5 else fallback

    @staticmethod
    def block(keyword: str, entries: Sequence[str]) -> str:
        return keyword + " {\n" + "".join(f"  {e}\n" for e in entries) + "}"

    def channels(self) -> list[str]:
        """One to three distinct channel ids of the device; the microwave one (XY mode) alone."""
        c, scope = self.c, self.scope
        ids = [i for i in CHANNELS.get(scope.device, ("rydberg_global",)) if i != "mw_global"]
        if scope.device == "MockDevice" and c.chance(10):
            ids = ["mw_global"]
        chosen = sample(c, ids, c.integer(1, min(3, len(ids))))
        if c.chance(self.odd):
            chosen.append(c.pick(("dmm_0", "nope", "mw_global", chosen[0])))
        lines = []
        for i, channel in enumerate(chosen):
            name = {"rydberg": "ryd", "raman": "raman", "mw": "mw"}.get(channel.split("_")[0], "ch") + str(i)
            scope.channels[name] = channel
            targeted = "local" in channel and scope.qubits and not c.chance(self.odd)
            target = f" target {c.pick(scope.qubits)}" if targeted else ""
            lines.append(f"channel {name} = {channel}{target}")
        return lines

    def maps(self) -> list[str]:
        c, scope = self.c, self.scope
        lines = []
        if scope.device in DMMS and scope.qubits and c.chance(30):
            scope.dmm = True
            weights = ", ".join(f"{q}: {self.number(high=1)}" for q in scope.qubits[: c.integer(1, 3)])
            lines.append(f"detuning_map map0 on dmm_0 {{ {weights} }}")
        elif scope.device in DMMS and scope.qubits and c.chance(15):
            lines.append(f"slm_mask {', '.join(scope.qubits[:1])}")
        if "mw_global" in scope.channels.values() and c.chance(70):
            lines.append(f"magnetic_field ({self.number()}, 0, {self.number()}){self.unit(Dimension.FIELD)}")
        return lines

    def variables(self) -> list[str]:
        c, scope = self.c, self.scope
        lines = []
        for i in range(c.integer(0, 3)):
            dimension = c.pick((Dimension.TIME, Dimension.FREQUENCY, Dimension.ANGLE, Dimension.FREQUENCY))
            dtype = "int" if dimension is Dimension.TIME and c.chance(85) else "float"
            size = c.integer(2, 3) if dimension is not Dimension.TIME and c.chance(15) else None
            name = f"{dtype[0]}{'tfa'[i % 3]}{i}"
            scope.variables[name] = (dimension, dtype, size)
            suffix = f"[{size}]" if size else ""
            if size and c.chance(self.edge):
                suffix = f"[{c.pick(EDGE_INTS)}]"
            lines.append(f"var {name}: {dtype}{suffix}")
        return lines

    def values(self) -> list[str]:
        c, scope = self.c, self.scope
        lines = []
        for i in range(c.integer(0, 3)):
            dimension = c.pick((Dimension.TIME, Dimension.FREQUENCY, Dimension.ANGLE, None))
            lines.append(f"let v{i} = {self.expr(dimension)}")
            scope.lets[f"v{i}"] = dimension
        for i in range(c.integer(0, 2)):
            lines.append(f"waveform w{i} = {self.waveform(Dimension.FREQUENCY)}")
            scope.waveforms.append(f"w{i}")
        for i in range(c.integer(0, 2)):
            lines.append(f"pulse p{i} = {self.pulse()}")
            scope.pulses.append(f"p{i}")
        return lines

    def sequence(self) -> str:
        """One to six operations on the declared channels, then (mostly) a measurement."""
        c, scope = self.c, self.scope
        channels = sorted(scope.channels) or ["ryd"]
        local = [n for n, i in scope.channels.items() if "local" in i]
        qubits = scope.qubits or ["q0"]
        angle = Dimension.ANGLE
        makers: list[Callable[[], str]] = [
            lambda: f"add {self.pulse()} on {c.pick(channels)}{self.protocol()}",
            lambda: f"add {self.pulse()} on {c.pick(channels)}{self.protocol()}",
            lambda: f"delay {self.duration()} on {c.pick(channels)}{' at_rest' * c.chance(20)}",
            lambda: f"phase_shift {self.expr(angle, 2)} on {', '.join(qubits[:2])}" + self.basis_option(),
            lambda: f"phase_shift {self.expr(angle, 2)} on index {c.integer(0, len(qubits) - 1)}" + self.basis_option(),
            lambda: f"truncate {self.duration()}",
        ]
        if len(channels) >= 2 or c.chance(self.odd):
            makers.append(lambda: f"align {', '.join(channels * (1 + (len(channels) < 2)))}" + self.align_option())
        if local or c.chance(self.odd):
            makers.append(lambda: f"target {c.pick(qubits)} on {c.pick(local or channels)}")
            makers.append(lambda: f"target index {c.integer(0, len(qubits) - 1)} on {c.pick(local or channels)}")
        if scope.device == "AnalogDevice" or c.chance(self.odd):
            makers.append(self.eom)
        if scope.dmm or c.chance(self.odd):
            makers.append(self.detune)
        ops = [c.pick(makers)() for _ in range(c.integer(1, 6))]
        if c.chance(85):
            ops.append(f"measure {c.pick(BASES) if c.chance(self.odd) else self.basis()}")
        return self.block("sequence", ops)

    def basis_option(self) -> str:
        """A `phase_shift` basis: its default, `digital`, needs a Raman channel."""
        if "raman" in " ".join(self.scope.channels.values()) and self.c.chance(50):
            return ""
        return f" basis {self.basis()}"

    def detune(self) -> str:
        """A DMM detuning: never positive, unless odd."""
        c = self.c
        target = c.pick(("dmm_0", "map0")) if self.scope.dmm else "dmm_0"
        if c.chance(self.odd):
            return f"detune {self.waveform(Dimension.FREQUENCY)} on {target}"
        time, depth = self.duration(), self.quantity(Dimension.FREQUENCY)
        waveform = c.pick(
            (f"constant({time}, -{depth})", f"ramp({time}, 0, -{depth})", f"blackman({time}, area = -pi)")
        )
        return f"detune {waveform} on {target}{self.protocol()}"

    def align_option(self) -> str:
        return self.c.pick(("", "", " at_rest", " not_at_rest"))

    def basis(self) -> str:
        """The basis a declared channel addresses: `measure` of another is a device error."""
        ids = " ".join(self.scope.channels.values())
        addressed = [b for b, i in (("ground-rydberg", "rydberg"), ("digital", "raman"), ("XY", "mw")) if i in ids]
        return self.c.pick(addressed or BASES)

    def protocol(self) -> str:
        return " " + self.c.pick(PROTOCOLS) if self.c.chance(25) else ""

    def eom(self) -> str:
        c = self.c
        channel = c.pick(sorted(self.scope.channels) or ["ryd"])
        freq = Dimension.FREQUENCY
        args = [f"amplitude = {self.expr(freq, 2)}", f"detuning_on = {self.expr(freq, 2)}"]
        if c.chance(60):
            args.append(f"optimal_detuning_off = {self.expr(freq, 2)}")
        if c.chance(20):
            args.append(c.pick(("correct_phase_drift = 1", "correct_phase_drift", "correct_phase_drift = 0.5")))
        body = []
        for _ in range(c.integer(1, 4)):
            kind = c.pick(("pulse", "pulse", "delay", "setpoint"))
            if kind == "pulse":
                options = f" phase {self.expr(Dimension.ANGLE, 2)}" * c.chance(30)
                options += f" post_phase_shift {self.expr(Dimension.ANGLE, 2)}" * c.chance(20)
                options += " correct_phase_drift" * c.chance(20) + self.protocol()
                body.append(f"pulse {self.duration()}{options}")
            elif kind == "delay":
                body.append(f"delay {self.duration()}")
            else:
                body.append(f"setpoint({', '.join(args[:2])})")
        return f"eom {channel} ({', '.join(args)}) " + self.block("", body).lstrip()

    def runs_and_jobs(self) -> list[str]:
        c, scope = self.c, self.scope
        lines = []
        if not c.chance(max(2, self.odd)):
            lines.append(f"runs {self.number(whole=True, low=1, high=500)}")
        if scope.variables and (not scope.mappable and c.chance(60)):
            lines.append(self.sweep())
        if scope.variables or scope.mappable or c.chance(10):
            jobs = [self.job() for _ in range(c.integer(0 if c.chance(5) else 1, 3))]
            lines.append(self.block("jobs", jobs))
        return lines

    def sweep(self) -> str:
        c = self.c
        names = sorted(self.scope.variables)
        axes = [f"{name} = {self.axis(name)}" for name in names]
        if len(axes) >= 2 and c.chance(30):
            axes = [self.block("zip", axes[:2]), *axes[2:]]
        if c.chance(20):
            axes.append(f"runs = {self.number(whole=True, low=1, high=300)}")
        return self.block("sweep", axes)

    def axis(self, name: str) -> str:
        c = self.c
        dimension, _, size = self.scope.variables[name]
        kind = c.pick(("list", "list", "range", "linspace", "one"))
        if size:
            rows = ", ".join(self.list_of(None, 2, size=size) for _ in range(c.integer(1, 3)))
            return f"[{rows}]{self.unit(dimension)}"
        if kind == "range":
            if dimension is Dimension.TIME:
                start, width, step = 4 * c.integer(4, 100), 4 * c.integer(0, 200), 4 * c.integer(1, 50)
                if c.chance(self.edge):
                    step = c.pick((0, -4, 1)) if c.chance(50) else int(c.pick(EDGE_INTS[:9]))
                return f"{start} ns .. {start + width} ns step {step} ns"
            return f"{self.number(low=-2, high=2)} .. {self.number(high=3)} step {self.number(low=0, high=1)}"
        if kind == "linspace":
            count = self.number(whole=True, low=1, high=8)
            return f"linspace({self.number(high=2)}, {self.number(high=3)}, {count}){self.unit(dimension)}"
        if kind == "one":
            return self.value_of(name)
        items = [self.value_of(name, unit=False) for _ in range(c.integer(1, 4))]
        return f"[{', '.join(items)}]{self.unit(dimension)}"

    def value_of(self, name: str, *, unit: bool = True) -> str:
        """A value a job gives variable `name`: whole ns for an int duration, mostly."""
        dimension, _, size = self.scope.variables[name]
        if size:
            return self.list_of(None, 2, size=size) + self.unit(dimension)
        if dimension is Dimension.TIME:
            value = str(4 * self.c.integer(4, 500)) if not self.c.chance(self.edge) else self.number()
            return value + (" ns" if unit and self.c.chance(60) else "")
        return self.number(low=-2, high=2) + (self.unit(dimension) if unit else "")

    def job(self) -> str:
        c, scope = self.c, self.scope
        bindings = [f"{name} = {self.value_of(name)}" for name in sorted(scope.variables)]
        if scope.mappable:
            top = max(0, min(scope.traps, 100) - 1)
            traps = [str(t) for t in sample(c, range(top + 1), min(scope.mappable, 20))]
            if traps and c.chance(3 * self.edge):
                traps[0] = c.pick(EDGE_INTS)
            places = [f"q{i}: {trap}" for i, trap in enumerate(traps)]
            bindings.append("qubits = { " + ", ".join(places) + " }")
        if c.chance(20):
            bindings.append(f"runs = {self.number(whole=True, low=1, high=300)}")
        return ", ".join(bindings) if bindings else f"runs = {self.number(whole=True, low=1, high=30)}"


def sample(c: Chooser, population: Sequence[T], count: int) -> list[T]:
    """`count` distinct items of `population` (fewer if it is smaller)."""
    left, chosen = list(population), []
    while left and len(chosen) < count:
        chosen.append(left.pop(c.integer(0, len(left) - 1)))
    return chosen


def generate(c: Chooser) -> str:
    """One spec from the grammar."""
    return Generator(c).spec()


def expression(c: Chooser) -> str:
    """One expression of any dimension: the evaluator's share of the fuzzing."""
    generator = Generator(c)
    # Alone, an expression is short: draw edge cases and nesting far more often than in a whole spec.
    generator.edge, generator.deep, generator.fancy = c.pick((5, 20, 40)), c.pick((0, 5, 20)), c.pick((40, 70))
    return generator.expr(c.pick((None, *Dimension)))
