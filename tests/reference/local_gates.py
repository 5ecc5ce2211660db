"""Reference: what local_gates.qx must compile to, written by hand with Pulser."""

import numpy as np
from pulser import Pulse, Sequence
from pulser.devices import DigitalAnalogDevice
from pulser.register import RegisterLayout
from pulser.waveforms import BlackmanWaveform, ConstantWaveform, RampWaveform


def build():
    layout = RegisterLayout([(-4, 0), (0, -7), (0, 7), (4, 0)])
    register = layout.define_register(0, 3, qubit_ids=["control", "target"])
    seq = Sequence(register, DigitalAnalogDevice)
    seq.declare_channel("raman", "raman_local", initial_target="control")
    seq.declare_channel("ryd", "rydberg_global")
    seq.config_detuning_map(register.define_detuning_map({"control": 1.0, "target": 0.5}), "dmm_0")
    theta = seq.declare_variable("theta")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(200, np.pi / 2), 0, 0), "raman")
    seq.target("target", "raman")
    seq.add(
        Pulse.ConstantDetuning(BlackmanWaveform(200, theta), 0, np.pi / 2),
        "raman",
        protocol="wait-for-all",
    )
    seq.phase_shift(np.pi / 4, "control", "target", basis="digital")
    seq.align("raman", "ryd")
    seq.delay(100, "ryd")
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(300, 2), 0, 0), "ryd")
    seq.add_dmm_detuning(RampWaveform(300, 0, -5), "dmm_0")
    seq.measure("digital")
    jobs = [
        {"runs": 100, "variables": {"theta": np.pi / 2}},
        {"runs": 300, "variables": {"theta": np.pi}},
    ]
    return seq, jobs
