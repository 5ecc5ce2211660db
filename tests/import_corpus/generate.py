"""Writes the import corpus: sequences built the way Pulser's tutorials and tests build them.

Each builder below follows one sequence of Pulser's repository (the tutorial
notebook or test it names, at pasqal-io/Pulser 76ac2d1), trimmed to what makes
it distinct: where the original loops, optimises or draws, a fixed value
stands in, and long waveforms are shortened so that each JSON stays small.
Running this file (`PYTHONHASHSEED=0 .venv/bin/python tests/import_corpus/generate.py`: an SLM mask's
targets are a set, so the seed fixes their order in the JSON) writes
`<name>.json`, the sequence's abstract representation, for each of them, and
`manifest.json`, which says where each came from and what `qpurun import` must
do with it:

- `"roundtrip"`: the imported spec compiles back to Pulser's representation;
  `rewrites` lists the respellings `.qx` makes that leave the sequence's
  samples unchanged (see `tests/test_import_corpus.py`), and `jobs` the job
  list passed as `--jobs`;
- `{"refused": "..."}`: the import is a `QxImportError` whose message holds
  this text.

The expectations are written here by hand, not computed: the test checks them.
The JSON files are committed, so the test needs neither the network nor this
script; rerun it only to change the corpus (and review the diff).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pulser import Pulse, Register, Sequence
from pulser.channels import Raman, Rydberg
from pulser.devices import (
    AnalogDevice,
    Device,
    DigitalAnalogDevice,
    MockDevice,
    VirtualDevice,
    WeightedAnalogDevice,
)
from pulser.register import RegisterLayout
from pulser.register.special_layouts import SquareLatticeLayout, TriangularLatticeLayout
from pulser.waveforms import (
    BlackmanWaveform,
    CompositeWaveform,
    ConstantWaveform,
    CustomWaveform,
    InterpolatedWaveform,
    KaiserWaveform,
    RampWaveform,
)

HERE = Path(__file__).parent
TUTORIALS = "tutorials/advanced_features/"
Built = tuple[Sequence, dict[str, Any]]
"""A sequence and the defaults given to `to_abstract_repr` (its variables' values, `qubits`)."""


@dataclasses.dataclass
class Case:
    name: str
    source: str
    build: Callable[[], Built]
    expect: str | dict[str, str]
    rewrites: tuple[str, ...]
    jobs: list[dict[str, Any]] | None


CASES: list[Case] = []


def case(
    source: str,
    *,
    refused: str | None = None,
    rewrites: tuple[str, ...] = (),
    jobs: list[dict[str, Any]] | None = None,
) -> Callable[[Callable[[], Built]], Callable[[], Built]]:
    def register(build: Callable[[], Built]) -> Callable[[], Built]:
        expect: str | dict[str, str] = "roundtrip" if refused is None else {"refused": refused}
        CASES.append(Case(build.__name__, source, build, expect, rewrites, jobs))
        return build

    return register


# ---- tutorials/creating_sequences.ipynb ------------------------------------------------------


@case("tutorials/creating_sequences.ipynb")
def creating_rabi() -> Built:
    register = Register.from_coordinates([(0, 0)], prefix="q")
    seq = Sequence(register, AnalogDevice)
    seq.declare_channel("rydberg_global", "rydberg_global")
    seq.add(Pulse.ConstantPulse(1000, np.pi, 0, 0), "rydberg_global")
    return seq, {}


@case("tutorials/creating_sequences.ipynb")
def creating_antiferromagnet() -> Built:
    u = 2 * np.pi
    omega_max, delta_0, delta_f = 2.0 * u, -6 * u, 2 * u
    t_rise, t_fall = 252, 500
    t_sweep = (delta_f - delta_0) / (2 * np.pi * 10) * 1000
    r_interatomic = (AnalogDevice.interaction_coeff / u) ** (1 / 6)
    seq = Sequence(Register.square(3, r_interatomic, prefix="q"), AnalogDevice)
    seq.declare_channel("rydberg_global", "rydberg_global")
    seq.add(Pulse.ConstantDetuning(RampWaveform(t_rise, 0.0, omega_max), delta_0, 0.0), "rydberg_global")
    seq.add(Pulse.ConstantAmplitude(omega_max, RampWaveform(t_sweep, delta_0, delta_f), 0.0), "rydberg_global")
    seq.add(Pulse.ConstantDetuning(RampWaveform(t_fall, omega_max, 0.0), delta_f, 0.0), "rydberg_global")
    return seq, {}


# ---- tutorials/advanced_features -------------------------------------------------------------------


@case(TUTORIALS + "Composite Waveforms.ipynb (its pulse, on MockDevice)")
def composite_waveforms() -> Built:
    composite = CompositeWaveform(BlackmanWaveform(1000, np.pi), RampWaveform(500, 0, 5), RampWaveform(500, 5, 0))
    seq = Sequence(Register.square(1, prefix="q"), MockDevice)
    seq.declare_channel("rydberg", "rydberg_global")
    seq.add(Pulse(composite, RampWaveform(composite.duration, -10, 2), phase=0), "rydberg")
    return seq, {}


@case(TUTORIALS + "Interpolated Waveforms.ipynb")
def interpolated_times() -> Built:
    values = [0, 1, 4.4, 2, 3, 1, 0]
    times = np.r_[np.linspace(0.0, 0.5, num=len(values) - 1), 1]
    seq = Sequence(Register.square(1, prefix="q"), MockDevice)
    seq.declare_channel("rydberg_global", "rydberg_global")
    seq.add(Pulse.ConstantDetuning(InterpolatedWaveform(1000, values), 0, 0), "rydberg_global")
    seq.add(Pulse.ConstantDetuning(InterpolatedWaveform(1000, values, times=times), 0, 0), "rydberg_global")
    return seq, {}


@case(
    TUTORIALS + "Interpolated Waveforms.ipynb",
    jobs=[{"runs": 100, "variables": {"amp_vals": [0, 2, 1, 2, 0], "det_vals": [0, -5, 5, -5]}}],
)
def interpolated_parametrized() -> Built:
    seq = Sequence(Register.square(1, prefix="q"), AnalogDevice)
    # The notebook's `initial_target=0` (a global channel, qubit ids "q0"...) does not serialize.
    seq.declare_channel("rydberg_global", "rydberg_global")
    amp_vals = seq.declare_variable("amp_vals", size=5, dtype=float)
    det_vals = seq.declare_variable("det_vals", size=4, dtype=float)
    seq.add(Pulse(InterpolatedWaveform(1000, amp_vals), InterpolatedWaveform(1000, det_vals), 0), "rydberg_global")
    return seq, {}


def _dmm_register() -> tuple[RegisterLayout, Register]:
    coordinates = [(0.0, 0.0), (0.0, 5.0), (5.0, 0.0), (5.0, 5.0)]
    return RegisterLayout(coordinates), Register.from_coordinates(coordinates, center=False, prefix="q")


@case(TUTORIALS + "Local addressability with DMM.ipynb")
def dmm_tutorial() -> Built:
    layout, register = _dmm_register()
    detuning_map = layout.define_detuning_map({0: 1.0, 1: 0.5, 2: 0.5, 3: 0})
    seq = Sequence(register, WeightedAnalogDevice)
    seq.config_detuning_map(detuning_map, "dmm_0")
    seq.add_dmm_detuning(ConstantWaveform(100, -10), "dmm_0")
    seq.declare_channel("ryd_glob", "rydberg_global")
    seq.add(Pulse.ConstantPulse(152, 10, 2.5, 0), "ryd_glob", protocol="no-delay")
    seq.add_dmm_detuning(RampWaveform(200, -10, 0), "dmm_0")
    seq.add(Pulse.ConstantPulse(100, 5, 0, 0), "ryd_glob", protocol="no-delay")
    return seq, {}


@case(TUTORIALS + "Local addressability with DMM.ipynb (the map on qubit ids)")
def dmm_map_on_qubits() -> Built:
    _, register = _dmm_register()
    seq = Sequence(register, WeightedAnalogDevice)
    seq.declare_channel("ryd_glob", "rydberg_global")
    seq.config_detuning_map(register.define_detuning_map({"q0": 1.0, "q1": 0.5, "q2": 0.5, "q3": 0}), "dmm_0")
    seq.add(Pulse.ConstantPulse(152, 10, 2.5, 0), "ryd_glob")
    seq.add_dmm_detuning(RampWaveform(200, -10, 0), "dmm_0", protocol="wait-for-all")
    return seq, {}


def _eom_tutorial_device() -> VirtualDevice:
    rydberg = Rydberg.Global(max_abs_detuning=20 * 2 * np.pi, max_amp=10 * 2 * np.pi, mod_bandwidth=5)
    raman = Raman.Local(max_abs_detuning=0, max_amp=20 * 2 * np.pi, fixed_retarget_t=50, mod_bandwidth=4)
    return VirtualDevice(name="test_device", dimensions=2, rydberg_level=60, channel_objects=(rydberg, raman))


@case(TUTORIALS + "Output Modulation and EOM Mode.ipynb (a virtual device with modulation)")
def modulation_virtual_device() -> Built:
    seq = Sequence(Register.square(2, prefix="q"), _eom_tutorial_device())
    seq.declare_channel("raman", "raman_local", initial_target="q0")
    seq.declare_channel("rydberg", "rydberg_global")
    blackman = BlackmanWaveform(300, 0.13)
    seq.add(Pulse.ConstantDetuning(blackman, -5, 0), "rydberg")
    short_pulse = Pulse.ConstantPulse(100, 1, 0, 0)
    seq.add(short_pulse, "raman")
    seq.target("q1", "raman")
    seq.add(short_pulse, "raman")
    seq.delay(100, "raman")
    seq.add(short_pulse, "raman")
    seq.delay(0, "raman", at_rest=True)
    seq.add(Pulse.ConstantPulse(500, 1, 0, 0), "raman")
    seq.add(Pulse.ConstantDetuning(blackman, 5, np.pi), "rydberg")
    return seq, {}


@case(TUTORIALS + "Output Modulation and EOM Mode.ipynb")
def eom_tutorial() -> Built:
    seq = Sequence(Register.square(2, spacing=6, prefix="q"), AnalogDevice)
    seq.declare_channel("rydberg", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1, 0, 0), "rydberg")
    seq.enable_eom_mode("rydberg", amp_on=1.0, detuning_on=0.0)
    seq.add_eom_pulse("rydberg", duration=100, phase=0.0)
    seq.delay(300, "rydberg")
    seq.add_eom_pulse("rydberg", duration=60, phase=0.0, correct_phase_drift=True)
    seq.disable_eom_mode("rydberg")
    seq.add(Pulse.ConstantPulse(100, 1, 0, 0), "rydberg")
    return seq, {}


