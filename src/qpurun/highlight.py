"""Syntax highlighting for `.qx` specs: one Pygments lexer, and the TextMate grammar made from the same lists.

One lexer serves every place a spec is shown: `pygmentize -l qx`, Sphinx and
MkDocs code blocks (both highlight with Pygments, and find `QxLexer` through the
`pygments.lexers` entry point), `qpurun check --color` in the terminal
(`colorize`) and the HTML of a report (`html`). Editors that cannot run Python
(VS Code, TextMate, Sublime Text) read a TextMate grammar instead; it is
written by `textmate_grammar()` from the same lists, so the two cannot disagree:

    python -m qpurun.highlight > editors/vscode/syntaxes/qx.tmLanguage.json
    python -m qpurun.highlight --plist > qx.tmLanguage    # the same, as a property list

The language's words are not typed here. Keywords are read from the grammar
file the parser is built from (`qx.lark`): a quoted word in a rule is a
keyword, a quoted word in a terminal (`PROTOCOL`, `BASIS`, `at_rest`, ...) a
constant. Functions, units, properties and parameter names come from
`qpurun.language.catalog`. Adding a waveform kind, a unit or a statement to
the language highlights it everywhere; tests/test_highlight.py checks the
lists against lark's own terminals and the catalog. (Only `var`, whose type
the lexer colours, is spelled out; Jinja's words are Jinja's.)

Keywords in `.qx` are only keywords where the grammar expects them (a qubit
may be called `target`, a pulse `sweep`), and the lexer follows the grammar
as far as a few regular expressions can: a statement's or an operation's
keyword is one only at the start of a line or after `{`; a word followed by
`=` or `:` is a name being bound; the names after `on`, `target`, `align` and
`slm_mask` are names whatever they are called. Jinja template syntax
(`{{ }}`, `{% %}`, `{# #}`) is highlighted wherever it appears, as Jinja
renders it wherever it appears, comments and strings included.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

from pygments.lexer import RegexLexer, bygroups, default, include  # type: ignore[import-untyped]
from pygments.token import (  # type: ignore[import-untyped]
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from qpurun.language import catalog

__all__ = [
    "BUILTIN_NAMES",
    "CONSTANTS",
    "FUNCTIONS",
    "KEYWORDS",
    "PARAMETERS",
    "PROPERTIES",
    "STATEMENT_KEYWORDS",
    "UNITS",
    "QxLexer",
    "colorize",
    "html",
    "textmate_grammar",
]

# ---- the words, from the grammar and the catalog ----------------------------------------------------------

_DEFINITION = re.compile(r"^[?!]?([A-Za-z_]\w*)(?:\.\d+)?[ \t]*:(.*(?:\n[ \t]+.*)*)", re.MULTILINE)
_ITEM = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/(?:[^/\\\n]|\\.)+/[imslux]*|->[ \t]*\w+|[?!]?\w+|[|()\[\]]|\S')
_WORD = re.compile(r'"([A-Za-z_][\w-]*)"')
_LIST_OF_NAMES = "_names"
"""The grammar's rule for `a, b, c`: the words before it are followed by names."""


@dataclass(frozen=True)
class _Grammar:
    """What a lexer needs to know of `qx.lark`, read from its text (no parser is built)."""

    starts: frozenset[str]
    """Words that begin a statement, an operation, an EOM operation or a sweep line."""
    inner: frozenset[str]
    """Words anywhere else in a statement (`on`, `step`, `trap`, ...)."""
    constants: frozenset[str]
    """Words of a terminal: protocols, bases and flags (`min-delay`, `digital`, `at_rest`)."""
    before_names: frozenset[str]
    """Words followed by a list of names (`on a, b`)."""
    after_before_names: frozenset[str]
    """Words that may come right after one of those instead (`on index 1`)."""
    terminals: dict[str, str]
    """Regular-expression terminals by name (`NAME`, `NUMBER`)."""


