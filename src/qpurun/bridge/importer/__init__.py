"""Pulser abstract-representation JSON to a `.qx` syntax tree: what `qpurun import` writes.

The inverse of the lowering: every construct is mapped back to the statement
whose lowering gives it, so that compiling the output rebuilds an equal
sequence. It is written as a person would write it: a known layout by its
name, a waveform or pulse used twice declared once, units on literals (`ns`,
`rad/us`, `um`; phases bare, in rad, with `pi` where the value is a simple
fraction of it), and expressions of variables kept symbolic.

What `.qx` cannot say (operations on other channels while one is in EOM
mode, a second detuning map on one DMM, a detuning map's slug, a `delay` at
rest or a phase-drift-corrected setpoint in EOM mode, one variable in slots of
two units, ...) is a `QxImportError` naming the construct, never a silently
different spec. The written text goes through the checker, which has the last
word on what `.qx` says. Two respellings keep the sequence and change its
JSON: configuration calls Pulser made after the first operation
(`config_slm_mask`, `config_detuning_map`) become setup statements, which run
first (for Pulser both only act from the first pulse on), and a `phase_shift`
without targets, every qubit since Pulser 1.4, names every qubit. Variables the
JSON gives no values for (Pulser's stand-in zeros) get no made-up job: the
text ends with `# fill in: jobs { t = ... }`.

    values.py     JSON numbers and expressions to literals with units (`pi / 2`, `100 ns`)
    recognise.py  devices, layouts and register shapes Pulser names, found in the JSON
    rebuild.py    the statements: register, channels, operations, EOM blocks, jobs
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from qpurun.language import ast
from qpurun.language.errors import QxError
from qpurun.language.printer import print_spec

DEFAULT_RUNS = 100
"""Shots per job when no job list is given: Pulser's JSON does not say."""


class QxImportError(QxError):
    """The JSON holds something `.qx` cannot say (yet), or is not a Pulser sequence."""

    kind = "import error"


MAX_INPUT_BYTES = 50_000_000
"""A sequence or job list larger than this is refused before it is parsed."""

_Number = StrictInt | Annotated[float, Field(allow_inf_nan=False)]


class _Job(BaseModel):
    """One entry of a `--jobs` file, as `QPUBackend.run` takes it."""

    model_config = ConfigDict(extra="forbid")
    runs: Annotated[StrictInt, Field(ge=1, le=1_000_000_000)] | None = None
    variables: dict[str, _Number | list[_Number] | dict[str, StrictInt]] = Field(default_factory=dict)


def read_json(text: str, what: str) -> Any:
    """JSON of bounded size and depth, or a QxImportError that says which."""
    if len(text) > MAX_INPUT_BYTES:
        raise QxImportError(f"{what} is {len(text):,} bytes; at most {MAX_INPUT_BYTES:,} are read")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise QxImportError(f"{what} is not JSON: {error}") from None
    except RecursionError:
        raise QxImportError(f"{what} is nested too deeply to be a Pulser sequence or job list") from None


def parse_jobs(text: str, what: str = "the job list") -> list[dict[str, Any]]:
    """A `--jobs` file, `[{"runs": N, "variables": {...}}, ...]`, checked entry by entry."""
    data = read_json(text, what)
    if not isinstance(data, list):
        raise QxImportError(f'{what} must hold a list of jobs: [{{"runs": N, "variables": {{...}}}}]')
    jobs = []
    for index, entry in enumerate(data):
        try:
            jobs.append(_Job.model_validate(entry).model_dump(exclude_none=True))
        except ValidationError as error:
            problems = error.errors()
            # A value is tried against each allowed form; the form it nearly is says most.
            first = next((e for e in problems if e["type"] == "finite_number"), problems[0])
            parts = [str(part) for part in first["loc"]]
            where = ".".join(parts[:2] if parts[:1] == ["variables"] else parts[:1]) or "the entry"
            raise QxImportError(
                f"{what}: job {index}: {where}: {first['msg']}",
                hint='each job is {"runs": N (a whole number from 1), "variables": {"name": value, ...}}',
            ) from None
    return jobs


def import_sequence(
    seq_json: str,
    *,
    jobs: list[dict[str, Any]] | None = None,
    name: str | None = None,
    runs: int | None = None,
    side_files: dict[str, str] | None = None,
) -> ast.Spec:
    """The spec of a Pulser sequence's abstract representation (parametrized or not).

    `jobs` is the batch's job list (`[{"runs": N, "variables": {...}}]`), written
    as a `jobs` block; without it, one job binds each variable to the default
    value in the JSON and runs `runs` (default `DEFAULT_RUNS`) shots. When the
    JSON holds only Pulser's stand-in zeros (no defaults were given), no job is
    written: `import_text` says in a comment what to fill in.

    A device that is not a `pulser.devices` device, or a layout with a custom
    name, is written to a file beside the spec: pass `side_files`, a dict the
    importer fills with {file name: text}; without it, such a sequence is an error.
    """
    return _import(seq_json, jobs=jobs, name=name, runs=runs, side_files=side_files)[0]