def _parametrized_tutorial() -> Sequence:
    seq = Sequence(Register.square(2, prefix="q", spacing=6), DigitalAnalogDevice)
    seq.declare_channel("rydberg", "rydberg_global")
    seq.declare_channel("raman", "raman_local")
    omega_max = seq.declare_variable("Omega_max")
    ts = seq.declare_variable("ts", size=2, dtype=int)
    last_target = seq.declare_variable("last_target", dtype=int)
    t_rise, t_fall = ts
    u = omega_max / 2.3
    delta_0, delta_f = -6 * u, 2 * u
    rise_fall = CompositeWaveform(RampWaveform(t_rise, delta_0, delta_f), RampWaveform(t_fall, delta_f, delta_0))
    generic_pulse = Pulse.ConstantPulse(100, 2 * np.pi, 2, 0.0)
    seq.add(generic_pulse, "rydberg")
    seq.target("q0", "raman")
    seq.add(generic_pulse, "raman")
    seq.target_index(last_target, "raman")
    seq.add(Pulse.ConstantAmplitude(omega_max, rise_fall, 0), "rydberg")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform.from_max_val(omega_max, np.pi), 0, 0), "raman")
    return seq


@case(
    TUTORIALS + "Parametrized Sequences.ipynb",
    jobs=[
        {"runs": 500, "variables": {"Omega_max": 2.3 * 2 * np.pi, "ts": [200, 500], "last_target": 3}},
        {"runs": 500, "variables": {"Omega_max": 2 * np.pi, "ts": [400, 100], "last_target": 2}},
    ],
)
def parametrized_tutorial() -> Built:
    return _parametrized_tutorial(), {}