def _alternatives(body: str) -> list[list[str]]:
    """A definition's top-level alternatives, each a list of items (literals keep their quotes)."""
    items = [item for item in _ITEM.findall(body) if not item.startswith(("//", "->"))]
    alternatives: list[list[str]] = [[]]
    depth = 0
    for item in items:
        if item == "|" and depth == 0:
            alternatives.append([])
            continue
        depth += (item in ("(", "[")) - (item in (")", "]"))
        alternatives[-1].append(item)
    return alternatives


def _is_terminal(name: str) -> bool:
    return name.lstrip("_").isupper()


def _read_grammar(text: str) -> _Grammar:
    definitions = {match.group(1): _alternatives(match.group(2)) for match in _DEFINITION.finditer(text)}
    rules = {name: alts for name, alts in definitions.items() if not _is_terminal(name)}
    # A choice rule (`_statement: experiment | device | ...`) lists the rules a line may be; their
    # first words start a line.
    choices = [alts for alts in rules.values() if all(len(a) == 1 and a[0] in rules for a in alts)]
    line_rules = {alt[0] for alts in choices for alt in alts}
    starts: set[str] = set()
    inner: set[str] = set()
    before_names: set[str] = set()
    followers: list[tuple[str, str]] = []
    for name, alts in rules.items():
        for alt in alts:
            for position, item in enumerate(alt):
                word = _WORD.fullmatch(item)
                if word is None:
                    continue
                (starts if position == 0 and name in line_rules else inner).add(word.group(1))
                after = alt[position + 1] if position + 1 < len(alt) else ""
                if after == _LIST_OF_NAMES:
                    before_names.add(word.group(1))
                followers.append((word.group(1), after))
    constants = {
        word for name, alts in definitions.items() if _is_terminal(name) for alt in alts for word in _words(alt)
    }
    terminals = {
        name: alts[0][0][1 : alts[0][0].rindex("/")]
        for name, alts in definitions.items()
        if _is_terminal(name) and len(alts) == 1 and len(alts[0]) == 1 and alts[0][0].startswith("/")
    }
    after_names = {m.group(1) for word, after in followers if word in before_names and (m := _WORD.fullmatch(after))}
    return _Grammar(
        frozenset(starts),
        frozenset(inner),
        frozenset(constants),
        frozenset(before_names),
        frozenset(after_names),
        terminals,
    )


def _words(items: Iterable[str]) -> Iterator[str]:
    for item in items:
        word = _WORD.fullmatch(item)
        if word is not None:
            yield word.group(1)


def _grammar_text() -> str:
    return (resources.files("qpurun.language") / "grammar" / "qx.lark").read_text(encoding="utf-8")


_GRAMMAR = _read_grammar(_grammar_text())

STATEMENT_KEYWORDS = _GRAMMAR.starts
"""`experiment`, `add`, `delay`, `zip`, ...: keywords at the start of a line (or after `{`)."""
KEYWORDS = _GRAMMAR.inner
"""`on`, `step`, `trap`, `basis`, ...: keywords inside a statement. `target` is in both sets."""
CONSTANTS = _GRAMMAR.constants
"""`min-delay`, `ground-rydberg`, `at_rest`, `auto_layout`, ...: the grammar's fixed values and flags."""
FUNCTIONS = frozenset(catalog.signatures()) | frozenset(catalog.LATTICES) | frozenset(catalog.SHAPES)
"""Everything a spec may call: waveforms, `pulse`, `linspace`, math, layouts and register shapes."""
BUILTIN_NAMES = frozenset(catalog.BUILTINS)
"""`pi` and `device`."""
PROPERTIES = frozenset(catalog.DEVICE_PROPERTIES) | frozenset(catalog.CHANNEL_PROPERTIES)
"""`device.max_runs`, `ryd.max_amp`, ...: what may follow a dot."""
UNITS = frozenset(catalog.SPELLINGS)
"""Every spelling of every unit (`us` and `µs`)."""
_SIGNATURES = [
    *catalog.signatures().values(),
    catalog.EOM,
    catalog.SETPOINT,
    *(lattice.signature for lattice in catalog.LATTICES.values()),
    *(shape.signature for shape in catalog.SHAPES.values()),
]
PARAMETERS = (
    frozenset(param.name for signature in _SIGNATURES for param in signature.params)
    | frozenset(alias for aliases in catalog.ALIASES.values() for alias in aliases)
    | frozenset(catalog.NOISE_PARAMETERS)
)
"""Names given with `=` in a call or the `noise { }` block: `amplitude`, `area`, `spacing`, `p_false_pos`, ..."""

