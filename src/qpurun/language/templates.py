"""Specs as Jinja2 templates, rendered in a sandbox before parsing.

A family of experiments (one per atom count, per detuning range, ...) is one
template and a few `--set NAME=VALUE`. The sandbox is Jinja's
`ImmutableSandboxedEnvironment` with `StrictUndefined`, no loader (so no
`include`, `import` or `extends` can read a file) and only `range` among the
globals.

Errors must still point at the template's own lines: before rendering, every
template line gets a trailing marker comment `#@L<n>`; the rendered text keeps
them (a loop repeats its body's markers), so every rendered line knows the
template line it came from. The markers are stripped before parsing.

A template is code, and Jinja's sandbox keeps it from Python's internals, not
from asking for `'a' * 10**10` or looping for ever. So rendering is bounded
too (the limits are below): every way a template makes a large value (`*`,
`**`, `%`, `+`, `~`, literals, string methods, filters, `str.format`) is
estimated and refused before it is made; `range` is bounded; what is rendered
and what is captured (macros, `{% set %}` and `{% filter %}` blocks) is
counted as it is written; and the clock is read at every item of every
`{% for %}` loop (whatever it loops over), every call, every filter and every
item a filter makes, so that a render stops at its deadline. A refusal is a
`QxTemplateError` at the template line that asked.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import threading
import time
import tomllib
import types
from collections import abc, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from qpurun.language.errors import QxError, Source, Span
from qpurun.language.includes import MAX_FILE_BYTES

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

_MARKER = re.compile(r"[ \t]*#@L(\d+)$")
_TEMPLATE_NAME = "<qx-template>"

MAX_OUTPUT = MAX_FILE_BYTES
"""Characters a template may render, capture, or build into one value: what a spec file may hold,
since the parser takes no more from a template than from a file."""

MAX_RANGE = 100_000
"""Items one `range()` may have (Jinja's own bound): more than any register or sweep needs."""

MAX_INT_BITS = 65_536
"""Bits an integer made by `*` or `**` may have (~19,700 digits; Python prints at most 4,300): no
physical quantity needs more, and `10 ** (10 ** 8)` would take minutes."""

DEADLINE_SECONDS = 2.0
"""Seconds a render may take. Specs render in milliseconds, so a longer render is a runaway loop."""

MAX_FILTER_ITEMS = 10_000
"""Items (of a string: ten times as many characters) a filter that walks its value in Python
(`sort`, `groupby`, `wordwrap`, ...) may be given. The clock is not read inside Jinja's own
loops, so each must end well within the deadline: `groupby` takes ~0.3 s for 10,000 items."""

_SIZE_HINT = "a template writes one spec: make fewer or smaller copies"
_INT_HINT = "no quantity in a spec needs an integer that large"


class QxTemplateError(QxError):
    kind = "template error"


class _LimitExceeded(BaseException):
    """A render went over a limit. A BaseException so that no `except Exception` on its way out
    (Jinja's, or a filter's fallback) can swallow it; `render` makes it a located QxTemplateError."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.lineno: int | None = None


class _Deadline(threading.local):
    """When the render running in this thread must end (none outside a render)."""

    at = math.inf


_deadline = _Deadline()


def _late() -> _LimitExceeded:
    return _LimitExceeded(
        f"the template took over {DEADLINE_SECONDS:g} s to render (the limit)",
        "specs render in milliseconds: a loop runs far too long (nested loops multiply)",
    )


def _tick() -> None:
    """Stop the render if it is past its deadline. Cheap: called at every loop item and call."""
    if time.monotonic() > _deadline.at:
        raise _late()


def is_template(text: str) -> bool:
    """Whether the text uses Jinja syntax at all (plain specs skip rendering)."""
    return "{{" in text or "{%" in text or "{#" in text


# --- estimating sizes, without making what is estimated ---------------------------------------

_TEXT = (str, bytes, bytearray)
_SEQUENCES = (str, bytes, bytearray, list, tuple)
_CONTAINERS = (list, tuple, set, frozenset, deque, abc.KeysView, abc.ValuesView)
_SHORT = frozenset({float, bool, type(None), range})
_END = object()


def _size(value: object, limit: int | None = None) -> int:
    """About the length of `str(value)`, plus 8 (a pointer) per item of a container.

    An item a container holds many times counts every time, as printing it would print it; the
    count stops once it is past `limit`, so it costs at most `limit / 8` steps.
    """
    limit = MAX_OUTPUT if limit is None else limit
    if type(value) is str:  # the common cases first, by type: isinstance of an ABC is slow
        return len(value)
    if type(value) is int:
        return value.bit_length() // 3 + 1
    if type(value) in _SHORT:
        return 24
    if (type(value) is list or type(value) is tuple) and all(type(item) is str for item in value):
        return 8 * len(value) + sum(map(len, value))  # a list of strings (`split`'s), at C speed
    total = steps = 0
    stack: list[Iterator[object]] = [iter((value,))]
    while stack:
        steps += 1
        if not steps & 0xFFFF:
            _tick()
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif type(item) is str:
            total += len(item)
        elif type(item) is int:
            total += item.bit_length() // 3 + 1
        elif type(item) is list or type(item) is tuple:
            total += 8 * len(item)
            stack.append(iter(item))
        elif isinstance(item, _TEXT):
            total += len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, dict | abc.ItemsView):
            pairs = item.items() if isinstance(item, dict) else item
            total += 16 * len(pairs)
            stack.append(itertools.chain.from_iterable(pairs))
        elif isinstance(item, _CONTAINERS):
            total += 8 * len(item)
            stack.append(iter(item))
        else:
            total += 24  # a float, None, a range, a macro: printed short
        if total > limit:
            break
    return total


def _too_big(what: str, size: int) -> _LimitExceeded:
    return _LimitExceeded(
        f"{what} would be about {size:,} characters, over the limit of {MAX_OUTPUT:,} (a spec file's size)",
        _SIZE_HINT,
    )


def _bound(what: str, size: int) -> None:
    if size > MAX_OUTPUT:
        raise _too_big(what, size)


def _bound_value(value: object, what: str) -> None:
    _bound(what, _size(value))


def _bound_width(width: int, what: str) -> None:
    if abs(width) > MAX_OUTPUT:
        shown = f"{abs(width):,}" if abs(width) < _UNREAD else "more than 18 digits"
        raise _LimitExceeded(
            f"{what} of {shown} is over the limit of {MAX_OUTPUT:,} characters (a spec file's size)", _SIZE_HINT
        )


_UNREAD = 10**18


def _number(digits: str) -> int:
    """A width as written; one too long to read is simply too big (and not worth `int()`)."""
    return int(digits) if len(digits) <= 18 else _UNREAD


def _bound_int(bits: float, operator: str) -> None:
    if bits > MAX_INT_BITS:
        raise _LimitExceeded(
            f"this `{operator}` would make an integer of about {int(bits):,} bits, over the limit of {MAX_INT_BITS:,}",
            _INT_HINT,
        )


_PARENTHESES = {"(": 1, ")": -1}


def _bound_printf(fmt: str | bytes | bytearray, args: Any, what: str) -> None:
    """Refuse `fmt % args` if a width or precision, or the whole result, would be too big.

    Parsed as Python parses it (a `%(key)` may nest parentheses, `*` takes a width from `args`),
    so that no field escapes the count.
    """
    text = fmt if isinstance(fmt, str) else bytes(fmt).decode("latin-1")
    positional = list(args) if isinstance(args, tuple) else [args]
    mapping = args if isinstance(args, Mapping) else None
    total, index, end, scanned = len(text), 0, len(text), 0
    i = text.find("%")
    while i >= 0:
        scanned += 1
        if not scanned & 0x3FF:
            _tick()
        i += 1
        key = None
        if text.startswith("(", i):
            depth, start = 0, i
            while i < end:
                depth += _PARENTHESES.get(text[i], 0)
                i += 1
                if depth == 0:
                    break
            key = text[start + 1 : i - 1]
        while i < end and text[i] in "#0- +":
            i += 1
        numbers = []
        for part in ("width", "precision"):
            if part == "precision":
                if not text.startswith(".", i):
                    break
                i += 1
            if text.startswith("*", i):
                i += 1
                star = positional[index] if index < len(positional) else 0
                index += 1
                numbers.append(star if isinstance(star, int) else 0)
            else:
                j = i
                while j < end and text[j] in "0123456789":
                    j += 1
                if j > i:
                    numbers.append(_number(text[i:j]))
                i = j
        for number in numbers:
            _bound_width(number, "a `%` width or precision")
        while i < end and text[i] in "hlL":
            i += 1
        conversion = text[i : i + 1]
        i += 1
        if conversion != "%":
            if key is not None:
                arg = mapping.get(key) if mapping is not None else None
            else:
                arg = positional[index] if index < len(positional) else None
                index += 1
            growth = 10 if conversion in ("r", "a") else 1  # repr and ascii escape a character in up to 10
            total += sum(abs(n) for n in numbers) + growth * _size(arg)
            _bound(what, total)
        i = text.find("%", i)


def _bound_format_field(value: Any, spec: str) -> int:
    """The most a `str.format` field can write; refuses a width (any number in the spec) too big."""
    numbers = [_number(digits) for digits in re.findall(r"[0-9]+", spec)]
    for number in numbers:
        _bound_width(number, "a `format` width")
    return sum(numbers) + _size(value)


def _bound_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operator whose result would be too big, before computing it."""
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            _bound_int(right if right > MAX_INT_BITS else right * math.log2(abs(left)), "**")
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            _bound_int(left.bit_length() + right.bit_length(), "*")
            return
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(sequence, _SEQUENCES) and isinstance(count, int) and count > 0:
            _bound("this `*`", _size(sequence) * count)
    elif operator == "+":
        if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            _bound("this `+`", _size(left) + _size(right))
    elif operator == "%" and isinstance(left, _TEXT):
        _bound_printf(left, right, "this `%`")


def _bounded_items(items: Iterable[Any], what: str, separator: int = 0) -> Iterable[Any]:
    """The items, read one at a time and refused as soon as joining them would be too big."""
    if isinstance(items, str):  # its characters, counted at once
        _bound(what, len(items) + max(len(items) - 1, 0) * separator)
        return items
    if isinstance(items, list | tuple) and all(type(item) is str for item in items):  # counted at C speed
        _bound(what, sum(map(len, items)) + max(len(items) - 1, 0) * separator)
        return items
    kept: list[Any] = []
    total = 0
    for item in items:
        _tick()
        total += _size(item) + (separator if kept else 0)
        _bound(what, total)
        kept.append(item)
    return kept


def _bounded_iterator(items: Iterator[Any], what: str) -> Iterator[Any]:
    """A lazy result (`map`, `batch`, ...), counted as it is read: it may not make more in all
    than one value may hold."""
    total = 0
    for item in items:
        _tick()
        total += 8 + _size(item)
        _bound(what, total)
        yield item


def _checked(result: Any, what: str) -> Any:
    """A call's or a filter's result, refused if it is too big; a lazy one is counted as it is read."""
    kind = type(result)
    if kind is int or kind in _SHORT or (kind is str and len(result) <= MAX_OUTPUT):
        return result  # the common cases, fast (an ABC's isinstance is not)
    if isinstance(result, Iterator) and not isinstance(result, _TEXT):
        return _bounded_iterator(result, what)
    _bound_value(result, what)
    return result


def _occurrences(text: Any, part: Any) -> int:
    try:
        return int(text.count(part))
    except TypeError:  # str in bytes: the method itself will say so
        return 0


_PADDING = frozenset({"ljust", "rjust", "center", "zfill"})


def _bound_text_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a str (or bytes) method whose result would be too big; `join` reads its items here."""
    if not isinstance(method, types.BuiltinMethodType | types.MethodType) or not isinstance(method.__self__, _TEXT):
        return args  # (a Markup's methods are Python methods)
    text, name = method.__self__, method.__name__
    if name in _PADDING:
        width = args[0] if args else kwargs.get("width")
        if isinstance(width, int):
            _bound_width(width, f"a `{name}` width")
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tabsize, int):
            tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
            _bound("this `expandtabs`", len(text) + tabs * max(tabsize, 0))
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], _TEXT) and isinstance(args[1], _TEXT):
        old, new = args[0], args[1]
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        found = _occurrences(text, old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        _bound("this `replace`", len(text) + found * max(len(new) - len(old), 0))
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, _TEXT)), default=1)
        _bound("this `translate`", len(text) * longest)
    elif name == "join" and args:
        return (_bounded_items(args[0], "this `join`", len(text)), *args[1:])
    return args


def _range(*args: int) -> range:
    """Jinja's `range`, with the count in the error (Jinja's own is an OverflowError)."""
    numbers = range(*args)
    count = max(0, -((numbers.start - numbers.stop) // numbers.step))
    if count > MAX_RANGE:
        raise _LimitExceeded(
            f"this range() has {count:,} items, over the limit of {MAX_RANGE:,}",
            "loop over fewer items, or split the family into several templates",
        )
    return numbers


class _Budget:
    """What one render has captured so far (macro results, `{% set %}` and `{% filter %}` blocks)."""

    def __init__(self) -> None:
        self.captured = 0

    def capture(self, size: int) -> None:
        self.captured += size
        if self.captured > MAX_OUTPUT:
            raise _LimitExceeded(
                f"the template captured over {MAX_OUTPUT:,} characters (the limit, a spec file's size)"
                " in macros and `{% set %}`/`{% filter %}` blocks",
                _SIZE_HINT,
            )


class _Buffer(list[str]):
    """Where a macro or a block writes its text: counted as it is written, not when it is joined."""

    def __init__(self, budget: _Budget) -> None:
        super().__init__()
        self.budget = budget

    def append(self, text: str, /) -> None:
        self.budget.capture(len(text))
        super().append(text)

    def extend(self, texts: Iterable[str], /) -> None:
        texts = tuple(texts)
        self.budget.capture(sum(map(len, texts)))
        super().extend(texts)


class _Accumulator(list[Any]):
    """The start of `sum(..., start=[])`: `+` extends it in place, so a sum is not quadratic."""

    def __init__(self, start: list[Any] | tuple[Any, ...]) -> None:
        super().__init__(start)
        self.kind = type(start)

    def __add__(self, other: Any) -> Any:
        _tick()
        if not isinstance(other, self.kind):
            return NotImplemented
        self.extend(other)
        return self


# --- filters: the arguments that make them grow ------------------------------------------------

_FilterArgs = tuple[Any, tuple[Any, ...], dict[str, Any]]


def _bound_walk(name: str, value: abc.Sized) -> None:
    """Refuse a value too long for a filter that walks it in Python (see MAX_FILTER_ITEMS)."""
    text = isinstance(value, str)
    limit = MAX_FILTER_ITEMS * (10 if text else 1)
    if len(value) > limit:
        items = "characters" if text else "items"
        raise _LimitExceeded(
            f"`{name}` was given {len(value):,} {items}, over the limit of {limit:,}", "filter fewer items"
        )


def _text_of(value: Any) -> str | None:
    """The text a filter makes of its value (`soft_str`), or None if it cannot (it then raises)."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:
        return None


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _check_center(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
    width = _argument(args, kwargs, 0, "width", 80)
    if isinstance(width, int):
        _bound_width(width, "a `center` width")
    return value, args, kwargs


def _check_indent(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
    width = _argument(args, kwargs, 0, "width", 4)
    text = _text_of(value)
    if text is not None and isinstance(width, int | str):
        step = width if isinstance(width, int) else len(width)
        _bound_width(step, "an `indent` width")
        _bound("this `indent`", len(text) + (text.count("\n") + 1) * step)
    return value, args, kwargs


def _check_format(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
    text = _text_of(value)
    if text is not None:
        _bound_printf(text, kwargs or args, "this `format`")
    return value, args, kwargs


def _check_replace(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
    text, old, new = _text_of(value), _argument(args, kwargs, 0, "old", None), _argument(args, kwargs, 1, "new", None)
    if text is not None and old is not None and new is not None:
        old, new = str(old), str(new)
        count = _argument(args, kwargs, 2, "count", None)
        found = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        _bound("this `replace`", len(text) + found * max(len(new) - len(old), 0))
    return value, args, kwargs


def _check_wordwrap(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
    text, wrapstring = _text_of(value), _argument(args, kwargs, 2, "wrapstring", None)
    if text is not None and isinstance(wrapstring, str):
        _bound("this `wordwrap`", len(text) + (len(text) + 1) * len(wrapstring))
    return value, args, kwargs


def _check_fill(count_name: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], _FilterArgs]:
    """`batch` fills its last row to `linecount`, `slice` loops `slices` times."""

    def check(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
        count = _argument(args, kwargs, 0, count_name, 0)
        fill = _argument(args, kwargs, 1, "fill_with", None)
        if isinstance(count, int) and count > MAX_RANGE and (fill is not None or count_name == "slices"):
            raise _LimitExceeded(
                f"a `{count_name}` of {count:,} is over the limit of {MAX_RANGE:,}", "ask for fewer rows or columns"
            )
        return value, args, kwargs

    return check


def _check_join(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
    separator = _text_of(_argument(args, kwargs, 0, "d", "")) or ""
    return _bounded_items(value, "this `join`", len(separator)), args, kwargs


def _check_sum(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
    start = _argument(args, kwargs, 1, "start", 0)
    if isinstance(start, list | tuple):
        if len(args) > 1:
            args = (args[0], _Accumulator(start), *args[2:])
        else:
            kwargs = {**kwargs, "start": _Accumulator(start)}
    return value, args, kwargs


def _check_escape(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
    text = _text_of(value)
    if text is not None:  # each of &<>"' becomes at most 5 characters (`&amp;`, `&#34;`)
        _bound("this `escape`", len(text) + 4 * sum(text.count(c) for c in "&<>\"'"))
    return value, args, kwargs


def _check_growth(factor: int) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], _FilterArgs]:
    """Filters whose text is up to `factor` times their value's (escaping, quoting, links)."""

    def check(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _FilterArgs:
        extra = sum(len(a) for a in (*args, *kwargs.values()) if isinstance(a, str))  # urlize's target, rel
        _bound("this filter's result", _size(value) * (factor + extra))
        return value, args, kwargs

    return check


_LOOP_FILTER = "_qx_loop"
"""The filter every `{% for %}` loops through (the code generator adds it)."""

_WALKING_FILTERS = frozenset(
    {"sort", "dictsort", "unique", "groupby", "min", "max", "batch", "slice", "select", "reject", "selectattr"}
    | {"rejectattr", "xmlattr", "pprint", "title", "wordwrap", "wordcount", "urlize", "urlencode", "indent"}
)
"""Filters that walk their value (a string: its characters, words or lines) in Python code of Jinja's,
which reads no clock, without handing back an item at a time (`map` does, and that is counted)."""

_FILTER_CHECKS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any]], _FilterArgs]] = {
    "center": _check_center,
    "indent": _check_indent,
    "format": _check_format,
    "replace": _check_replace,
    "wordwrap": _check_wordwrap,
    "batch": _check_fill("linecount"),
    "slice": _check_fill("slices"),
    "join": _check_join,
    "sum": _check_sum,
    **dict.fromkeys(("escape", "e", "forceescape"), _check_escape),
    **dict.fromkeys(("xmlattr", "tojson"), _check_growth(6)),
    **dict.fromkeys(("urlencode", "urlize", "pprint"), _check_growth(12)),
}


# --- the environment ---------------------------------------------------------------------------


@functools.cache
def _environment_class() -> type[SandboxedEnvironment]:
    """The bounded sandbox. Built on first use, so that plain specs never import Jinja."""
    import jinja2
    import jinja2.filters
    from jinja2 import nodes
    from jinja2.compiler import CodeGenerator, Frame, optimizeconst
    from jinja2.runtime import Context
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
    from jinja2.utils import _PassArg, pass_context
    from markupsafe import EscapeFormatter, Markup

    class BoundedFormatter(SandboxedFormatter):
        """`str.format` that refuses a width too big, and stops once its result is too big."""

        def __init__(self, env: jinja2.Environment, **kwargs: Any) -> None:
            super().__init__(env, **kwargs)
            self.written = 0

        def convert_field(self, value: Any, conversion: str | None) -> Any:
            _bound("this `format` field", _size(value) * (10 if conversion in ("r", "a") else 1))
            return super().convert_field(value, conversion)

        def format_field(self, value: Any, format_spec: str) -> Any:
            _tick()
            self.written += _bound_format_field(value, format_spec)
            _bound("this `format`", self.written)
            return super().format_field(value, format_spec)

    class BoundedEscapeFormatter(BoundedFormatter, EscapeFormatter):
        pass

    class BoundedCodeGenerator(CodeGenerator):
        """Jinja's code, but every loop reads the clock, captured text goes to a counted buffer,
        and `~` and literals are sized."""

        def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
            for loop in node.find_all(nodes.For):  # before Jinja looks up the filters the code uses
                loop.iter = nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.iter.lineno)
            super().visit_Template(node, frame)

        def buffer(self, frame: Frame) -> None:
            frame.buffer = self.temporary_identifier()
            self.writeline(f"{frame.buffer} = environment.limit_buffer()")

        @optimizeconst
        def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
            # Jinja's, but the operands are sized before they are joined.
            if frame.eval_ctx.volatile:
                join = "(markup_join if context.eval_ctx.autoescape else str_join)"
            elif frame.eval_ctx.autoescape:
                join = "markup_join"
            else:
                join = "str_join"
            self.write(f"{join}(environment.limit_operands((")
            for operand in node.nodes:
                self.visit(operand, frame)
                self.write(", ")
            self.write(")))")

        def visit_List(self, node: nodes.List, frame: Frame) -> None:
            self.write("environment.limit_value(")
            super().visit_List(node, frame)
            self.write(")")

        def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
            if node.ctx != "load":  # an assignment's target
                return super().visit_Tuple(node, frame)
            self.write("environment.limit_value(")
            super().visit_Tuple(node, frame)
            self.write(")")

        def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
            self.write("environment.limit_value(")
            super().visit_Dict(node, frame)
            self.write(")")

    def bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """A filter that checks its value and arguments first and its result after.

        It takes the context, whatever the filter takes, so Jinja never runs it at compile time,
        where no deadline applies.
        """
        pass_arg = _PassArg.from_obj(function)
        check = _FILTER_CHECKS.get(name)

        def bounded(context: Context, value: Any, /, *args: Any, **kwargs: Any) -> Any:
            _tick()
            _bound_value(value, f"the value given to `{name}`")
            if name in _WALKING_FILTERS and isinstance(value, abc.Sized):
                _bound_walk(name, value)
            if check is not None:
                value, args, kwargs = check(value, args, kwargs)
            if pass_arg is _PassArg.context:
                result = function(context, value, *args, **kwargs)
            elif pass_arg is _PassArg.eval_context:
                result = function(context.eval_ctx, value, *args, **kwargs)
            elif pass_arg is _PassArg.environment:
                result = function(context.environment, value, *args, **kwargs)
            else:
                result = function(value, *args, **kwargs)
            if isinstance(result, _Accumulator):
                result = result.kind(result)
            return _checked(result, f"the result of `{name}`")

        bounded.__name__ = bounded.__qualname__ = getattr(function, "__name__", name)
        bounded.__doc__ = function.__doc__
        return pass_context(bounded)

    filters = {name: bounded_filter(name, function) for name, function in jinja2.filters.FILTERS.items()}

    @pass_context  # not run at compile time, where a constant's loop would be folded into a generator
    def ticking(context: Context, items: Iterable[Any]) -> Iterator[Any]:
        """What a `{% for %}` loops over, read with the clock: a loop over anything can be stopped."""
        for item in items:
            _tick()
            yield item

    filters[_LOOP_FILTER] = ticking

    class BoundedEnvironment(ImmutableSandboxedEnvironment):
        """Jinja's immutable sandbox, bounded: see the module's docstring and the limits."""

        intercepted_binops = frozenset({"*", "**", "%", "+"})
        code_generator_class = BoundedCodeGenerator

        def __init__(self) -> None:
            super().__init__(
                undefined=jinja2.StrictUndefined,
                autoescape=False,
                keep_trailing_newline=True,
                loader=None,
                finalize=self.limit_value,
            )
            self.globals = {"range": _range}
            self.filters = dict(filters)
            self.budget = _Budget()

        def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
            _bound_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            _tick()
            args = _bound_text_method(obj, args, kwargs)
            return _checked(super().call(context, obj, *args, **kwargs), "this call's result")

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            """Jinja's `str.format` wrapper, with the bounded formatter."""
            if not isinstance(value, types.MethodType | types.BuiltinMethodType) or value.__name__ not in (
                "format",
                "format_map",
            ):
                return None
            owner: Any = value.__self__
            if not isinstance(owner, str):
                return None
            is_format_map = value.__name__ == "format_map"

            def wrapper(*args: Any, **kwargs: Any) -> str:
                fields: Mapping[str, Any] = kwargs
                if is_format_map:
                    if kwargs:
                        raise TypeError("format_map() takes no keyword arguments")
                    if len(args) != 1:
                        raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                    fields, args = args[0], ()
                formatter: BoundedFormatter
                if isinstance(owner, Markup):
                    formatter = BoundedEscapeFormatter(self, escape=owner.escape)
                else:
                    formatter = BoundedFormatter(self)
                return type(owner)(formatter.vformat(owner, args, fields))

            return functools.update_wrapper(wrapper, value)

        def concat(self, parts: Iterable[str]) -> str:
            """Join a buffer (already counted), or a block's text (counted here, as it comes)."""
            if isinstance(parts, _Buffer):
                return "".join(parts)
            kept = []
            for part in parts:
                _tick()
                self.budget.capture(len(part))
                kept.append(part)
            return "".join(kept)

        def limit_buffer(self) -> _Buffer:
            return _Buffer(self.budget)

        def limit_value(self, value: Any) -> Any:
            """A literal, or a value about to be written, refused if it is too big."""
            kind = type(value)
            if kind is int or kind in _SHORT or (kind is str and len(value) <= MAX_OUTPUT):
                return value  # the common cases, fast: a str or an int was bounded when it was made
            _bound_value(value, "this value")
            return value

        def limit_operands(self, operands: tuple[Any, ...]) -> tuple[Any, ...]:
            _bound("this `~`", sum(_size(operand) for operand in operands))
            return operands

    return BoundedEnvironment


def _environment() -> SandboxedEnvironment:
    return _environment_class()()


def _with_markers(text: str) -> str:
    """Tag each line with its number, except lines that end inside a Jinja tag."""
    out = []
    depth = 0
    for number, line in enumerate(text.split("\n"), start=1):
        depth += line.count("{{") + line.count("{%") + line.count("{#")
        depth -= line.count("}}") + line.count("%}") + line.count("#}")
        out.append(line if depth > 0 else f"{line} #@L{number}")
    return "\n".join(out)


def _template_line(error: BaseException) -> int | None:
    """The template line a Jinja runtime error happened on, from its traceback."""
    line = getattr(error, "lineno", None)
    if isinstance(line, int):
        return line
    tb = error.__traceback__
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_NAME:
            found = tb.tb_lineno
        tb = tb.tb_next
    return found


def _located(message: str, error: BaseException, source: Source, hint: str) -> QxTemplateError:
    line = _template_line(error) or 1
    return QxTemplateError(message, Span(line, 1, line, 2), source, hint=hint)


def _check_values(env: SandboxedEnvironment, text: str, values: Mapping[str, Any], source: Source) -> None:
    """A value the template never reads is a typo (`--set atom=6` for `atoms`): say so, not ignore it."""
    if not values:
        return
    import difflib

    import jinja2.meta

    try:
        used = jinja2.meta.find_undeclared_variables(env.parse(text))
    except Exception:
        return  # rendering reports it, located
    unknown = sorted(set(values) - used)
    if not unknown:
        return
    name = unknown[0]
    close = difflib.get_close_matches(name, sorted(used), n=1)
    known = ", ".join(f"`{u}`" for u in sorted(used)) or "none"
    raise QxTemplateError(
        f"the template has no value `{name}`" + (f" (nor {', '.join(unknown[1:])})" if unknown[1:] else ""),
        None,  # the value came from --set or --params, not from the file
        source,
        hint=f"did you mean `{close[0]}`?" if close else f"the values it reads: {known}",
    )


def _limit_line(error: BaseException, template: Template) -> int | None:
    """The template line a limit was hit on: the innermost frame of the template's own code."""
    found = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__jinja_template__") is template:
            found = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return found


def _render_bounded(template: Template, values: Mapping[str, Any]) -> str:
    """Render by the deadline, counting the output as it streams."""
    _deadline.at = deadline = time.monotonic() + DEADLINE_SECONDS
    stream = cast(abc.Generator[str, None, None], template.generate(**values))
    chunks: list[str] = []
    size = 0
    try:
        for chunk in stream:
            size += len(chunk)
            # Thrown in, not raised here, so that the traceback has the line that wrote the chunk.
            if size > MAX_OUTPUT:
                stream.throw(
                    _LimitExceeded(
                        f"the template's output is over {MAX_OUTPUT:,} characters (the limit, a spec file's size)",
                        _SIZE_HINT,
                    )
                )
            if time.monotonic() > deadline:
                stream.throw(_late())
            chunks.append(chunk)
    except _LimitExceeded as error:
        error.lineno = _limit_line(error, template)
        raise
    finally:
        _deadline.at = math.inf
    return "".join(chunks)


def render(text: str, values: Mapping[str, Any], *, filename: str = "<spec>") -> Source:
    """Render a template spec; the Source maps every rendered line to its template line."""
    import jinja2  # here, not at import: plain specs never pay for Jinja

    template_source = Source(filename, text)
    env = _environment()
    _check_values(env, text, values, template_source)
    try:
        template = env.from_string(_with_markers(text))
        template.filename = _TEMPLATE_NAME
        rendered = _render_bounded(template, values)
    except _LimitExceeded as error:
        raise _located(error.message, error, template_source, error.hint) from None
    except jinja2.TemplateSyntaxError as error:
        raise _located(f"template syntax: {error.message}", error, template_source, "see the Jinja2 docs") from None
    except jinja2.UndefinedError as error:
        hint = "give it with --set NAME=VALUE or --params FILE"
        raise _located(str(error.message), error, template_source, hint) from None
    except jinja2.exceptions.SecurityError as error:
        hint = "templates may compute values, not reach Python internals"
        raise _located(f"the template sandbox refused: {error}", error, template_source, hint) from None
    except Exception as error:  # anything the template's own code raised
        message = f"the template failed: {type(error).__name__}: {error}"
        raise _located(message, error, template_source, "templates cannot read files or import modules") from None
    lines: list[str] = []
    origins: list[int] = []
    pending = 0
    for raw in rendered.split("\n"):
        match = _MARKER.search(raw)
        if match:
            origin = int(match.group(1))
            # Lines produced without a marker (a multi-line value) belong to the next marked line.
            origins.extend([origin] * (pending + 1))
            pending = 0
            lines.append(raw[: match.start()])
        else:
            pending += 1
            lines.append(raw)
    origins.extend([origins[-1] if origins else 1] * pending)
    return Source(filename, "\n".join(lines), template=text, line_origins=tuple(origins))


def parse_assignment(assignment: str) -> tuple[str, Any]:
    """`NAME=VALUE` from --set: VALUE is JSON when it parses as JSON, else a string."""
    name, sep, raw = assignment.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ValueError(f"--set wants NAME=VALUE, got {assignment!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


def load_parameters(path: str | Path) -> dict[str, Any]:
    """Template values from a TOML or JSON file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the parameters must be a table of NAME = VALUE")
    return data
