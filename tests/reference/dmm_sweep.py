"""Reference: what dmm_sweep.qx must compile to, written by hand with Pulser."""
import numpy as np
from pulser import Pulse, Sequence
from pulser.devices import DigitalAnalogDevice
from pulser.register.special_layouts import SquareLatticeLayout
from pulser.waveforms import BlackmanWaveform, ConstantWaveform


def build():
    layout = SquareLatticeLayout(4, 4, 6)
    register = layout.define_register(5, 6, 9, qubit_ids=["a", "b", "c"])
    seq = Sequence(register, DigitalAnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.config_detuning_map(layout.define_detuning_map({5: 1.0, 6: 0.5, 9: 0.0}), "dmm_0")
    depth = seq.declare_variable("depth")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(1000, np.pi), 0, 0), "ryd")
    seq.add_dmm_detuning(ConstantWaveform(1000, depth), "dmm_0")
    seq.measure("ground-rydberg")
    jobs = [{"runs": 100, "variables": {"depth": float(d)}} for d in (-2, -4, -8)]
    return seq, jobs
