"""What every command shares: exit codes, the errors the command line reports, the spec options.

`qpurun.cli` (the compiler's commands) and `qpurun.run.commands` (the
runner's) both build on this module and neither imports the other's
internals. Nothing here imports Pulser.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from qpurun.language.errors import HintedError
from qpurun.run.targets import DEFAULT_TARGET, Target, TargetError, parse_target

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_SPEC_ERROR = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130

_ENVIRONMENT = "an environment problem: unreadable file, unknown batch, locked or corrupt store, full disk"
_INTERRUPTED = "interrupted (Ctrl-C); the batch is stored and `qpurun resume` finishes it"
_USAGE = "a mistake in the command line"

_MEANINGS: dict[str, dict[int, str]] = {
    "check": {0: "every spec checks", 2: "a spec has a mistake (each is reported), or " + _USAGE, 3: _ENVIRONMENT},
    "compile": {0: "compiled", 2: "the spec has a mistake, or " + _USAGE, 3: _ENVIRONMENT},
    "fmt": {
        0: "formatted; with --check, every file already is",
        1: "with --check: a file would be reformatted (its name is printed)",
        2: "a file does not parse, or " + _USAGE,
        3: "a file cannot be read or written",
    },
    "draw": {0: "the drawing is written", 2: "the spec has a mistake, or " + _USAGE, 3: _ENVIRONMENT},
    "lsp": {0: "the editor ended the session", 2: _USAGE, 3: "pygls is missing: pip install 'qpurun[lsp]'"},
    "import": {
        0: "the spec is written",
        2: "the input cannot be imported (the reason is printed), or " + _USAGE,
        3: _ENVIRONMENT,
    },
    "run": {
        0: "every job succeeded",
        1: "the run finished, but one or more jobs failed",
        2: "a mistake in the spec, or " + _USAGE,
        3: _ENVIRONMENT,
        130: _INTERRUPTED,
    },
    "resume": {
        0: "every job succeeded",
        1: "the batch finished, but one or more jobs failed",
        2: _USAGE,
        3: _ENVIRONMENT,
        130: _INTERRUPTED,
    },
}
_DEFAULT_MEANINGS = {0: "success", 2: _USAGE, 3: _ENVIRONMENT}

EXIT_CODES = """\
exit codes:
  0    success
  1    the run finished, but one or more jobs failed (fmt --check: a file would be reformatted)
  2    a mistake in the spec (or in the command line)
  3    an environment problem: unreadable file, unknown batch, locked or corrupt store, full disk
  130  interrupted (Ctrl-C); the batch is stored and `qpurun resume` finishes it
"""
"""`qpurun --help`'s list, for every command; each command's own help lists only its own (`exit_codes`)."""


def exit_codes(command: str) -> str:
    """The exit codes one command can return, for its `--help`: `fmt --check` says what its 1 means."""
    meanings = _MEANINGS.get(command, _DEFAULT_MEANINGS)
    return "exit codes:\n" + "".join(f"  {code:<4} {text}\n" for code, text in sorted(meanings.items()))


Handler = Callable[[argparse.Namespace], int]


def read_spec(path: str) -> tuple[str, str]:
    """The text of a spec file, or an environment error the CLI reports."""
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except OSError as error:
        raise EnvironmentProblem(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise EnvironmentProblem(f"cannot read {path}: it is not UTF-8 text") from None


class EnvironmentProblem(HintedError):
    """Not the spec's fault: a file, a store or a batch the CLI cannot use."""


class UsageProblem(HintedError):
    """A mistake on the command line itself (exit 2, like argparse's own)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, already reported with the batch id and the `resume` hint: `main` adds nothing."""


@contextlib.contextmanager
def deaf_to_interrupts() -> Iterator[None]:
    """While a Ctrl-C is being handled (workers stopped, the batch's state printed), a second
    one would only cut that short with a traceback."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# Options every command that compiles a spec takes: the target, and values for template specs.
SPEC_OPTIONS = argparse.ArgumentParser(add_help=False)
SPEC_OPTIONS.add_argument(
    "--backend",
    metavar="TARGET",
    help=f"where the batch is meant to run, which decides what is checked: qutip (default), emu-sv, emu-mps, "
    f"pasqal:EMU_MPS, pasqal:EMU_SV, pasqal:EMU_FREE, pasqal:<QPU> such as pasqal:FRESNEL "
    f"(`qpurun backends` lists them; default: the project configuration's, else {DEFAULT_TARGET})",
)
SPEC_OPTIONS.add_argument(
    "--set",
    action="append",
    metavar="NAME=VALUE",
    help="a template value (JSON, or else a string); repeatable",
)
SPEC_OPTIONS.add_argument("--params", metavar="FILE", help="template values from a TOML or JSON file")
SPEC_OPTIONS.add_argument(
    "--allow-path",
    action="append",
    default=[],
    metavar="DIR",
    help="let `include` read files under DIR too (by default only the spec's own directory tree); repeatable",
)
SPEC_OPTIONS.add_argument(
    "--split-runs",
    action="store_true",
    help="split a job asking for more runs than the device's max_runs into several jobs (results merge them back)",
)


def template_values(args: argparse.Namespace) -> dict[str, Any]:
    """Values for a template spec, from --params FILE then --set NAME=VALUE (which wins)."""
    from qpurun.language.templates import load_parameters, parse_assignment

    values: dict[str, Any] = {}
    try:
        if getattr(args, "params", None):
            values.update(load_parameters(args.params))
        for assignment in getattr(args, "set", None) or []:
            name, value = parse_assignment(assignment)
            values[name] = value
    except OSError as error:
        raise EnvironmentProblem(f"cannot read {args.params}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageProblem(str(error)) from None
    return values


def jobs(count: int) -> str:
    """'1 job', '20 jobs': how a message counts jobs."""
    return f"{count} job" if count == 1 else f"{count} jobs"


def target_of(args: argparse.Namespace, configured: str | None = None) -> Target:
    """The target a command runs for: --backend, else the project configuration's, else the default."""
    name = getattr(args, "backend", None) or configured or DEFAULT_TARGET
    try:
        return parse_target(name)
    except TargetError as error:
        raise UsageProblem(error.message, hint=error.hint) from None


def compile_spec(
    path: str,
    *,
    target: Target | None = None,
    values: dict[str, Any] | None = None,
    allow_paths: list[str] | None = None,
    split_runs: bool = False,
    validate: bool = True,
    remote_devices: Callable[[], Mapping[str, Any]] | None = None,
) -> Any:
    """Compile one spec file for a command, checked for `target`; warnings go to stderr."""
    from qpurun.api import loads

    text, name = read_spec(path)
    experiment = loads(
        text,
        filename=name,
        target=target,
        values=values,
        allow_paths=allow_paths or (),
        split_runs=split_runs,
        validate=validate,
        remote_devices=remote_devices,
    )
    for warning in experiment.warnings:
        print(warning, file=sys.stderr)
    return experiment