_NAME = _GRAMMAR.terminals["NAME"]
_NUMBER = _GRAMMAR.terminals["NUMBER"]
_UNIT = catalog.unit_pattern()


def _uncaptured(pattern: str) -> str:
    """The pattern with its groups made non-capturing, so that it may sit inside numbered captures."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


_VAR = "var"
"""`var t: int`: the one statement whose shape the lexer spells out, to colour the type."""


def _either(words: Iterable[str]) -> str:
    """`(?:longest|long|...)`: a regular expression for any of the words."""
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w))) + ")"


_END = r"(?!\w)"
_NOT_BOUND = r"(?!\s*(?:[=:]|\.(?!\.)))"
"""Not followed by `=`, `:` or a property's dot: a keyword's spelling used as a name."""
_LINE_START = r"(?:^|(?<=\{))"
_CONSTANT = r"(?<![\w-])" + _either(CONSTANTS) + r"(?![\w-])"

# ---- the Pygments lexer -----------------------------------------------------------------------------------

# Jinja's own words (its `end...` tags apart): Jinja's vocabulary, not the language's.
# fmt: off
_JINJA_KEYWORDS = (
    "and", "as", "block", "call", "context", "elif", "else", "extends", "filter", "for", "from", "if", "ignore",
    "import", "in", "include", "is", "macro", "missing", "not", "or", "recursive", "required", "scoped", "set",
    "with", "without", "true", "false", "none", "True", "False", "None",
)
# fmt: on


def _number(lexer: Any, match: re.Match[str]) -> Iterator[tuple[int, Any, str]]:
    text = match.group()
    yield match.start(), Number.Integer if text.isdigit() else Number.Float, text


def _template(*, value: bool) -> list[Any]:
    """Jinja's three delimiters; in code (`value`) a unit may follow a `{{ }}`."""
    expression = ("unit", "jinja-expression") if value else "jinja-expression"
    return [
        (r"\{#", Comment.Preproc, "jinja-comment"),
        (r"\{%[-+]?", Comment.Preproc, "jinja-statement"),
        (r"\{\{[-+]?", Comment.Preproc, expression),
    ]


