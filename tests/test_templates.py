"""Template specs: rendered in Jinja's sandbox, errors at the template's own lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qpurun
from conftest import ROOT, assert_close, load_reference
from qpurun.cli import main
from qpurun.language.templates import QxTemplateError

CHAIN = ROOT / "specs" / "chain_template.qx"

BASE = """\
device MockDevice
register { {% for i in range(n) %} q{{ i }} = ({{ 6 * i }}, 0) um {% endfor %} }
channel ryd = rydberg_global
sequence {
  add pulse(amplitude = constant(100 ns, {{ amp }} rad/us)) on ryd
  measure ground-rydberg
}
runs 10
"""


@pytest.mark.parametrize(("atoms", "spacing"), [(4, 8), (6, 7)])
def test_template_compiles_to_the_reference_for_its_values(atoms: int, spacing: int) -> None:
    reference_sequence, reference_jobs = load_reference("chain_template").build(atoms=atoms, spacing=spacing)
    experiment = qpurun.load(CHAIN, values={"atoms": atoms, "spacing": spacing})
    assert experiment.name == f"chain-{atoms}"
    assert len(experiment.job_params) == len(reference_jobs)
    for ours, theirs in zip(experiment.job_params, reference_jobs, strict=True):
        assert_close(ours["variables"], {"delta": float(theirs["variables"]["delta"])})
        built = json.loads(experiment.sequence.build(**ours["variables"]).to_abstract_repr())
        expected = json.loads(reference_sequence.build(**theirs["variables"]).to_abstract_repr())
        assert_close(built, expected)


def test_values_change_the_register() -> None:
    three = qpurun.loads(BASE, values={"n": 3, "amp": 1})
    assert list(three.sequence.register.qubit_ids) == ["q0", "q1", "q2"]


def test_an_undefined_name_is_a_located_error() -> None:
    with pytest.raises(QxTemplateError) as caught:
        qpurun.loads(BASE, filename="t.qx", values={"n": 2})
    assert caught.value.line == 5
    assert "'amp' is undefined" in caught.value.message
    assert str(caught.value).startswith("t.qx:5:1: template error")


def test_an_error_after_rendering_points_at_the_template_line() -> None:
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.loads(BASE, filename="t.qx", values={"n": 2, "amp": "1 us"})
    assert caught.value.line == 5  # the template's line, not the rendered one
    assert "rendered from template line 5" in str(caught.value)


def test_a_loop_maps_every_copy_to_the_loop_body() -> None:
    text = (
        "device MockDevice\nregister {\n{% for i in range(3) %}\n  q{{ i }} = ({{ i }}, 0) rad\n{% endfor %}\n}\n"
        "sequence { measure ground-rydberg }\nruns 1\n"
    )
    with pytest.raises(qpurun.QxError) as caught:
        qpurun.loads(text, values={})
    assert [e.line for e in caught.value.errors] == [4, 4, 4]


def test_template_syntax_error_is_located() -> None:
    with pytest.raises(QxTemplateError) as caught:
        qpurun.loads("device MockDevice\n{% for i in %}\n", values={})
    assert caught.value.line == 2


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ().__class__.__base__.__subclasses__() }}",
        "{{ range.__init__.__globals__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% include '/etc/passwd' %}",
        "{% import 'os' as os %}{{ os }}",
        "{% extends '/etc/hostname' %}",
        "{{ range(10 ** 9) | list }}",
        "{{ config.items() }}",
        "{{ request.application.__globals__ }}",
    ],
)
def test_known_sandbox_escapes_fail(escape: str) -> None:
    with pytest.raises(QxTemplateError) as caught:
        qpurun.loads(f"device MockDevice\n{escape}\n", values={})
    assert caught.value.line == 2


def test_cli_set_and_params(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "values.toml"
    params.write_text("atoms = 6\nspacing = 7\n")
    assert main(["compile", str(CHAIN), "--emit", "jobs", "--params", str(params), "--set", "atoms=5"]) == 0
    jobs = json.loads(capsys.readouterr().out)
    assert len(jobs) == 11  # --set wins over the file: 2 * 5 + 1 detunings
    assert main(["check", str(CHAIN), "--set", "not an assignment"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_plain_specs_do_not_load_jinja() -> None:
    import subprocess
    import sys

    code = (
        "import sys, qpurun\n"
        f"qpurun.load({str(ROOT / 'specs' / 'rabi.qx')!r})\n"
        "assert 'jinja2' not in sys.modules, 'a plain spec imported jinja2'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_value_the_template_never_reads_is_an_error_with_a_did_you_mean() -> None:
    from qpurun.language.templates import render

    text = CHAIN.read_text()
    with pytest.raises(QxTemplateError, match="the template has no value `atom`") as caught:
        render(text, {"atom": 6})
    assert caught.value.hint == "did you mean `atoms`?"
    assert "nor spacin" in str(render_error(text, {"atom": 6, "spacin": 3}))
    render(text, {"atoms": 6, "spacing": 7})  # the values it reads are fine


def render_error(text: str, values: dict[str, int]) -> Exception:
    from qpurun.language.errors import QxError
    from qpurun.language.templates import render

    with pytest.raises(QxError) as caught:
        render(text, values)
    return caught.value
