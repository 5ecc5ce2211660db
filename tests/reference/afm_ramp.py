"""Reference: what afm_ramp.qx must compile to, written by hand with Pulser."""

import numpy as np
from pulser import Pulse, Sequence
from pulser.devices import AnalogDevice
from pulser.register.special_layouts import SquareLatticeLayout
from pulser.waveforms import ConstantWaveform, RampWaveform


def build():
    layout = SquareLatticeLayout(5, 5, 7)
    register = layout.define_register(0, 1, 2, 5, 6, 7, 10, 11, 12, qubit_ids=[f"q{i}" for i in range(9)])
    seq = Sequence(register, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    omega_max = seq.declare_variable("omega_max")
    delta_0 = seq.declare_variable("delta_0")
    delta_f = seq.declare_variable("delta_f")
    seq.add(Pulse.ConstantDetuning(RampWaveform(252, 0, omega_max), delta_0, 0), "ryd")
    seq.add(
        Pulse(ConstantWaveform(3000, omega_max), RampWaveform(3000, delta_0, delta_f), 0),
        "ryd",
    )
    seq.add(Pulse.ConstantDetuning(RampWaveform(500, omega_max, 0), delta_f, 0), "ryd")
    seq.measure("ground-rydberg")
    two_pi = 2 * np.pi
    jobs = [
        {
            "runs": 500,
            "variables": {
                "omega_max": om * two_pi,
                "delta_0": d0 * two_pi,
                "delta_f": df * two_pi,
            },
        }
        for om in [1.5, 1.9]
        for d0, df in zip([-6, -8], [2, 4])
    ]
    return seq, jobs
