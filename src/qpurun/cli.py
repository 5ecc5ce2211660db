"""The `qpurun` command line: errors on stderr, results on stdout.

Pulser is imported inside the commands that need it, never at start-up, so
`qpurun --help` answers at once.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from qpurun.command import (
    EXIT_CODES,
    EXIT_ENVIRONMENT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SPEC_ERROR,
    SPEC_OPTIONS,
    EnvironmentProblem,
    Handler,
    Interrupted,
    UsageProblem,
    compile_spec,
    exit_codes,
    read_spec,
    target_of,
    template_values,
)
from qpurun.command import (
    jobs as count_jobs,
)
from qpurun.language.errors import QxError, Source


def _for_target(args: argparse.Namespace, path: str) -> dict[str, Any]:
    """What compiling a spec for a command needs: its target and where `device remote` is looked up."""
    from qpurun.run.commands import project, remote_devices, store_for

    resolved = project(args, path)
    target = target_of(args, resolved.config.backend)
    store = store_for(resolved)
    return {"target": target, "remote_devices": remote_devices(store), "store": store}


def _compile(args: argparse.Namespace, path: str, context: dict[str, Any] | None = None) -> Any:
    """The spec at `path` compiled with the command line's spec options, for the target in `context`."""
    context = context or _for_target(args, path)
    return compile_spec(
        path,
        target=context["target"],
        remote_devices=context["remote_devices"],
        values=template_values(args),
        allow_paths=args.allow_path,
        split_runs=args.split_runs,
    )


def cmd_check(args: argparse.Namespace) -> int:
    from qpurun.run.commands import device_note

    status = EXIT_OK
    report: list[dict[str, Any]] = []
    for path in args.specs:
        try:
            context = _for_target(args, path)
            experiment = _compile(args, path, context)
        except QxError as error:
            status = EXIT_SPEC_ERROR
            if args.json:
                report.append({"spec": path, "ok": False, "errors": [_error_json(e) for e in error.errors]})
            else:
                print(_colored(str(error)) if args.color else error, file=sys.stderr)
            continue
        note = device_note(experiment, context["store"])
        target = experiment.target.name
        if args.json:
            record: dict[str, Any] = {"spec": path, "ok": True, "jobs": len(experiment.jobs), "target": target}
            record["warnings"] = [_error_json(w) for w in experiment.warnings]
            if note:
                record["device_specs"] = note
            report.append(record)
        else:
            if note:
                print(f"qpurun: {note}", file=sys.stderr)
            device = experiment.device.name
            print(f"{path}: ok — {count_jobs(len(experiment.jobs))} valid on {device} for {target}")
    if args.json:
        print(json.dumps(report, indent=2))
    return status


def _error_json(error: QxError | Any) -> dict[str, Any]:
    """An error or a warning as JSON."""
    return {
        "kind": getattr(error, "kind", "warning"),
        "message": error.message,
        "line": error.line if isinstance(error, QxError) else (error.span.line if error.span else None),
        "column": error.column if isinstance(error, QxError) else (error.span.column if error.span else None),
        "hint": error.hint,
    }


_QUOTED = re.compile(r"^( *\d+ \| )(.*)$")


def _colored(report: str) -> str:
    """The report with each quoted spec line highlighted as `.qx` (the lexer of `pygmentize -l qx`)."""
    from qpurun.highlight import colorize

    lines = []
    for line in report.split("\n"):
        quoted = _QUOTED.match(line)
        lines.append(quoted.group(1) + colorize(quoted.group(2)).rstrip("\n") if quoted else line)
    return "\n".join(lines)


def cmd_lsp(args: argparse.Namespace) -> int:
    try:
        from qpurun.lsp.server import main as serve
        from qpurun.lsp.server import server
    except ImportError as error:
        raise EnvironmentProblem(
            f"the language server needs pygls ({error.name} is not installed)",
            hint="pip install 'qpurun[lsp]'",
        ) from None
    server.target = target_of(args).name
    serve()
    return EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    experiment = _compile(args, args.spec)
    output = experiment.sequence_json() if args.emit == "sequence" else json.dumps(experiment.job_params, indent=2)
    if args.output:
        try:
            Path(args.output).write_text(output + "\n", encoding="utf-8")
        except OSError as error:
            raise EnvironmentProblem(f"cannot write {args.output}: {error.strerror or error}") from None
    else:
        print(output)
    return EXIT_OK


