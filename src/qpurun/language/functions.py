"""The functions a spec may call, with the dimension each argument takes.

Both the checker (to report a wrong unit or a missing argument at its place)
and the lowering (to call Pulser with the arguments in order) read this one
table, so the two can never disagree on what `blackman(...)` means.
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass

from qpurun.language import ast
from qpurun.language.errors import QxNameError, QxTypeError
from qpurun.language.units import Dimension


class Kind(enum.Enum):
    NUMBER = "a number"
    ARRAY = "a list of numbers"
    WAVEFORM = "a waveform"
    PULSE = "a pulse"


# The dimension a waveform's samples take is decided by where it is used
# (rad/µs for an amplitude, rad for a phase): VALUE stands for that.
VALUE = "value"


@dataclass(frozen=True)
class Param:
    name: str
    kinds: tuple[Kind, ...]
    dimension: Dimension | str | None
    required: bool = True
    variadic: bool = False


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
) -> Param:
    return Param(name, kinds or (Kind.NUMBER,), dim, required, variadic)


_T = Dimension.TIME
_W = Kind.WAVEFORM
_N = Kind.NUMBER
_A = Kind.ARRAY

WAVEFORMS: dict[str, Signature] = {
    s.name: s
    for s in (
        Signature("constant", (_p("duration", dim=_T), _p("value", dim=VALUE)), _W, "constant(duration, value)"),
        Signature(
            "ramp",
            (_p("duration", dim=_T), _p("start", dim=VALUE), _p("stop", dim=VALUE)),
            _W,
            "ramp(duration, start, stop)",
        ),
        Signature(
            "blackman",
            (
                _p("duration", dim=_T, required=False),
                _p("area", dim=Dimension.ANGLE),
                _p("max", dim=VALUE, required=False),
            ),
            _W,
            "blackman(duration, area = a) or blackman(max = m, area = a)",
        ),
        Signature(
            "kaiser",
            (
                _p("duration", dim=_T, required=False),
                _p("area", dim=Dimension.ANGLE),
                _p("beta", required=False),
                _p("max", dim=VALUE, required=False),
            ),
            _W,
            "kaiser(duration, area = a, beta = 14) or kaiser(max = m, area = a, beta = b)",
        ),
        Signature(
            "interpolated",
            (_p("duration", dim=_T), _p("values", _A, dim=VALUE), _p("times", _A, required=False)),
            _W,
            "interpolated(duration, values = [...], times = [...])",
        ),
        Signature("composite", (_p("waveforms", _W, variadic=True),), _W, "composite(w1, w2, ...)"),
        Signature("custom", (_p("samples", _A, dim=VALUE),), _W, "custom([samples...])"),
    )
}

PULSE = Signature(
    "pulse",
    (
        _p("amplitude", _W, _N, dim=Dimension.FREQUENCY, required=False),
        _p("detuning", _W, _N, dim=Dimension.FREQUENCY, required=False),
        _p("phase", _W, _N, dim=Dimension.ANGLE, required=False),
        _p("post_phase_shift", dim=Dimension.ANGLE, required=False),
        _p("duration", dim=_T, required=False),
    ),
    Kind.PULSE,
    "pulse(amplitude = A, detuning = D, phase = P, post_phase_shift = S) "
    "or pulse(duration = T, amplitude = a, detuning = d, phase = p)",
)

LINSPACE = Signature("linspace", (_p("start"), _p("stop"), _p("num")), Kind.ARRAY, "linspace(start, stop, num)")

# Functions Pulser can apply to a variable and still serialize the sequence.
MATH = ("abs", "floor", "ceil", "sqrt", "exp", "log", "log2", "sin", "cos", "tan", "tanh")
MATH_SIGNATURES = {name: Signature(name, (_p("x", _N, _A),), Kind.NUMBER, f"{name}(x)") for name in MATH}

# Arguments of `eom CH (...)`, `setpoint (...)` and the noise block.
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
    ),
    Kind.NUMBER,
    "setpoint (amplitude = a, detuning_on = d, optimal_detuning_off = o)",
)

SIGNATURES: dict[str, Signature] = {**WAVEFORMS, "pulse": PULSE, "linspace": LINSPACE, **MATH_SIGNATURES}

# Python has these, Pulser cannot serialize them on a variable: say so.
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


def bind(signature: Signature, arguments: tuple[ast.Argument, ...]) -> dict[str, ast.Expr | list[ast.Expr]]:
    """Match call arguments to parameters, as Python would; errors are located.

    A variadic parameter gets the list of its positional arguments.
    """
    bound: dict[str, ast.Expr | list[ast.Expr]] = {}
    params = signature.params
    positional = [a for a in arguments if a.name is None]
    keyword = [a for a in arguments if a.name is not None]
    if params and params[0].variadic:
        bound[params[0].name] = [a.value for a in positional]
    else:
        ordered = [p for p in params if p.name not in {"max", "duration"} or p is params[0]]
        if len(positional) > len(ordered):
            extra = positional[len(ordered)]
            raise QxTypeError(
                f"`{signature.name}` takes at most {len(ordered)} positional arguments",
                extra.span,
                hint=f"write it as {signature.doc}",
            )
        for param, argument in zip(ordered, positional, strict=False):
            bound[param.name] = argument.value
    names = {p.name for p in params}
    for argument in keyword:
        assert argument.name is not None
        if argument.name not in names:
            close = difflib.get_close_matches(argument.name, sorted(names), n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"write it as {signature.doc}"
            if signature.name == "interpolated" and argument.name == "interpolator":
                hint = "only PCHIP interpolation, the default, can be serialized by Pulser"
            raise QxNameError(f"`{signature.name}` has no argument `{argument.name}`", argument.span, hint=hint)
        if argument.name in bound:
            raise QxTypeError(f"`{argument.name}` is given twice", argument.span)
        bound[argument.name] = argument.value
    return bound
