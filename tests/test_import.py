"""Round trips: a sequence built with Pulser -> `qpurun import` -> compile -> the same sequence.

Each case builds a sequence with Pulser itself, imports its abstract
representation, compiles the `.qx` text back and compares the compiled
sequence's abstract representation with the original's (floats within 1e-9).
Parametrized sequences are compared parametrized: variables and expressions,
not one built job. Nothing is normalized: variables, channels and operations
come back in Pulser's own order.

A case the compiler cannot lower yet is `xfail(strict=True)`, so that it fails
the day the construct lands and must be un-marked.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulser import Pulse, Register, Register3D, Sequence
from pulser.devices import AnalogDevice, DigitalAnalogDevice, MockDevice
from pulser.parametrized import Parametrized
from pulser.register import RegisterLayout
from pulser.register.special_layouts import (
    RectangularLatticeLayout,
    SquareLatticeLayout,
    TriangularLatticeLayout,
)
from pulser.waveforms import (
    BlackmanWaveform,
    CompositeWaveform,
    ConstantWaveform,
    CustomWaveform,
    InterpolatedWaveform,
    KaiserWaveform,
    RampWaveform,
)

import qpurun
from conftest import REFERENCES, assert_close, load_reference
from qpurun.bridge.importer import QxImportError, import_sequence, import_text
from qpurun.cli import main

Jobs = list[dict[str, Any]] | None
Case = Callable[[], tuple[Sequence, Jobs]]

PI = np.pi
LINE = Register({"q0": (0, 0), "q1": (6, 0), "q2": (12, 0)})
TRIANGLE = TriangularLatticeLayout(61, 5)


def analog() -> Sequence:
    seq = Sequence(TRIANGLE.define_register(0, 1, 2, qubit_ids=["q0", "q1", "q2"]), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    return seq


def mock(register: Any = LINE) -> Sequence:
    seq = Sequence(register, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    return seq


def digital_analog() -> Sequence:
    layout = RegisterLayout([(-4, 0), (0, -7), (0, 7), (4, 0), (8, 0)])
    seq = Sequence(layout.define_register(0, 3, qubit_ids=["control", "target"]), DigitalAnalogDevice)
    seq.declare_channel("raman", "raman_local", initial_target="control")
    seq.declare_channel("ryd", "rydberg_global")
    return seq


def constant(duration: Any = 100, value: Any = 1.0) -> ConstantWaveform:
    return ConstantWaveform(duration, value)


# ---- waveforms -----------------------------------------------------------------------------


def constant_pulse() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.add(Pulse.ConstantPulse(200, 2.0, -1.5, 0.0), "ryd")
    return seq, None


def ramp_waveforms() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.add(Pulse(RampWaveform(300, 0, 2 * PI), RampWaveform(300, -5.0, 5.0), 0), "ryd")
    return seq, None


def blackman() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(500, PI / 2), 0, 0), "ryd")
    return seq, None


def blackman_from_max_val() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform.from_max_val(2 * PI, PI), -1.0, 0), "ryd")
    return seq, None


def blackman_from_max_val_variable() -> tuple[Sequence, Jobs]:
    seq = mock()
    top = seq.declare_variable("top")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform.from_max_val(top, PI), 0, 0), "ryd")
    return seq, [{"runs": 50, "variables": {"top": 3.0}}]


def kaiser() -> tuple[Sequence, Jobs]:
    seq = mock()
    seq.add(Pulse.ConstantDetuning(KaiserWaveform(400, PI), 0, 0), "ryd")
    seq.add(Pulse.ConstantDetuning(KaiserWaveform(400, PI, beta=9.5), 0, 0), "ryd")
    return seq, None


def kaiser_from_max_val() -> tuple[Sequence, Jobs]:
    seq = mock()
    seq.add(Pulse.ConstantDetuning(KaiserWaveform.from_max_val(2.0, PI, beta=12), 0, 0), "ryd")
    return seq, None


def kaiser_from_max_val_variable() -> tuple[Sequence, Jobs]:
    seq = mock()
    top = seq.declare_variable("top")
    seq.add(Pulse.ConstantDetuning(KaiserWaveform.from_max_val(top, PI, beta=10.0), 0, 0), "ryd")
    return seq, [{"runs": 50, "variables": {"top": 3.0}}]


def interpolated() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.add(Pulse.ConstantDetuning(InterpolatedWaveform(1000, [0, 1.5, 2.5, 0]), 0, 0), "ryd")
    seq.add(Pulse.ConstantDetuning(InterpolatedWaveform(800, [0, 2, 0], times=[0, 0.3, 1]), 0, 0), "ryd")
    return seq, None


def interpolated_variable() -> tuple[Sequence, Jobs]:
    seq = mock()
    values = seq.declare_variable("values", size=4)
    seq.add(Pulse.ConstantDetuning(InterpolatedWaveform(1000, values), 0, 0), "ryd")
    return seq, [{"runs": 10, "variables": {"values": [0.0, 1.0, 2.0, 0.0]}}]


def composite() -> tuple[Sequence, Jobs]:
    seq = analog()
    wave = CompositeWaveform(RampWaveform(100, 0, 2), ConstantWaveform(300, 2), RampWaveform(100, 2, 0))
    seq.add(Pulse.ConstantDetuning(wave, 0, 0), "ryd")
    return seq, None


def custom() -> tuple[Sequence, Jobs]:
    seq = mock()
    seq.add(Pulse.ConstantDetuning(CustomWaveform(np.linspace(0, 3, 20)), 0.5, 0), "ryd")
    return seq, None


def constant_amplitude() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.add(Pulse.ConstantAmplitude(1.5, RampWaveform(400, -10, 10), PI / 4), "ryd")
    return seq, None


def waveform_used_twice() -> tuple[Sequence, Jobs]:
    seq = mock()
    half = BlackmanWaveform(200, PI / 2)
    seq.add(Pulse.ConstantDetuning(half, 0, 0), "ryd")
    seq.add(Pulse.ConstantDetuning(half, -2.0, PI), "ryd")
    return seq, None


def pulse_used_twice() -> tuple[Sequence, Jobs]:
    seq = mock()
    pulse = Pulse.ConstantDetuning(BlackmanWaveform(200, PI), 0, 0)
    seq.add(pulse, "ryd")
    seq.delay(100, "ryd")
    seq.add(pulse, "ryd")
    return seq, None


def arbitrary_phase_static() -> tuple[Sequence, Jobs]:
    # Built without variables, Pulser stores it as an ordinary pulse (a custom detuning).
    seq = mock()
    seq.add(Pulse.ArbitraryPhase(constant(100, 1.0), RampWaveform(100, 0, 1)), "ryd")
    return seq, None


def arbitrary_phase() -> tuple[Sequence, Jobs]:
    seq = mock()
    top = seq.declare_variable("top")
    seq.add(Pulse.ArbitraryPhase(constant(100, top), RampWaveform(100, 0, 1), post_phase_shift=0.5), "ryd")
    return seq, [{"runs": 10, "variables": {"top": 1.0}}]


# ---- operations ----------------------------------------------------------------------------


def protocols_and_phase_shifts() -> tuple[Sequence, Jobs]:
    seq = digital_analog()
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, PI / 2), 0, 0, post_phase_shift=PI / 3), "raman")
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd", protocol="no-delay")
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd", protocol="wait-for-all")
    return seq, None


def target() -> tuple[Sequence, Jobs]:
    seq = digital_analog()
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, PI / 2), 0, 0), "raman")
    seq.target("target", "raman")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, PI / 2), 0, 0), "raman")
    return seq, None


def target_several() -> tuple[Sequence, Jobs]:
    seq = mock()
    seq.declare_channel("local", "rydberg_local", initial_target=["q0", "q2"])
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "local")
    seq.target(["q1", "q2"], "local")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "local")
    return seq, None


def target_list_of_one() -> tuple[Sequence, Jobs]:
    seq = mock()
    seq.declare_channel("local", "rydberg_local")
    seq.target(["q1"], "local")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "local")
    return seq, None


def qubit_named_index() -> tuple[Sequence, Jobs]:
    # `target index ...` is the by-index form, so this qubit is targeted by its number.
    seq = Sequence(Register({"index": (0, 0), "b": (6, 0)}), MockDevice)
    seq.declare_channel("ch", "rydberg_local", initial_target="index")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ch")
    seq.target(["index", "b"], "ch")
    seq.phase_shift(1.0, "index", basis="ground-rydberg")
    return seq, None


def target_index() -> tuple[Sequence, Jobs]:
    seq = mock()
    which = seq.declare_variable("which", dtype=int)
    seq.declare_channel("local", "rydberg_local")
    seq.target_index(which, "local")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "local")
    seq.target_index(2, "local")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "local")
    return seq, [{"runs": 20, "variables": {"which": 0}}, {"runs": 20, "variables": {"which": 1}}]


def delays() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd")
    seq.delay(120, "ryd")
    seq.delay(400, "ryd", at_rest=True)
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd")
    return seq, None


def align() -> tuple[Sequence, Jobs]:
    seq = digital_analog()
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, PI / 2), 0, 0), "raman")
    seq.align("raman", "ryd")
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd")
    return seq, None


def phase_shift() -> tuple[Sequence, Jobs]:
    seq = mock()
    seq.declare_channel("raman", "raman_global")
    seq.phase_shift(PI / 4, "q0", "q2")
    seq.phase_shift(-PI / 2, "q0", "q1", "q2", basis="ground-rydberg")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


def phase_shift_index() -> tuple[Sequence, Jobs]:
    seq = mock()
    which = seq.declare_variable("which", dtype=int)
    phi = seq.declare_variable("phi")
    seq.phase_shift_index(phi, which, 2, basis="ground-rydberg")
    seq.phase_shift_index(0.25, 1, basis="ground-rydberg")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, [{"runs": 5, "variables": {"which": 0, "phi": 1.5}}]


def eom() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd")
    seq.enable_eom_mode("ryd", 3.0, 0.0)
    seq.add_eom_pulse("ryd", 100, 0.0)
    seq.delay(300, "ryd")
    seq.modify_eom_setpoint("ryd", 2.0, 1.0)
    seq.add_eom_pulse("ryd", 200, PI / 2, post_phase_shift=0.3, protocol="no-delay")
    seq.disable_eom_mode("ryd")
    return seq, None


def eom_phase_drift() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.enable_eom_mode("ryd", 3.0, 0.0, optimal_detuning_off=-1.0, correct_phase_drift=True)
    seq.add_eom_pulse("ryd", 100, 0.0, correct_phase_drift=True)
    seq.disable_eom_mode("ryd", correct_phase_drift=True)
    return seq, None


def eom_variables() -> tuple[Sequence, Jobs]:
    seq = analog()
    amp = seq.declare_variable("amp")
    t = seq.declare_variable("t", dtype=int)
    seq.enable_eom_mode("ryd", amp, 0.0)
    seq.add_eom_pulse("ryd", t, 0.0)
    seq.disable_eom_mode("ryd")
    return seq, [{"runs": 100, "variables": {"amp": 2.0, "t": 120}}]


def slm_mask() -> tuple[Sequence, Jobs]:
    seq = digital_analog()
    seq.config_slm_mask(["target"])
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd")
    return seq, None


def detuning_map() -> tuple[Sequence, Jobs]:
    seq = digital_analog()
    register = seq.register
    seq.config_detuning_map(register.define_detuning_map({"control": 1.0, "target": 0.5}), "dmm_0")
    seq.add(Pulse.ConstantPulse(300, 2.0, 0, 0), "ryd")
    seq.add_dmm_detuning(RampWaveform(300, 0, -5), "dmm_0")
    seq.add_dmm_detuning(ConstantWaveform(100, -2.0), "dmm_0", protocol="wait-for-all")
    return seq, None


def detuning_map_on_traps() -> tuple[Sequence, Jobs]:
    layout = RegisterLayout([(-4, 0), (0, -7), (0, 7), (4, 0), (8, 0)])
    seq = Sequence(layout.define_register(0, 3, qubit_ids=["a", "b"]), DigitalAnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.config_detuning_map(layout.define_detuning_map({0: 1.0, 1: 0.2, 4: 0.7}), "dmm_0")
    seq.add_dmm_detuning(ConstantWaveform(100, -2.0), "dmm_0")
    return seq, None


def truncate() -> tuple[Sequence, Jobs]:
    seq = mock()
    t = seq.declare_variable("t", dtype=int)
    seq.add(Pulse.ConstantPulse(1000, 1.0, 0, 0), "ryd")
    seq.truncate(t)
    return seq, [{"runs": 5, "variables": {"t": 600}}]


def truncate_static() -> tuple[Sequence, Jobs]:
    seq = mock()
    seq.add(Pulse.ConstantPulse(1000, 1.0, 0, 0), "ryd")
    seq.truncate(700)
    return seq, None


def measure(basis: str) -> Case:
    def build() -> tuple[Sequence, Jobs]:
        seq = mock()
        if basis == "digital":
            seq.declare_channel("raman", "raman_global")
        seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
        seq.measure(basis)
        return seq, None

    return build


def xy_magnetic_field() -> tuple[Sequence, Jobs]:
    seq = Sequence(LINE, MockDevice)
    seq.declare_channel("mw", "mw_global")
    seq.set_magnetic_field(0.0, 10.0, 30.0)
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "mw")
    seq.measure("XY")
    return seq, None


def xy_slm_mask() -> tuple[Sequence, Jobs]:
    seq = Sequence(LINE, MockDevice)
    seq.declare_channel("mw", "mw_global")
    seq.config_slm_mask(["q1"])
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "mw")
    seq.measure("XY")
    return seq, None


# ---- registers and layouts -------------------------------------------------------------------


def register_2d() -> tuple[Sequence, Jobs]:
    seq = mock(Register({"a": (0.0, 0.0), "b": (5.5, -2.25), "c": (-3.125, 7.0)}))
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


def register_shape(factory: Callable[..., Register], *sizes: int, spacing: float) -> Case:
    def build() -> tuple[Sequence, Jobs]:
        seq = mock(factory(*sizes, spacing=spacing, prefix="q"))
        seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
        return seq, None

    return build


def register_3d() -> tuple[Sequence, Jobs]:
    seq = mock(Register3D({"a": (0, 0, 0), "b": (6, 0, 0), "c": (0, 0, 6)}))
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


def triangular_layout() -> tuple[Sequence, Jobs]:
    seq = Sequence(TRIANGLE.define_register(4, 5, 6, 9), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


def square_layout() -> tuple[Sequence, Jobs]:
    layout = SquareLatticeLayout(5, 4, 7.5)
    seq = Sequence(layout.define_register(0, 1, 5, qubit_ids=["x", "y", "z"]), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


def rectangular_layout() -> tuple[Sequence, Jobs]:
    layout = RectangularLatticeLayout(4, 6, col_spacing=5, row_spacing=8)
    seq = Sequence(layout.define_register(0, 1, 2, 7), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


def traps_layout() -> tuple[Sequence, Jobs]:
    layout = RegisterLayout([(0, 0), (6.5, 0), (0, 6.5), (-6.5, -2.25), (13, 13)])
    seq = Sequence(layout.define_register(1, 4, qubit_ids=["a", "b"]), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


def calibrated_layout() -> tuple[Sequence, Jobs]:
    layout = AnalogDevice.pre_calibrated_layouts[0]
    seq = Sequence(layout.define_register(0, 1, 2), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


RING = RegisterLayout([(0, 0), (8, 0), (0, 8), (8, 8)], slug="ring")


def calibrated_layout_by_name() -> tuple[Sequence, Jobs]:
    # The device (written beside the spec) has the layout among its calibrated ones.
    device = dataclasses.replace(AnalogDevice, name="CalibratedDevice", pre_calibrated_layouts=(RING,))
    seq = Sequence(RING.define_register(0, 3), device)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


def named_layout_file() -> tuple[Sequence, Jobs]:
    # A layout with its own name is written to a layout file beside the spec.
    seq = Sequence(RING.define_register(0, 3), MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


def mappable_register() -> tuple[Sequence, Jobs]:
    register = TriangularLatticeLayout(20, 5).make_mappable_register(3)
    seq = Sequence(register, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, [{"runs": 10, "variables": {"qubits": {"q0": 1, "q1": 3, "q2": 4}}}]


def custom_device() -> tuple[Sequence, Jobs]:
    device = dataclasses.replace(MockDevice, name="LabDevice", max_atom_num=20)
    seq = Sequence(LINE, device)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    return seq, None


# ---- variables and expressions -------------------------------------------------------------------


def variables_scalar_and_array() -> tuple[Sequence, Jobs]:
    seq = mock()
    t = seq.declare_variable("t", dtype=int)
    omega = seq.declare_variable("omega")
    amps = seq.declare_variable("amps", size=3)
    # An array of one, used whole: it stays an array (`var single: int[1]`).
    single = seq.declare_variable("single", size=1, dtype=int)
    seq.declare_channel("local", "rydberg_local")
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(t, omega), amps[2], 0), "ryd")
    seq.add(Pulse.ConstantDetuning(RampWaveform(t, amps[0], amps[1]), 0, 0), "ryd")
    seq.target_index(single, "local")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "local")
    jobs = [
        {"runs": 10, "variables": {"t": 100, "omega": 2.0, "amps": [1.0, 2.0, -1.0], "single": [1]}},
        {"runs": 20, "variables": {"t": 200, "omega": 3.0, "amps": [0.5, 1.5, -2.0], "single": [2]}},
    ]
    return seq, jobs


def arithmetic() -> tuple[Sequence, Jobs]:
    seq = mock()
    t = seq.declare_variable("t", dtype=int)
    x = seq.declare_variable("x")
    y = seq.declare_variable("y")
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(t * 2 + 100, x / 2.3 - y), -x, 0), "ryd")
    seq.add(Pulse.ConstantDetuning(RampWaveform(3 * t, x**2, (x + y) * (x - y)), y % 2, 1.5 * y), "ryd")
    seq.delay(t - 20, "ryd")
    return seq, [{"runs": 1, "variables": {"t": 120, "x": 1.5, "y": 0.5}}]


def functions() -> tuple[Sequence, Jobs]:
    seq = mock()
    x = seq.declare_variable("x")
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(100, np.sqrt(abs(x))), np.sin(x) + np.cos(x), 0), "ryd")
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(100, np.exp(x) + np.log(x)), np.tan(x) - np.tanh(x), 0), "ryd")
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(100, np.log2(x)), 0, 0), "ryd")
    seq.delay(np.floor(x * 100) + np.ceil(x), "ryd")
    return seq, [{"runs": 1, "variables": {"x": 1.2}}]


def variables_everywhere() -> tuple[Sequence, Jobs]:
    seq = mock()
    area = seq.declare_variable("area")
    phase = seq.declare_variable("phase")
    t = seq.declare_variable("t", dtype=int)
    omega = seq.declare_variable("omega")  # `.qx` gives a variable one unit: not `area` as an amplitude
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(t, area), 0, phase, post_phase_shift=phase / 2), "ryd")
    seq.add(Pulse.ConstantPulse(t, 1.0, -1.0, phase), "ryd")
    seq.add(Pulse.ConstantAmplitude(omega, RampWaveform(t, -2, 2), 0), "ryd")
    seq.add(Pulse.ConstantDetuning(KaiserWaveform(t, area, beta=8.0), 0, 0), "ryd")
    jobs = [{"runs": 30, "variables": {"area": PI, "phase": PI / 2, "t": 400, "omega": 2.0}}]
    return seq, jobs


def composite_with_variables() -> tuple[Sequence, Jobs]:
    seq = mock()
    top = seq.declare_variable("top")
    wave = CompositeWaveform(RampWaveform(100, 0, top), ConstantWaveform(200, top), RampWaveform(100, top, 0))
    seq.add(Pulse.ConstantDetuning(wave, 0, 0), "ryd")
    return seq, [{"runs": 1, "variables": {"top": 2.0}}]


def jobs_share_runs() -> tuple[Sequence, Jobs]:
    seq = mock()
    theta = seq.declare_variable("theta")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, theta), 0, 0), "ryd")
    return seq, [{"runs": 250, "variables": {"theta": v}} for v in (PI / 4, PI / 2, PI)]


def interleaved_setup() -> tuple[Sequence, Jobs]:
    seq = Sequence(LINE, MockDevice)
    seq.declare_channel("global", "rydberg_global")
    seq.config_detuning_map(LINE.define_detuning_map({"q0": 1.0, "q2": 0.25}), "dmm_0")
    seq.declare_channel("local", "raman_local", initial_target="q1")
    seq.declare_channel("other", "rydberg_local")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "global")
    seq.add_dmm_detuning(RampWaveform(100, -1, 0), "dmm_0")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "local")
    return seq, None


# ---- issue 11: what Pulser serializes and `.qx` could not say ------------------------------------


def slm_mask_on_dmm() -> tuple[Sequence, Jobs]:
    seq = digital_analog()
    seq.config_slm_mask(["target"], "dmm_0")  # before any pulse: the spec's own order
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd")
    return seq, None


def eom_every_phase_drift() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.enable_eom_mode("ryd", 3.0, 0.0, correct_phase_drift=True)
    seq.add_eom_pulse("ryd", 100, 0.0, correct_phase_drift=True)
    seq.add_eom_pulse("ryd", 100, PI / 2)
    seq.modify_eom_setpoint("ryd", 2.0, 1.0)  # Pulser writes `correct_phase_drift: false` here
    seq.delay(200, "ryd")
    seq.disable_eom_mode("ryd", correct_phase_drift=True)
    return seq, None


def named_detuning_map() -> tuple[Sequence, Jobs]:
    seq = digital_analog()
    seq.config_detuning_map(seq.register.define_detuning_map({"control": 1.0, "target": 0.5}, "edge"), "dmm_0")
    seq.add_dmm_detuning(ConstantWaveform(100, -2.0), "dmm_0")
    return seq, None


def eom_delay_at_rest() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.enable_eom_mode("ryd", 3.0, 0.0)
    seq.add_eom_pulse("ryd", 100, 0.0)
    seq.delay(300, "ryd", at_rest=True)
    seq.disable_eom_mode("ryd")
    return seq, None


def eom_setpoint_phase_drift() -> tuple[Sequence, Jobs]:
    seq = analog()
    seq.enable_eom_mode("ryd", 3.0, 0.0)
    seq.add_eom_pulse("ryd", 100, 0.0)
    seq.modify_eom_setpoint("ryd", 2.0, 1.0, correct_phase_drift=True)
    seq.disable_eom_mode("ryd")
    return seq, None


def detune_on_the_slm_dmm() -> tuple[Sequence, Jobs]:
    seq = mock()
    seq.config_slm_mask(["q1"], "dmm_0")
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    seq.add_dmm_detuning(ConstantWaveform(100, -2.0), "dmm_0")
    return seq, None


_NEEDS = "needs the language to say it (see the QxImportError): un-mark when it does"


def _case(builder: Case, name: str | None = None, xfail: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=xfail, raises=QxImportError)] if xfail else []
    return pytest.param(builder, id=name or builder.__name__, marks=marks)


CASES = [
    _case(constant_pulse),
    _case(ramp_waveforms),
    _case(blackman),
    _case(blackman_from_max_val),
    _case(blackman_from_max_val_variable),
    _case(kaiser),
    _case(kaiser_from_max_val),
    _case(kaiser_from_max_val_variable),
    _case(interpolated),
    _case(interpolated_variable),
    _case(composite),
    _case(composite_with_variables),
    _case(custom),
    _case(constant_amplitude),
    _case(waveform_used_twice),
    _case(pulse_used_twice),
    _case(arbitrary_phase_static),
    _case(arbitrary_phase),
    _case(protocols_and_phase_shifts),
    _case(target),
    _case(target_several),
    _case(target_list_of_one),
    _case(target_index),
    _case(qubit_named_index),
    _case(delays),
    _case(align),
    _case(phase_shift),
    _case(phase_shift_index),
    _case(eom),
    _case(eom_phase_drift),
    _case(eom_variables),
    _case(slm_mask),
    _case(detuning_map),
    _case(detuning_map_on_traps),
    _case(interleaved_setup),
    _case(truncate),
    _case(truncate_static),
    _case(measure("ground-rydberg"), "measure_ground_rydberg"),
    _case(measure("digital"), "measure_digital"),
    _case(xy_magnetic_field),
    _case(xy_slm_mask),
    _case(register_2d),
    _case(register_shape(Register.square, 3, spacing=5), "register_square"),
    _case(register_shape(Register.rectangle, 2, 3, spacing=6.5), "register_rectangle"),
    _case(register_shape(Register.triangular_lattice, 2, 4, spacing=5), "register_triangular"),
    _case(register_shape(Register.hexagon, 1, spacing=7), "register_hexagon"),
    _case(register_3d),
    _case(triangular_layout),
    _case(square_layout),
    _case(rectangular_layout),
    _case(traps_layout),
    _case(calibrated_layout),
    _case(calibrated_layout_by_name),
    _case(named_layout_file),
    _case(mappable_register),
    _case(custom_device),
    _case(variables_scalar_and_array),
    _case(arithmetic),
    _case(functions),
    _case(variables_everywhere),
    _case(jobs_share_runs),
    _case(slm_mask_on_dmm),
    _case(eom_every_phase_drift),
    _case(named_detuning_map, xfail="a detuning map's Pulser slug " + _NEEDS),
    _case(eom_delay_at_rest),
    _case(eom_setpoint_phase_drift),
    _case(detune_on_the_slm_dmm),
]


def _round_trip(seq: Sequence, jobs: Jobs, directory: Path) -> tuple[str, qpurun.Experiment]:
    side_files: dict[str, str] = {}
    text = import_text(seq.to_abstract_repr(), jobs=jobs, side_files=side_files)
    for name, content in side_files.items():
        (directory / name).write_text(content, encoding="utf-8")
    experiment = qpurun.loads(text, filename=str(directory / "imported.qx"), validate=False)
    return text, experiment


@pytest.mark.parametrize("build", CASES)
def test_import_compiles_to_the_same_sequence(build: Case, tmp_path: Path) -> None:
    seq, jobs = build()
    original = json.loads(seq.to_abstract_repr())
    text, experiment = _round_trip(seq, jobs, tmp_path)
    assert_close(json.loads(experiment.sequence.to_abstract_repr()), original)
    if jobs:
        assert [p["runs"] for p in experiment.job_params] == [j["runs"] for j in jobs]
        for ours, theirs in zip(experiment.job_params, jobs, strict=True):
            assert_close(ours.get("variables", {}), theirs.get("variables", {}))
    # The text is canonical: formatting it changes nothing.
    assert qpurun.language.printer.format_text(text) == text


REFERENCE_SCRIPTS = sorted(REFERENCES.glob("*.py"))


@pytest.mark.parametrize("path", REFERENCE_SCRIPTS, ids=[p.stem for p in REFERENCE_SCRIPTS])
def test_reference_scripts_round_trip(path: Path, tmp_path: Path) -> None:
    """The hand-written Pulser scripts the examples are checked against come back too."""
    seq, jobs = load_reference(path.stem).build()
    _, experiment = _round_trip(seq, jobs, tmp_path)
    assert_close(json.loads(experiment.sequence.to_abstract_repr()), json.loads(seq.to_abstract_repr()))


def test_align_not_at_rest_round_trips(tmp_path: Path) -> None:
    seq = digital_analog()
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, PI / 2), 0, 0), "raman")
    seq.align("raman", "ryd", at_rest=False)
    seq.align("raman", "ryd")
    text, experiment = _round_trip(seq, [], tmp_path)
    assert "align raman, ryd not_at_rest\n" in text
    assert_close(json.loads(experiment.sequence.to_abstract_repr()), json.loads(seq.to_abstract_repr()))


def test_mappable_jobs_keep_the_placement(tmp_path: Path) -> None:
    seq, jobs = mappable_register()
    _, experiment = _round_trip(seq, jobs, tmp_path)
    assert experiment.job_params == jobs


def test_import_is_readable() -> None:
    seq, jobs = variables_everywhere()
    text = import_text(seq.to_abstract_repr(), jobs=jobs)
    assert re.search(r"^var t: +int$", text, re.MULTILINE)  # declarations may be aligned
    assert "blackman(t, area = area)" in text
    assert "t = 400 ns" in text
    assert "area = pi" in text

    seq, _ = waveform_used_twice()
    text = import_text(seq.to_abstract_repr())
    assert text.count("blackman(") == 1
    assert "waveform w1 = blackman(200 ns, area = pi / 2)" in text

    seq, _ = register_shape(Register.hexagon, 1, spacing=7)()
    assert "register hexagon(1, spacing = 7 um)" in import_text(seq.to_abstract_repr())
    seq, _ = register_shape(Register.rectangle, 2, 3, spacing=6.5)()
    assert "register rectangle(2, 3, spacing = 6.5 um)" in import_text(seq.to_abstract_repr())

    seq, _ = triangular_layout()
    assert "layout triangular(61, spacing = 5 um)" in import_text(seq.to_abstract_repr())
    seq, _ = rectangular_layout()
    assert "layout rectangular(4, 6, row_spacing = 8 um, col_spacing = 5 um)" in import_text(seq.to_abstract_repr())


def test_runs_line_when_jobs_share_one() -> None:
    seq, jobs = jobs_share_runs()
    text = import_text(seq.to_abstract_repr(), jobs=jobs)
    assert "runs 250\njobs {\n  theta = pi / 4\n  theta = pi / 2\n  theta = pi\n}" in text


def test_without_jobs_variables_take_the_json_defaults() -> None:
    seq, _ = truncate()
    spec = import_sequence(seq.to_abstract_repr(t=500), runs=7)
    experiment = qpurun.loads(import_text(seq.to_abstract_repr(t=500), runs=7), validate=False)
    assert experiment.job_params == [{"runs": 7, "variables": {"t": 500}}]
    assert any(isinstance(s, qpurun.language.ast.Runs) for s in spec.statements)


def test_device_given_by_name() -> None:
    # Older Pulser versions wrote some devices by name only.
    seq, _ = measure("ground-rydberg")()
    data = json.loads(seq.to_abstract_repr())
    data["device"] = "MockDevice"
    spec = import_sequence(json.dumps(data))
    assert qpurun.language.ast.Device(qpurun.language.ast.Identifier("MockDevice")) in spec.statements


def test_layout_names() -> None:
    seq, _ = calibrated_layout_by_name()
    side_files: dict[str, str] = {}
    text = import_text(seq.to_abstract_repr(), side_files=side_files)
    assert 'device "CalibratedDevice.json"' in text
    assert 'layout calibrated "ring"' in text
    seq, _ = named_layout_file()
    assert 'layout "ring.layout.json"' in import_text(seq.to_abstract_repr(), side_files=side_files)
    assert set(side_files) == {"CalibratedDevice.json", "ring.layout.json"}


def test_named_experiment() -> None:
    seq, _ = constant_pulse()
    assert import_text(seq.to_abstract_repr(), name="rabi").startswith('experiment "rabi"\ndevice AnalogDevice\n')


def test_custom_device_needs_an_output_file() -> None:
    seq, _ = custom_device()
    with pytest.raises(QxImportError, match="written to a file beside the spec"):
        import_text(seq.to_abstract_repr())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            named_detuning_map,
            'the detuning map on `dmm_0` is named `edge` (`define_detuning_map(..., slug="edge")`), '
            "which `.qx` cannot write: `detuning_map NAME` names the map in the spec, not Pulser's slug",
            id="named_detuning_map",
        ),
    ],
)
def test_what_qx_cannot_say_is_an_error(build: Case, message: str) -> None:
    seq, _ = build()
    with pytest.raises(QxImportError) as raised:
        import_text(seq.to_abstract_repr())
    assert raised.value.message == message


def test_eom_enabled_and_disabled_with_different_drift_corrections_is_an_error() -> None:
    seq = analog()
    seq.enable_eom_mode("ryd", 3.0, 0.0, correct_phase_drift=True)
    seq.add_eom_pulse("ryd", 100, 0.0)
    seq.disable_eom_mode("ryd")
    with pytest.raises(QxImportError, match=r"enabled and disabled with different `correct_phase_drift`"):
        import_text(seq.to_abstract_repr())


def test_a_variable_of_two_units_is_an_error() -> None:
    """Pulser takes one number as a phase and a detuning; a spec gives a variable one unit."""
    seq = mock()
    x = seq.declare_variable("x")
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(100, 1.0), -x, 1.5 * x), "ryd")
    with pytest.raises(QxImportError) as raised:
        import_text(seq.to_abstract_repr(x=1.0))
    message = raised.value.message
    assert message.startswith("this sequence cannot be written in `.qx`: `x` fills `detuning` here")
    assert "on line" not in message  # the reader never sees the spec's lines: they are quoted
    assert "(here: `add pulse(" in message
    assert raised.value.hint == "a variable has one unit: declare one variable for each quantity"


@pytest.mark.filterwarnings("ignore:In version v1.4.0 the behavior of `Sequence.phase_shift`")
def test_a_phase_shift_without_targets_is_written_on_every_qubit(tmp_path: Path) -> None:
    """Since Pulser 1.4 (and in its deserialiser) no targets means every qubit, not none."""
    seq = mock()
    seq.declare_channel("raman", "raman_global")
    seq.phase_shift(1.0, basis="ground-rydberg")
    phi = seq.declare_variable("phi")
    seq.phase_shift_index(phi)
    seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    text, experiment = _round_trip(seq, [{"runs": 10, "variables": {"phi": 0.5}}], tmp_path)
    assert "  phase_shift 1.0 on q0, q1, q2 basis ground-rydberg\n" in text
    assert "  phase_shift phi on q0, q1, q2\n" in text
    spelled = mock()  # what the spec says, in Pulser: the same shifts, every qubit named
    spelled.declare_channel("raman", "raman_global")
    spelled.phase_shift(1.0, "q0", "q1", "q2", basis="ground-rydberg")
    phi = spelled.declare_variable("phi")
    spelled.phase_shift(phi, "q0", "q1", "q2")
    spelled.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
    assert_close(json.loads(experiment.sequence.to_abstract_repr()), json.loads(spelled.to_abstract_repr()))
    ours, theirs = (
        experiment.sequence.build(phi=0.5),
        Sequence.from_abstract_repr(seq.to_abstract_repr()).build(phi=0.5),
    )
    for qubit in ("q0", "q1", "q2"):
        for basis in ("ground-rydberg", "digital"):
            assert ours.current_phase_ref(qubit, basis) == theirs.current_phase_ref(qubit, basis)


def test_an_slm_mask_configured_after_a_pulse_is_set_up_first(tmp_path: Path) -> None:
    """A spec's `slm_mask` runs before the operations: for Pulser the mask still takes the first pulse."""
    from pulser.sampler import sample

    seq = digital_analog()
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd")
    seq.config_slm_mask(["target"], "dmm_0")
    seq.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd")
    first, _ = slm_mask_on_dmm()
    first.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "ryd")
    _, experiment = _round_trip(seq, None, tmp_path)
    assert_close(json.loads(experiment.sequence.to_abstract_repr()), json.loads(first.to_abstract_repr()))
    ours, theirs = sample(experiment.sequence).to_nested_dict(), sample(seq).to_nested_dict()
    for channel in ("Global", "Local"):
        for basis, values in theirs[channel].items():
            np.testing.assert_equal(ours[channel][basis], values)


