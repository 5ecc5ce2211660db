"""Every file a spec names (device, layout, include) follows one rule: inside the spec's directory
unless allowed, a regular file of bounded size, read once; an error never echoes what it holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import qpurun
from qpurun.language.errors import QxError

SECRET = "password = hunter2"

SPEC = """\
device {device}
{layout}register {{ q0 = {register} }}
channel ryd = rydberg_global
sequence {{
  measure ground-rydberg
}}
runs 10
"""


def spec(device: str = "AnalogDevice", layout: str | None = None) -> str:
    return SPEC.format(
        device=device,
        layout=f'layout "{layout}"\n' if layout else "",
        register="trap 0" if layout else "(0, 0) um",
    )


def refused(directory: Path, text: str) -> QxError:
    with pytest.raises(QxError) as caught:
        qpurun.loads(text, filename=str(directory / "spec.qx"), validate=False)
    (error,) = caught.value.errors
    assert SECRET not in str(error)
    return error


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A spec directory, and a file beside it (outside it) holding a secret."""
    (tmp_path / "spec").mkdir()
    (tmp_path / "secret.json").write_text(SECRET)
    return tmp_path / "spec"


@pytest.mark.parametrize("kind", ["device", "layout"])
def test_a_path_outside_the_spec_directory_is_refused(outside: Path, kind: str) -> None:
    text = spec(device='"../secret.json"') if kind == "device" else spec(layout="../secret.json")
    error = refused(outside, text)
    assert error.kind == "name error" and error.line == (1 if kind == "device" else 2)
    assert "is outside the spec's directory" in error.message
    assert error.hint is not None and "--allow-path" in error.hint


def test_a_symlink_out_of_the_directory_is_refused(outside: Path) -> None:
    (outside / "device.json").symlink_to(outside.parent / "secret.json")
    error = refused(outside, spec(device='"device.json"'))
    assert "is outside the spec's directory" in error.message


def test_allow_path_lets_a_directory_in(outside: Path) -> None:
    from pulser.devices import AnalogDevice

    (outside.parent / "lab").mkdir()
    (outside.parent / "lab" / "device.json").write_text(AnalogDevice.to_abstract_repr())
    experiment = qpurun.loads(
        spec(device='"../lab/device.json"'),
        filename=str(outside / "spec.qx"),
        allow_paths=[outside.parent / "lab"],
        validate=False,
    )
    assert experiment.device.name == "AnalogDevice"


def test_dev_zero_is_not_read(outside: Path) -> None:
    (outside / "zero.json").symlink_to("/dev/zero")
    error = refused(outside, spec(device='"zero.json"'))
    assert "outside the spec's directory" in error.message or "not a regular file" in error.message
    error = refused(outside, spec(device='"/dev/zero"'))
    assert "is an absolute path" in error.message


def test_a_fifo_is_not_opened(outside: Path) -> None:
    os.mkfifo(outside / "pipe.json")  # opening it for reading would wait for a writer forever
    error = refused(outside, spec(device='"pipe.json"'))
    assert error.message == "device file `pipe.json` is not a regular file"


def test_a_file_too_large_is_refused_unread(outside: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qpurun.language import includes

    monkeypatch.setattr(includes, "MAX_FILE_BYTES", 100)
    (outside / "big.layout.json").write_text(SECRET * 20)
    error = refused(outside, spec(layout="big.layout.json"))
    assert error.message == f"layout file `big.layout.json` is {len(SECRET) * 20:,} bytes; at most 100 are read"


def test_an_include_of_a_fifo_is_not_opened(outside: Path) -> None:
    os.mkfifo(outside / "lib.qx")
    error = refused(outside, 'include "lib.qx"\n' + spec())
    assert error.message == "`lib.qx` is not a regular file"


def _device_document() -> dict[str, object]:
    import json

    from pulser.devices import AnalogDevice

    document: dict[str, object] = json.loads(AnalogDevice.to_abstract_repr())
    return document


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (SECRET, "is not JSON: Expecting value (line 1, column 1)"),
        ("[" * 100_000 + "]" * 100_000, "is nested too deeply"),
        ('["hunter2"]', "holds a JSON list, not an object"),
        ('{"name": "hunter2"}', "is missing `channels`"),
        ({"max_atom_num": "hunter2"}, "`$.max_atom_num` should be of type number"),
        ({"version": "hunter2"}, "`$.version` should be '1'"),
        ({"channels": [{"id": "hunter2"}]}, "`$.channels[0]` is missing `addressing`"),
        ({"max_atom_num": -5}, "'max_atom_num' must be greater than zero"),
    ],
)
def test_a_device_file_pulser_refuses_names_the_entry_never_the_content(
    tmp_path: Path, content: str | dict[str, object], message: str
) -> None:
    import json

    text = content if isinstance(content, str) else json.dumps({**_device_document(), **content})
    (tmp_path / "device.json").write_text(text)
    error = refused(tmp_path, spec(device='"device.json"'))
    assert (error.kind, error.line) == ("device error", 1)
    assert error.message.startswith("device file `device.json` ")
    assert message in error.message
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{}", "`$` is missing `coordinates`"),
        ('{"coordinates": "hunter2"}', "`$.coordinates` should be of type array"),
        ('{"coordinates": [[0, 0], [1]]}', "`$.coordinates[1]` should have at least 2 items"),
        ('{"coordinates": [[0, 0], [0, 0]]}', "All trap coordinates of a register layout must be unique"),
        ('{"coordinates": [' + ", ".join(f"[{i}, 0]" for i in range(20_000)) + "]}", "a layout of 20,000 traps"),
    ],
)
def test_a_layout_file_pulser_refuses_names_the_entry(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "layout.json").write_text(content)
    error = refused(tmp_path, spec(device="MockDevice", layout="layout.json"))
    assert (error.kind, error.line) == ("device error", 2)
    assert error.message.startswith("layout file `layout.json` ")
    assert message in error.message
    assert "hunter2" not in str(error)
