"""Units all the way: products and quotients have a dimension, and the value Pulser gets is in its unit.

Pulser takes times in ns and frequencies in rad/µs, so `2 rad / 100 ns` is
0.02 in Pulser's numbers but 20 rad/µs: each case is compared with the pulse
Pulser builds from the number a physicist would compute by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pulser import Pulse, Sequence
from pulser.devices import AnalogDevice
from pulser.waveforms import ConstantWaveform

import qpurun
from conftest import with_preamble
from qpurun.language.errors import QxError


def _amplitude_of(text: str, job: int = 0) -> float:
    """The constant amplitude (rad/µs) the first pulse of job `job` plays."""
    experiment = qpurun.loads(text)
    params = experiment.job_params[job]
    built = experiment.sequence.build(**params["variables"]) if "variables" in params else experiment.sequence
    (slot,) = [s for s in built._schedule["ryd"] if isinstance(s.type, Pulse)]
    samples = slot.type.amplitude.samples
    assert np.allclose(samples, samples[0])
    return float(samples[0])


def _pulse(amplitude: str, body_extra: str = "", sweep: str = "") -> str:
    return with_preamble(
        body_extra
        + f"sequence {{\n  add pulse(amplitude = constant(100 ns, {amplitude}), detuning = 0, phase = 0) on ryd\n"
        + "  measure ground-rydberg\n}\nruns 10\n"
        + sweep
    )


@pytest.mark.parametrize(
    ("amplitude", "rad_per_us"),
    [
        ("1 rad / 100 ns", 10.0),  # 0.01 rad/ns
        ("pi / 1 us", math.pi),  # a bare number over a time is an angular frequency
        ("(1 MHz * 1 us) / 1 us", 2 * math.pi),  # an angle over a time
        ("6 rad / (3 us / 2 us) / 1 us", 4.0),  # a ratio of times is bare
        ("10 rad/us * (500 ns / 1 us)", 5.0),
    ],
)
def test_a_product_or_quotient_of_units_is_in_pulsers_unit(amplitude: str, rad_per_us: float) -> None:
    assert _amplitude_of(_pulse(amplitude)) == pytest.approx(rad_per_us)


def test_a_quotient_matches_the_sequence_pulser_builds() -> None:
    experiment = qpurun.loads(_pulse("t_area / t_pulse", "let t_area = pi rad\nlet t_pulse = 500 ns\n"))
    (slot,) = [s for s in experiment.sequence._schedule["ryd"] if isinstance(s.type, Pulse)]
    expected = ConstantWaveform(100, math.pi / 500 * 1000)
    assert slot.type.amplitude == expected


def test_a_variable_takes_the_unit_it_is_swept_in() -> None:
    """`2 * pi / t` with `t` swept in ns: an angular frequency, 2π / t rad/ns = 2000π / t rad/µs."""
    text = _pulse(
        "2 * pi / t",
        "var t: int\n",
        sweep="sweep {\n  t = 1 us .. 2 us step 1 us\n}\n",
    )
    assert [_amplitude_of(text, job) for job in (0, 1)] == pytest.approx([2 * math.pi, math.pi])


def test_an_angle_from_a_frequency_times_a_time() -> None:
    experiment = qpurun.loads(
        with_preamble(
            "sequence {\n  add pulse(amplitude = constant(100 ns, 1 rad/us), detuning = 0, "
            "phase = 0.25 MHz * 1 us) on ryd\n  measure ground-rydberg\n}\nruns 10\n"
        )
    )
    (slot,) = [s for s in experiment.sequence._schedule["ryd"] if isinstance(s.type, Pulse)]
    assert slot.type.phase == pytest.approx(math.pi / 2)  # 0.25 cycles


def _only_error(text: str) -> QxError:
    with pytest.raises(QxError) as caught:
        qpurun.loads(text, validate=False)
    (error,) = caught.value.errors
    return error


@pytest.mark.parametrize(
    ("amplitude", "message"),
    [
        ("1 us * 1 us", "`*` of a time and a time gives a unit no slot takes"),
        ("(2 us) ** 2", "a power of a time gives a unit no slot takes"),
        ("5 um / 1 us", "`/` of a distance and a time gives a unit no slot takes"),
        ("sin(1 us) * 1 rad/us", "`sin` takes an angle, but this is a time"),
        ("exp(1 rad/us)", "`exp` takes a bare number, but this is an angular frequency"),
    ],
)
def test_a_product_with_no_usable_unit_is_an_error(amplitude: str, message: str) -> None:
    error = _only_error(_pulse(amplitude))
    assert error.kind == "unit error"
    assert message in error.message
    assert error.line == 6


def test_a_function_of_an_angle_is_bare() -> None:
    assert _amplitude_of(_pulse("sin(90 deg) * 3 rad/us")) == pytest.approx(3.0)


def test_a_variable_in_two_incompatible_places_is_an_error_at_both() -> None:
    text = with_preamble(
        "var x: float\n"
        "sequence {\n"
        "  add pulse(amplitude = constant(100 ns, 1 rad/us), detuning = x, phase = 0) on ryd\n"
        "  add pulse(amplitude = constant(100 ns, 1 rad/us), detuning = 0, phase = x) on ryd\n"
        "  measure ground-rydberg\n}\nruns 10\njobs {\n  x = 1\n}\n"
    )
    with pytest.raises(QxError) as caught:
        qpurun.loads(text, validate=False)
    errors = caught.value.errors
    assert [(e.kind, e.line) for e in errors] == [("unit error", 7), ("unit error", 8)]
    assert "`x` fills `detuning` here, which takes an angular frequency" in errors[0].message
    assert "an angle (`phase`) on line 8" in errors[0].message
    assert "an angular frequency (`detuning`) on line 7" in errors[1].message


def test_one_variable_given_two_units_is_an_error_at_the_second() -> None:
    text = _pulse("1 rad/us", "var t: int\n") + "jobs {\n  t = 1 us\n  t = 1 MHz\n}\n"
    error = _only_error(text)
    assert (error.kind, error.line) == ("unit error", 13)
    assert "`t` is given an angular frequency here, but a time on line 12" in error.message


def test_a_swept_unit_against_its_slot_is_one_error_at_the_sweep() -> None:
    text = with_preamble(
        "var t: int\nsequence {\n  add pulse(amplitude = constant(t, 1 rad/us), detuning = 0, phase = 0) on ryd\n"
        "  measure ground-rydberg\n}\nruns 10\nsweep {\n  t = 1 MHz .. 2 MHz step 1 MHz\n}\n"
    )
    with pytest.raises(QxError) as caught:
        qpurun.loads(text, validate=False)
    assert [(e.kind, e.line) for e in caught.value.errors] == [("unit error", 12)] * len(caught.value.errors)
    assert len({e.message for e in caught.value.errors}) == 1


def test_deeply_nested_functions_are_typed_in_linear_time() -> None:
    """`abs(abs(...))` once doubled its cost per level (23 levels took 40 s); 45 is near the nesting limit
    (a call and its argument are two of the 100 levels)."""
    depth = 45
    text = _pulse("abs(" * depth + "1 rad/us" + ")" * depth)
    assert _amplitude_of(text) == pytest.approx(1.0)


def test_the_reference_pulser_sequence_for_the_sweep() -> None:
    """The swept quotient against Pulser's own parametrized sequence, built as a physicist would."""
    experiment = qpurun.loads(_pulse("2 * pi / t", "var t: int\n", sweep="sweep {\n  t = 1 us .. 2 us step 1 us\n}\n"))
    seq = Sequence(experiment.sequence.register, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    t = seq.declare_variable("t", dtype=int)
    seq.add(Pulse.ConstantPulse(100, 2 * math.pi / t * 1000, 0, 0), "ryd")
    seq.measure("ground-rydberg")
    for job in experiment.job_params:
        ours = experiment.sequence.build(**job["variables"])
        theirs = seq.build(**job["variables"])
        assert ours._schedule["ryd"][-1].type == theirs._schedule["ryd"][-1].type


def test_the_unit_a_sweep_is_written_in_is_kept_for_the_results() -> None:
    """`delta = 0.5 MHz .. 2.5 MHz`: jobs hold rad/µs (Pulser's), results show MHz (issue 8)."""
    text = with_preamble(
        "var delta: float\nvar t: int\nsequence {\n"
        "  add pulse(amplitude = constant(t, 1 rad/us), detuning = delta, phase = 0) on ryd\n"
        "  measure ground-rydberg\n}\nruns 10\n"
        "sweep {\n  delta = 0.5 MHz .. 1.5 MHz step 0.5 MHz\n  t = [100, 200]\n}\n"
    )
    experiment = qpurun.loads(text)
    assert {k: u.value for k, u in experiment.checked.variable_units.items()} == {"delta": "MHz"}
    deltas = sorted({job["variables"]["delta"] for job in experiment.job_params})
    assert deltas == pytest.approx([2 * math.pi * f for f in (0.5, 1.0, 1.5)])