def _check_errors(text: str, tmp_path: Path) -> list[dict[str, Any]]:
    """What `qpurun check --json` says of the spec."""
    (tmp_path / "imported.qx").write_text(text, encoding="utf-8")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["check", "--json", str(tmp_path / "imported.qx")])
    (report,) = json.loads(out.getvalue())
    return list(report["errors"])


def _parametrized_without_values(kind: str) -> Sequence:
    if kind == "mappable":
        seq = Sequence(TriangularLatticeLayout(20, 5).make_mappable_register(2), MockDevice)
        seq.declare_channel("ryd", "rydberg_global")
        seq.add(Pulse.ConstantPulse(100, 1.0, 0, 0), "ryd")
        return seq
    seq = mock()
    if kind == "int":
        seq.add(Pulse.ConstantPulse(seq.declare_variable("t", dtype=int), 1.0, 0, 0), "ryd")
    else:
        amps = seq.declare_variable("amps", size=2)
        seq.add(Pulse.ConstantDetuning(RampWaveform(100, amps[0], amps[1]), 0, 0), "ryd")
    return seq


@pytest.mark.parametrize(
    ("kind", "comment", "error"),
    [
        (
            "int",
            "# fill in: jobs { t = ... }",
            {
                "kind": "sweep error",
                "message": "variable `t` is declared but no `sweep` or `jobs` gives it values",
                "hint": "add e.g. `jobs { t = ... }`",
                "at": "var t: int",
            },
        ),
        (
            "array",
            "# fill in: jobs { amps = [...] }",
            {
                "kind": "sweep error",
                "message": "variable `amps` is declared but no `sweep` or `jobs` gives it values",
                "hint": "add e.g. `jobs { amps = ... }`",
                "at": "var amps: float[2]",
            },
        ),
        (
            "mappable",
            "# fill in: jobs { qubits = { q0: ..., q1: ... } }",
            {"kind": "sweep error", "message": "job 0 does not bind `qubits`", "at": "runs 100"},
        ),
    ],
)
def test_without_values_the_spec_says_what_to_fill_in(
    kind: str, comment: str, error: dict[str, str], tmp_path: Path
) -> None:
    """No made-up job (a duration of 0 does not build): a comment, and the checker's one located error."""
    seq = _parametrized_without_values(kind)
    text = import_text(seq.to_abstract_repr())
    assert text.endswith("runs 100\n" + comment + "\n")
    assert not re.search(r"^jobs", text, re.MULTILINE)
    assert qpurun.language.printer.format_text(text) == text
    (found,) = _check_errors(text, tmp_path)
    assert found["kind"] == error["kind"] and found["message"] == error["message"]
    assert found.get("hint") == error.get("hint", found.get("hint"))
    assert text.splitlines()[found["line"] - 1] == error["at"]


