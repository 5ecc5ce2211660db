"""The catalog is the one home of Pulser knowledge: a new waveform kind is one entry.

A fixture adds `linear`, another name for Pulser's RampWaveform, to the
catalog and nothing else; the spec using it then parses, checks, lowers to
what Pulser builds by hand, prints, and comes back from Pulser's JSON.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pulser
import pytest
from pulser.devices import AnalogDevice
from pulser.waveforms import RampWaveform

import qpurun
from conftest import assert_close
from qpurun.bridge.importer import import_text
from qpurun.language import catalog
from qpurun.language.errors import QxError
from qpurun.language.printer import format_text

SRC = Path(__file__).resolve().parents[1] / "src" / "qpurun"

SPEC = """\
device AnalogDevice
register { q0 = (0, 0) um }
channel ryd = rydberg_global
var t: int
sequence {
  add pulse(amplitude = linear(t, 0, 2 rad/us), detuning = 0) on ryd
}
runs 10
sweep {
  t = [200, 400]
}
"""


@pytest.fixture
def linear() -> Iterator[catalog.WaveformKind]:
    """`linear(duration, start, stop)`: the ramp under another name, claimed first for the ramp's JSON."""
    ramp = catalog.WAVEFORMS["ramp"]
    signature = dataclasses.replace(ramp.signature, name="linear", doc="linear(duration, start, stop)")
    entry = dataclasses.replace(ramp, signature=signature)
    saved = dict(catalog.WAVEFORMS)
    catalog.WAVEFORMS.clear()
    catalog.WAVEFORMS.update({"linear": entry, **saved})  # first: the importer writes the first that claims a kind
    try:
        yield entry
    finally:
        catalog.WAVEFORMS.clear()
        catalog.WAVEFORMS.update(saved)


def test_a_new_waveform_kind_is_one_catalog_entry(linear: catalog.WaveformKind) -> None:
    experiment = qpurun.loads(SPEC, validate=False)

    seq = pulser.Sequence(pulser.Register({"q0": (0, 0)}), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    t = seq.declare_variable("t", dtype=int)
    seq.add(pulser.Pulse.ConstantDetuning(RampWaveform(t, 0, 2), 0, 0), "ryd")
    assert_close(json.loads(experiment.sequence_json()), json.loads(seq.to_abstract_repr()))
    assert experiment.job_params == [{"runs": 10, "variables": {"t": 200}}, {"runs": 10, "variables": {"t": 400}}]

    assert "linear(t, 0, 2 rad/us)" in format_text(SPEC)
    imported = import_text(seq.to_abstract_repr(), jobs=experiment.job_params)
    assert "linear(t, 0, 2 rad/us)" in imported
    assert_close(json.loads(qpurun.loads(imported, validate=False).sequence_json()), json.loads(seq.to_abstract_repr()))


def test_the_new_kind_is_checked_like_the_others(linear: catalog.WaveformKind) -> None:
    with pytest.raises(QxError, match=r"`amplitude` takes an angular frequency .*, but this is a time"):
        qpurun.loads(SPEC.replace("linear(t, 0, 2 rad/us)", "linear(t, 0, 2 us)"), validate=False)
    with pytest.raises(QxError, match="`linear` is a built-in name"):
        qpurun.loads(SPEC.replace("var t: int", "var t: int\nlet linear = 1"), validate=False)


def test_without_the_entry_the_kind_is_unknown() -> None:
    with pytest.raises(QxError, match="unknown function `linear`"):
        qpurun.loads(SPEC, validate=False)


def test_only_the_catalog_imports_pulsers_private_device_class() -> None:
    importers = sorted(
        str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if "_device_datacls" in path.read_text()
    )
    assert importers == ["language/catalog.py"]


def test_the_language_imports_no_pulser() -> None:
    """Only function bodies of the catalog (its `build`s and device lookups) import Pulser."""
    for path in (SRC / "language").glob("*.py"):
        top_level = [line for line in path.read_text().splitlines() if re.match(r"(import|from) pulser", line)]
        assert top_level == [], f"{path.name} imports Pulser at the top: {top_level}"


def test_every_catalog_property_is_one_pulser_has() -> None:
    device = AnalogDevice
    for name in catalog.DEVICE_PROPERTIES:
        assert hasattr(device, name), name
    channel = device.channels["rydberg_global"]
    for name in catalog.CHANNEL_PROPERTIES:
        assert hasattr(channel, name), name
    assert set(catalog.NOISE_PARAMETERS) <= set(pulser.NoiseModel.__dataclass_fields__)


def test_every_waveform_kind_is_in_pulsers_schema() -> None:
    from pulser.json.abstract_repr.validation import SCHEMAS_PATH  # type: ignore[attr-defined]

    schema = (Path(SCHEMAS_PATH) / "sequence-schema.json").read_text()
    for entry in catalog.WAVEFORMS.values():
        for representation in entry.representations:
            assert f'"{representation.kind}"' in schema, representation.kind


def test_unit_pattern_takes_every_spelling_and_no_prefix_of_a_word() -> None:
    pattern = re.compile(catalog.unit_pattern())
    for spelling, unit in catalog.SPELLINGS.items():
        match = pattern.match(spelling)
        assert match is not None and match.group() == spelling, spelling
        assert catalog.UNITS[unit].dimension in catalog.PULSER_UNIT
    assert pattern.match("nsx") is None
    assert pattern.match("rad/usx") is None
