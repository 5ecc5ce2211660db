"""Specs as Jinja2 templates, rendered in a sandbox before parsing.

A family of experiments (one per atom count, per detuning range, ...) is one
template and a few `--set NAME=VALUE`. The sandbox is Jinja's
`SandboxedEnvironment` with `StrictUndefined`, no loader (so no `include`,
`import` or `extends` can read a file) and only `range` among the globals.

Errors must still point at the template's own lines: before rendering, every
template line gets a trailing marker comment `#@L<n>`; the rendered text keeps
them (a loop repeats its body's markers), so every rendered line knows the
template line it came from. The markers are stripped before parsing.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qpurun.language.errors import QxError, Source, Span

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

_MARKER = re.compile(r"[ \t]*#@L(\d+)$")
_TEMPLATE_NAME = "<qx-template>"


class QxTemplateError(QxError):
    kind = "template error"


def is_template(text: str) -> bool:
    """Whether the text uses Jinja syntax at all (plain specs skip rendering)."""
    return "{{" in text or "{%" in text or "{#" in text


def _environment() -> SandboxedEnvironment:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        loader=None,
    )
    env.globals = {"range": env.globals["range"]}
    return env


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

    import jinja2
    import jinja2.meta

    try:
        used = jinja2.meta.find_undeclared_variables(env.parse(text))
    except jinja2.TemplateSyntaxError:
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


def render(text: str, values: Mapping[str, Any], *, filename: str = "<spec>") -> Source:
    """Render a template spec; the Source maps every rendered line to its template line."""
    import jinja2  # here, not at import: plain specs never pay for Jinja

    template_source = Source(filename, text)
    env = _environment()
    _check_values(env, text, values, template_source)
    try:
        template = env.from_string(_with_markers(text))
        template.filename = _TEMPLATE_NAME
        rendered = template.render(**values)
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