def test_filled_in_the_spec_compiles_to_the_sequence(tmp_path: Path) -> None:
    seq = _parametrized_without_values("int")
    text = import_text(seq.to_abstract_repr()).replace("# fill in: jobs { t = ... }", "jobs { t = 100 }")
    experiment = qpurun.loads(text, validate=False)
    assert_close(json.loads(experiment.sequence.to_abstract_repr()), json.loads(seq.to_abstract_repr()))
    assert experiment.job_params == [{"runs": 100, "variables": {"t": 100}}]


def test_two_variables_without_values_are_one_error(tmp_path: Path) -> None:
    seq = mock()
    t = seq.declare_variable("t", dtype=int)
    amps = seq.declare_variable("amps", size=2)
    seq.add(Pulse.ConstantDetuning(RampWaveform(t, amps[0], amps[1]), 0, 0), "ryd")
    text = import_text(seq.to_abstract_repr())
    assert text.endswith("# fill in: jobs { t = ..., amps = [...] }\n")
    (found,) = _check_errors(text, tmp_path)
    assert found["message"] == "variable `t` is declared but no `sweep` or `jobs` gives it values"
    assert found["hint"] == "add e.g. `jobs { t = ..., amps = ... }`"


def test_other_operations_inside_eom_mode_are_an_error() -> None:
    seq = analog()
    seq.enable_eom_mode("ryd", 3.0, 0.0)
    seq.phase_shift(PI / 2, "q0", "q1", "q2", basis="ground-rydberg")
    seq.add_eom_pulse("ryd", 100, 0.0)
    seq.disable_eom_mode("ryd")
    with pytest.raises(QxImportError, match="`phase_shift` while `ryd` is in EOM mode"):
        import_text(seq.to_abstract_repr())