class QxLexer(RegexLexer):  # type: ignore[misc]
    """Pygments lexer for qpurun's `.qx` experiment specs, Jinja templates included."""

    name = "qx"
    aliases: ClassVar[list[str]] = ["qx"]
    filenames: ClassVar[list[str]] = ["*.qx"]
    mimetypes: ClassVar[list[str]] = ["text/x-qx"]

    tokens: ClassVar[dict[str, list[Any]]] = {
        "root": [
            include("template-value"),
            (r"\n", Whitespace),
            (
                rf"^([ \t]*)({_VAR})([ \t]+)({_NAME})([ \t]*)(:)([ \t]*)({_NAME})",
                bygroups(
                    Whitespace, Keyword, Whitespace, Name.Variable, Whitespace, Punctuation, Whitespace, Keyword.Type
                ),
            ),
            (
                rf"{_LINE_START}([ \t]*)({_either(STATEMENT_KEYWORDS & _GRAMMAR.before_names)}){_END}{_NOT_BOUND}",
                bygroups(Whitespace, Keyword),
                "names",
            ),
            (
                rf"{_LINE_START}([ \t]*)({_either(STATEMENT_KEYWORDS)}){_END}{_NOT_BOUND}",
                bygroups(Whitespace, Keyword),
            ),
            (r"[ \t\f\r]+", Whitespace),
            (r"#", Comment.Single, "comment"),
            (r'"', String.Double, "string"),
            (_NUMBER, _number, "unit"),
            (rf"{_either(FUNCTIONS)}(?=\s*\()", Name.Builtin),
            (rf"{_either(BUILTIN_NAMES)}(?=\s*\.(?!\.))", Name.Builtin.Pseudo),
            (rf"{_either(PARAMETERS)}(?=\s*=)", Name.Attribute),
            (rf"{_NAME}(?=\s*=)", Name.Variable),
            (rf"{_NAME}(?=\s*:)", Name),
            (_CONSTANT, Keyword.Constant),
            (rf"{_either(KEYWORDS & _GRAMMAR.before_names)}{_END}{_NOT_BOUND}", Keyword, "names"),
            (rf"{_either(KEYWORDS)}{_END}{_NOT_BOUND}", Keyword),
            (rf"{_either(BUILTIN_NAMES)}{_END}", Name.Builtin.Pseudo, "unit"),
            (r"\.\.", Operator),
            (rf"(\.)([ \t]*)({_either(PROPERTIES)}){_END}", bygroups(Punctuation, Whitespace, Name.Property), "unit"),
            (_NAME, Name, "unit"),
            (r"\*\*|[-+*/%=]", Operator),
            (r"[)\]}]", Punctuation, "unit"),
            (r"[(\[{,:.]", Punctuation),
        ],
        # After a value: the unit it may carry (`2 MHz`, `(4 * n) ns`, `[1, 2] rad/us`, `pi rad`).
        "unit": [
            (rf"([ \t]*)({_UNIT})", bygroups(Whitespace, Keyword.Type), "#pop"),
            default("#pop"),
        ],
        # `on a, b`, `target q0 on ryd`, `align ryd, raman`: names, whatever they are called.
        "names": [
            include("template"),
            (r"[ \t]+", Whitespace),
            (rf"{_either(_GRAMMAR.after_before_names)}{_END}", Keyword, "#pop"),
            (_NAME, Name, ("#pop", "names-more")),
            default("#pop"),
        ],
        "names-more": [
            (r"([ \t]*)(,)", bygroups(Whitespace, Punctuation), ("#pop", "names")),
            default("#pop"),
        ],
        "comment": [
            include("template"),
            (r"[^\n{]+", Comment.Single),
            (r"\{", Comment.Single),
            default("#pop"),
        ],
        # A string ends at its quote, or unclosed at the end of its line (the checker says so).
        "string": [
            include("template"),
            (r'[^"\\\n{]+', String.Double),
            (r"\\.", String.Escape),
            (r'"', String.Double, "#pop"),
            (r"[\\{]", String.Double),
            default("#pop"),
        ],
        "template": _template(value=False),
        "template-value": _template(value=True),
        "jinja-comment": [
            (r"[-+]?#\}", Comment.Preproc, "#pop"),
            (r"[^#+-]+|[#+-]", Comment.Multiline),
        ],
        "jinja-statement": [
            (r"[-+]?%\}", Comment.Preproc, "#pop"),
            include("jinja"),
        ],
        "jinja-expression": [
            (r"[-+]?\}\}", Comment.Preproc, "#pop"),
            include("jinja"),
        ],
        "jinja": [
            (r"\s+", Whitespace),
            (r'"(?:[^"\\]|\\.)*"', String.Double),
            (r"'(?:[^'\\]|\\.)*'", String.Single),
            (r"\d+\.\d+(?:[eE][+-]?\d+)?", Number.Float),
            (r"\d+", Number.Integer),
            (r"(\|)(\s*)([A-Za-z_]\w*)", bygroups(Operator, Whitespace, Name.Function)),
            (rf"(?:end\w+|{_either(_JINJA_KEYWORDS)}){_END}", Keyword),
            (r"[A-Za-z_]\w*(?=\s*\()", Name.Function),
            (r"[A-Za-z_]\w*", Name.Variable),
            (r"\*\*|//|[=!<>]=|[-+*/%~<>=]", Operator),
            (r"[()\[\]{},.:]", Punctuation),
        ],
    }


def _lexer() -> Any:
    # Keep the text as it is: no stripped leading or trailing newline, none added.
    return QxLexer(stripnl=False, ensurenl=False)