def cmd_draw(args: argparse.Namespace) -> int:
    from qpurun.draw import output_path, use_backend, write  # neither Pulser nor pyplot yet

    use_backend(window=args.show)  # before compiling imports Pulser, and Pulser pyplot
    output = output_path(args.output, args.spec, args.job) if args.output or not args.show else None
    experiment = _compile(args, args.spec)
    write(experiment, job=args.job, output=output, window=args.show)
    if output is not None:
        print(output)
    return EXIT_OK


def cmd_fmt(args: argparse.Namespace) -> int:
    from qpurun.language.printer import format_text
    from qpurun.language.templates import is_template

    changed = []
    for path in args.files:
        text, name = read_spec(path)
        if is_template(text):
            print(f"left {path} as it is: a Jinja template has no one canonical layout", file=sys.stderr)
            continue
        formatted = format_text(text, filename=name)
        if formatted == text:
            continue
        changed.append(path)
        if args.check:
            print(f"would reformat {path}", file=sys.stderr)
        else:
            try:
                Path(path).write_text(formatted, encoding="utf-8")
            except OSError as error:
                raise EnvironmentProblem(f"cannot write {path}: {error.strerror or error}") from None
            print(f"reformatted {path}", file=sys.stderr)
    if args.check and changed:
        return EXIT_RUN_FAILED
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from qpurun.bridge.importer import QxImportError, import_text, parse_jobs

    text, _ = read_spec(args.sequence)
    jobs = None
    if args.jobs:
        jobs_text, _ = read_spec(args.jobs)
        try:
            jobs = parse_jobs(jobs_text, args.jobs)
        except QxImportError as error:
            raise UsageProblem(error.message, hint=error.hint) from None
    side_files: dict[str, str] | None = {} if args.output else None
    name = Path(args.output).stem if args.output else None
    try:
        spec = import_text(text, jobs=jobs, name=name, runs=args.runs, side_files=side_files)
    except QxError as error:
        error.source = Source(args.sequence, text)  # name the JSON file in the message
        raise
    if not args.output:
        print(spec, end="")
        return EXIT_OK
    output = Path(args.output)
    try:
        for file_name, content in (side_files or {}).items():
            (output.parent / file_name).write_text(content, encoding="utf-8")
            print(f"wrote {output.parent / file_name}", file=sys.stderr)
        output.write_text(spec, encoding="utf-8")
    except OSError as error:
        raise EnvironmentProblem(f"cannot write {args.output}: {error.strerror or error}") from None
    return EXIT_OK