def _import(
    seq_json: str,
    *,
    jobs: list[dict[str, Any]] | None,
    name: str | None,
    runs: int | None,
    side_files: dict[str, str] | None,
) -> tuple[ast.Spec, str]:
    """The spec and its text, which the checker has accepted (but for the jobs left to fill in)."""
    data = read_json(seq_json, "the input")
    if not isinstance(data, dict) or "operations" not in data or "register" not in data:
        raise QxImportError("the input is not a Pulser sequence in the abstract representation")
    _validate(seq_json)
    from qpurun.bridge.importer.rebuild import _Importer

    importer = _Importer(data, jobs=jobs, name=name, runs=runs, side_files=side_files)
    try:
        spec = importer.spec()
    except (ValueError, KeyError, TypeError) as error:  # Pulser refusing a layout or register we rebuild
        raise QxImportError(f"cannot read the sequence: {error}") from None
    text = print_spec(spec)
    if importer.fill_in:
        text += "# fill in: jobs { " + ", ".join(importer.fill_in) + " }\n"
    _check_written(text, expect_unbound=bool(importer.fill_in))
    return spec, text


def _check_written(text: str, *, expect_unbound: bool) -> None:
    """Refuse what Pulser takes and `.qx` does not, in the checker's own words.

    Pulser lets one variable be a detuning here and a phase there; a spec gives
    a variable one unit. The checker is the authority on what `.qx` says, so the
    written text goes through it rather than a copy of its rules. Only the jobs
    a `# fill in:` comment leaves to the reader may be missing.
    """
    from qpurun.language.checker import check
    from qpurun.language.errors import QxErrors, QxSweepError, Source
    from qpurun.language.parser import parse

    source = Source("<imported>", text)
    try:
        check(parse(text, filename=source.name), source)
    except QxError as error:
        found = error.errors if isinstance(error, QxErrors) else (error,)
        problems = [e for e in found if not (expect_unbound and isinstance(e, QxSweepError))]
        if not problems:
            return
        first = problems[0]
        lines = text.splitlines()

        def quoted(line: int) -> str:
            written = lines[line - 1].strip() if 0 < line <= len(lines) else "?"
            return f"`{written[:77]}...`" if len(written) > 80 else f"`{written}`"

        # The reader never sees the text: its line numbers become the lines themselves.
        message = re.sub(r"on line (\d+)", lambda m: "in " + quoted(int(m.group(1))), first.message)
        here = f" (here: {quoted(first.span.line)})" if first.span else ""
        raise QxImportError(f"this sequence cannot be written in `.qx`: {message}{here}", hint=first.hint) from None


def _validate(seq_json: str) -> None:
    """Pulser's own schema check, so that a malformed file is named as such, not half-imported."""
    import jsonschema  # type: ignore[import-untyped]
    from pulser.json.abstract_repr.validation import validate_abstract_repr

    try:
        validate_abstract_repr(seq_json, "sequence")
    except jsonschema.ValidationError as error:
        # The schema is a union of unions; the deepest complaint finds the entry at fault
        # (`operations/3`, `register/0`), though not always the field within it.
        deepest: list[str | int] = []
        pending = [error]
        while pending:
            current = pending.pop()
            pending.extend(current.context or ())
            if len(current.absolute_path) > len(deepest):
                deepest = list(current.absolute_path)
        part: Any = json.loads(seq_json)
        for key in deepest[:2]:
            part = part[key]
        where = "/".join(str(key) for key in deepest[:2]) or "the top level"
        raise QxImportError(
            f"this is not a valid Pulser sequence: {where} is none of the forms Pulser writes "
            f"({json.dumps(part)[:100]})",
            hint="export it with `Sequence.to_abstract_repr()`",
        ) from None


def import_text(
    seq_json: str,
    *,
    jobs: list[dict[str, Any]] | None = None,
    name: str | None = None,
    runs: int | None = None,
    side_files: dict[str, str] | None = None,
) -> str:
    """`import_sequence`, printed as canonical `.qx` text.

    A sequence whose variables have no values in the JSON ends with
    `# fill in: jobs { t = ... }`: the spec does not check until the jobs are
    written, and the checker says so at each `var`, never with a made-up value.
    """
    return _import(seq_json, jobs=jobs, name=name, runs=runs, side_files=side_files)[1]
