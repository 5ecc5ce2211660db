"""Meanings LANGUAGE.md fixes that Pulser alone would not give, each compared with Pulser."""

from __future__ import annotations

import json
import math

from pulser import Sequence
from pulser.devices import AnalogDevice, DigitalAnalogDevice
from pulser.register import RegisterLayout

import qpurun
from conftest import with_preamble

UNSORTED_TRAPS = """\
device DigitalAnalogDevice
layout traps { (10, 0), (-10, 0), (0, 0), (0, 10), (0, -10) } um
register { a = trap 0  b = trap 2 }
channel ryd = rydberg_global
detuning_map m on dmm_0 { trap 0: 1.0, trap 2: 0.5 }
sequence {
  add pulse(amplitude = constant(100 ns, 1 rad/us)) on ryd
  measure ground-rydberg
}
runs 10
"""


def test_in_a_traps_layout_trap_n_is_the_nth_written() -> None:
    experiment = qpurun.loads(UNSORTED_TRAPS)
    coordinates = {q: tuple(c) for q, c in experiment.sequence.register.qubits.items()}
    assert coordinates == {"a": (10.0, 0.0), "b": (0.0, 0.0)}
    # Pulser sorts the traps: trap 0 as written is Pulser's trap 4.
    layout = RegisterLayout([(10, 0), (-10, 0), (0, 0), (0, 10), (0, -10)])
    expected = Sequence(layout.define_register(4, 2, qubit_ids=["a", "b"]), DigitalAnalogDevice)
    expected.declare_channel("ryd", "rydberg_global")
    expected.config_detuning_map(layout.define_detuning_map({4: 1.0, 2: 0.5}), "dmm_0")
    ours = json.loads(experiment.sequence.to_abstract_repr())
    theirs = json.loads(expected.to_abstract_repr())
    assert ours["register"] == theirs["register"]
    assert ours["layout"] == theirs["layout"]
    assert [op for op in ours["operations"] if op["op"] == "config_detuning_map"] == [
        op for op in theirs["operations"] if op["op"] == "config_detuning_map"
    ]


def test_mappable_placements_use_the_written_numbering_too() -> None:
    text = UNSORTED_TRAPS.replace("register { a = trap 0  b = trap 2 }", "register mappable 2").replace(
        "detuning_map m on dmm_0 { trap 0: 1.0, trap 2: 0.5 }\n", ""
    )
    experiment = qpurun.loads(text + "jobs { qubits = { q0: 0, q1: 2 } }\n")
    assert experiment.job_params[0]["variables"]["qubits"] == {"q0": 4, "q1": 2}


def test_a_bare_correct_phase_drift_in_eom_is_the_flag() -> None:
    text = with_preamble("""\
sequence {
  eom ryd (amplitude = 1 MHz, detuning_on = 5 MHz, correct_phase_drift) {
    pulse 100 ns
  }
  measure ground-rydberg
}
runs 10
""")
    experiment = qpurun.loads(text)
    ops = json.loads(experiment.sequence.to_abstract_repr())["operations"]
    enable = next(op for op in ops if op["op"] == "enable_eom_mode")
    disable = next(op for op in ops if op["op"] == "disable_eom_mode")
    assert enable["correct_phase_drift"] is True and disable["correct_phase_drift"] is True
    assert experiment.device == AnalogDevice


def test_an_eom_delay_at_rest_and_a_drift_correcting_setpoint_are_pulsers() -> None:
    text = with_preamble("""\
sequence {
  eom ryd (amplitude = 1 MHz, detuning_on = 5 MHz, correct_phase_drift) {
    pulse 100 ns
    delay 300 ns at_rest
    setpoint (amplitude = 1.5 MHz, detuning_on = 5 MHz, correct_phase_drift)
    pulse 100 ns
  }
  measure ground-rydberg
}
runs 100
""")
    experiment = qpurun.loads(text)
    expected = Sequence(experiment.sequence.register, AnalogDevice)
    expected.declare_channel("ryd", "rydberg_global")
    two_pi = 2 * math.pi
    expected.enable_eom_mode("ryd", 1 * two_pi, 5 * two_pi, correct_phase_drift=True)
    expected.add_eom_pulse("ryd", 100, 0.0)
    expected.delay(300, "ryd", at_rest=True)
    expected.modify_eom_setpoint("ryd", 1.5 * two_pi, 5 * two_pi, correct_phase_drift=True)
    expected.add_eom_pulse("ryd", 100, 0.0)
    expected.disable_eom_mode("ryd", correct_phase_drift=True)
    expected.measure("ground-rydberg")
    ours = json.loads(experiment.sequence.to_abstract_repr())["operations"]
    assert ours == json.loads(expected.to_abstract_repr())["operations"]
