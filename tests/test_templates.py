"""Template specs: rendered in Jinja's sandbox, errors at the template's own lines."""

from __future__ import annotations

import json
import re
import time
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


# --- resource limits: a template is code, so its render is bounded ------------------------------

# (template line 2, what the message names). Each must end in a located error within the deadline.
BOMBS = {
    "str repetition": ("{{ 'a' * 10**10 }}", "10,000,000,000 characters, over the limit of 10,000,000"),
    "list repetition": ("{{ [1, 2] * 10**9 }}", "over the limit of 10,000,000"),
    "format width": ('{{ "{0:>10000000000}".format(1) }}', "width of 10,000,000,000"),
    "nested format width": ('{{ "{:>{w}}".format(1, w=10**10) }}', "width of 10,000,000,000"),
    "format_map width": ('{{ "{a:>10000000000}".format_map({"a": 1}) }}', "width of 10,000,000,000"),
    "format repeating a field": ('{{ ("{0}" * 1000).format("x" * 100000) }}', "over the limit of 10,000,000"),
    "printf width": ('{{ "%10000000000d" % 1 }}', "width or precision of 10,000,000,000"),
    "printf star width": ('{{ "%*d" % (10**10, 1) }}', "width or precision of 10,000,000,000"),
    "printf precision": ('{{ "%.100000000f" % 1.5 }}', "width or precision of 100,000,000"),
    "printf nested key": ('{{ "%(a(b))10000000000d" % {"a(b)": 1} }}', "of 10,000,000,000"),
    "printf repeating a key": ('{{ ("%(a)s" * 1000) % {"a": "x" * 100000} }}', "over the limit of 10,000,000"),
    "nested loops writing": (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "(over 2 s to render|output is over 10,000,000)",
    ),
    "nested loops writing nothing": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "over 2 s to render",
    ),
    "nested loops over a string": (
        "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        "over 2 s to render",
    ),
    "huge power": ("{{ 10 ** (10 ** 8) }}", "100,000,000 bits, over the limit of 65,536"),
    "big int product": ("{% set x = 2 ** 60000 %}{{ x * x }}", "120,002 bits, over the limit of 65,536"),
    "ljust": ("{{ 'a'.ljust(10**10) }}", "`ljust` width of 10,000,000,000"),
    "rjust": ("{{ 'a'.rjust(10**10) }}", "`rjust` width of 10,000,000,000"),
    "center": ("{{ 'a'.center(10**10) }}", "`center` width of 10,000,000,000"),
    "zfill": ("{{ '1'.zfill(10**10) }}", "`zfill` width of 10,000,000,000"),
    "Markup's center": ("{{ ('a' | safe).center(10**10) }}", "`center` width of 10,000,000,000"),
    "expandtabs": ("{{ '\\t'.expandtabs(10**10) }}", "`expandtabs` would be about 10,000,000,001"),
    "join": ("{{ ('a' * 10**6).join('b' * 10**6) }}", "`join` would be about"),
    "replace": ("{{ ('a' * 10**6).replace('a', 'b' * 10**6) }}", "about 1,000,000,000,000 characters"),
    "range": ("{{ range(10**12) }}", "1,000,000,000,000 items, over the limit of 100,000"),
    "doubling with ~": ("{% set a = 'x' * 10**6 %}" + "{% set a = a ~ a %}" * 4 + "{{ a }}", "`~` would be"),
    "doubling with +": ("{% set a = 'x' * 10**6 %}" + "{% set a = a + a %}" * 4 + "{{ a }}", r"`\+` would be"),
    "nested literals": ("{% set a = ['x' * 10**6] %}" + "{% set a = [a, a, a, a] %}" * 2 + "{{ a }}", "over the limit"),
    "captured loop": (
        "{% set s %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}{% endset %}",
        "captured over 10,000,000 characters",
    ),
    "branching macro": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% else %}xxxxxxxxxx{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        "(captured over 10,000,000|over 2 s to render)",
    ),
    "a block called again": (
        "{% block b %}{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}{% endblock %}{{ self.b() }}",
        "over 10,000,000 characters",
    ),
    "center filter": ("{{ 'a' | center(10**10) }}", "`center` width of 10,000,000,000"),
    "indent filter": ("{{ ('a\\n' * 1000) | indent(10**8) }}", "`indent` width of 100,000,000"),
    "format filter": ("{{ '%10000000000d' | format(1) }}", "width or precision of 10,000,000,000"),
    "batch filter": ("{{ [1] | batch(10**10, 0) | list }}", "`linecount` of 10,000,000,000"),
    "slice filter": ("{{ [1] | slice(10**10) | list }}", "`slices` of 10,000,000,000"),
    "map making big items": ("{{ range(100000) | map('center', 10**6) | list }}", "result of `map` would be"),
    "replace filter chain": ("{{ ('a' * 10**5)" + " | replace('a', 'aaaaaaaaaa')" * 3 + " }}", "`replace` would be"),
    "sort of a long string": ("{{ ('ab' * 5000000) | sort }}", "`sort` was given 10,000,000 characters"),
    "string growing in a chain": (
        "{% set a = 'x' * 10**6 %}{{ a.encode().hex().encode().hex().encode().hex().encode().hex() }}",
        "result would be about",
    ),
}


