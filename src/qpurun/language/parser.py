"""Text to syntax tree: lark does the parsing, this module does the talking.

Lark's own messages name terminals (`Expected one of: RBRACE, _NL`); a
physicist needs "expected a unit such as `ns` or `rad/us`" and "the `sweep {`
opened on line 20 was never closed". Everything lark raises is translated here,
where parsing ends, into a located `QxSyntaxError`.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Iterator

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from qpurun.language import ast
from qpurun.language.catalog import all_units, unit_pattern
from qpurun.language.errors import QxError, QxSyntaxError, Source, Span

_OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB"}


class _Newlines:
    """Make newlines regular before the parser sees them (see qx.lark's header)."""

    # The contextual lexer must find these in every parser state: newlines are
    # dropped inside brackets, and a newline is inserted before every `}`.
    always_accept = ("_NL", "RBRACE")

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        previous: Token | None = None
        for token in stream:
            kind = token.type
            if kind == "_NL":
                if depth > 0 or previous is None or previous.type in ("_NL", "LBRACE", "COMMA"):
                    continue
            elif kind in _OPENERS:
                depth += 1
            elif kind in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            elif kind == "RBRACE" and previous is not None and previous.type not in ("_NL", "LBRACE"):
                yield Token.new_borrow_pos("_NL", "\n", token)
            yield token
            previous = token
        if previous is not None and previous.type != "_NL":
            # Empty text marks the newline that ends the file, so that an error
            # on it is reported as the end of the file (an unclosed block).
            yield Token.new_borrow_pos("_NL", "", previous)


def grammar_text() -> str:
    """The grammar, with the catalog's units in the `UNIT` terminal."""
    from pathlib import Path

    text = (Path(__file__).parent / "grammar" / "qx.lark").read_text(encoding="utf-8")
    return text.replace("%UNITS%", unit_pattern())


@functools.cache
def _lark() -> Lark:
    """The parser; its LALR tables come from the user's cache once built.

    Building the tables costs every command ~80 ms of start-up; reading them
    back from lark's cache costs a few. The cache file sits in the user's cache
    directory (never inside the package), is named after a hash of the grammar,
    lark's version and Python's, and is written under a temporary name and then
    renamed, so a concurrent process never reads half of it. Lark itself checks
    the grammar and options it was built from, and rebuilds if they differ.
    """
    import contextlib
    import hashlib
    import os
    import sys
    from pathlib import Path
    from typing import Any

    import lark

    options: dict[str, Any] = {
        "parser": "lalr",
        "lexer": "contextual",
        "postlex": _Newlines(),
        "propagate_positions": True,
        "maybe_placeholders": True,
    }
    grammar = grammar_text()
    try:
        import platformdirs

        folder = Path(platformdirs.user_cache_dir("qpurun", appauthor=False))
        key = grammar.encode() + f"{lark.__version__} {sys.version_info[:2]}".encode()
        cache = folder / f"qx-{hashlib.sha256(key).hexdigest()[:16]}.lark"
        if not cache.exists():
            folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable cache directory: build the tables every time
        return Lark(grammar, **options)
    if cache.exists():
        return Lark(grammar, cache=str(cache), **options)
    partial = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    parser = Lark(grammar, cache=str(partial), **options)
    with contextlib.suppress(OSError):  # lark could not write it: next time, then
        os.replace(partial, cache)
    return parser


def parse_tree(text: str, *, filename: str = "<spec>") -> Tree[Token]:
    """The lark tree of `text`, or a QxSyntaxError that says what is wrong."""
    source = Source(filename, text)
    try:
        return _lark().parse(text)
    except UnexpectedInput as error:
        raise _translate(error, source) from None


def parse(text: str, *, filename: str = "<spec>") -> ast.Spec:
    """Parse `.qx` text into a syntax tree."""
    from qpurun.language.transformer import to_ast

    tree = parse_tree(text, filename=filename)
    try:
        spec = to_ast(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, QxError):
            raise error.orig_exc.located(Source(filename, text)) from None
        raise
    except RecursionError:
        # Only an expression nested hundreds deep (`- - - ... 1`) gets here: point at the
        # line that nests most, rather than let Python's recursion limit show.
        lines = text.splitlines() or [""]
        number = max(range(len(lines)), key=lambda i: sum(lines[i].count(c) for c in "-+([")) + 1
        raise QxSyntaxError(
            "this expression is nested too deeply",
            Span(number, 1, number, len(lines[number - 1]) + 1),
            Source(filename, text),
            hint="write it with fewer levels of nesting (a `let` can hold a part)",
        ) from None
    deepest = _deepest(spec)
    if deepest is not None:
        raise QxSyntaxError(
            f"this is nested more than {MAX_NESTING} levels deep",
            deepest,
            Source(filename, text),
            hint="write it with fewer levels of nesting (a `let` can hold a part)",
        )
    return spec


MAX_NESTING = 100
"""Levels of syntax (brackets, calls, operators) in one statement: the checker, the evaluator and
the printer walk expressions recursively, and Python's stack ends near 1,000 frames."""


def _deepest(spec: ast.Spec) -> Span | None:
    """The span of a node nested past MAX_NESTING, found without recursion (it is what is guarded)."""
    import dataclasses

    stack: list[tuple[object, int, Span | None]] = [(spec, 0, None)]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, ast.Node):
            where = node.span or where
            if depth > MAX_NESTING:
                return where
            stack.extend((getattr(node, f.name), depth + 1, where) for f in dataclasses.fields(node))
        elif isinstance(node, tuple):
            stack.extend((item, depth, where) for item in node)
    return None


