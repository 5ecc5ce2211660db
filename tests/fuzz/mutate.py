"""Token-level mutations of the example specs: real specs, each a few edits away from a crash.

The seeds are every spec the project ships or tests (specs/, tests/errors/,
tests/run/specs/ and the `qx`/`qx-error` blocks of docs/language.md), so a
mutation starts from statements the checker accepts and reaches the lowering,
the job expansion and Pulser. The grammar's own literals (keywords and
punctuation, read from qx.lark) and the catalog's units are what gets inserted.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from fuzz.generate import DEPTHS, EDGE_INTS, EDGE_NUMBERS, Chooser, Generator
from qpurun.language.catalog import SPELLINGS
from qpurun.language.errors import QxError
from qpurun.language.parser import parse
from qpurun.language.templates import is_template

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR = ROOT / "src" / "qpurun" / "language" / "grammar" / "qx.lark"

TOKEN = re.compile(r'"[^"\n]*"|#[^\n]*|\d+\.?\d*(?:[eE][+-]?\d+)?|[\w-]+(?:/\w+)?|\.\.|\*\*|\S')
NUMBER = re.compile(r"(?<![\w.])\d+\.?\d*(?:[eE][+-]?\d+)?")
UNIT = re.compile(
    r"(?<=[\d\s)\]])(" + "|".join(sorted(map(re.escape, SPELLINGS), key=len, reverse=True)) + r")(?![\w/])"
)
OPERAND = re.compile(
    r"(?:(?<=[=(,\[*/+])|(?<=[\s(=,]-))(\s*)"
    r"(\d+\.?\d*(?:[eE][+-]?\d+)?(?:\s*(?:ns|us|MHz|rad/us|um|rad|deg)\b)?|[a-z_]\w*\b(?!\s*[(=]))"
)
"""An operand where an expression goes: after `=`, `(`, `,` or an operator, not a function's name."""
WRAPPERS = ("(", "-", "+", "abs(", "floor(", "sqrt(", "exp(", "log(", "sin(", "tanh(", "[", "- -")


@functools.cache
def seeds() -> dict[str, str]:
    """Every example spec that parses (or is a template), by a short name; a doc block by its position.

    The syntax-error examples are left out: a mutation of text that does not
    parse only exercises the parser, which the token-level edits reach anyway.
    """
    found: dict[str, str] = {}
    for folder in ("specs", "tests/errors", "tests/run/specs"):
        for path in sorted((ROOT / folder).glob("*.qx")):
            found[f"{folder}/{path.stem}"] = path.read_text(encoding="utf-8")
    docs = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    for i, block in enumerate(re.findall(r"```qx(?:-error)?\n(.*?)```", docs, flags=re.DOTALL)):
        found[f"docs/language.md#{i}"] = block
    return {name: text for name, text in found.items() if is_template(text) or _parses(text)}


def _parses(text: str) -> bool:
    try:
        parse(text)
    except QxError:
        return False
    return True


@functools.cache
def grammar_tokens() -> tuple[str, ...]:
    """The literals of qx.lark (`sequence`, `..`, `{`, `min-delay`, ...) and every unit spelling."""
    rules = "\n".join(line.split("//")[0] for line in GRAMMAR.read_text(encoding="utf-8").splitlines())
    literals = {m for m in re.findall(r'"([^"\s]+)"', rules) if re.fullmatch(r"[\w\-.*/%()\[\]{},:=+]+", m)}
    return tuple(sorted(literals | set(SPELLINGS) | {"\n", "q0", "ryd", "t", "1", "0.5", '"x"'}))


KINDS = (
    "number", "number", "number", "number", "unit", "unit", "wrap", "wrap", "generated line", "generated line",
    "swap names", "grow list", "delete line", "duplicate line", "swap lines", "delete token", "duplicate token",
    "insert token",
)  # fmt: skip
"""Edits by weight: those that keep the spec parsing come first and most often."""


