"""Reference: what chain_template.qx must compile to with its defaults (4 atoms, 8 µm)."""
import numpy as np
from pulser import Pulse, Sequence
from pulser.devices import AnalogDevice
from pulser.register.special_layouts import RectangularLatticeLayout
from pulser.waveforms import BlackmanWaveform


def build(atoms=4, spacing=8):
    layout = RectangularLatticeLayout(2, atoms, spacing, 10)
    # Traps are numbered column by column: the even ones are the bottom row, a chain.
    register = layout.define_register(*range(0, 2 * atoms, 2), qubit_ids=[f"q{i}" for i in range(atoms)])
    seq = Sequence(register, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    delta = seq.declare_variable("delta")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(1000, np.pi), delta, 0), "ryd")
    seq.measure("ground-rydberg")
    jobs = [{"runs": 100, "variables": {"delta": d}} for d in np.linspace(-5, 5, 2 * atoms + 1)]
    return seq, jobs