@case(TUTORIALS + "Parametrized Sequences.ipynb (its `build` values as the defaults)")
def parametrized_tutorial_defaults() -> Built:
    return _parametrized_tutorial(), {"Omega_max": 2.3 * 2 * np.pi, "ts": [200, 500], "last_target": 3}


@case(TUTORIALS + "Phase Shifts and Virtual Z gates.ipynb")
def phase_shifts_hadamard() -> Built:
    seq = Sequence(Register({"q0": (0, 0)}), MockDevice)
    seq.declare_channel("ch0", "raman_local", initial_target="q0")
    pi2_wf = BlackmanWaveform(1000, np.pi / 2)
    seq.add(Pulse.ConstantDetuning(pi2_wf, detuning=0, phase=np.pi / 2), "ch0")
    seq.phase_shift(np.pi, "q0", basis="digital")
    h = Pulse.ConstantDetuning(pi2_wf, detuning=0, phase=np.pi / 2, post_phase_shift=np.pi)
    seq.add(h, "ch0")
    seq.add(h, "ch0")
    return seq, {}


@case(TUTORIALS + "Phase Shifts and Virtual Z gates.ipynb (several channels)")
def phase_shifts_channels() -> Built:
    seq = Sequence(Register({"q0": (0, 0), "q1": (5, 5)}), MockDevice)
    seq.declare_channel("raman", "raman_local", initial_target="q0")
    seq.declare_channel("ryd1", "rydberg_local", initial_target="q0")
    seq.declare_channel("ryd2", "rydberg_local", initial_target="q0")
    pi2_wf = BlackmanWaveform(1000, np.pi / 2)
    h = Pulse.ConstantDetuning(pi2_wf, detuning=0, phase=np.pi / 2, post_phase_shift=np.pi)
    seq.add(h, "raman")
    seq.add(h, "ryd1")
    seq.add(Pulse.ConstantDetuning(pi2_wf, detuning=0, phase=np.pi / 2), "ryd2")
    seq.target("q1", "raman")
    seq.add(h, "raman")
    seq.target("q1", "ryd1")
    seq.add(h, "ryd1")
    seq.target("q1", "ryd2")
    return seq, {}


@case(TUTORIALS + "Register Layouts.ipynb")
def random_layout() -> Built:
    # A layout with its own slug goes to a file beside the spec.
    np.random.seed(301122)
    traps = np.random.randint(0, 30, size=(20, 2))
    layout = RegisterLayout(traps - np.mean(traps, axis=0), slug="random_20")
    seq = Sequence(layout.define_register(4, 8, 19, 0, qubit_ids=["a", "b", "c", "d"]), MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1, 0, 0), "ryd")
    return seq, {}


def _test_device() -> Device:
    return Device(
        name="TestDevice",
        dimensions=2,
        rydberg_level=70,
        max_atom_num=100,
        max_radial_distance=50,
        max_layout_filling=0.4,
        min_atom_distance=4,
        channel_objects=(Rydberg.Global(2 * np.pi * 20, 2 * np.pi * 2.5),),
        pre_calibrated_layouts=(SquareLatticeLayout(10, 10, 4), TriangularLatticeLayout(100, 5)),
    )


@case(TUTORIALS + "Register Layouts.ipynb (a device's calibrated layout)")
def calibrated_layout_register() -> Built:
    device = _test_device()
    layout = device.calibrated_register_layouts["SquareLatticeLayout(10x10, 4.0µm)"]
    seq = Sequence(layout.square_register(6), device)
    seq.declare_channel("rydberg", "rydberg_global")
    seq.add(Pulse.ConstantPulse(duration=100, amplitude=1, detuning=0, phase=0), "rydberg")
    return seq, {}


@case(
    TUTORIALS + "Register Layouts.ipynb (a mappable register)",
    jobs=[
        {"runs": 100, "variables": {"qubits": {"q0": 16, "q1": 19, "q2": 34}}},
        {"runs": 100, "variables": {"qubits": {"q0": 0, "q2": 15, "q1": 20, "q3": 50}}},
    ],
)
def mappable_register_jobs() -> Built:
    device = _test_device()
    layout = device.calibrated_register_layouts["SquareLatticeLayout(10x10, 4.0µm)"]
    seq = Sequence(layout.make_mappable_register(n_qubits=10), device)
    seq.declare_channel("rydberg", "rydberg_global")
    seq.add(Pulse.ConstantPulse(duration=100, amplitude=1, detuning=0, phase=0), "rydberg")
    return seq, {}


@case(TUTORIALS + "State Preparation with the SLM Mask.ipynb (XY mode)")
def slm_mask_xy() -> Built:
    seq = Sequence(Register({"q0": (-5, 0), "q1": (0, 0), "q2": (5, 0)}), MockDevice)
    seq.declare_channel("ch", "mw_global")
    pulse = Pulse.ConstantDetuning(BlackmanWaveform(200, np.pi), 0, 0)
    seq.add(pulse, "ch")
    seq.config_slm_mask(["q1", "q2"])
    seq.add(pulse, "ch")
    return seq, {}


@case(
    TUTORIALS + "State Preparation with the SLM Mask.ipynb (a DMM, configured after the first pulse)",
    rewrites=("setup_first",),
)
def slm_mask_dmm_after_pulse() -> Built:
    seq = Sequence(Register({"q0": (-5, 0), "q1": (0, 0), "q2": (5, 0)}), WeightedAnalogDevice)
    seq.declare_channel("ch", "rydberg_global")
    pulse = Pulse.ConstantDetuning(BlackmanWaveform(1000, np.pi), 0, 0)
    seq.add(pulse, "ch")
    seq.config_slm_mask(["q1", "q2"], "dmm_0")
    seq.add(pulse, "ch")
    return seq, {}