# ---- error translation ----------------------------------------------------------

_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "INT": "a whole number",
    "STRING": 'a quoted string ("...")',
    "UNIT": "a unit such as `ns` or `rad/us`",
    "_NL": "the end of the line",
    "$END": "the end of the file",
    "PROTOCOL": "a protocol (`min-delay`, `no-delay` or `wait-for-all`)",
    "BASIS": "a basis (`ground-rydberg`, `digital` or `XY`)",
    "AT_REST": "`at_rest`",
    "NOT_AT_REST": "`not_at_rest`",
    "AUTO_LAYOUT": "`auto_layout`",
    "CORRECT_PHASE_DRIFT": "`correct_phase_drift`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "COMMA": "`,`",
    "EQUAL": "`=`",
    "COLON": "`:`",
    "DOT": "`.`",
    "PLUS": "`+`",
    "MINUS": "`-`",
    "STAR": "`*`",
    "SLASH": "`/`",
    "PERCENT": "`%`",
}

# Terminals that continue an expression; listed one by one they drown what the
# statement itself still needs, so they are named together.
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "DOT", "LSQB", "**"}

# Statement keywords, so that "expected one of" lists read as the language.
_STATEMENT_STARTS = (
    "experiment, device, include, layout, register, channel, detuning_map, slm_mask, "
    "magnetic_field, var, let, waveform, pulse, noise, sequence, runs, sweep or jobs"
)
_OPERATION_STARTS = "add, target, delay, align, phase_shift, detune, eom, truncate or measure"


def _words(terminal: str) -> str:
    if terminal in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[terminal]
    try:
        pattern = _lark().get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return terminal.lower()


def _literal(terminal: str) -> str:
    """`**` for the anonymous terminal lark made of that string, else the name itself."""
    try:
        pattern = _lark().get_terminal(terminal).pattern
    except KeyError:
        return terminal
    return str(pattern.value) if terminal.startswith("__") and pattern.type == "str" else terminal


def _expected(names: set[str]) -> str:
    operators = {n for n in names if _literal(n) in _OPERATORS}
    keywords = {_words(n) for n in names - operators}
    if operators and len(names - operators) > 0:
        keywords.add("an operator")
    elif operators:
        keywords |= {_words(n) for n in operators}
    if {"`experiment`", "`sequence`", "`register`"} <= keywords:
        return f"a statement ({_STATEMENT_STARTS})"
    if {"`add`", "`measure`", "`delay`"} <= keywords:
        return f"an operation ({_OPERATION_STARTS})"
    if "a name" in keywords and "a number" in keywords:
        return "a value"
    ordered = sorted(keywords)
    if len(ordered) > 6:
        ordered = [*ordered[:6], "..."]
    return " or ".join(ordered) if len(ordered) <= 2 else ", ".join(ordered[:-1]) + " or " + ordered[-1]


