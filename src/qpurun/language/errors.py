"""Every error of qpurun, drawn here once: the spec's, and those of everything around it.

A mistake in a spec surfaces as one of these, located, never as a Python
traceback. The CLI prints `str()` on stderr as is; the exit code is on the right::

    QxError                   a located problem in a spec: file:line:col, caret, hint      2
    ├── QxSyntaxError         the text does not parse                                      2
    ├── QxNameError           an unknown, duplicate or misused name                        2
    ├── QxUnitError           a unit of the wrong dimension, or a time off the ns grid     2
    ├── QxTypeError           a value of the wrong kind (a waveform where a number goes)   2
    ├── QxSweepError          a sweep or job list that does not bind the variables         2
    ├── QxDeviceError         Pulser refused a statement (device limits, channel rules)    2
    ├── QxJobError            one job of the sweep does not build on the device            2
    ├── QxTemplateError       (templates) a Jinja spec does not render, or lacks a value   2
    ├── QxImportError         (bridge.importer) the JSON is not a Pulser sequence, or holds       2
    │                         what `.qx` cannot say; located in the JSON file
    └── QxConfigError         a bad qpurun.toml / [tool.qpurun] value, or a bad override   2
    QxErrors                  several QxErrors found in one pass, reported together        2
    QxWarning                 a located warning (e.g. Pulser rounding a duration)          printed, exit unchanged

What is not the spec's fault has no location: a message and, as a separate
field, a `hint` (None, or the way out). `str()` is the message with the hint on
a line of its own (`with_hint`, the house format). The CLI prints it after
`qpurun: `, the lower ones wrapped in one of the two at the bottom::

    HintedError               (errors) their base: `message` and `hint`
    ├── TargetError           (run.targets) an unknown target name; a ValueError too           2, as UsageProblem
    ├── CredentialsError      (run.credentials) Pasqal Cloud credentials missing,          3, as BackendError;
    │                         unusable or unsafe; the message never holds a secret         `backends` shows the hint
    ├── StoreError            (run.store) the SQLite store cannot be used; names the file  3, as EnvironmentProblem
    │   ├── StoreLocked       another process held it longer than QPURUN_STORE_TIMEOUT     3
    │   ├── StoreCorrupt      the file is not a database, or is malformed                  3
    │   ├── StoreFull         the disk is full, or failed, while writing                   3
    │   ├── UnknownBatch      no batch has that id, or the prefix is ambiguous; a KeyError 3
    │   └── BatchBusy         another live process is running the batch                    3
    ├── BackendError          (run.backends) the target is not installed, cannot be        3, as EnvironmentProblem
    │   │                     reached, or refused or lost the batch
    │   └── SubmissionRefused the batch was refused before anything ran                    2 at `run`, 3 at `resume`
    ├── ExecutorError         (run.executor) the local worker processes cannot start       3, as EnvironmentProblem
    ├── OutputError           (run.output) the output directory cannot be written          3, as EnvironmentProblem
    ├── EnvironmentProblem    (command) a file, store or batch the command cannot use      3
    └── UsageProblem          (command) a mistake on the command line itself               2, like argparse's

A store, runner or output error met while a batch runs also names the batch and
how to finish it (`qpurun resume`). Ctrl-C is exit 130, the batch kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A region of a spec: 1-based line and column, end exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int
    source: Source | None = field(default=None, compare=False, repr=False)
    """The file the span is in, when it is not the spec being compiled (an included file)."""


@dataclass(frozen=True)
class Source:
    """The text a span points into, and the name to print for it."""

    name: str
    text: str
    template: str | None = None
    """For a rendered template: the template's text, which errors point into."""
    line_origins: tuple[int, ...] = ()
    """For a rendered template: the template line each rendered line came from."""
    _lines: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lines", tuple(self.text.splitlines()))

    def line(self, number: int) -> str:
        if 1 <= number <= len(self._lines):
            return self._lines[number - 1]
        return ""

    def origin(self, number: int) -> int:
        """The line of the file as written (the template's) for a line of `text`."""
        if 1 <= number <= len(self.line_origins):
            return self.line_origins[number - 1]
        return number

    def template_line(self, number: int) -> str:
        if self.template is None:
            return self.line(number)
        lines = self.template.splitlines()
        return lines[number - 1] if 1 <= number <= len(lines) else ""