def mutate(c: Chooser, text: str) -> str:
    """One random edit of `text`."""
    kind = c.pick(KINDS)
    if kind == "number":
        found = list(NUMBER.finditer(text))
        if found:
            match = c.pick(found)
            return text[: match.start()] + c.pick(EDGE_NUMBERS + EDGE_INTS) + text[match.end() :]
    elif kind == "unit":
        found = list(UNIT.finditer(text))
        if found:
            match = c.pick(found)
            return text[: match.start()] + c.pick((*SPELLINGS, "")) + text[match.end() :]
    elif kind == "generated line":
        return _with_generated_line(c, text)
    elif kind.endswith(("line", "lines")):
        lines = text.splitlines(keepends=True)
        if lines:
            i, j = c.integer(0, len(lines) - 1), c.integer(0, len(lines) - 1)
            if kind == "delete line":
                return "".join(lines[:i] + lines[i + 1 :])
            if kind == "duplicate line":
                return "".join(lines[: i + 1] + lines[i:])
            lines[i], lines[j] = lines[j], lines[i]
            return "".join(lines)
    elif kind == "swap names":
        names = sorted(set(re.findall(r"\b[a-z_][a-z_0-9]*\b", text)))
        if len(names) >= 2:
            old, new = c.pick(names), c.pick(names)
            return re.sub(rf"\b{old}\b", new, text, count=c.integer(1, 3))
    elif kind == "wrap":
        found = [m for m in OPERAND.finditer(text) if m.group(2) not in grammar_tokens() and _in_expression(text, m)]
        if found:
            match = c.pick(found)
            wrapper, depth = c.pick(WRAPPERS), c.pick(DEPTHS)
            closer = {"(": ")", "[": "][0]"}.get(wrapper[-1], "")
            start, end = match.span(2)
            return text[:start] + wrapper * depth + match.group(2) + closer * depth + text[end:]
    elif kind == "grow list":
        found = list(re.finditer(r"\[([^\[\]\n]+)\]", text))
        if found:
            match = c.pick(found)
            grown = ", ".join([match.group(1)] * c.pick((2, 10, 1000)))
            return text[: match.start()] + f"[{grown}]" + text[match.end() :]
    else:
        spans = [m.span() for m in TOKEN.finditer(text)]
        if spans:
            start, end = c.pick(spans)
            if kind == "delete token":
                return text[:start] + text[end:]
            if kind == "duplicate token":
                return text[:end] + " " + text[start:end] + text[end:]
            return text[:start] + c.pick(grammar_tokens()) + " " + text[start:]
    return _with_generated_line(c, text)  # nothing of that kind to edit


def _in_expression(text: str, match: re.Match[str]) -> bool:
    """Not a name a statement declares or refers to (`channel ryd = rydberg_global`, `slm_mask q0`)."""
    line = text[text.rfind("\n", 0, match.start()) + 1 : match.start()].lstrip()
    return not line.startswith(("channel", "device", "detuning_map", "slm_mask", "var", "target", "align"))


def _with_generated_line(c: Chooser, text: str) -> str:
    """A statement from the generator appended, or an operation put first in the `sequence { }` block."""
    generator = Generator(c)
    generator.scope.channels = {"ryd": "rydberg_global"}
    generator.scope.qubits = ["q0"]
    operations = (
        lambda: f"  add {generator.pulse()} on ryd\n",
        lambda: f"  delay {generator.duration()} on ryd\n",
        lambda: f"  {generator.eom()}\n",
        lambda: f"  {generator.detune()}\n",
    )
    statements = (
        lambda: f"let z{c.integer(0, 9)} = {generator.expr(None)}\n",
        lambda: f"waveform z{c.integer(0, 9)} = {generator.waveform(None)}\n",
        lambda: f"pulse z{c.integer(0, 9)} = {generator.pulse()}\n",
        lambda: f"{generator.layout()}\n",
    )
    opening = re.search(r"^sequence \{\n", text, flags=re.MULTILINE)
    if opening and c.chance(60):
        return text[: opening.end()] + c.pick(operations)() + text[opening.end() :]
    return text.rstrip("\n") + "\n" + c.pick(statements)()


def mutated(c: Chooser) -> str:
    """A seed spec after one edit, sometimes two or three (each edit may already break the syntax)."""
    names = sorted(seeds())
    text = seeds()[c.pick(names)]
    for _ in range(c.pick((1, 1, 1, 2, 3))):
        text = mutate(c, text)
    return text
