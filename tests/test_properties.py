"""Properties over open-ended input: whatever the text, the compiler answers with a QxError.

Hypothesis runs derandomized and without an example database, so CI sees the
same examples every time; `max_examples` is kept small enough for the whole
file to run in well under a minute.
"""

from __future__ import annotations

import math
import re
import warnings
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qpurun
from conftest import SPECS
from qpurun.language.errors import QxError, QxUnitError

# Every example but the Jinja templates, which are not .qx until rendered.
FUZZED_SPECS = [p for p in SPECS if "{{" not in p.read_text(encoding="utf-8")]
TEXTS = {p.stem: p.read_text(encoding="utf-8") for p in FUZZED_SPECS}

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def compiles_or_says_why(text: str) -> None:
    """The one promise: a spec compiles, or fails with a located QxError and nothing else.

    Warnings are let through as a user would see them (printed, not raised):
    pytest's `filterwarnings = error` would otherwise turn Pulser's rounding
    notice for a mutated duration into an exception no user ever gets.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            qpurun.loads(text, filename="fuzz.qx")
    except QxError as error:
        report = str(error)
        assert report.startswith("fuzz.qx")
        assert "Traceback" not in report
        for each in error.errors:
            assert each.message


# ---- arbitrary text ---------------------------------------------------------------

TOKENS = (
    # keywords and statements
    "experiment", "device", "include", "layout", "register", "channel", "detuning_map", "slm_mask",
    "magnetic_field", "var", "let", "waveform", "pulse", "noise", "sequence", "runs", "sweep", "jobs",
    "add", "target", "index", "delay", "align", "phase_shift", "detune", "eom", "truncate", "measure",
    "setpoint", "zip", "step", "on", "trap", "traps", "mappable", "auto_layout", "at_rest", "basis",
    "min-delay", "no-delay", "wait-for-all", "ground-rydberg", "digital", "XY", "remote", "calibrated",
    # names and values
    "AnalogDevice", "MockDevice", "ryd", "rydberg_global", "raman_local", "q0", "q1", "dmm_0", "t", "omega",
    "pi", "device", "device.max_amp", "ryd.max_amp", "int", "float", "float[2]",
    "constant", "ramp", "blackman", "kaiser", "interpolated", "composite", "custom", "linspace", "sqrt", "round",
    "0", "1", "2.5", "-3", "1e9", "1e400", ".5", "100", '"x"', '"AnalogDevice"',
    # units and punctuation
    "ns", "us", "µs", "ms", "rad/us", "MHz", "um", "nm", "rad", "deg", "G", "mT",
    "(", ")", "[", "]", "{", "}", ",", "=", ":", ".", "..", "+", "-", "*", "/", "%", "**", "#", "\n", "\n",
)  # fmt: skip


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_fails_only_with_a_qx_error(text: str) -> None:
    compiles_or_says_why(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.sampled_from([" ", "", "  "]))
def test_token_soup_fails_only_with_a_qx_error(tokens: list[str], separator: str) -> None:
    compiles_or_says_why(separator.join(tokens))


@FUZZ
@given(st.sampled_from(sorted(TEXTS)), st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6))
def test_tokens_appended_to_a_valid_spec_fail_only_with_a_qx_error(stem: str, tokens: list[str]) -> None:
    compiles_or_says_why(TEXTS[stem] + " ".join(tokens) + "\n")


# ---- mutations of the example specs ------------------------------------------------

_TOKEN = re.compile(r'"[^"\n]*"|#[^\n]*|\d+\.?\d*(?:[eE][+-]?\d+)?|[\w-]+(?:/\w+)?|\.\.|\*\*|\S')
_NUMBER = re.compile(r"\d+\.?\d*(?:[eE][+-]?\d+)?")
_UNIT = re.compile(r"(?<=\s)(rad/us|rad/µs|MHz|mT|ms|ns|us|µs|um|µm|nm|rad|deg|G)\b")
NUMBERS = st.sampled_from(["0", "-1", "1", "0.5", "1.5", "2.0001", "7", "100", "1e9", "1e400", "99999999999", ".25"])
UNITS = st.sampled_from(["ns", "us", "ms", "rad/us", "MHz", "um", "nm", "rad", "deg", "G", "mT", ""])


def _tokens(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN.finditer(text)]


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    text = TEXTS[draw(st.sampled_from(sorted(TEXTS)))]
    kind = draw(
        st.sampled_from(
            [
                "delete token",
                "insert token",
                "duplicate token",
                "swap tokens",
                "delete line",
                "duplicate line",
                "swap lines",
                "change number",
                "change unit",
                "truncate",
            ]
        )
    )
    if kind.endswith("token") or kind.endswith("tokens"):
        spans = _tokens(text)
        i = draw(st.integers(0, len(spans) - 1))
        start, end = spans[i]
        if kind == "delete token":
            return text[:start] + text[end:]
        if kind == "insert token":
            return text[:start] + draw(st.sampled_from(TOKENS)) + " " + text[start:]
        if kind == "duplicate token":
            return text[:end] + " " + text[start:end] + text[end:]
        j = draw(st.integers(0, len(spans) - 1))
        (a, b), (c, d) = sorted([spans[i], spans[j]])
        if a == c:
            return text
        return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
    if kind.endswith("line") or kind.endswith("lines"):
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "delete line":
            return "".join(lines[:i] + lines[i + 1 :])
        if kind == "duplicate line":
            return "".join(lines[: i + 1] + lines[i:])
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines)
    if kind == "change number":
        found = list(_NUMBER.finditer(text))
        match = found[draw(st.integers(0, len(found) - 1))]
        return text[: match.start()] + draw(NUMBERS) + text[match.end() :]
    if kind == "change unit":
        found = list(_UNIT.finditer(text))
        match = found[draw(st.integers(0, len(found) - 1))]
        return text[: match.start()] + draw(UNITS) + text[match.end() :]
    return text[: draw(st.integers(0, len(text)))]


@settings(FUZZ, max_examples=150)
@given(mutated_specs())
def test_mutated_examples_fail_only_with_a_qx_error(text: str) -> None:
    compiles_or_says_why(text)


@settings(FUZZ, max_examples=40)
@given(st.sampled_from(sorted(TEXTS)), st.data())
def test_a_spec_cut_after_any_line_names_the_block_left_open(stem: str, data: st.DataObject) -> None:
    lines = TEXTS[stem].splitlines(keepends=True)
    kept = lines[: data.draw(st.integers(0, len(lines) - 1))]
    truncated = "".join(kept)
    code = "".join(line.split("#")[0] for line in kept)
    if code.count("{") <= code.count("}"):
        compiles_or_says_why(truncated)
        return
    opener = max(i for i, line in enumerate(kept, start=1) if "{" in line.split("#")[0] and "}" not in line)
    with pytest.raises(QxError) as caught:
        qpurun.loads(truncated, filename="fuzz.qx")
    assert "was never closed" in caught.value.message
    assert f"opened on line {opener}" in caught.value.message
    assert caught.value.line == opener


# ---- units and ranges -----------------------------------------------------------

_DELAY_SPEC = """\
device MockDevice
register {{ q0 = (0, 0) um }}
channel ryd = rydberg_global
sequence {{
  delay {time} on ryd
  measure ground-rydberg
}}
runs 10
"""


def _delay_ns(time: str) -> object:
    experiment = qpurun.loads(_DELAY_SPEC.format(time=time), validate=False)
    built = experiment.sequence_json()
    match = re.search(r'"op": "delay",\s*"time": ([^,\n]+)', built)
    assert match, built
    return match.group(1)


UNIT_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None)


@UNIT_SETTINGS
@given(st.integers(1, 5_000_000))
def test_microseconds_are_a_thousand_nanoseconds(thousandths_of_ns: int) -> None:
    micro = Fraction(thousandths_of_ns, 1_000_000)  # x us, with 1000 x ns a whole number when 1000 | n
    text = f"{float(micro)!r} us"
    if (micro * 1000).denominator == 1:
        assert _delay_ns(text) == _delay_ns(f"{int(micro * 1000)} ns") == str(int(micro * 1000))
    else:
        with pytest.raises(QxUnitError, match="not a whole number of ns"):
            _delay_ns(text)


@UNIT_SETTINGS
@given(st.integers(1, 5000))
def test_whole_microsecond_fractions_match_nanoseconds(nanoseconds: int) -> None:
    micro = nanoseconds / 1000
    assert _delay_ns(f"{micro!r} us") == _delay_ns(f"{nanoseconds} ns") == str(nanoseconds)


_RANGE_SPEC = """\
device MockDevice
register {{ q0 = (0, 0) um }}
channel ryd = rydberg_global
var x: float
sequence {{
  add pulse(duration = 100 ns, amplitude = x, detuning = 0, phase = 0) on ryd
  measure ground-rydberg
}}
runs 10
sweep {{
  x = {start} .. {stop} step {step}
}}
"""


@UNIT_SETTINGS
@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-7, 7).filter(bool))
def test_an_inclusive_range_gives_the_expected_values(start: int, stop: int, step: int) -> None:
    text = _RANGE_SPEC.format(start=start, stop=stop, step=step)
    count = math.floor((stop - start) / step) + 1
    if count < 1:
        with pytest.raises(QxError, match="is empty"):
            qpurun.loads(text, validate=False)
        return
    values = [job["variables"]["x"] for job in qpurun.loads(text, validate=False).job_params]
    assert values == [float(start + i * step) for i in range(count)]
    assert len(values) == len(range(start, stop + (1 if step > 0 else -1), step))


def test_a_zero_step_is_an_error_not_an_endless_range() -> None:
    with pytest.raises(QxError, match="step is zero"):
        qpurun.loads(_RANGE_SPEC.format(start=0, stop=1, step=0), validate=False)


def test_the_fuzzed_examples_include_the_shared_ones() -> None:
    assert {Path(p).stem for p in FUZZED_SPECS} >= {"rabi", "afm_ramp", "local_gates"}