def _token_words(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "_NL":
        return "end of line"
    return f"`{token.value}`"


def _accepted(error: UnexpectedToken) -> set[str]:
    """What the parser would really take here.

    `error.expected` is too wide: LALR merges lookaheads of similar states, and
    the contextual lexer adds the terminals it always accepts (`}`, newline).
    Asking the parser to try each terminal gives the true set.
    """
    parser = getattr(error, "interactive_parser", None)
    if parser is not None:
        try:
            accepted = set(parser.accepts())
        except UnexpectedInput:  # pragma: no cover - lark tries each terminal on a copy
            accepted = set()
        if accepted:
            return accepted
    return set(error.expected)


def _unclosed(source: Source, upto_line: int) -> tuple[Span, str] | None:
    """The innermost `{` still open at `upto_line`, with the words before it."""
    stack: list[tuple[Span, str]] = []
    for number, raw in enumerate(source.text.splitlines(), start=1):
        if number > upto_line:
            break
        line = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: " " * len(m.group()), raw).split("#")[0]
        for column, char in enumerate(line, start=1):
            if char == "{":
                opener = line[:column].strip()
                stack.append((Span(number, column, number, column + 1), opener))
            elif char == "}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _translate(error: UnexpectedInput, source: Source) -> QxSyntaxError:
    line = max(1, getattr(error, "line", 1) or 1)
    column = max(1, getattr(error, "column", 1) or 1)
    if isinstance(error, UnexpectedCharacters):
        char = source.line(line)[column - 1 : column] or "?"
        hint = None
        if char in "µ°":
            hint = "units are written after a space, e.g. `5 us` or `5 µs`"
        elif char == "'":
            hint = 'strings use double quotes: "..."'
        elif char == '"':
            return QxSyntaxError(
                "this string is never closed",
                Span(line, column, line, column + 1),
                source,
                hint='close it with `"` on the same line',
            )
        elif char == "\ufeff":
            hint = "the file starts with a byte-order mark; save it as UTF-8 without one"
        elif not char.isprintable():
            hint = "an invisible character; delete it"
        elif char.isdigit():
            hint = f"a digit other than 0-9 ({unicodedata.name(char, 'non-ASCII')}); write numbers in ASCII digits"
        shown = f"`{char}`" if char.isprintable() else f"U+{ord(char):04X}"
        return QxSyntaxError(
            f"unexpected character {shown}",
            Span(line, column, line, column + 1),
            source,
            hint=hint,
        )
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken)
        and (
            error.token.type == "$END"
            or (
                error.token.type == "_NL"
                and error.token.value == ""
                and _unclosed(source, len(source.text.splitlines())) is not None
            )
        )
    ):
        last = len(source.text.splitlines()) or 1
        open_block = _unclosed(source, last)
        if open_block is not None:
            span, opener = open_block
            return QxSyntaxError(
                f"the `{opener}` opened on line {span.line} was never closed",
                span,
                source,
                hint="add the closing `}`",
            )
        end = source.line(last)
        return QxSyntaxError(
            "the file ends in the middle of a statement",
            Span(last, max(1, len(end)), last, len(end) + 1),
            source,
        )
    assert isinstance(error, UnexpectedToken)
    token = error.token
    span = Span(line, column, token.end_line or line, token.end_column or column + 1)
    expected = _accepted(error)
    message = f"unexpected {_token_words(token)}; expected {_expected(expected)}"
    hint = _labelled(error) or _hint(token, expected, source, line)
    if token.type == "_NL":
        # Point just past the last character of the line, where something is missing.
        text = source.line(line).split("#")[0].rstrip()
        span = Span(line, len(text) + 1, line, len(text) + 2)
        message = f"expected {_expected(expected)} before the end of the line"
    else:
        # A statement keyword where a block's items go: the block was left open.
        # Inside `jobs {` the keyword itself parses as a name (`sweep = ...`), so
        # the parser stops on the token after it: `sweep {`.
        before = source.line(line)[: column - 1].strip()
        keyword = before or str(token.value)
        starts_line = column == 1 + _indent(source.line(line)) and "RBRACE" in expected
        after_keyword = before in _KEYWORDS and token.type in ("LBRACE", "STRING", "NAME", "NUMBER")
        open_block = _unclosed(source, line - 1) if (starts_line and keyword in _KEYWORDS) or after_keyword else None
        if open_block is not None:
            opened, opener = open_block
            message = (
                f"the `{opener}` opened on line {opened.line} was never closed; `{keyword}` cannot appear inside it"
            )
            span = Span(line, 1 + _indent(source.line(line)), line, 1 + _indent(source.line(line)) + len(keyword))
            hint = "add the closing `}` before this line"
        opened_paren = _unclosed_paren(source, line, column) if "RPAR" in expected else None
        if opened_paren is not None and opened_paren.line < line and open_block is None:
            # Newlines inside `(...)` do not end a statement, so the parser only
            # stops at the next line's first word: say where the `(` was opened.
            return QxSyntaxError(
                f"the `(` opened on line {opened_paren.line} was never closed",
                opened_paren,
                source,
                hint=f"close it with `)` on line {opened_paren.line}; `{token.value}` on line {line} "
                "was read as part of it",
            )
    return QxSyntaxError(message, span, source, hint=hint)


