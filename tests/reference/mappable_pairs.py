"""Reference: what mappable_pairs.qx must compile to, written by hand with Pulser."""
import numpy as np
from pulser import Pulse, Sequence
from pulser.devices import AnalogDevice
from pulser.register.special_layouts import TriangularLatticeLayout
from pulser.waveforms import ConstantWaveform


def build():
    register = TriangularLatticeLayout(61, 5).make_mappable_register(2)
    seq = Sequence(register, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    omega = seq.declare_variable("omega")
    seq.add(Pulse.ConstantDetuning(ConstantWaveform(500, omega), 0, 0), "ryd")
    seq.measure("ground-rydberg")
    jobs = [
        {"runs": 200, "variables": {"omega": 2 * np.pi, "qubits": {"q0": 0, "q1": 1}}},
        {"runs": 200, "variables": {"omega": 2 * np.pi, "qubits": {"q0": 0, "q1": 12}}},
        {"runs": 500, "variables": {"omega": 2 * np.pi, "qubits": {"q0": 2, "q1": 10}}},
    ]
    return seq, jobs