def test_numbered_qubits_are_an_error() -> None:
    seq = mock(Register({"0": (0, 0), "1": (6, 0)}))  # as Register.square(2) writes its ids
    with pytest.raises(QxImportError, match="qubit `0` is not a name") as raised:
        import_text(seq.to_abstract_repr())
    assert raised.value.hint is not None and 'prefix="q"' in raised.value.hint


def test_ending_in_eom_mode_is_an_error() -> None:
    seq = Sequence(TRIANGLE.define_register(0, 1), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.enable_eom_mode("ryd", 3.0, 0.0)
    seq.add_eom_pulse("ryd", 100, 0.0)
    seq.measure("ground-rydberg")
    with pytest.raises(QxImportError, match="still in EOM mode"):
        import_text(seq.to_abstract_repr())


def test_not_a_sequence() -> None:
    with pytest.raises(QxImportError, match="not JSON"):
        import_text("{")
    with pytest.raises(QxImportError, match="not a Pulser sequence"):
        import_text("[]")


def test_cli_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq, jobs = jobs_share_runs()
    (tmp_path / "seq.json").write_text(seq.to_abstract_repr(), encoding="utf-8")
    (tmp_path / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    assert main(["import", str(tmp_path / "seq.json"), "--jobs", str(tmp_path / "jobs.json")]) == 0
    printed = capsys.readouterr().out
    assert "runs 250" in printed

    out = tmp_path / "theta_scan.qx"
    assert main(["import", str(tmp_path / "seq.json"), "--jobs", str(tmp_path / "jobs.json"), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == 'experiment "theta_scan"\n' + printed
    assert_close(
        json.loads(qpurun.load(out, validate=False).sequence.to_abstract_repr()), json.loads(seq.to_abstract_repr())
    )


def test_cli_import_writes_the_device_beside(tmp_path: Path) -> None:
    seq, _ = custom_device()
    (tmp_path / "seq.json").write_text(seq.to_abstract_repr(), encoding="utf-8")
    out = tmp_path / "lab.qx"
    assert main(["import", str(tmp_path / "seq.json"), "-o", str(out)]) == 0
    assert 'device "LabDevice.json"' in out.read_text(encoding="utf-8")
    assert (tmp_path / "LabDevice.json").exists()
    compiled = qpurun.load(out, validate=False)
    assert_close(json.loads(compiled.sequence.to_abstract_repr()), json.loads(seq.to_abstract_repr()))


_FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
_PI_FRACTION = st.builds(lambda p, q: p * np.pi / q, st.integers(-40, 40), st.integers(1, 12))
# Pulser keeps a phase modulo 2π: a tiny negative one becomes 2π itself, which no
# written value reproduces (2π is kept as 0). Such phases are left out.
_PHASE = (_FINITE | _PI_FRACTION).filter(lambda x: x >= 0 or x < -1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amplitude=st.floats(min_value=0, max_value=1e6), detuning=_FINITE | _PI_FRACTION, phase=_PHASE)
def test_literals_come_back_exactly(amplitude: float, detuning: float, phase: float) -> None:
    """Written numbers (`pi` fractions included) compile back to the very same floats."""
    seq = mock()
    seq.add(Pulse.ConstantPulse(100, amplitude, detuning, phase), "ryd")
    original = json.loads(seq.to_abstract_repr())
    compiled = qpurun.loads(import_text(seq.to_abstract_repr()), validate=False).sequence
    assert json.loads(compiled.to_abstract_repr())["operations"] == original["operations"]


_UNARY_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "neg": lambda a: -a,
    "abs": abs,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "floor": np.floor,
}
_BINARY_FUNCTIONS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "%": lambda a, b: a % b,
    "**": lambda a, b: a**b,
}
_LEAF = st.sampled_from(["x", "y", "z[1]"]) | st.integers(-5, 5) | st.floats(-10, 10, width=32) | _PI_FRACTION
_TREE = st.recursive(
    _LEAF,
    lambda inner: (
        st.tuples(st.sampled_from(sorted(_UNARY_FUNCTIONS)), inner)
        | st.tuples(st.sampled_from(sorted(_BINARY_FUNCTIONS)), inner, inner)
    ),
    max_leaves=6,
)


def _evaluate(tree: Any, names: dict[str, Any]) -> Any:
    if isinstance(tree, str):
        return names[tree]
    if not isinstance(tree, tuple):
        return tree
    if len(tree) == 2:
        result = _UNARY_FUNCTIONS[tree[0]](_evaluate(tree[1], names))
    else:
        result = _BINARY_FUNCTIONS[tree[0]](_evaluate(tree[1], names), _evaluate(tree[2], names))
    if isinstance(result, complex):
        raise ValueError("a complex constant")  # (-1) ** 1.5: no spec writes it
    return result


@settings(max_examples=30, deadline=None)
@given(tree=_TREE)
def test_expressions_come_back_exactly(tree: Any) -> None:
    """Any expression of variables Pulser can write is written, parsed and lowered to the same expression."""
    seq = mock()
    x, y = seq.declare_variable("x"), seq.declare_variable("y")
    z = seq.declare_variable("z", size=2)
    try:
        with np.errstate(all="raise"):
            value = _evaluate(tree, {"x": x, "y": y, "z[1]": z[1]})
    except (ZeroDivisionError, OverflowError, FloatingPointError, ValueError):
        value = None
    if not isinstance(value, Parametrized):
        return  # constants only (folded by Python), or not a number
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(100, value), 0, 0), "ryd")
    original = json.loads(seq.to_abstract_repr())
    text = import_text(seq.to_abstract_repr(), jobs=[{"runs": 1, "variables": {"x": 1.0, "y": 2.0, "z": [1.0, 2.0]}}])
    compiled = qpurun.loads(text, validate=False).sequence
    assert json.loads(compiled.to_abstract_repr())["operations"] == original["operations"], text


