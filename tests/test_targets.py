"""The target decides what is checked: QPU-only rules are errors for a QPU, located warnings for an emulator."""

from __future__ import annotations

from pathlib import Path

import pulser
import pytest
from pulser.devices import AnalogDevice, MockDevice

import qpurun
from conftest import with_preamble
from qpurun.cli import main
from qpurun.run.targets import TargetError, parse_target


def tutorial_sequence() -> pulser.Sequence:
    """A sequence as Pulser's tutorials write it: a real device, a register not on a layout."""
    register = pulser.Register.square(2, spacing=6, prefix="q")
    sequence = pulser.Sequence(register, AnalogDevice)
    sequence.declare_channel("ryd", "rydberg_global")
    sequence.add(pulser.Pulse.ConstantPulse(400, 2.0, 0.0, 0.0), "ryd")
    return sequence


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    """The tutorial sequence, saved by Pulser and imported by `qpurun import`."""
    json_path = tmp_path / "tutorial.json"
    json_path.write_text(tutorial_sequence().to_abstract_repr())
    spec = tmp_path / "imported.qx"
    assert main(["import", str(json_path), "-o", str(spec)]) == 0
    return spec


def test_an_emulator_takes_a_register_off_layout_with_a_located_warning(
    imported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["check", str(imported)]) == 0
    err = capsys.readouterr().err
    register_line = next(n for n, t in enumerate(imported.read_text().splitlines(), 1) if t.startswith("register"))
    assert (
        f"{imported}:{register_line}:1: warning: a QPU would refuse this register: it is not defined on a layout" in err
    )
    assert "hint: add `auto_layout`, or place the atoms on a layout" in err
    assert "Traceback" not in err


def test_a_qpu_target_refuses_it_at_the_register_with_the_hint(
    imported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["check", "--backend", "pasqal:FRESNEL", str(imported)]) == 2
    err = capsys.readouterr().err
    lines = imported.read_text().splitlines()
    register_line = next(n for n, t in enumerate(lines, 1) if t.startswith("register"))
    device_line = next(n for n, t in enumerate(lines, 1) if t.startswith("device"))
    assert f"{imported}:{register_line}:1: device error: pasqal:FRESNEL would refuse this register" in err
    assert "hint: add `auto_layout`, or place the atoms on a layout" in err
    # And the device: a QPU runs on its own specs, which the spec must name.
    assert f"{imported}:{device_line}:1: device error: pasqal:FRESNEL would refuse this device" in err
    assert 'device remote "FRESNEL"' in err


def test_the_same_compiled_sequence_on_every_target() -> None:
    spec = qpurun.loads(SPEC_ON_LAYOUT)
    assert spec.target.name == "qutip"
    for target in ("qutip", "emu-sv", "emu-mps", "pasqal:EMU_MPS", "pasqal:AnalogDevice"):
        experiment = qpurun.loads(SPEC_ON_LAYOUT, target=target)
        assert experiment.sequence_json() == spec.sequence_json()
        assert experiment.warnings == []


SPEC_ON_LAYOUT = with_preamble(
    """\
sequence {
  add pulse(amplitude = constant(100 ns, 1 rad/us)) on ryd
  measure ground-rydberg
}
runs 100
""",
    register="{ q0 = trap 0  q1 = trap 2 }",
)

EMPTY = """\
device AnalogDevice
register { q0 = (0, 0) um  q1 = (10, 0) um }
channel ryd = rydberg_global
sequence {
}
runs 100
"""


@pytest.mark.parametrize("target", ["qutip", "emu-sv", "emu-mps"])
def test_an_empty_sequence_is_an_error_for_an_emulator_too(target: str) -> None:
    """Each local emulator fails on it (qutip: "No instructions given"; emu-sv, emu-mps: a division by zero)."""
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.loads(EMPTY, filename="empty.qx", target=target)
    (error,) = caught.value.errors
    assert (error.kind, error.line) == ("device error", 4)
    assert error.message == f"{target} cannot emulate an empty sequence: it plays no pulse"