@pytest.mark.parametrize(("bomb", "expected"), BOMBS.values(), ids=BOMBS.keys())
def test_a_resource_bomb_ends_in_a_located_error(bomb: str, expected: str) -> None:
    from qpurun.language.templates import render

    started = time.monotonic()
    with pytest.raises(QxTemplateError) as caught:
        render(f"device MockDevice\n{bomb}\n", {}, filename="t.qx")
    assert time.monotonic() - started < 5  # the deadline is 2 s; the rest is a loaded machine's slack
    error = caught.value
    assert error.line == 2
    assert re.search(expected, error.message), error.message
    assert str(error).startswith("t.qx:2:1: template error: ")
    assert "^" in str(error) and error.hint


def test_a_limit_points_at_the_line_inside_the_loop() -> None:
    from qpurun.language.templates import render

    text = "device MockDevice\n{% for i in range(3) %}\n  q{{ i }}\n  {{ 'a' * 10**10 }}\n{% endfor %}\n"
    with pytest.raises(QxTemplateError) as caught:
        render(text, {})
    assert caught.value.line == 4
    text = "device MockDevice\n{% for i in range(100000) %}\n{% for j in range(100000) %}\n{% endfor %}\n{% endfor %}\n"
    with pytest.raises(QxTemplateError, match=r"over 2 s|output is over") as caught:
        render(text, {})
    assert caught.value.line == 3  # the inner loop, where the time went


def test_bombs_stay_within_a_memory_limit(tmp_path: Path) -> None:
    """Under a 512 MB address-space limit, each bomb still ends in its error, not a MemoryError."""
    import subprocess
    import sys

    names = ["str repetition", "captured loop", "a block called again", "doubling with ~", "nested literals"]
    names += ["join", "map making big items", "string growing in a chain", "printf repeating a key"]
    script = tmp_path / "bombs.py"
    script.write_text(
        "import resource, sys\n"
        "from qpurun.language.templates import QxTemplateError, render\n"
        "resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))\n"
        f"for bomb in {[BOMBS[name][0] for name in names]!r}:\n"
        "    try:\n"
        "        render('device MockDevice\\n' + bomb + '\\n', {})\n"
        "    except QxTemplateError as error:\n"
        "        print(error.line, error.message)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n2 ") + done.stdout.startswith("2 ") == len(names), done.stdout