def _unclosed_paren(source: Source, line: int, column: int) -> Span | None:
    """The innermost `(` still open just before line:column (strings and comments skipped)."""
    stack: list[Span] = []
    for number, raw in enumerate(source.text.splitlines()[:line], start=1):
        text = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: " " * len(m.group()), raw).split("#")[0]
        if number == line:
            text = text[: column - 1]
        for index, char in enumerate(text, start=1):
            if char == "(":
                stack.append(Span(number, index, number, index + 1))
            elif char == ")" and stack:
                stack.pop()
    return stack[-1] if stack else None


_KEYWORDS = frozenset(_STATEMENT_STARTS.replace(" or ", ", ").split(", "))
_OPERATIONS = frozenset(_OPERATION_STARTS.replace(" or ", ", ").split(", "))


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


_PROTOCOLS = ("min-delay", "no-delay", "wait-for-all")
_BASES = ("ground-rydberg", "digital", "XY")


def _at_top(*lines: str) -> list[str]:
    # LALR states match only at the same stack depth: the first statement of a
    # file and any later one differ, so each example comes both ways.
    return [f"{before}{line}\n" for before in ("", "device X\n") for line in lines]


def _inside(block: str, first: str, *lines: str) -> list[str]:
    return [
        f"{before}{block} {{\n{earlier}{line}\n}}\n"
        for before in ("", "device X\n")
        for earlier in ("", first + "\n")
        for line in lines
    ]


# Common mistakes, recognised by the parser state they stop in (lark's
# `match_examples`): each label's examples fail where the mistake does.
_MISTAKES: dict[str, list[str]] = {
    "`var` declares a variable that the jobs give values: `var t: int`; a fixed value is `let t = 5`": _at_top(
        "var t = 5"
    ),
    "`let` names a value: `let t = 100 ns`; a variable the jobs sweep is `var t: int`": _at_top("let t: int"),
    "an operation names its channel with `on`: `add p on ryd`, `delay 100 ns on ryd`": _inside(
        "sequence",
        "measure digital",
        "add p to ryd",
        "add pulse(amplitude = 1) to ryd",
        "delay 100 ns to ryd",
        "detune w to dmm_0",
    ),
    "a sweep line is `name = values`, e.g. `t = [100, 200] ns` or `t = 100 ns .. 1 us step 100 ns`": _inside(
        "sweep", "t = 1", "t in [1, 2]", "t: [1, 2]"
    ),
    "a channel is declared `channel ryd = rydberg_global`": _at_top("channel ryd: rydberg_global"),
}


def _labelled(error: UnexpectedInput) -> str | None:
    """The label of a mistake whose examples stop in the same state, on the same kind of token.

    `UnexpectedInput.match_examples` does this, but its debug logging formats a
    ParserState with `%d` and raises TypeError when the accepted sets differ.
    """
    if not isinstance(error, UnexpectedToken) or error.state is None:
        return None
    accepted = _accepted(error)
    for label, examples in _MISTAKES.items():
        for example in examples:
            try:
                _lark().parse(example)
            except UnexpectedToken as found:
                if found.state == error.state and found.token.type == error.token.type and _accepted(found) == accepted:
                    return label
            except UnexpectedInput:
                continue
    return None


def _hint(token: Token, expected: set[str], source: Source, line: int) -> str | None:
    if token.type == "RBRACE" and "RBRACE" not in expected:
        return "this `}` closes a block too early; something before it is incomplete"
    for terminal, options in (("PROTOCOL", _PROTOCOLS), ("BASIS", _BASES)):
        if terminal in expected and token.type == "NAME":
            word = re.match(r"[\w-]+", source.line(line)[token.column - 1 :] if token.column else "")
            written = word.group() if word else str(token.value)
            close = difflib.get_close_matches(written, options, n=1, cutoff=0.5)
            return (f"did you mean `{close[0]}`? " if close else "") + "options: " + ", ".join(options)
    if token.type == "NAME" and str(token.value) not in _KEYWORDS and {"SEQUENCE", "ADD"} & expected:
        close = difflib.get_close_matches(str(token.value), sorted(_KEYWORDS | _OPERATIONS), n=1)
        if close:
            return f"did you mean `{close[0]}`?"
    if token.type == "NUMBER" and str(token.value).startswith(".") and "INT" not in expected:
        before = source.line(line)[: (token.column or 1) - 1]
        if before[-1:].isdigit():
            return "a whole number is needed here"
    if token.type == "NAME" and "UNIT" in expected and "NAME" not in expected:
        return f"`{token.value}` is not a unit; units are {all_units()}"
    if token.type == "_NL" and "NAME" in expected and source.line(line).rstrip().endswith(" on"):
        return "say which channel, e.g. `on ryd`"
    if "EQUAL" in expected and token.type in ("NUMBER", "NAME"):
        return "bindings are written `name = value`"
    if token.type == "NUMBER" and "INT" in expected:
        return "a whole number is needed here"
    return None
