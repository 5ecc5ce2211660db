"""The oracle: an input ends in a compile or a QxError, in bounded time; anything else is named and shrunk.

`attempt` runs one input in this process under an interval timer and sorts
the outcome; a crash is named by its exception type and the innermost qpurun
frame it passed through, which is what tells two crash classes apart.
`minimize` cuts a crashing input down while it still crashes the same way.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

import qpurun
from qpurun.language.errors import QxError

PACKAGE = Path(qpurun.__file__).resolve().parent


class Timeout(BaseException):
    """Raised by the timer. A BaseException, so that no `except Exception` in qpurun or Pulser swallows it."""


@dataclass(frozen=True)
class Outcome:
    status: str
    """`compiled`, `qx-error`, `crash` or `timeout`."""
    label: str = ""
    """The QxError's kinds, or the crash class: `OverflowError at bridge/lower.py:Lowering.value`."""
    details: str = ""
    """The traceback of a crash or a timeout."""

    @property
    def bad(self) -> bool:
        return self.status in ("crash", "timeout")


def _qualname(frame: FrameType) -> str:
    return getattr(frame.f_code, "co_qualname", frame.f_code.co_name)


def where(tb: TracebackType | None, frame: FrameType | None = None, *, recursion: bool = False) -> str:
    """`language/evaluate.py:Evaluator.binary`: the innermost qpurun frame of a traceback (or of a live stack).

    A RecursionError stops at whichever frame the limit happens to hit, so it
    is named by the qpurun frame that repeats most, which is the same for every
    input of the class.
    """
    frames: list[FrameType] = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    stack: list[FrameType] = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    names = [
        f"{Path(each.f_code.co_filename).relative_to(PACKAGE)}:{_qualname(each)}"
        for each in frames + stack[::-1]
        if Path(each.f_code.co_filename).is_relative_to(PACKAGE)
    ]
    if not names:
        return "outside qpurun"
    if recursion:
        return Counter(names).most_common(1)[0][0]
    return names[-1]


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise `Timeout` in this (main) thread after `seconds`; Python code only, C code runs on until it returns."""
    if not seconds:
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Timeout(where(None, frame), "".join(traceback.format_stack(frame)[-12:]))

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def compile_spec(text: str, *, validate: bool) -> None:
    """What a user's `qpurun check` does with the text, warnings shown (here: dropped), not raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qpurun.loads(text, filename="fuzz.qx", validate=validate)


def attempt(text: str, *, validate: bool = True, seconds: float | None = 5.0) -> Outcome:
    """Compile `text` once and say how it ended; a report that cannot be printed is a crash too."""
    started = time.monotonic()
    try:
        with time_limit(seconds):
            try:
                compile_spec(text, validate=validate)
            except QxError as error:
                report = str(error)
                assert report and all(e.message for e in error.errors), "a QxError without a message"
                return Outcome("qx-error", ", ".join(sorted({e.kind for e in error.errors})))
    except Timeout as timeout:
        return Outcome("timeout", f"timeout at {timeout.args[0]}", f"more than {seconds} s in\n{timeout.args[1]}")
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        if time.monotonic() - started > (seconds or float("inf")):
            return Outcome("timeout", f"timeout at {where(error.__traceback__)}", _format(error))
        place = where(error.__traceback__, recursion=isinstance(error, RecursionError))
        return Outcome("crash", f"{type(error).__name__} at {place}", _format(error))
    return Outcome("compiled")


def _format(error: BaseException) -> str:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    text = "".join(lines)
    return text if len(text) < 20_000 else text[:8_000] + "\n[...]\n" + text[-8_000:]


def must_end_well(text: str, *, seconds: float = 5.0) -> None:
    """For the tests: a crash propagates as itself (hypothesis groups and shrinks it), a timeout fails."""
    for validate in (True, False):
        started = time.monotonic()
        try:
            with time_limit(seconds * 4):  # the hard stop; hypothesis' deadline reports the slow ones
                try:
                    compile_spec(text, validate=validate)
                except QxError as error:
                    assert str(error)
                    assert all(e.message for e in error.errors)
        except Timeout as timeout:
            raise AssertionError(
                f"loads(validate={validate}) ran {time.monotonic() - started:.0f} s, stopped at {timeout.args[0]}"
            ) from None


# ---- shrinking ----------------------------------------------------------------------

_TOKEN = re.compile(r'"[^"\n]*"|\d+\.?\d*(?:[eE][+-]?\d+)?|[\w-]+(?:/\w+)?|\.\.|\*\*|\S')
_RUN = re.compile(r"((?:[a-z]\w*)?\(|-|\+|\[)(?:\s*\1){3,}")
_LONG = re.compile(r"(\d)\1{7,}")


class _Budget:
    def __init__(self, tries: int, seconds: float) -> None:
        self.tries, self.deadline = tries, time.monotonic() + seconds

    def spend(self) -> bool:
        self.tries -= 1
        return self.tries >= 0 and time.monotonic() < self.deadline


def minimize(text: str, same: Callable[[str], bool], *, tries: int = 400, seconds: float = 60.0) -> str:
    """A smaller text for which `same` still holds: fewer lines, tokens, nesting levels and digits."""
    budget = _Budget(tries, seconds)

    def keep(candidate: str) -> bool:
        return candidate != text and budget.spend() and same(candidate)

    changed = True
    while changed and budget.spend():
        changed = False
        for unit in ("line", "token"):
            pieces = text.splitlines(keepends=True) if unit == "line" else _pieces(text)
            chunk = max(1, len(pieces) // 2)
            while chunk >= 1:
                i = 0
                while i < len(pieces):
                    candidate_pieces = pieces[:i] + pieces[i + chunk :]
                    candidate = "".join(candidate_pieces)
                    if keep(candidate):
                        text, pieces, changed = candidate, candidate_pieces, True
                    else:
                        i += chunk
                chunk //= 2
        for candidate in _simpler(text):
            if keep(candidate):
                text, changed = candidate, True
                break
    return text


def _pieces(text: str) -> list[str]:
    """Tokens with the text before them, so that deleting one keeps the rest as written."""
    pieces, last = [], 0
    for match in _TOKEN.finditer(text):
        pieces.append(text[last : match.end()])
        last = match.end()
    pieces.append(text[last:])
    return pieces


def _simpler(text: str) -> Iterator[str]:
    """Half the nesting of a deep run (and of the closers after it), half the digits of a long number."""
    for match in _RUN.finditer(text):
        opener = match.group(1)
        count = len(re.findall(re.escape(opener), match.group()))
        half = count // 2
        closer = {"(": ")", "[": "]"}.get(opener[-1], "")
        rest = text[match.end() :]
        if closer:
            rest = re.sub(rf"(?:\s*{re.escape(closer)}){{{half}}}", "", rest, count=1)
        yield text[: match.start()] + opener * (count - half) + rest
    for match in _LONG.finditer(text):
        digits = match.group()
        yield text[: match.start()] + digits[: len(digits) // 2] + text[match.end() :]