def test_a_malformed_sequence_is_named_as_such() -> None:
    seq, _ = constant_pulse()
    data = json.loads(seq.to_abstract_repr())
    data["operations"][0]["op"] = "sparkle"
    with pytest.raises(QxImportError, match="not a valid Pulser sequence"):
        import_text(json.dumps(data))


def test_a_dmm_configured_twice_is_an_error() -> None:
    seq = mock()  # a virtual device may reuse its DMM
    seq.config_slm_mask(["q2"])
    seq.config_detuning_map(LINE.define_detuning_map({"q0": 1.0}), "dmm_0")
    seq.add_dmm_detuning(ConstantWaveform(100, -2.0), "dmm_0_1")
    with pytest.raises(QxImportError, match="configured twice"):
        import_text(seq.to_abstract_repr())


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ('[{"runs": 10, "variables": {"t": NaN}}]', "job 0: variables.t: Input should be a finite number"),
        ('[{"runs": 10, "variables": {"t": 1e400}}]', "job 0: variables.t: Input should be a finite number"),
        ('[{"runs": 0, "variables": {"t": 100}}]', "job 0: runs: Input should be greater than or equal to 1"),
        ('[{"runs": 10}, {"runs": "ten"}]', "job 1: runs: Input should be a valid integer"),
        ('[{"runs": 10, "variables": {"t": 100}, "shots": 3}]', "job 0: shots: Extra inputs are not permitted"),
        ('{"runs": 10}', "must hold a list of jobs"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_a_bad_jobs_file_is_named_not_a_traceback(
    jobs: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq, _ = constant_pulse()
    (tmp_path / "seq.json").write_text(seq.to_abstract_repr())
    (tmp_path / "jobs.json").write_text(jobs)
    assert main(["import", str(tmp_path / "seq.json"), "--jobs", str(tmp_path / "jobs.json")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_deeply_nested_sequence_json_is_an_import_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "seq.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["import", str(tmp_path / "seq.json")]) == 2
    assert "nested too deeply" in capsys.readouterr().err


@pytest.mark.parametrize("runs", ["0", "-3", "many"])
def test_runs_must_be_a_whole_number_from_one(runs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq, _ = constant_pulse()
    (tmp_path / "seq.json").write_text(seq.to_abstract_repr())
    with pytest.raises(SystemExit) as exited:
        main(["import", str(tmp_path / "seq.json"), "--runs", runs])
    assert exited.value.code == 2
    assert "argument --runs" in capsys.readouterr().err