def _render(text: str, formatter: str, **options: Any) -> str:
    # Imported here, not above: Pygments imports this module whenever it lists its lexers.
    from pygments import highlight  # type: ignore[import-untyped]
    from pygments.formatters import get_formatter_by_name  # type: ignore[import-untyped]

    result: str = highlight(text, _lexer(), get_formatter_by_name(formatter, **options))
    return result


def colorize(text: str, *, dark: bool = True) -> str:
    """The spec with ANSI colours, for a terminal (`qpurun check --color`); `dark` for a dark background.

    Stripped of its escape sequences, the result is the text itself (with `\\r\\n` read as `\\n`).
    """
    return _render(text, "terminal", bg="dark" if dark else "light")


def html(text: str) -> str:
    """The spec as an HTML fragment (`<div class="highlight qx"><pre>...`), styled inline: no stylesheet needed."""
    return _render(text, "html", noclasses=True, cssclass="highlight qx")


# ---- the TextMate grammar -----------------------------------------------------------------------------------------


def _names_after(keyword_scope: str, words: Iterable[str], *, at_line_start: bool) -> dict[str, Any]:
    """A keyword followed by a list of names, or by a word that may come instead (`on index`)."""
    names = rf"{_NAME}(?:\s*,\s*{_NAME})*"
    start = rf"{_LINE_START}\s*" if at_line_start else r"\b"
    return {
        "match": rf"{start}({_either(words)}){_END}{_NOT_BOUND}"
        rf"(?:\s*(?:({_either(_GRAMMAR.after_before_names)}){_END}|({names})))?",
        "captures": {
            "1": {"name": keyword_scope},
            "2": {"name": keyword_scope},
            "3": {"patterns": [{"match": ",", "name": "punctuation.separator.comma.qx"}]},
        },
    }