@case(TUTORIALS + "State Preparation with the SLM Mask.ipynb (a detuning on the mask's DMM)")
def slm_mask_dmm_detuning() -> Built:
    seq = Sequence(Register({"q0": (-5, 0), "q1": (0, 0), "q2": (5, 0)}), WeightedAnalogDevice)
    seq.config_slm_mask(["q1", "q2"], "dmm_0")
    seq.declare_channel("ch", "rydberg_global")
    pulse = Pulse.ConstantDetuning(BlackmanWaveform(1000, np.pi), 0, 0)
    seq.add(pulse, "ch")
    seq.add(pulse, "ch")
    seq.add_dmm_detuning(-BlackmanWaveform(200, np.pi), "dmm_0")
    return seq, {}


@case(TUTORIALS + "Serialization.ipynb", jobs=[{"runs": 1000, "variables": {"pulse_time": 200}}])
def serialization_cz() -> Built:
    # 4 µm apart, as in the notebook, is refused by Pulser 1.9's DigitalAnalogDevice (at least 4 µm).
    seq = Sequence(Register({"control": (-2.5, 0), "target": (2.5, 0)}), DigitalAnalogDevice)
    pulse_time = seq.declare_variable("pulse_time", dtype=int)
    seq.declare_channel("digital", "raman_local", initial_target="control")
    seq.declare_channel("rydberg", "rydberg_local", initial_target="control")
    half_pi_wf = BlackmanWaveform(pulse_time, area=np.pi / 2)
    ry = Pulse.ConstantDetuning(amplitude=half_pi_wf, detuning=0, phase=-np.pi / 2)
    ry_dag = Pulse.ConstantDetuning(amplitude=half_pi_wf, detuning=0, phase=np.pi / 2)
    seq.add(ry, "digital")
    seq.target("target", "digital")
    seq.add(ry_dag, "digital")
    pi_pulse = Pulse.ConstantDetuning(BlackmanWaveform(pulse_time, np.pi), 0, 0)
    max_val = DigitalAnalogDevice.rabi_from_blockade(9)
    two_pi_pulse = Pulse.ConstantDetuning(BlackmanWaveform.from_max_val(max_val, 2 * np.pi), 0, 0)
    seq.align("digital", "rydberg")
    seq.add(pi_pulse, "rydberg")
    seq.target("target", "rydberg")
    seq.add(two_pi_pulse, "rydberg")
    seq.target("control", "rydberg")
    seq.add(pi_pulse, "rydberg")
    seq.align("digital", "rydberg")
    seq.add(ry, "digital")
    seq.measure("digital")
    return seq, {}


@case(TUTORIALS + "Virtual Devices.ipynb (a reusable channel, 3D)")
def virtual_device_reusable() -> Built:
    device = dataclasses.replace(AnalogDevice.to_virtual(), dimensions=3, reusable_channels=True)
    seq = Sequence(Register.square(4, spacing=5, prefix="q"), device)
    seq.declare_channel("ch0", "rydberg_global")
    seq.declare_channel("ch1", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1, 0, 0), "ch0")
    seq.add(Pulse.ConstantPulse(100, 1, 0, 0), "ch1")
    return seq, {}


# ---- tutorials: applications and simulations -----------------------------------------------------


@case("tutorials/quantum_simulation/Spin chain of 3 atoms in XY mode.ipynb")
def xy_spin_chain() -> Built:
    qubits = {f"q{i}": coord for i, coord in enumerate(np.array([[-20.0, 0], [0, 0], [20.0, 0]]))}
    seq = Sequence(Register(qubits), MockDevice)
    seq.declare_channel("ch0", "mw_global")
    seq.config_slm_mask(["q1", "q2"])
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, np.pi), 0, 0), "ch0")
    seq.add(Pulse.ConstantPulse(700, 0, 0, 0), "ch0")
    seq.measure(basis="XY")
    return seq, {}


@case("tutorials/retired/Microwave-engineering of programmable XXZ Hamiltonians in arrays of Rydberg atoms.ipynb")
def xxz_floquet() -> Built:
    t_pulse = 16
    x_pulse = Pulse.ConstantDetuning(BlackmanWaveform(t_pulse, np.pi / 2.0), 0, 0)
    y_pulse = Pulse.ConstantDetuning(BlackmanWaveform(t_pulse, np.pi / 2.0), 0, -np.pi / 2)
    mx_pulse = Pulse.ConstantDetuning(BlackmanWaveform(t_pulse, np.pi / 2.0), 0, np.pi)
    my_pulse = Pulse.ConstantDetuning(BlackmanWaveform(t_pulse, np.pi / 2.0), 0, np.pi / 2)
    seq = Sequence(Register({"q0": (0, 0), "q1": (10, 0)}), MockDevice)
    seq.declare_channel("MW", "mw_global")
    seq.set_magnetic_field(0.0, 0.0, 1.0)
    tc = 156
    tau_1 = tau_2 = tau_3 = tc // 6
    t_half = t_pulse // 2
    seq.delay(3 * tc, "MW")
    for _ in range(2):
        seq.delay(tau_1 - t_half, "MW")
        seq.add(x_pulse, "MW")
        seq.delay(tau_2 - 2 * t_half, "MW")
        seq.add(my_pulse, "MW")
        seq.delay(2 * tau_3 - 2 * t_half, "MW")
        seq.add(y_pulse, "MW")
        seq.delay(tau_2 - 2 * t_half, "MW")
        seq.add(mx_pulse, "MW")
        seq.delay(tau_1 - t_half, "MW")
    seq.delay(6 * tc, "MW")
    return seq, {}


@case("tutorials/applications/QAA to solve a MWIS problem.ipynb (a weighted detuning map)")
def mwis_weighted_map() -> Built:
    coordinates = [(0.0, 0.0), (7.5, 0.0), (3.75, 6.5), (11.25, 6.5)]
    weights = [0.0, 0.25, 0.5, 1.0]
    register = Register({f"q{i}": c for i, c in enumerate(coordinates)})
    seq = Sequence(register, WeightedAnalogDevice)
    seq.declare_channel("rydberg_global", "rydberg_global")
    seq.config_detuning_map(register.define_detuning_map({f"q{i}": w for i, w in enumerate(weights)}), "dmm_0")
    omega, duration = 2 * np.pi, 4000
    adiabatic = Pulse(
        InterpolatedWaveform(duration, [1e-9, omega, 1e-9]),
        InterpolatedWaveform(duration, [-omega, 0, omega]),
        0,
    )
    seq.add(adiabatic, "rydberg_global")
    seq.add_dmm_detuning(ConstantWaveform(duration, -omega), "dmm_0")
    return seq, {}


