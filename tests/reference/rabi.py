"""Reference: what rabi.qx must compile to, written by hand with Pulser."""

import numpy as np
from pulser import Pulse, Sequence
from pulser.devices import AnalogDevice
from pulser.register.special_layouts import TriangularLatticeLayout
from pulser.waveforms import ConstantWaveform


def build():
    register = TriangularLatticeLayout(61, 5).define_register(0, qubit_ids=["q0"])
    seq = Sequence(register, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    t = seq.declare_variable("t", dtype=int)
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(t, 2 * np.pi), 0, 0), "ryd")
    seq.measure("ground-rydberg")
    jobs = [{"runs": 200, "variables": {"t": t_ns}} for t_ns in range(100, 2001, 100)]
    return seq, jobs
