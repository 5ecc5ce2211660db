"""Reference: what eom_ramsey.qx must compile to, written by hand with Pulser."""
import numpy as np
from pulser import Sequence
from pulser.devices import AnalogDevice
from pulser.register.special_layouts import TriangularLatticeLayout


def build():
    register = TriangularLatticeLayout(61, 5).define_register(0, qubit_ids=["q0"])
    seq = Sequence(register, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    wait = seq.declare_variable("wait", dtype=int)
    seq.enable_eom_mode("ryd", amp_on=2.5 * np.pi, detuning_on=-10, optimal_detuning_off=-5)
    seq.add_eom_pulse("ryd", 200, phase=0.0)
    seq.delay(wait, "ryd")
    seq.add_eom_pulse("ryd", 200, phase=np.pi)
    seq.disable_eom_mode("ryd")
    seq.measure("ground-rydberg")
    jobs = [{"runs": 300, "variables": {"wait": w}} for w in range(100, 1001, 100)]
    return seq, jobs