@case("tutorials/quantum_simulation/Bayesian Optimisation for antiferromagnetic state preparation.ipynb")
def bayesian_ring() -> Built:
    r, n_side = 5, 4
    coords = (
        [r * np.r_[x, 0] for x in range(n_side - 1)]
        + [r * np.r_[n_side - 1, y] for y in range(n_side - 1)]
        + [r * np.r_[n_side - 1 - x, n_side - 1] for x in range(n_side - 1)]
        + [r * np.r_[0, n_side - 1 - y] for y in range(n_side - 1)]
    )
    seq = Sequence(Register.from_coordinates(coords, prefix="q"), MockDevice)
    seq.declare_channel("ising", "rydberg_global")
    amp_params, det_params = [2.5, 6.0, 3.5], [-4.0, 1.5, 7.0]
    seq.add(
        Pulse(
            InterpolatedWaveform(1000, [1e-9, *amp_params, 1e-9]),
            InterpolatedWaveform(1000, [-10.0, *det_params, 10.0]),
            0,
        ),
        "ising",
    )
    return seq, {}


@case("tutorials/retired/Building 1D Rydberg Crystals.ipynb")
def rydberg_crystal() -> Built:
    delta_0, delta_f, omega_max = -6 * 2 * np.pi, 10 * 2 * np.pi, 2 * 2 * np.pi
    t_rise, t_stop = 500, 4500
    seq = Sequence(Register.rectangle(1, 11, spacing=7.0, prefix="q"), MockDevice)
    seq.declare_channel("ising", "rydberg_global")
    hold = ConstantWaveform(t_rise, delta_0)
    excite = RampWaveform(t_stop - t_rise, delta_0, delta_f)
    seq.add(Pulse.ConstantAmplitude(omega_max, CompositeWaveform(hold, excite), 0.0), "ising")
    return seq, {}


@case("tutorials/retired/Control-Z Gate Sequence.ipynb")
def control_z() -> Built:
    # 5 µm apart, not the notebook's 4: Pulser 1.9's DigitalAnalogDevice wants more than 4.
    seq = Sequence(Register({"control": (-2.5, 0.0), "target": (2.5, 0.0)}), DigitalAnalogDevice)
    duration = 300
    pi_y = Pulse.ConstantDetuning(BlackmanWaveform(duration, np.pi), 0.0, -np.pi / 2)
    seq.declare_channel("raman", "raman_local", "control")
    seq.add(pi_y, "raman")
    seq.target("target", "raman")
    seq.add(pi_y, "raman")
    pi_pulse = Pulse.ConstantDetuning(BlackmanWaveform(duration, np.pi), 0.0, 0)
    twopi_pulse = Pulse.ConstantDetuning(BlackmanWaveform(duration, 2 * np.pi), 0.0, 0)
    seq.declare_channel("ryd", "rydberg_local", "control")
    seq.add(pi_pulse, "ryd", "wait-for-all")
    seq.target("target", "ryd")
    seq.add(twopi_pulse, "ryd")
    seq.target("control", "ryd")
    seq.add(pi_pulse, "ryd")
    seq.measure("digital")
    return seq, {}


# ---- tests/test_abstract_repr.py -------------------------------------------------------------------


def _serialization_fixture(device: Any) -> Sequence:
    """TestSerialization.sequence: most of what a parametrized sequence can hold."""
    # 5 µm apart, not the test's 4: Pulser 1.9's DigitalAnalogDevice wants more than 4.
    seq = Sequence(Register({"control": (-2.5, 0), "target": (2.5, 0)}), device)
    seq.declare_channel("digital", "raman_local", initial_target=("control",))
    seq.declare_channel("rydberg", "rydberg_local", initial_target="control")
    target_atom = seq.declare_variable("target_atom", dtype=int)
    duration = seq.declare_variable("duration", dtype=int)
    amps = seq.declare_variable("amps", dtype=float, size=2)
    ry = Pulse.ConstantDetuning(amplitude=BlackmanWaveform(200, np.pi / 2), detuning=0, phase=-np.pi / 2)
    seq.add(ry, "digital")
    seq.target_index(target_atom, "digital")
    seq.phase_shift_index(-1.0, target_atom)
    pi_2_wf = BlackmanWaveform(duration, amps[0] / 2)
    pi_pulse = Pulse.ConstantDetuning(CompositeWaveform(pi_2_wf, pi_2_wf), 0, 0)
    two_pi_wf = BlackmanWaveform.from_max_val(DigitalAnalogDevice.rabi_from_blockade(8), amps[1])
    pm_pulse = Pulse.ArbitraryPhase(pi_2_wf, RampWaveform(duration, -1, 1))
    seq.align("digital", "rydberg")
    seq.add(pi_pulse, "rydberg")
    seq.phase_shift(1.0, basis="ground-rydberg")  # no targets: every qubit
    seq.target({"target"}, "rydberg")
    seq.add(Pulse.ConstantDetuning(two_pi_wf, 0, 0), "rydberg")
    seq.delay(100, "digital")
    seq.add(pm_pulse, "digital")
    seq.truncate(duration * 10)
    seq.measure("digital")
    return seq


_SERIALIZATION_DEFAULTS = {"target_atom": 1, "amps": [np.pi, 2 * np.pi], "duration": 200}


@case("tests/test_abstract_repr.py::TestSerialization.sequence[DigitalAnalogDevice]", rewrites=("all_targets",))
def serialization_fixture_digital_analog() -> Built:
    return _serialization_fixture(DigitalAnalogDevice), _SERIALIZATION_DEFAULTS


@case(
    "tests/test_abstract_repr.py::TestSerialization.sequence[MockDevice]",
    rewrites=("all_targets",),
    jobs=[
        {"runs": 10, "variables": _SERIALIZATION_DEFAULTS},
        {"runs": 20, "variables": {**_SERIALIZATION_DEFAULTS, "target_atom": 0}},
    ],
)
def serialization_fixture_mock() -> Built:
    return _serialization_fixture(MockDevice), {}


