"""`include`: libraries of declarations, confined to the spec's directory tree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import qpurun
from qpurun.cli import main

MAIN = """\
device MockDevice
register {{ a = (0, 0) um }}
channel ryd = rydberg_global
include "{path}"
sequence {{
  add pi_pulse on ryd
  measure ground-rydberg
}}
runs 10
"""

LIBRARY = """\
# shared pulses
let t_pi = 250 ns
waveform pi_wave = constant(t_pi, 2 * pi rad/us)
pulse pi_pulse = pulse(amplitude = pi_wave)
"""

INLINE = MAIN.replace('include "{path}"', LIBRARY)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_an_include_means_what_its_declarations_written_inline_mean(tmp_path: Path) -> None:
    _write(tmp_path, {"spec.qx": MAIN.format(path="lib/pulses.qx"), "lib/pulses.qx": LIBRARY})
    included = qpurun.load(tmp_path / "spec.qx")
    inline = qpurun.loads(INLINE.format(), filename=str(tmp_path / "inline.qx"))
    assert included.sequence_json() == inline.sequence_json()


def test_nested_includes_are_relative_to_the_including_file(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "spec.qx": MAIN.format(path="lib/pulses.qx"),
            "lib/pulses.qx": 'include "timing/t.qx"\n' + LIBRARY.replace("let t_pi = 250 ns\n", ""),
            "lib/timing/t.qx": "let t_pi = 250 ns\n",
        },
    )
    assert qpurun.load(tmp_path / "spec.qx").sequence.get_duration() == 250


def test_an_error_inside_a_library_points_into_the_library(tmp_path: Path) -> None:
    _write(tmp_path, {"spec.qx": MAIN.format(path="lib.qx"), "lib.qx": LIBRARY.replace("250 ns", "250 rad")})
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.load(tmp_path / "spec.qx")
    error = caught.value.errors[0]
    assert error.source is not None and error.source.name.endswith("lib.qx")
    # The unit slip is in the `let` (issue 11: reported where the unit is written), in the library.
    assert (error.line, error.column) == (2, 12)
    assert str(error).startswith(f"{tmp_path / 'lib.qx'}:2:12:")


@pytest.mark.parametrize(
    ("files", "line", "message"),
    [
        ({"spec.qx": MAIN.format(path="../outside.qx")}, 4, "outside the spec's directory"),
        ({"spec.qx": MAIN.format(path="/etc/hostname")}, 4, "absolute path"),
        ({"spec.qx": MAIN.format(path="missing.qx")}, 4, "cannot read `missing.qx`"),
        ({"spec.qx": MAIN.format(path="a.qx"), "a.qx": 'include "b.qx"\n', "b.qx": 'include "a.qx"\n'}, 1, "cycle"),
        ({"spec.qx": MAIN.format(path="spec.qx")}, 4, "include cycle: spec.qx -> spec.qx"),
        ({"spec.qx": MAIN.format(path="lib.qx") + "let t_pi = 3 ns\n", "lib.qx": LIBRARY}, 4, "declares `t_pi`"),
        ({"spec.qx": MAIN.format(path="lib.qx"), "lib.qx": LIBRARY + "runs 5\n"}, 5, "declarations only"),
    ],
    ids=["dotdot-escape", "absolute", "missing", "cycle", "self", "duplicate", "not-a-declaration"],
)
def test_refused_includes_are_located(tmp_path: Path, files: dict[str, str], line: int, message: str) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (tmp_path / "outside.qx").write_text(LIBRARY)
    _write(root, files)
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.load(root / "spec.qx")
    assert any(e.line == line and message in e.message for e in caught.value.errors), str(caught.value)


def test_a_symlink_cannot_escape_the_tree(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (tmp_path / "secret.qx").write_text(LIBRARY)
    os.symlink(tmp_path / "secret.qx", root / "lib.qx")
    (root / "spec.qx").write_text(MAIN.format(path="lib.qx"))
    with pytest.raises(qpurun.QxError, match="outside the spec's directory"):
        qpurun.load(root / "spec.qx")


def test_allow_path_opens_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = tmp_path / "shared"
    _write(shared, {"pulses.qx": LIBRARY})
    root = tmp_path / "project"
    _write(root, {"spec.qx": MAIN.format(path=str(shared / "pulses.qx"))})
    assert main(["check", str(root / "spec.qx")]) == 2
    assert "absolute path" in capsys.readouterr().err
    assert main(["compile", str(root / "spec.qx"), "--emit", "jobs", "--allow-path", str(shared)]) == 0
    assert json.loads(capsys.readouterr().out) == [{"runs": 10}]


def test_a_job_failing_inside_a_library_points_into_the_library(tmp_path: Path) -> None:
    library = "waveform drive = constant(t, 2 * pi rad/us)\npulse pi_pulse = pulse(amplitude = drive)\n"
    spec = MAIN.format(path="lib.qx").replace("runs 10\n", "var t: int\nruns 10\njobs { t = 100\n t = -100 }\n")
    _write(tmp_path, {"spec.qx": spec, "lib.qx": library})
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.load(tmp_path / "spec.qx")
    error = caught.value.errors[0]
    assert "job 1 (t = -100) does not build" in error.message
    assert error.source is not None and error.source.name.endswith("lib.qx")
    assert error.line == 1
    assert str(error).startswith(f"{tmp_path / 'lib.qx'}:1:")


def test_a_library_shared_by_two_others_comes_in_once(tmp_path: Path) -> None:
    """A diamond: a.qx and b.qx both include the pulses; the spec gets them once, as if written inline."""
    _write(
        tmp_path,
        {
            "spec.qx": MAIN.format(path="a.qx").replace('include "a.qx"', 'include "a.qx"\ninclude "b.qx"'),
            "a.qx": 'include "pulses.qx"\nlet from_a = 1\n',
            "b.qx": 'include "pulses.qx"\nlet from_b = 2\n',
            "pulses.qx": LIBRARY,
        },
    )
    experiment = qpurun.load(tmp_path / "spec.qx")
    assert experiment.sequence_json() == qpurun.loads(INLINE.format()).sequence_json()
    assert {"from_a", "from_b", "t_pi", "pi_pulse"} <= set(experiment.checked.values)


def test_a_deep_diamond_of_includes_is_linear(tmp_path: Path) -> None:
    """16 levels of two files each including both of the next level: 2**16 paths, 32 files read once."""
    levels = 16
    files = {}
    for level in range(levels):
        for side in "ab":
            below = "".join(f'include "l{level + 1}{s}.qx"\n' for s in "ab") if level + 1 < levels else ""
            files[f"l{level}{side}.qx"] = below + f"let v{level}{side} = {level}\n"
    files["spec.qx"] = MAIN.format(path="l0a.qx").replace('include "l0a.qx"', 'include "l0a.qx"\ninclude "l0b.qx"')
    files["l0a.qx"] += LIBRARY
    _write(tmp_path, files)
    experiment = qpurun.load(tmp_path / "spec.qx", validate=False)
    assert {f"v{level}{side}" for level in range(levels) for side in "ab"} <= set(experiment.checked.values)


def test_a_name_declared_in_two_different_libraries_is_still_an_error(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "spec.qx": MAIN.format(path="a.qx").replace('include "a.qx"', 'include "a.qx"\ninclude "b.qx"'),
            "a.qx": LIBRARY,
            "b.qx": "let t_pi = 1 ns\n",
        },
    )
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.load(tmp_path / "spec.qx")
    (error,) = caught.value.errors
    assert error.line == 5 and "`b.qx` declares `t_pi`, already declared at" in error.message