def _shots(text: str) -> int:
    """`--runs`: a whole number of shots, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1_000_000_000:
        raise argparse.ArgumentTypeError(f"{value} shots: a job runs at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qpurun",
        description="Compile, check and run neutral-atom experiment specs (.qx) with Pulser.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Handler, help: str, description: str, *, spec: bool) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name,
            help=help,
            description=description,
            parents=[SPEC_OPTIONS] if spec else [],
            epilog=exit_codes(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    check = command(
        "check",
        cmd_check,
        "check specs: syntax, names, units, device limits, every job of the sweep",
        "Check specs without running them. Every job is built against the device.",
        spec=True,
    )
    check.add_argument("specs", nargs="+", metavar="SPEC", help="a .qx file")
    check.add_argument("--json", action="store_true", help="print a machine-readable report on stdout")
    check.add_argument("--color", action="store_true", help="highlight the quoted spec lines of the report")

    compile_ = command(
        "compile",
        cmd_compile,
        "print the Pulser sequence (abstract representation) or the job parameters",
        "Compile a spec to Pulser's abstract-representation JSON or to its job parameters.",
        spec=True,
    )
    compile_.add_argument("spec", metavar="SPEC", help="a .qx file")
    compile_.add_argument(
        "--emit",
        choices=("sequence", "jobs"),
        default="sequence",
        help="sequence: the parametrized sequence's JSON; jobs: [{runs, variables}] (default: sequence)",
    )
    compile_.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    draw = command(
        "draw",
        cmd_draw,
        "draw the register (trap numbers, blockade radius) and the pulse schedule of one job",
        "Draw one job of a spec: the register (qubit names, the layout's traps with their numbers, "
        "half the blockade radius at the job's highest Rydberg amplitude) above the schedule of every "
        "channel. A PNG or SVG holds both, a PDF has a page each. Never opens a window unless --show.",
        spec=True,
    )
    draw.add_argument("spec", metavar="SPEC", help="a .qx file")
    draw.add_argument(
        "--job",
        type=int,
        default=0,
        metavar="N",
        help="the job to draw, counting from 0 as `results` does (default: 0)",
    )
    draw.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="a .png, .svg or .pdf file (default: SPEC-jobN.png in the current directory)",
    )
    draw.add_argument(
        "--show", action="store_true", help="open the drawings in a window instead (and write FILE only if -o is given)"
    )

    fmt = command(
        "fmt",
        cmd_fmt,
        "rewrite specs in the canonical layout (comments kept)",
        "Rewrite specs in the one canonical layout. With --check, change nothing and exit 1 "
        "if any file would change (for pre-commit and CI).",
        spec=False,
    )
    fmt.add_argument("files", nargs="+", metavar="FILE", help="a .qx file")
    fmt.add_argument("--check", action="store_true", help="exit 1 if a file would change; write nothing")

    lsp = command(
        "lsp",
        cmd_lsp,
        "serve an editor: the language server (diagnostics, hover, completion, rename, ...)",
        "Run the language server over stdin and stdout, for an editor to start (see docs/editors.md). "
        "Diagnostics are `qpurun check`'s; every job is built when the file is saved.",
        spec=False,
    )
    lsp.add_argument(
        "--backend",
        metavar="TARGET",
        help="the target whose rules are checked (default: the project configuration's, else qutip)",
    )

    import_ = command(
        "import",
        cmd_import,
        "write the .qx spec of a Pulser sequence (abstract-representation JSON)",
        "Write the .qx spec of a Pulser sequence, parametrized or not, with its job list if given. "
        "A device that is not a pulser.devices device is written as a JSON file beside OUT.qx.",
        spec=False,
    )
    import_.add_argument("sequence", metavar="SEQ.json", help="the sequence, as Sequence.to_abstract_repr() writes it")
    import_.add_argument("--jobs", metavar="JOBS.json", help='the job list: [{"runs": N, "variables": {...}}, ...]')
    import_.add_argument(
        "--runs", type=_shots, help="shots per job when no job list is given (a whole number from 1; default: 100)"
    )
    import_.add_argument("-o", "--output", metavar="OUT.qx", help="write the spec (and any device file) here")

    for register in _extra_commands():
        register(commands)
    return parser


def _extra_commands() -> list[Callable[[Any], None]]:
    """Commands defined beside their stage (the runner's live in qpurun.run)."""
    from qpurun.run.commands import register as register_run_commands

    registrations: list[Callable[[Any], None]] = [register_run_commands]
    return registrations


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except QxError as error:
        print(error, file=sys.stderr)
        return EXIT_SPEC_ERROR
    except EnvironmentProblem as problem:
        print(f"qpurun: {problem}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except UsageProblem as problem:
        print(f"qpurun: {problem}", file=sys.stderr)
        return EXIT_SPEC_ERROR
    except Interrupted:
        return EXIT_INTERRUPTED  # the command said which batch, and how to resume it
    except KeyboardInterrupt:
        print("qpurun: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `qpurun compile x.qx | head`: the reader went away, nothing is lost
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def entry() -> NoReturn:
    """The `qpurun` command: `main`, then an exit without Python's teardown of every module.

    Tearing down Pulser, torch and QuTiP takes 1-2 s and does nothing a finished command needs:
    every result is committed and every file written is closed. What an exit must do is still done:
    threads that are not daemons are joined, the stores are closed (their WAL folded into the file),
    the atexit handlers run (multiprocessing's, logging's, temporary directories'), and the standard
    streams are flushed. A command that ends by SystemExit (`--help`, a usage error) exits as usual.
    """
    code = main()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    store = sys.modules.get("qpurun.run.store")
    if store is not None:
        gc.collect()  # a dropped store's connection is freed only so (its statement cache refers back to it)
        store.close_all()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that went away; a closed stream
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    # Run the imported module's main, not this `__main__` copy: the commands raise
    # the exception classes of `qpurun.cli`, which this copy would not catch.
    from qpurun.cli import entry as _entry

    _entry()