@case("tests/test_abstract_repr.py::TestSerialization.test_mw_sequence")
def mw_sequence() -> Built:
    seq = Sequence(TriangularLatticeLayout(50, 6).hexagonal_register(5), MockDevice)
    seq.declare_channel("mw_ch", "mw_global")
    seq.set_magnetic_field(-10, 40, 0)
    seq.config_slm_mask({"q0", "q2", "q4"})
    seq.add(Pulse.ConstantPulse(100, 1, 0, 2), "mw_ch")
    seq.measure("XY")
    return seq, {}


@case("tests/test_abstract_repr.py::TestSerialization.test_mappable_register (a default trap for q0 only)")
def mappable_partial_default() -> Built:
    seq = Sequence(TriangularLatticeLayout(50, 6).make_mappable_register(2), MockDevice)
    seq.declare_variable("var", dtype=int)
    return seq, {"var": 0, "qubits": {"q0": 0}}


def _eom_mode(correct_phase_drift: bool, delay_at_rest: bool) -> Built:
    seq = Sequence(TriangularLatticeLayout(50, 6).hexagonal_register(7), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    det_off = seq.declare_variable("det_off", dtype=float)
    duration = seq.declare_variable("duration", dtype=int)
    seq.enable_eom_mode(
        "ryd", amp_on=3.0, detuning_on=0.0, optimal_detuning_off=det_off, correct_phase_drift=correct_phase_drift
    )
    seq.add_eom_pulse("ryd", duration, 0.0, correct_phase_drift=correct_phase_drift)
    seq.delay(duration, "ryd", at_rest=delay_at_rest)
    seq.modify_eom_setpoint(
        "ryd", amp_on=2.0, detuning_on=-1.0, optimal_detuning_off=det_off, correct_phase_drift=correct_phase_drift
    )
    seq.disable_eom_mode("ryd", correct_phase_drift)
    return seq, {"det_off": -1.0, "duration": 100}


@case("tests/test_abstract_repr.py::TestSerialization.test_eom_mode[False-False]")
def eom_mode() -> Built:
    return _eom_mode(False, False)


@case("tests/test_abstract_repr.py::TestSerialization.test_eom_mode[True-False]")
def eom_mode_phase_drift() -> Built:
    return _eom_mode(True, False)


@case("tests/test_abstract_repr.py::TestSerialization.test_eom_mode[False-True]")
def eom_mode_delay_at_rest() -> Built:
    return _eom_mode(False, True)


@case("tests/test_abstract_repr.py::TestSerialization.test_default_basis[False]")
def default_basis() -> Built:
    seq = Sequence(TriangularLatticeLayout(50, 6).hexagonal_register(5), DigitalAnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.declare_channel("raman", "raman_local", initial_target="q0")
    seq.phase_shift(1, "q0", basis="ground-rydberg")
    seq.phase_shift_index(2, 1, basis="ground-rydberg")
    seq.measure(basis="digital")
    return seq, {}


@case(
    "tests/test_abstract_repr.py::TestSerialization.test_dmm_slm_mask[False]",
    refused="is named `det_map`",
)
def dmm_slm_mask_and_named_map() -> Built:
    reg = TriangularLatticeLayout(50, 6).rectangular_register(3, 4)
    seq = Sequence(reg, MockDevice)
    seq.config_slm_mask({"q0", "q2", "q4", "q5"}, "dmm_0")
    seq.config_detuning_map(reg.define_detuning_map({"q0": 1.0, "q1": 0.5, "q2": 0.5, "q3": 0.0}, "det_map"), "dmm_0")
    seq.add_dmm_detuning(ConstantWaveform(100, -10), "dmm_0_1")
    seq.declare_channel("rydberg_global", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 10, 0, 0), "rydberg_global")
    return seq, {}


@case("tests/test_abstract_repr.py::TestSerialization.test_dmm_slm_mask[True]")
def dmm_slm_mask_only() -> Built:
    seq = Sequence(TriangularLatticeLayout(50, 6).rectangular_register(3, 4), MockDevice)
    seq.config_slm_mask({"q0", "q2", "q4", "q5"}, "dmm_0")
    return seq, {}


@case(
    "tests/test_abstract_repr.py::TestSerialization.test_multi_qubit_target",
    jobs=[{"runs": 10, "variables": {"var_targets": [0, 1, 2, 3]}}],
)
def multi_qubit_target() -> Built:
    seq = Sequence(Register.square(2, prefix="q"), MockDevice)
    var_targets = seq.declare_variable("var_targets", dtype=int, size=4)
    seq.declare_channel("rydberg_local", "rydberg_local", initial_target=("q0", "q1"))
    seq.target(["q3", "q2"], "rydberg_local")
    seq.target_index(var_targets, "rydberg_local")
    seq.target(["q0"], "rydberg_local")
    seq.target_index(var_targets[2], "rydberg_local")
    return seq, {}


# ---- tests/test_sequence.py -------------------------------------------------------------------------


def _test_sequence_device() -> Any:
    from pulser.channels.dmm import DMM

    return dataclasses.replace(
        DigitalAnalogDevice,
        dmm_objects=(
            DMM(bottom_detuning=-70, total_bottom_detuning=-700),
            DMM(bottom_detuning=-100, total_bottom_detuning=-1000),
        ),
    )


def _test_sequence_register() -> Register:
    return TriangularLatticeLayout(100, spacing=5).rectangular_register(4, 7, prefix="q")


@case("tests/test_sequence.py::test_sequence (protocols, phase references, align)")
def sequence_protocols() -> Built:
    seq = Sequence(_test_sequence_register(), _test_sequence_device())
    seq.declare_channel("ch0", "raman_local", initial_target="q0")
    seq.declare_channel("ch1", "rydberg_local", initial_target="q0")
    seq.declare_channel("ch2", "rydberg_global")
    pulse1 = Pulse(
        InterpolatedWaveform(500, [0, 1, 0]), InterpolatedWaveform(500, [-1, 1, 0]), phase=0, post_phase_shift=np.pi
    )
    pulse2 = Pulse.ConstantDetuning(BlackmanWaveform(1e3, np.pi / 4), 25, np.pi, post_phase_shift=1)
    seq.phase_shift(np.pi, "q0", basis="ground-rydberg")  # pulse1's post_phase_shift on q0 undoes it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "rounded up to 500 ns", as in the test
        seq.add(Pulse.ConstantPulse(499, 2, -10, 0, post_phase_shift=np.pi), "ch0")
    seq.add(pulse1, "ch1")
    seq.add(pulse2, "ch2")
    seq.add(pulse1, "ch2")
    seq.add(pulse2, "ch1", protocol="no-delay")
    seq.add(pulse1, "ch0", protocol="no-delay")
    seq.phase_shift(np.pi / 2, "q1")
    seq.target("q1", "ch0")
    seq.add(pulse1, "ch0")
    seq.add(pulse1, "ch0", protocol="wait-for-all")
    seq.align("ch0", "ch2")
    seq.measure(basis="digital")
    return seq, {}


@case(
    "tests/test_sequence.py::test_phase (a global phase shift, a detuning map after pulses)",
    rewrites=("all_targets", "setup_first"),
)
def sequence_global_phase() -> Built:
    reg = _test_sequence_register()
    seq = Sequence(reg, _test_sequence_device())
    seq.declare_channel("ch0", "raman_local", initial_target="q0")
    seq.phase_shift(-1, "q0", "q1")
    seq.phase_shift(0, "q0")
    seq.phase_shift(-8 * np.pi, "q1")
    seq.declare_channel("ch1", "rydberg_global")
    seq.phase_shift(1, basis="ground-rydberg")
    seq.phase_shift(1)
    seq.add(Pulse.ConstantPulse(100, 1, 0, 0), "ch1")
    det_map = reg.define_detuning_map({"q" + str(i): (1.0 if i in [0, 1, 3, 4] else 0) for i in range(10)})
    seq.config_detuning_map(det_map, "dmm_0")
    det_wf = RampWaveform(100, -10, -1)
    seq.add_dmm_detuning(det_wf, "dmm_0")
    seq.phase_shift(1.0, "q0", basis="ground-rydberg")
    seq.add_dmm_detuning(det_wf, "dmm_0")
    return seq, {}


@case(
    "tests/test_sequence.py::test_mappable_register",
    jobs=[{"runs": 50, "variables": {"qubits": {"q2": 20, "q0": 10, "q1": 0}}}],
)
def sequence_mappable_local() -> Built:
    seq = Sequence(TriangularLatticeLayout(100, 5).make_mappable_register(10), DigitalAnalogDevice)
    seq.declare_channel("ram", "raman_local", initial_target="q0")
    seq.declare_channel("ryd_loc", "rydberg_local")
    seq.declare_channel("ryd_glob", "rydberg_global")
    seq.phase_shift_index(np.pi / 4, 0, basis="digital")
    seq.target_index(2, "ryd_loc")
    seq.add(Pulse.ConstantPulse(100, 1, 0, 0), "ryd_glob")
    seq.add(Pulse.ConstantPulse(200, 1, 0, 0), "ram")
    seq.add(Pulse.ConstantPulse(100, 1, 0, 0), "ryd_loc")
    return seq, {}


@case(
    "tests/test_sequence.py::test_modify_eom_setpoint (the sequence stays in EOM mode)",
    refused="still in EOM mode",
)
def sequence_ends_in_eom() -> Built:
    seq = Sequence(_test_sequence_register(), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    params = seq.declare_variable("params", dtype=float, size=2)
    amp, det_on = params
    seq.enable_eom_mode("ryd", amp, det_on)
    seq.add_eom_pulse("ryd", 100, 0.0)
    seq.delay(100, "ryd")
    seq.modify_eom_setpoint("ryd", amp + 1, det_on - 1)
    seq.add_eom_pulse("ryd", 100, 0.0)
    seq.delay(100, "ryd")
    return seq, {"params": [1.0, 0.0]}


@case("tests/test_sequence.py::test_truncate_pulse (a truncate inside a pulse)")
def sequence_truncate() -> Built:
    seq = Sequence(Register.square(2, spacing=6, prefix="q"), MockDevice)
    seq.declare_channel("ch0", "rydberg_global")
    seq.add(Pulse.ConstantDetuning(KaiserWaveform(400, np.pi), 1.0, 0), "ch0")
    seq.add(Pulse.ConstantDetuning(CustomWaveform(np.linspace(0, 1, 40)), 0, 0), "ch0")
    seq.truncate(300)
    return seq, {}


# ---- tests/conftest.py's mod_device: tests/test_paramseq.py, tests/test_sequence_sampler.py -------------


def _mod_device() -> Device:
    """conftest.mod_device: channels with modulation and EOM, two DMMs."""
    from pulser.channels.dmm import DMM
    from pulser.channels.eom import RydbergBeam, RydbergEOM

    return Device(
        name="ModDevice",
        dimensions=3,
        rydberg_level=70,
        max_atom_num=2000,
        max_radial_distance=1000,
        min_atom_distance=1,
        supports_slm_mask=True,
        channel_objects=(
            Rydberg.Global(
                1000,
                200,
                clock_period=1,
                min_duration=1,
                mod_bandwidth=4.0,
                eom_config=RydbergEOM(
                    mod_bandwidth=30.0,
                    limiting_beam=RydbergBeam.RED,
                    max_limiting_amp=50 * 2 * np.pi,
                    intermediate_detuning=800 * 2 * np.pi,
                    controlled_beams=(RydbergBeam.BLUE,),
                ),
            ),
            Rydberg.Local(
                2 * np.pi * 20,
                2 * np.pi * 10,
                max_targets=2,
                fixed_retarget_t=0,
                clock_period=4,
                min_retarget_interval=220,
                mod_bandwidth=4.0,
                eom_config=RydbergEOM(
                    mod_bandwidth=20.0,
                    limiting_beam=RydbergBeam.RED,
                    max_limiting_amp=60 * 2 * np.pi,
                    intermediate_detuning=700 * 2 * np.pi,
                    controlled_beams=tuple(RydbergBeam),
                ),
            ),
            Raman.Local(
                2 * np.pi * 20,
                2 * np.pi * 10,
                max_targets=2,
                fixed_retarget_t=0,
                min_retarget_interval=220,
                clock_period=4,
                mod_bandwidth=4.0,
            ),
        ),
        dmm_objects=(
            DMM(bottom_detuning=-100, total_bottom_detuning=-10000),
            DMM(clock_period=4, mod_bandwidth=4.0, bottom_detuning=-50, total_bottom_detuning=-5000),
        ),
    )


@case("tests/test_paramseq.py::test_parametrized_in_eom_mode")
def paramseq_in_eom_mode() -> Built:
    seq = Sequence(Register.rectangle(4, 3, prefix="q"), _mod_device())
    seq.declare_channel("ch0", "rydberg_local", initial_target="q0")
    seq.enable_eom_mode("ch0", amp_on=2.0, detuning_on=0.0)
    dt = seq.declare_variable("dt", dtype=int)
    seq.add_eom_pulse("ch0", dt, 0.0)
    seq.disable_eom_mode("ch0")
    return seq, {"dt": 100}


@case(
    "tests/test_paramseq.py::test_parametrized_before_eom_mode (one variable as a phase and a duration)",
    refused="`var` fills",
)
def paramseq_variable_two_units() -> Built:
    seq = Sequence(Register.rectangle(4, 3, prefix="q"), _mod_device())
    seq.declare_channel("ch0", "rydberg_local", initial_target="q0")
    seq.declare_channel("raman", "raman_local", initial_target="q2")
    amp = seq.declare_variable("amp", dtype=float)
    seq.add(Pulse.ConstantPulse(200, amp, -1, 0), "ch0")
    seq.enable_eom_mode("ch0", amp_on=amp, detuning_on=0.0)
    var = seq.declare_variable("var", dtype=float, size=None)
    seq.add_eom_pulse("ch0", 100, 0.0, post_phase_shift=var)
    seq.add_eom_pulse("ch0", var * 1000, np.pi)
    seq.add_eom_pulse("ch0", 200, var)
    seq.disable_eom_mode("ch0")
    return seq, {"amp": 2.0, "var": 0.2}


@case("tests/test_sequence_sampler.py::test_modulation_local")
def modulation_local() -> Built:
    seq = Sequence(Register.square(2, prefix="q"), _mod_device())
    seq.declare_channel("ch0", "rydberg_local", initial_target="q0")
    pulse1 = Pulse.ConstantPulse(500, 1, -1, 0)
    seq.add(pulse1, "ch0")
    seq.delay(pulse1.fall_time(seq.declared_channels["ch0"]) // 3, "ch0")
    seq.add(Pulse.ConstantPulse(200, 2.5, 0, 0), "ch0")
    seq.target("q1", "ch0")
    seq.add(pulse1, "ch0")
    return seq, {}


@case("tests/test_sequence_sampler.py::test_eom_modulation[min_detuning_on]")
def eom_modulation() -> Built:
    seq = Sequence(Register.square(2, prefix="q"), _mod_device())
    seq.declare_channel("ch0", "rydberg_global")
    seq.enable_eom_mode("ch0", amp_on=1, detuning_on=-seq.declared_channels["ch0"].max_abs_detuning)
    seq.add_eom_pulse("ch0", 100, 0.0)
    seq.delay(200, "ch0")
    seq.add_eom_pulse("ch0", 100, 0.0)
    seq.disable_eom_mode("ch0")
    seq.add(Pulse.ConstantPulse(500, 1, 0, 0), "ch0")
    return seq, {}


@case(
    "tests/test_sequence_sampler.py::test_seq_with_DMM_and_map_reg",
    jobs=[{"runs": 100, "variables": {"qubits": {"q0": 1, "q1": 3}}}],
)
def mappable_dmm_on_traps() -> Built:
    from pulser.register.mappable_reg import MappableRegister

    reg = MappableRegister(RegisterLayout([[-4, 0], [4, 0], [0, -4], [0, 4]]), "q0", "q1")
    seq = Sequence(reg, MockDevice)
    seq.config_detuning_map(reg.define_detuning_map({i: 0.25 for i in range(4)}), "dmm_0")
    return seq, {}


def _seq_with_slm(channel_id: str) -> Built:
    from pulser.channels.dmm import DMM

    reg = Register({"batman": np.array([-4.0, 0.0]), "superman": np.array([4.0, 0.0])})
    seq = Sequence(reg, dataclasses.replace(MockDevice, dmm_objects=(DMM(),)))
    seq.declare_channel("ch0", channel_id)
    seq.config_slm_mask(["batman"])
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, np.pi / 2), 0.0, 0.0), "ch0")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, np.pi / 2), 0.0, 0.0), "ch0")
    seq.measure("ground-rydberg" if channel_id == "rydberg_global" else "XY")
    return seq, {}