def render(
    kind: str,
    message: str,
    span: Span | None,
    source: Source | None,
    hint: str | None,
) -> str:
    """The report for one problem: location, message, source line, caret, hint."""
    name = source.name if source is not None else "<spec>"
    if span is None:
        return with_hint(f"{name}: {kind}: {message}", hint)
    written = source.origin(span.line) if source is not None else span.line
    lines = [f"{name}:{written}:{span.column}: {kind}: {message}"]
    if source is not None:
        text = source.line(span.line).expandtabs(1)
        width = (
            span.end_column - span.column
            if span.end_line == span.line and span.end_column > span.column
            else max(1, len(text.rstrip()) - span.column + 1)
        )
        gutter = f"{written:>4} | "
        lines.append(f"{gutter}{text}")
        lines.append(" " * (len(gutter) + span.column - 1) + "^" * max(1, width))
        if source.template is not None and source.template_line(written).strip() != text.strip():
            lines.append(f"  rendered from template line {written}: {source.template_line(written).strip()}")
    if hint:
        lines.append(f"  hint: {hint}")
    return "\n".join(lines)


def with_hint(message: str, hint: str | None) -> str:
    """The house format of a report: the message, then the hint on a line of its own."""
    return message + (f"\n  hint: {hint}" if hint else "")


class HintedError(Exception):
    """A problem that is not the spec's: a message and, as a separate field, what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return with_hint(self.message, self.hint)


class QxError(Exception):
    """A problem in a spec, located at the text that caused it."""

    kind = "error"

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        source: Source | None = None,
        *,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        # A span in an included file names that file; it wins over the spec being compiled.
        self.source = span.source if span is not None and span.source is not None else source
        self.hint = hint

    def located(self, source: Source) -> QxError:
        """This error with `source` filled in where it was not known yet."""
        if self.source is None:
            self.source = source
        return self

    @property
    def line(self) -> int | None:
        """The line as written: for a template, the template's line."""
        if self.span is None:
            return None
        return self.source.origin(self.span.line) if self.source is not None else self.span.line

    @property
    def column(self) -> int | None:
        return self.span.column if self.span else None

    @property
    def errors(self) -> tuple[QxError, ...]:
        return (self,)

    def __str__(self) -> str:
        return render(self.kind, self.message, self.span, self.source, self.hint)


class QxSyntaxError(QxError):
    kind = "syntax error"


class QxNameError(QxError):
    kind = "name error"


class QxUnitError(QxError):
    kind = "unit error"


class QxTypeError(QxError):
    kind = "type error"


class QxSweepError(QxError):
    kind = "sweep error"


class QxDeviceError(QxError):
    kind = "device error"


class QxJobError(QxError):
    kind = "job error"


class QxConfigError(QxError):
    kind = "config error"


class QxErrors(QxError):
    """Several errors found in one pass; `str()` reports all of them in order."""

    def __init__(self, errors: Sequence[QxError]) -> None:
        first = errors[0]
        super().__init__(first.message, first.span, first.source, hint=first.hint)
        self._errors = tuple(errors)

    @property
    def errors(self) -> tuple[QxError, ...]:
        return self._errors

    def __str__(self) -> str:
        return "\n\n".join(str(e) for e in self._errors)


def raise_all(errors: Iterable[QxError]) -> None:
    """Raise the collected errors: the single one as itself, several together."""
    found = list(errors)
    if len(found) == 1:
        raise found[0]
    if found:
        raise QxErrors(found)


@dataclass(frozen=True)
class QxWarning:
    """A located warning, kept on the Experiment and printed by the CLI."""

    message: str
    span: Span | None
    source: Source | None = None
    hint: str | None = None

    def __str__(self) -> str:
        return render("warning", self.message, self.span, self.source, self.hint)