def jinja_render(text: str, values: dict[str, int]) -> str:
    """The text as Jinja's own sandbox renders it, without our limits or line markers."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return (
        SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        .from_string(text)
        .render(**values)
    )


@pytest.mark.parametrize("values", [{}, {"atoms": 6}, {"atoms": 3, "spacing": 7}])
def test_the_chain_template_renders_as_jinja_renders_it(values: dict[str, int]) -> None:
    from qpurun.language.templates import render

    text = CHAIN.read_text()
    assert render(text, values).text == jinja_render(text, values)


@pytest.mark.parametrize(
    "expression",
    [
        "'ab' * 3",
        "[1, 2] * 2",
        "3 * 4",
        "2 ** 10",
        "2 ** 0.5",
        "[1] + [2]",
        "'a' ~ 1 ~ [2]",
        "'%05.1f|%s' % (2.25, 'b')",
        "'%(x)s-%(y)d' % {'x': 'a', 'y': 2}",
        "'{:>4}|{:.2f}|{!r}'.format(7, 1.5, 'x')",
        "'{a}'.format_map({'a': 1})",
        "('a' | safe).center(5) ~ '|'",
        "'x'.ljust(3) ~ 'x'.rjust(3) ~ '1'.zfill(3) ~ 'a\\tb'.expandtabs(4)",
        "'-'.join(['a', 'b']) ~ 'aXa'.replace('X', 'YY')",
        "'a,b' | replace(',', ';')",
        "[[1], [2]] | sum(start=[])",
        "[(1,), (2,)] | sum(start=())",
        "range(4) | sum",
        "range(3) | join('-')",
        "range(5) | batch(2, 0) | list",
        "range(5) | slice(2) | list",
        "'ab' | center(6) ~ '|'",
        "'a\\nb' | indent(2, true)",
        "'%d items' | format(3)",
        "{'b': 1, 'a': 2} | dictsort",
        "[3, 1, 2] | sort | map('string') | join",
        "'<a & b>' | e",
        "{'x': 1} | tojson",
        "range(3) | map('center', 3) | list",
        "(range(3) | list)[1:]",
        "{'a': [1, (2, 3)]}",
    ],
)
def test_bounded_operations_compute_what_jinja_computes(expression: str) -> None:
    from qpurun.language.templates import render

    text = "{{ " + expression + " }}\n{% for i in range(3) %}{{ loop.index }}{{ loop.length }}{% endfor %}"
    assert render(text, {}).text == jinja_render(text, {})


@pytest.mark.parametrize(
    "text",
    [
        "{% for i in [] %}x{% else %}none{% endfor %}",
        "{% for i in range(10) if i is odd %}{{ i }}{{ loop.last }}{% endfor %}",
        "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }}{{ loop.revindex }};{% endfor %}",
        "{% for c in 'abc' %}{{ loop.cycle('x', 'y') }}{{ c }}{% endfor %}",
        "{% for x in [[1, [2]], [3]] recursive %}[{% if x is iterable %}{{ loop(x) }}{% else %}{{ x }}"
        "{% endif %}]{% endfor %}",
        "{% macro m(n) %}<{{ caller(n) }}>{% endmacro %}{% call(n) m(2) %}{{ n * 'ab' }}{% endcall %}",
        "{% set s %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ s | length }}",
        "{% filter upper %}a{% for i in range(3) %}b{% endfor %}{% endfilter %}",
        "{% block b %}block{% endblock %}{{ self.b() }}",
    ],
)
def test_loops_and_captures_render_as_jinja_renders_them(text: str) -> None:
    from qpurun.language.templates import render

    assert render(text, {}).text == jinja_render(text, {})


def test_a_big_but_fine_template_still_renders() -> None:
    from qpurun.language.templates import render

    text = "header\n{% for i in range(1000) %}\nline {{ i }} {{ '%5d' % i }} {{ 'x' * 50 }}\n{% endfor %}\nfooter\n"
    rendered = render(text, {})
    assert rendered.text == jinja_render(text, {})
    lines = rendered.text.split("\n")
    assert sum(line.startswith("line ") for line in lines) == 1000 and "line 999   999 " + "x" * 50 in lines
    assert {rendered.line_origins[n] for n, line in enumerate(lines) if line.startswith("line ")} == {3}
    started = time.monotonic()
    quiet = render("{% for i in range(100000) %}{% if i == 99999 %}{{ i }}{% endif %}{% endfor %}", {})
    assert quiet.text == "99999" and time.monotonic() - started < 1.5  # a full range(), well inside the deadline
    big = render("{{ 'x' * 9000000 }}", {})  # just under the output limit
    assert len(big.text) == 9_000_000


def test_the_sandbox_is_immutable() -> None:
    from qpurun.language.templates import render

    with pytest.raises(QxTemplateError, match="sandbox refused") as caught:
        render("device MockDevice\n{% set l = [] %}{{ l.extend([1]) }}\n", {})
    assert caught.value.line == 2
