"""Highlighting: the Pygments lexer, the TextMate grammar made from the same lists, the editor files, pre-commit.

The lexer must never lose or invent a character (a highlighted spec is the spec),
must colour every construct of the language as the grammar means it, and must
take its words from the grammar and the catalog: a word added to the language
and missing here fails a test, not a reader's eye.
"""

from __future__ import annotations

import html as html_module
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pygments.token import Comment, Error, Keyword, Name, Number, Punctuation, String, Whitespace

from conftest import ROOT
from qpurun import highlight
from qpurun.highlight import QxLexer, colorize, html
from qpurun.language import catalog, parser

VSCODE = ROOT / "editors" / "vscode"
TEXTMATE = VSCODE / "syntaxes" / "qx.tmLanguage.json"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
FENCE = re.compile(r"^```(qx[^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def lex(text: str) -> list[tuple[Any, str]]:
    return list(QxLexer(stripnl=False, ensurenl=False).get_tokens(text))


def significant(text: str) -> list[tuple[Any, str]]:
    """The tokens but the whitespace."""
    return [(kind, value) for kind, value in lex(text) if kind not in Whitespace]


def kind_of(text: str, word: str, occurrence: int = 0) -> Any:
    """The token type of the `occurrence`-th token spelled `word`."""
    found = [kind for kind, value in significant(text) if value == word]
    assert len(found) > occurrence, f"no token {word!r} in {significant(text)}"
    return found[occurrence]


def assert_lexes_cleanly(text: str, where: str) -> None:
    tokens = lex(text)
    assert "".join(value for _, value in tokens) == text, f"{where}: the tokens are not the text"
    errors = [value for kind, value in tokens if kind in Error]
    assert not errors, f"{where}: lexed as errors: {errors}"


# ---- every spec and every example ------------------------------------------------------------------------------


def test_every_spec_lexes_without_errors_and_round_trips(spec_path: Path) -> None:
    assert_lexes_cleanly(spec_path.read_text(encoding="utf-8"), spec_path.name)


def test_every_example_in_the_docs_lexes_without_errors() -> None:
    examples = [
        (path, match) for path in sorted((ROOT / "docs").glob("*.md")) for match in FENCE.finditer(path.read_text())
    ]
    assert len(examples) >= 10
    for path, match in examples:
        assert_lexes_cleanly(match.group(2), f"{path.name}:{path.read_text().count(chr(10), 0, match.start()) + 1}")


def test_the_text_is_kept_exactly_even_its_blank_edges() -> None:
    for text in ("\n\nruns 1", "runs 1", "runs 1\n\n\n", "  \n# c\n"):
        assert "".join(value for _, value in lex(text)) == text


# ---- token classes --------------------------------------------------------------------------------------------


def test_a_number_and_its_unit() -> None:
    assert significant("let f = 2 MHz")[-2:] == [(Number.Integer, "2"), (Keyword.Type, "MHz")]
    assert significant("let t = 2.5us")[-2:] == [(Number.Float, "2.5"), (Keyword.Type, "us")]
    assert kind_of("let t = 1e-3 ms", "1e-3") in Number


@pytest.mark.parametrize("spelling", sorted(catalog.SPELLINGS))
def test_every_unit_of_the_catalog_is_a_unit(spelling: str) -> None:
    assert kind_of(f"let x = 3 {spelling}", spelling) is Keyword.Type
    assert kind_of(f"let x = [1, 2] {spelling}", spelling) is Keyword.Type


def test_a_unit_after_any_value() -> None:
    text = "let y = (4 * n) ns + [1, 2] rad/µs + pi rad + {{ t }} um + ryd.max_duration ns"
    assert [value for kind, value in significant(text) if kind is Keyword.Type] == ["ns", "rad/µs", "rad", "um", "ns"]


def test_a_unit_name_is_not_a_unit_where_no_value_precedes_it() -> None:
    assert kind_of("let us = 3", "us") is Name.Variable


def test_statement_and_operation_keywords() -> None:
    text = "sequence {\n  add p on ryd min-delay\n  delay 5 us on ryd at_rest\n}\n"
    assert kind_of(text, "sequence") is Keyword
    assert kind_of(text, "add") is Keyword
    assert kind_of(text, "delay") is Keyword
    assert kind_of(text, "on") is Keyword
    assert kind_of(text, "min-delay") is Keyword.Constant
    assert kind_of(text, "at_rest") is Keyword.Constant
    assert kind_of("sweep {\n  zip {\n    a = 1 .. 3 step 1\n  }\n}\n", "step") is Keyword
    assert kind_of("sweep {\n  zip {\n  }\n}\n", "zip") is Keyword
    assert kind_of("register { q0 = trap 0 }", "trap") is Keyword
    assert kind_of("sequence { phase_shift 1 on q0 basis digital }", "basis") is Keyword
    assert kind_of("measure ground-rydberg", "ground-rydberg") is Keyword.Constant


@pytest.mark.parametrize("word", sorted(parser._KEYWORDS | parser._OPERATIONS))
def test_every_word_that_starts_a_statement_is_a_keyword_there(word: str) -> None:
    assert word in highlight.STATEMENT_KEYWORDS
    assert kind_of(f"{word} x", word) in Keyword
    assert kind_of(f"sequence {{\n  {word} x\n}}", word) in Keyword


@pytest.mark.parametrize("word", sorted(highlight.KEYWORDS))
def test_every_inner_keyword_is_a_keyword_inside_a_statement(word: str) -> None:
    assert kind_of(f"add p {word} x", word) is Keyword


@pytest.mark.parametrize("word", sorted(highlight.CONSTANTS))
def test_every_constant_is_a_constant(word: str) -> None:
    assert kind_of(f"add p on ryd {word}", word) is Keyword.Constant


def test_a_keyword_spelling_used_as_a_name_is_a_name() -> None:
    # Keywords are keywords only where the grammar expects them (docs/language.md, Lexical rules).
    assert kind_of("sequence {\n  add sweep on ryd\n}", "sweep") is Name
    assert kind_of("register {\n  target = trap 3\n}", "target") is Name.Variable
    text = "sequence {\n  target target on raman\n  phase_shift 1 on control, target basis digital\n}"
    assert [kind_of(text, "target", i) for i in range(3)] == [Keyword, Name, Name]
    assert kind_of("detuning_map m on dmm_0 { control: 1.0, target: 0.5 }", "target") is Name
    assert kind_of("noise { runs = 100 }", "runs") is Name.Attribute
    assert kind_of("runs 100", "runs") is Keyword
    assert kind_of("sequence {\n  target index 1 on ryd\n}", "index") is Keyword


@pytest.mark.parametrize("function", sorted(highlight.FUNCTIONS))
def test_every_function_of_the_catalog_is_a_builtin(function: str) -> None:
    assert kind_of(f"let x = {function}(1, 2)", function) is Name.Builtin


def test_builtins_properties_parameters_and_names() -> None:
    text = "pulse p = pulse(amplitude = blackman(1 us, area = pi), detuning = device.max_runs / ryd.max_amp)"
    assert kind_of(text, "pulse", 0) is Keyword
    assert kind_of(text, "p") is Name.Variable
    assert kind_of(text, "pulse", 1) is Name.Builtin
    assert kind_of(text, "blackman") is Name.Builtin
    assert kind_of(text, "amplitude") is Name.Attribute
    assert kind_of(text, "pi") is Name.Builtin.Pseudo
    assert kind_of(text, "device") is Name.Builtin.Pseudo
    assert kind_of(text, "max_runs") is Name.Property
    assert kind_of(text, "ryd") is Name
    var = significant("var phases: float[3]")
    assert var[:4] == [(Keyword, "var"), (Name.Variable, "phases"), (Punctuation, ":"), (Keyword.Type, "float")]


def test_comments_and_strings() -> None:
    assert all(kind in Comment for kind, _ in significant("# c"))
    assert "".join(value for _, value in significant("# c")) == "# c"
    assert all(kind in String for kind, _ in significant('experiment "a # b"')[1:])
    assert all(kind in String for kind, _ in significant('experiment "not closed')[1:])


def test_jinja_templates() -> None:
    tokens = significant("layout rectangular(2, {{ atoms }}, 10 um)")
    assert (Comment.Preproc, "{{") in tokens
    assert (Name.Variable, "atoms") in tokens
    assert (Comment.Preproc, "}}") in tokens
    statement = significant("{% for i in range(atoms) %}")
    assert statement[0] == (Comment.Preproc, "{%") and statement[-1] == (Comment.Preproc, "%}")
    assert (Keyword, "for") in statement
    assert significant("{# a\n note #}")[0] == (Comment.Preproc, "{#")
    assert kind_of("q{{ i }} = trap {{ i }}", "trap") is Keyword
    # Jinja renders inside strings and comments too.
    assert (Comment.Preproc, "{{") in significant('experiment "chain-{{ atoms }}"')
    assert (Comment.Preproc, "{{") in significant("# {{ atoms }} atoms")


def test_a_stray_character_is_an_error_token() -> None:
    assert kind_of("let x = 1 @ 2", "@") in Error


# ---- colorize and html ------------------------------------------------------------------------------------------


def test_colorize_colours_and_keeps_the_text(spec_path: Path) -> None:
    text = spec_path.read_text(encoding="utf-8")
    coloured = colorize(text)
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == text
    assert ANSI.sub("", colorize(text, dark=False)) == text


def test_colorize_keeps_blank_edges() -> None:
    assert ANSI.sub("", colorize("\nruns 1")) == "\nruns 1"


def test_html_is_a_fragment_of_the_text() -> None:
    text = (ROOT / "specs" / "rabi.qx").read_text(encoding="utf-8")
    fragment = html(text)
    assert fragment.startswith("<div") and "<span style=" in fragment
    assert "<html" not in fragment
    assert html_module.unescape(re.sub(r"<[^>]+>", "", fragment)).strip("\n") == text.strip("\n")


# ---- the TextMate grammar and the VS Code extension ---------------------------------------------------------------


def _grammar_words() -> set[str]:
    """Every word the parser's own lexer knows, from lark's terminals."""
    words: set[str] = set()
    for terminal in parser._lark().terminals:
        pattern = terminal.pattern
        if pattern.type == "str" and re.fullmatch(r"[A-Za-z_][\w-]*", pattern.value):
            words.add(pattern.value)
        elif pattern.type == "re":
            choice = re.fullmatch(r"\(\?:((?:\\.|\w)+(?:\|(?:\\.|\w)+)*)\)", pattern.value)
            if choice:
                words |= {re.sub(r"\\(.)", r"\1", word) for word in choice.group(1).split("|")}
    return words


def test_the_lexer_knows_every_word_of_the_grammar() -> None:
    assert highlight._VAR in highlight.STATEMENT_KEYWORDS  # the one word the lexer spells out
    assert _grammar_words() == highlight.STATEMENT_KEYWORDS | highlight.KEYWORDS | highlight.CONSTANTS


def _textmate() -> dict[str, Any]:
    grammar: dict[str, Any] = json.loads(TEXTMATE.read_text(encoding="utf-8"))
    return grammar


def _listed(entry: str) -> set[str]:
    """The words of the one alternation `(?:a|b|c)` in a TextMate repository entry's `match`."""
    regex = _textmate()["repository"][entry]["match"]
    groups = re.findall(r"\(\?:((?:\\.|[\wµ])+(?:\|(?:\\.|[\wµ])+)*)\)", regex)
    assert len(groups) == 1, f"{entry}: expected one list of words in {regex}"
    return {re.sub(r"\\(.)", r"\1", word) for word in groups[0].split("|")}


def test_the_textmate_grammar_is_up_to_date() -> None:
    assert _textmate() == highlight.textmate_grammar(), (
        "regenerate it: python -m qpurun.highlight > editors/vscode/syntaxes/qx.tmLanguage.json"
    )


def test_the_grammar_is_printed_as_json_or_as_a_property_list(capsys: pytest.CaptureFixture[str]) -> None:
    import plistlib

    highlight.main([])
    assert json.loads(capsys.readouterr().out) == _textmate()
    highlight.main(["--plist"])
    assert plistlib.loads(capsys.readouterr().out.encode("utf-8")) == _textmate()
    with pytest.raises(SystemExit):
        highlight.main(["--yaml"])


def test_the_textmate_lists_are_the_catalogs_and_the_grammars() -> None:
    grammar = _textmate()
    assert grammar["scopeName"] == "source.qx"
    assert _listed("unit") == set(catalog.SPELLINGS)
    assert _listed("function") == set(catalog.signatures()) | set(catalog.LATTICES) | set(catalog.SHAPES)
    assert _listed("property") == set(catalog.DEVICE_PROPERTIES) | set(catalog.CHANNEL_PROPERTIES)
    assert _listed("builtin") == set(catalog.BUILTINS)
    assert _listed("parameter") >= set(catalog.NOISE_PARAMETERS) | {p.name for p in catalog.PULSE.params}
    assert _listed("statement") >= parser._KEYWORDS | parser._OPERATIONS
    assert _listed("statement") | _listed("keyword") | _listed("constant") == _grammar_words()


def test_the_vscode_extension_declares_the_language_and_its_one_grammar() -> None:
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    contributes = package["contributes"]
    assert contributes["languages"][0]["id"] == "qx"
    assert contributes["languages"][0]["extensions"] == [".qx"]
    [grammar] = contributes["grammars"]
    assert (grammar["language"], grammar["scopeName"]) == ("qx", _textmate()["scopeName"])
    assert (VSCODE / grammar["path"]).resolve() == TEXTMATE.resolve()
    assert (VSCODE / contributes["languages"][0]["configuration"]).exists()
    assert (VSCODE / package["main"]).exists()
    assert package["activationEvents"] == ["onLanguage:qx"]
    assert contributes["configuration"]["properties"]["qpurun.path"]["default"] == "qpurun"
    assert "vscode-languageclient" in package["dependencies"]
    configuration = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert configuration["comments"]["lineComment"] == "#"
    assert sorted(TEXTMATE.parent.parent.parent.rglob("*.tmLanguage.json")) == [TEXTMATE]  # one grammar file


# ---- Pygments finds the lexer (needs the entry point in pyproject.toml, installed) --------------------------------


def test_pygments_finds_the_lexer_through_its_entry_point() -> None:
    import pygments.lexers

    entry_points = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pygments.lexers")}
    assert entry_points.get("qx") == "qpurun.highlight:QxLexer", (
        'pyproject.toml needs [project.entry-points."pygments.lexers"] qx = "qpurun.highlight:QxLexer", '
        "and qpurun installed again (pip install -e .)"
    )
    assert isinstance(pygments.lexers.get_lexer_by_name("qx"), QxLexer)
    assert pygments.lexers.find_lexer_class_for_filename("x.qx") is QxLexer


# ---- the pre-commit hooks ---------------------------------------------------------------------------------------


def _hooks() -> list[dict[str, Any]]:
    text = HOOKS.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:  # a list of flat mappings is all the file holds
        hooks: list[dict[str, Any]] = []
        for line in text.splitlines():
            item = re.fullmatch(r"(- |  )(\w+): (.*)", line)
            if item is None:
                continue
            if item.group(1) == "- ":
                hooks.append({})
            value = item.group(3)
            hooks[-1][item.group(2)] = value.strip("[]").split(", ") if value.startswith("[") else value
        return hooks
    loaded: list[dict[str, Any]] = yaml.safe_load(text)
    return loaded


def test_the_pre_commit_hooks_parse() -> None:
    hooks = {hook["id"]: hook for hook in _hooks()}
    assert set(hooks) == {"qpurun-fmt", "qpurun-check"}
    assert hooks["qpurun-fmt"]["entry"] == "qpurun fmt --check"
    assert hooks["qpurun-check"]["entry"] == "qpurun check"
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert re.search(hook["files"], "specs/rabi.qx") and not re.search(hook["files"], "qpurun/cli.py")
        assert hook.get("pass_filenames", True) is True


def test_the_pre_commit_entries_are_real_commands_that_take_several_files() -> None:
    from qpurun.cli import build_parser

    for hook in _hooks():
        program, command, *flags = hook["entry"].split()
        assert program == "qpurun"
        done = subprocess.run(
            [sys.executable, "-m", "qpurun", command, "--help"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        # pre-commit appends the staged files: the flags must exist and several specs be accepted.
        args = build_parser().parse_args([command, *flags, "a.qx", "b.qx"])
        assert [value for value in vars(args).values() if value == ["a.qx", "b.qx"]]


def test_check_color_highlights_the_quoted_lines_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qpurun.cli import main

    spec = tmp_path / "bad.qx"
    spec.write_text(
        "device AnalogDevice\nregister { q0 = (0, 0) um }\nchannel ryd = rydberg_global\n"
        "sequence {\n  delay 100 ns on rdy\n}\nruns 10\n"
    )
    assert main(["check", str(spec)]) == 2
    plain = capsys.readouterr().err
    assert main(["check", "--color", str(spec)]) == 2
    colored = capsys.readouterr().err
    assert "\x1b[" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain
    quoted = next(line for line in colored.splitlines() if " | " in line)
    assert "\x1b[" in quoted and "\x1b[" not in colored.splitlines()[0]  # the location line stays plain