def test_an_empty_sequence_is_an_error_for_a_qpu() -> None:
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.loads(EMPTY, filename="empty.qx", target="pasqal:AnalogDevice")
    found = {(e.line, e.message) for e in caught.value.errors}
    assert (4, "pasqal:AnalogDevice would refuse this sequence: it is empty") in found
    assert (2, "pasqal:AnalogDevice would refuse this register: it is not defined on a layout") in found


def test_physics_limits_hold_on_every_target() -> None:
    too_strong = SPEC_ON_LAYOUT.replace("1 rad/us", "100 rad/us")
    for target in ("qutip", "emu-mps", "pasqal:EMU_SV"):
        with pytest.raises(qpurun.QxError) as caught:
            qpurun.loads(too_strong, target=target)
        assert caught.value.kind == "device error" and "amplitude" in caught.value.message


def test_a_virtual_device_warns_of_nothing_on_an_emulator_and_is_refused_by_a_qpu() -> None:
    spec = EMPTY.replace("AnalogDevice", "MockDevice").replace(
        "{\n}", "{\n  add pulse(amplitude = constant(100 ns, 1 rad/us)) on ryd\n}"
    )
    assert MockDevice.requires_layout is False
    assert qpurun.loads(spec).warnings == []
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.loads(spec, target="pasqal:FRESNEL")
    assert caught.value.line == 1 and "virtual device" in caught.value.message
    assert 'device remote "FRESNEL"' in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("name", "canonical", "qpu"),
    [
        ("qutip", "qutip", False),
        ("local", "qutip", False),
        ("emu-sv", "emu-sv", False),
        ("emu-mps", "emu-mps", False),
        ("pasqal:EMU_MPS", "pasqal:EMU_MPS", False),
        ("pasqal:emu_sv", "pasqal:EMU_SV", False),
        ("pasqal:EMU_FREE", "pasqal:EMU_FREE", False),
        ("pasqal:FRESNEL", "pasqal:FRESNEL", True),
        ("PASQAL:FRESNEL_CAN1", "pasqal:FRESNEL_CAN1", True),
    ],
)
def test_target_names(name: str, canonical: str, qpu: bool) -> None:
    target = parse_target(name)
    assert (target.name, target.qpu) == (canonical, qpu)


@pytest.mark.parametrize("name", ["cuda", "pasqal:", "pasqal:EMU_TN", "pasqal:1X", "qutip2"])
def test_unknown_targets_list_the_known_ones(name: str) -> None:
    with pytest.raises(TargetError) as caught:
        parse_target(name)
    assert "hint:" in str(caught.value)


def test_an_unknown_backend_on_the_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--backend", "cuda", "specs/rabi.qx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("--backend: config error: `backend` must be a target")
    assert '"cuda"' in err and "pasqal:FRESNEL" in err and "Traceback" not in err


def test_a_register_too_large_for_this_machine_is_a_warning_naming_the_targets_that_can_take_it() -> None:
    """25 atoms on qutip: 2^25 amplitudes and its operators, about 170 GB (issue 12)."""
    text = """\
device MockDevice
register square(5, spacing = 7 um)
channel ryd = rydberg_global
sequence {
  add pulse(amplitude = constant(100 ns, 1 rad/us)) on ryd
  measure ground-rydberg
}
runs 10
"""
    experiment = qpurun.loads(text, target="qutip")
    (warning,) = [w for w in experiment.warnings if "GB" in w.message]
    assert warning.span is not None and warning.span.line == 2
    assert warning.message.startswith("a job of 25 atoms needs about ")
    assert warning.hint is not None and "emu-mps" in warning.hint
    small = qpurun.loads(text.replace("square(5,", "square(2,"), target="qutip")
    assert not [w for w in small.warnings if "GB" in w.message]