def textmate_grammar() -> dict[str, Any]:
    """The TextMate grammar (VS Code, TextMate, Sublime Text), with the lexer's token classes and lists."""
    keyword = "keyword.other.qx"
    delimiter = {"0": {"name": "punctuation.section.embedded.qx"}}

    def tag(kind: str, begin: str, end: str) -> dict[str, Any]:
        return {
            "name": f"meta.embedded.{kind}.jinja.qx",
            "begin": begin,
            "end": end,
            "beginCaptures": delimiter,
            "endCaptures": delimiter,
            "patterns": [{"include": "#jinja"}],
        }

    repository: dict[str, Any] = {
        "template": {
            "patterns": [
                {
                    "name": "comment.block.jinja.qx",
                    "begin": r"\{#",
                    "end": r"[-+]?#\}",
                    "beginCaptures": delimiter,
                    "endCaptures": delimiter,
                },
                tag("statement", r"\{%[-+]?", r"[-+]?%\}"),
                tag("expression", r"\{\{[-+]?", r"[-+]?\}\}"),
            ]
        },
        "jinja": {
            "patterns": [
                {"name": "string.quoted.double.jinja.qx", "match": r'"(?:[^"\\]|\\.)*"'},
                {"name": "string.quoted.single.jinja.qx", "match": r"'(?:[^'\\]|\\.)*'"},
                {"name": "constant.numeric.jinja.qx", "match": r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"},
                {
                    "match": r"(\|)\s*([A-Za-z_]\w*)",
                    "captures": {
                        "1": {"name": "keyword.operator.filter.jinja.qx"},
                        "2": {"name": "support.function.filter.jinja.qx"},
                    },
                },
                {"name": "keyword.control.jinja.qx", "match": rf"\b(?:end\w+|{_either(_JINJA_KEYWORDS)}){_END}"},
                {"name": "support.function.jinja.qx", "match": r"[A-Za-z_]\w*(?=\s*\()"},
                {"name": "variable.other.jinja.qx", "match": r"[A-Za-z_]\w*"},
                {"name": "keyword.operator.jinja.qx", "match": r"\*\*|//|[=!<>]=|[-+*/%~<>=]"},
            ]
        },
        "comment": {
            "name": "comment.line.number-sign.qx",
            "begin": "#",
            "end": "$",
            "beginCaptures": {"0": {"name": "punctuation.definition.comment.qx"}},
            "patterns": [{"include": "#template"}],
        },
        "string": {
            "name": "string.quoted.double.qx",
            "begin": '"',
            "end": '"|$',
            "patterns": [{"include": "#template"}, {"name": "constant.character.escape.qx", "match": r"\\."}],
        },
        "variable-declaration": {
            "match": rf"^\s*({_VAR})\s+({_NAME})\s*(:)\s*({_NAME})",
            "captures": {
                "1": {"name": keyword},
                "2": {"name": "variable.other.qx"},
                "3": {"name": "punctuation.separator.colon.qx"},
                "4": {"name": "storage.type.qx"},
            },
        },
        "statement-names": _names_after(keyword, STATEMENT_KEYWORDS & _GRAMMAR.before_names, at_line_start=True),
        "statement": {
            "match": rf"{_LINE_START}\s*({_either(STATEMENT_KEYWORDS)}){_END}{_NOT_BOUND}",
            "captures": {"1": {"name": keyword}},
        },
        "number": {
            "match": rf"({_uncaptured(_NUMBER)})(?:\s*({_uncaptured(_UNIT)}))?",
            "captures": {"1": {"name": "constant.numeric.qx"}, "2": {"name": "keyword.other.unit.qx"}},
        },
        "function": {"name": "support.function.builtin.qx", "match": rf"\b{_either(FUNCTIONS)}(?=\s*\()"},
        "builtin-before-property": {
            "name": "variable.language.qx",
            "match": rf"\b{_either(BUILTIN_NAMES)}(?=\s*\.(?!\.))",
        },
        "parameter": {"name": "variable.parameter.qx", "match": rf"\b{_either(PARAMETERS)}(?=\s*=)"},
        "binding": {"name": "variable.other.qx", "match": rf"{_NAME}(?=\s*=)"},
        "label": {"match": rf"{_NAME}(?=\s*:)"},
        "constant": {"name": "constant.language.qx", "match": _CONSTANT},
        "keyword-names": _names_after(keyword, KEYWORDS & _GRAMMAR.before_names, at_line_start=False),
        "keyword": {"name": keyword, "match": rf"\b{_either(KEYWORDS)}{_END}{_NOT_BOUND}"},
        "builtin": {"name": "variable.language.qx", "match": rf"\b{_either(BUILTIN_NAMES)}{_END}"},
        "property": {
            "match": rf"(\.)\s*({_either(PROPERTIES)}){_END}",
            "captures": {"1": {"name": "punctuation.accessor.qx"}, "2": {"name": "variable.other.property.qx"}},
        },
        "unit": {
            "match": rf"(?<=[\w)\]}}])\s*({_uncaptured(_UNIT)})",
            "captures": {"1": {"name": "keyword.other.unit.qx"}},
        },
        "name": {"match": _NAME},
        "operator": {
            "patterns": [
                {"name": "keyword.operator.range.qx", "match": r"\.\."},
                {"name": "keyword.operator.arithmetic.qx", "match": r"\*\*|[-+*/%]"},
                {"name": "keyword.operator.assignment.qx", "match": "="},
            ]
        },
        "punctuation": {
            "patterns": [
                {"name": "punctuation.separator.comma.qx", "match": ","},
                {"name": "punctuation.separator.colon.qx", "match": ":"},
                {"name": "punctuation.accessor.qx", "match": r"\."},
            ]
        },
    }
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "qx",
        "scopeName": "source.qx",
        "fileTypes": ["qx"],
        "comment": "Written by `python -m qpurun.highlight` from qpurun's grammar and catalog: do not edit by hand.",
        "patterns": [{"include": f"#{name}"} for name in repository if name != "jinja"],
        "repository": repository,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the TextMate grammar: JSON (VS Code), or with `--plist` a property list (`.tmLanguage`: Sublime Text)."""
    import json
    import plistlib
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--plist"]):
        raise SystemExit("usage: python -m qpurun.highlight [--plist] > FILE")
    grammar = textmate_grammar()
    if args:
        sys.stdout.write(plistlib.dumps(grammar, sort_keys=False).decode("utf-8"))
    else:
        sys.stdout.write(json.dumps(grammar, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
