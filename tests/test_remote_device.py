"""`device remote "NAME"`: the device specs come from the connection."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
from pulser.devices import AnalogDevice
from pulser.devices._device_datacls import BaseDevice

import qpurun
from conftest import with_preamble

BODY = """\
sequence {
  add pulse(amplitude = constant(100 ns, 1 rad/us)) on ryd
  measure ground-rydberg
}
runs 3
"""


def spec_on(name: str) -> str:
    """The spec on the remote device `name`."""
    return with_preamble(BODY, device=f'remote "{name}"')


def test_by_default_the_real_pulser_devices_are_offered() -> None:
    assert qpurun.loads(spec_on("AnalogDevice")).device == AnalogDevice


def test_a_connection_supplies_its_devices() -> None:
    # A QPU's specs differ from the local copy: the connection's are used.
    fresnel = dataclasses.replace(AnalogDevice, name="FRESNEL", max_runs=123)

    def fetch() -> Mapping[str, BaseDevice]:
        return {"FRESNEL": fresnel}

    experiment = qpurun.loads(spec_on("FRESNEL"), remote_devices=fetch)
    assert experiment.device.name == "FRESNEL"
    assert experiment.device.max_runs == 123


def test_an_unknown_remote_device_lists_what_there_is() -> None:
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.loads(spec_on("FRESNEL"), filename="s.qx")
    assert (caught.value.line, caught.value.column) == (1, 1)
    assert "offers no device `FRESNEL`" in caught.value.message
    assert caught.value.hint is not None and "AnalogDevice" in caught.value.hint