@case("tests/test_sequence_sampler.py::seq_with_SLM[rydberg_global]")
def slm_ising() -> Built:
    return _seq_with_slm("rydberg_global")


@case("tests/test_sequence_sampler.py::seq_with_SLM[mw_global]")
def slm_xy() -> Built:
    return _seq_with_slm("mw_global")


@case("tests/test_sequence.py::test_config_slm_mask[int qubit ids]", refused="qubit `0` is not a name")
def numbered_qubits() -> Built:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pulser deprecates qubit ids that are not strings
        reg = Register(dict(zip([0, 1, 2], [(0, 0), (10, 10), (-10, -10)], strict=True)))
    seq = Sequence(reg, _test_sequence_device())
    seq.config_slm_mask([0, 2])
    seq.declare_channel("ch0", "rydberg_global")
    seq.add(Pulse.ConstantPulse(100, 1, 0, 0), "ch0")
    return seq, {}


# ---- writing -------------------------------------------------------------------------------------


def main() -> int:
    manifest: dict[str, Any] = {}
    for entry in CASES:
        seq, defaults = entry.build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pulser's note that `phase_shift` without targets changed in 1.4
            text = seq.to_abstract_repr(**defaults)
        data = json.loads(text)
        (HERE / f"{entry.name}.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        record: dict[str, Any] = {"source": entry.source, "expect": entry.expect}
        if entry.rewrites:
            record["rewrites"] = list(entry.rewrites)
        if entry.jobs is not None:
            record["jobs"] = entry.jobs
        manifest[entry.name] = record
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(CASES)} sequences to {HERE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
