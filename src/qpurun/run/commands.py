"""`qpurun run | runs | status | results | resume`, registered through `qpurun.cli._extra_commands`.

`run` compiles the spec, submits every job as one batch through Pulser's
`QPUBackend` over a `LocalConnection`, shows progress on a terminal, writes
the output directory and prints a summary. Everything is in the store the
moment it happens, so Ctrl-C, a kill or a full disk lose no finished job and
`qpurun resume BATCH` carries on. Pulser is imported only by the commands
that run something.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from qpurun.cli import (
    EXIT_CODES,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SPEC_ERROR,
    TEMPLATE_OPTIONS,
    EnvironmentProblem,
    compile_spec,
    template_values,
)
from qpurun.run import output
from qpurun.run.executor import SINGLE_THREAD_ENV, ExecutorError
from qpurun.run.store import Batch, JobRow, Store, StoreError, batch_status

RUN_EPILOG = (
    EXIT_CODES
    + """
The batch and every result are stored in SQLite under $QPURUN_HOME (default: the
per-user data directory); QPURUN_STORE_TIMEOUT is how long to wait for a locked
store (seconds, default 10).
"""
)


# ---- helpers


def _store() -> Store:
    store = Store()
    try:
        store.check()
    except StoreError as error:
        raise EnvironmentProblem(str(error)) from None
    return store


@contextlib.contextmanager
def _environment() -> Iterator[None]:
    """Store and output failures are environment problems (exit 3), with their own message."""
    try:
        yield
    except (StoreError, output.OutputError) as error:
        raise EnvironmentProblem(str(error)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


class Progress:
    """`[#####-----]  12/20 jobs  1 failed  ETA 0:04` on a terminal's stderr; silent otherwise."""

    def __init__(self, total: int, done: int, *, stream: IO[str], enabled: bool, label: str) -> None:
        self.total = total
        self.start_done = done
        self.started = time.monotonic()
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self.label = label
        self.width = 0

    def update(self, done: int, failed: int) -> None:
        if not self.enabled:
            return
        bar = 30
        filled = int(bar * done / self.total) if self.total else bar
        elapsed = time.monotonic() - self.started
        rate_done = done - self.start_done
        if rate_done > 0 and done < self.total:
            eta = f"ETA {_clock(elapsed / rate_done * (self.total - done))}"
        elif done >= self.total:
            eta = f"in {_clock(elapsed)}"
        else:
            eta = "ETA --:--"
        failures = f"  {failed} failed" if failed else ""
        line = f"{self.label} [{'#' * filled}{'-' * (bar - filled)}] {done}/{self.total} jobs{failures}  {eta}"
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def finish(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a run the way Ctrl-C does: state consistent, resumable."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _stopping(connection: Any) -> Iterator[None]:
    """However the command ends (Ctrl-C while submitting included), no worker outlives it."""
    try:
        yield
    finally:
        connection.stop()


def _follow(connection: Any, batch_id: str, *, show: bool, label: str) -> None:
    """Wait for the batch, drawing progress; on Ctrl-C stop the workers and say how to resume."""
    store: Store = connection.store
    counts = store.counts(batch_id)
    total = sum(counts.values())
    ended = counts.get("DONE", 0) + counts.get("ERROR", 0)
    progress = Progress(total, ended, stream=sys.stderr, enabled=show, label=label)
    try:
        while True:
            finished = connection.wait(batch_id, timeout=0.2)
            counts = store.counts(batch_id)
            progress.update(counts.get("DONE", 0) + counts.get("ERROR", 0), counts.get("ERROR", 0))
            if finished:
                break
    except (StoreError, ExecutorError) as error:
        progress.finish()
        connection.stop()
        raise EnvironmentProblem(
            f"{error}\n  the batch is {batch_id}: `qpurun resume {batch_id}` continues it"
        ) from None
    except KeyboardInterrupt:
        progress.finish()
        connection.stop()
        counts = store.counts(batch_id)
        print(
            f"qpurun: interrupted; batch {batch_id} is stored with {counts.get('DONE', 0)} of {total} jobs done\n"
            f"  hint: `qpurun resume {batch_id}` runs the rest",
            file=sys.stderr,
        )
        raise
    finally:
        progress.finish()


def _finish(store: Store, batch: Batch, *, as_json: bool, out_dir: Path | None) -> int:
    """Write the results files, print the summary (or JSON), and choose the exit code."""
    jobs = output.merge_parts(store.jobs(batch.batch_id), store.parts(batch.batch_id))
    batch = store.batch(batch.batch_id)
    status = batch_status(batch, store.counts(batch.batch_id))
    if out_dir is not None:
        try:
            output.write_results(out_dir, batch, jobs, status)
        except output.OutputError as error:
            raise EnvironmentProblem(
                f"{error}\n  the results are safe in the store: `qpurun results {batch.batch_id} --csv`"
            ) from None
    if as_json:
        print(json.dumps(output.results_json(batch, jobs, status), indent=2))
    else:
        print(output.summary_table(jobs))
        if out_dir is not None:
            print(f"\nresults: {out_dir}/results.csv  (batch {batch.batch_id})")
    failed = [job for job in jobs if job.status == "ERROR"]
    for job in failed[:10]:
        print(f"qpurun: job {job.index} failed: {job.error}", file=sys.stderr)
    if len(failed) > 10:
        print(f"qpurun: ... and {len(failed) - 10} more failed jobs", file=sys.stderr)
    return EXIT_RUN_FAILED if failed or status not in ("DONE",) else EXIT_OK


# ---- run


def _single_threaded_blas() -> None:
    """Workers are forked from this process: hold BLAS/OpenMP to one thread before numpy loads."""
    if "numpy" not in sys.modules:
        os.environ.update(SINGLE_THREAD_ENV)


def cmd_run(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    experiment = compile_spec(
        args.spec, values=template_values(args), allow_paths=args.allow_path, split_runs=args.split_runs
    )
    import pulser.devices
    from pulser.backend import BackendConfig, QPUBackend
    from pulser.backend.remote import RemoteBackend

    from qpurun.run.connection import LocalConnection
    from qpurun.run.emulator import plan_shots

    store = _store()
    out_dir = Path(args.out) if args.out else output.default_out_dir(experiment.name)
    with _environment():
        output.prepare_out_dir(out_dir)
    sequence = experiment.sequence
    devices = [sequence.device] if experiment.checked.device.is_file else []
    connection = LocalConnection(store=store, workers=args.workers, devices=devices, noise=experiment.noise)
    _warn_about_shots(experiment, plan_shots)
    real = isinstance(sequence.device, pulser.devices.Device)
    runs = experiment.jobs[0].runs if experiment.jobs else None
    config = BackendConfig(default_num_shots=runs)
    if not real:
        print(
            f"qpurun: note: {sequence.device.name} is a virtual device: running through LocalConnection "
            "without the QPU-only checks (QPUBackend needs a real Device)",
            file=sys.stderr,
        )
    with _sigterm_as_interrupt(), _environment(), _stopping(connection):
        with connection.describing(
            name=experiment.name, source=experiment.source, out_dir=str(out_dir), qpu_checks=real
        ):
            try:
                if real:
                    backend: Any = QPUBackend(sequence, connection, config=config)
                else:
                    backend = RemoteBackend(sequence, connection, mimic_qpu=False, config=config)
                remote = backend.run(experiment.job_params, wait=False)
            except (ValueError, TypeError) as error:
                connection.stop()
                print(f"qpurun: {args.spec}: the batch was refused at submission: {error}", file=sys.stderr)
                return EXIT_SPEC_ERROR
        batch_id = remote.batch_id
        if any(job.origin is not None for job in experiment.jobs):
            with _environment():  # --split-runs: results merge the parts back on the job as written
                store.set_parts(batch_id, [job.written_index for job in experiment.jobs])
        batch = store.batch(batch_id)
        output.write_inputs(out_dir, batch, store.jobs(batch_id))
        if not args.json:
            print(
                f"batch {batch_id}: {len(experiment.jobs)} jobs on {sequence.device.name}, "
                f"{connection.workers} worker(s); store {store.path}",
                file=sys.stderr,
            )
        _follow(connection, batch_id, show=not args.json, label=experiment.name)
        return _finish(store, batch, as_json=args.json, out_dir=out_dir)


def _warn_about_shots(experiment: Any, plan_shots: Any) -> None:
    if not experiment.noise:
        return
    for job in experiment.jobs:
        plan = plan_shots(job.runs, experiment.noise)
        if plan.total != job.runs:
            print(
                f"qpurun: note: with stochastic noise Pulser samples {plan.shots_per_trajectory} shots from each of "
                f"{plan.trajectories} trajectories: {job.describe()} gets {plan.total} bitstrings, not {job.runs} "
                "(make the noise block's `runs` divide the job's runs for an exact count)",
                file=sys.stderr,
            )
            return


# ---- resume


def cmd_resume(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    store = _store()
    with _environment():
        batch_id = store.resolve(args.batch)
        batch = store.batch(batch_id)
    from qpurun.run.connection import LocalConnection

    connection = LocalConnection(store=store, workers=args.workers)
    with _sigterm_as_interrupt(), _environment(), _stopping(connection):
        counts = store.counts(batch_id)
        remaining = (
            counts.get("PENDING", 0) + counts.get("RUNNING", 0) + (counts.get("ERROR", 0) if args.retry_failed else 0)
        )
        connection.resume(batch_id, retry_failed=args.retry_failed)
        if not args.json:
            print(f"batch {batch_id}: resuming {remaining} of {sum(counts.values())} jobs", file=sys.stderr)
        _follow(connection, batch_id, show=not args.json, label=batch.name)
        out_dir = Path(batch.out_dir) if batch.out_dir else None
        if out_dir is not None and not out_dir.is_dir():
            output.write_inputs(out_dir, batch, store.jobs(batch_id))
        return _finish(store, batch, as_json=args.json, out_dir=out_dir)


# ---- runs, status, results


def cmd_runs(args: argparse.Namespace) -> int:
    store = _store()
    with _environment():
        records: list[dict[str, Any]] = []
        for batch in store.batches():
            counts = store.counts(batch.batch_id)
            records.append(
                {
                    "batch_id": batch.batch_id,
                    "name": batch.name,
                    "created_at": batch.created_at,
                    "status": batch_status(batch, counts),
                    "jobs": sum(counts.values()),
                    "done": counts.get("DONE", 0),
                    "failed": counts.get("ERROR", 0),
                    "device": batch.device_name,
                    "spec": batch.spec_name,
                    "out_dir": batch.out_dir,
                }
            )
    if args.json:
        print(json.dumps(records, indent=2))
        return EXIT_OK
    if not records:
        print(f"no batches yet in {store.path}; hint: `qpurun run SPEC`", file=sys.stderr)
        return EXIT_OK
    rows = [["batch", "created (UTC)", "name", "status", "done", "spec"]]
    for r in records:
        rows.append(
            [
                r["batch_id"][:12],
                r["created_at"][:19].replace("T", " "),
                r["name"],
                r["status"],
                f"{r['done']}/{r['jobs']}" + (f" ({r['failed']} failed)" if r["failed"] else ""),
                r["spec"] or "",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def _load(args: argparse.Namespace) -> tuple[Store, Batch, list[JobRow], str]:
    store = _store()
    with _environment():
        batch_id = store.resolve(args.batch)
        batch = store.batch(batch_id)
        jobs = store.jobs(batch_id)
        status = batch_status(batch, store.counts(batch_id))
    return store, batch, jobs, status


def cmd_status(args: argparse.Namespace) -> int:
    _, batch, jobs, status = _load(args)
    if args.json:
        print(json.dumps(output.status_json(batch, jobs, status), indent=2))
        return EXIT_OK
    done = sum(job.status == "DONE" for job in jobs)
    failed = [job for job in jobs if job.status == "ERROR"]
    print(
        f"batch {batch.batch_id} ({batch.name}): {status}, {done}/{len(jobs)} jobs done"
        + (f", {len(failed)} failed" if failed else "")
    )
    for job in jobs:
        line = f"  job {job.index:>4}  {job.status:<8} {job.finished_at or ''}"
        if job.error:
            line += f"  {job.error}"
        print(line.rstrip())
    if status == "PAUSED":
        print(f"hint: `qpurun resume {batch.batch_id}` runs the remaining jobs", file=sys.stderr)
    return EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    store, batch, jobs, status = _load(args)
    with _environment():
        jobs = output.merge_parts(jobs, store.parts(batch.batch_id))
    if args.csv:
        sys.stdout.write(output.csv_text(jobs))
    elif args.json:
        print(json.dumps(output.results_json(batch, jobs, status), indent=2))
    else:
        print(f"batch {batch.batch_id} ({batch.name}): {status}")
        print(output.summary_table(jobs, limit=10**9))
    return EXIT_OK


# ---- registration


def _quiet_on_closed_pipe(handler: Any) -> Any:
    """`qpurun results X | head` ends quietly when the reader goes away (the data is in the store)."""

    def run(args: argparse.Namespace) -> int:
        try:
            code: int = handler(args)
            sys.stdout.flush()
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OK
        return code

    return run


def register(commands: Any) -> None:
    """Add the runner's commands to `qpurun`'s subcommand parser."""

    def add(name: str, help: str, description: str, *, spec: bool = False) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name,
            help=help,
            description=description,
            epilog=RUN_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[TEMPLATE_OPTIONS] if spec else [],
        )
        return parser

    run = add(
        "run",
        "run a spec's jobs as one batch on the local emulator, durably",
        "Compile SPEC, submit all its jobs as one batch through Pulser's QPUBackend over a local "
        "connection (pulser-simulation), store every result as it comes, and summarize.",
        spec=True,
    )
    run.add_argument("spec", metavar="SPEC", help="a .qx file")
    run.add_argument("--backend", choices=("local",), default="local", help="where to run (default: local)")
    run.add_argument(
        "--workers", type=_positive, default=None, metavar="N", help="worker processes (default: the number of cores)"
    )
    run.add_argument("--out", metavar="DIR", help="output directory (default: runs/<name>-<timestamp>/)")
    run.add_argument("--json", action="store_true", help="print the results as JSON on stdout, no progress bar")
    run.set_defaults(handler=cmd_run)

    runs = add("runs", "list the stored batches", "List the batches in the store, newest last.")
    runs.add_argument("--json", action="store_true", help="print JSON on stdout")
    runs.set_defaults(handler=_quiet_on_closed_pipe(cmd_runs))

    status = add("status", "show a batch's status, job by job", "Show a batch's status and each job's.")
    status.add_argument("batch", metavar="BATCH", help="a batch id (or a unique prefix of one)")
    status.add_argument("--json", action="store_true", help="print JSON on stdout")
    status.set_defaults(handler=_quiet_on_closed_pipe(cmd_status))

    results = add("results", "print a batch's results", "Print a batch's results: a table, JSON or CSV.")
    results.add_argument("batch", metavar="BATCH", help="a batch id (or a unique prefix of one)")
    form = results.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON on stdout")
    form.add_argument("--csv", action="store_true", help="print the tidy CSV on stdout")
    results.set_defaults(handler=_quiet_on_closed_pipe(cmd_results))

    resume = add(
        "resume",
        "finish a batch that was interrupted or killed",
        "Run the jobs of a stored batch that have not finished; finished jobs are never re-run.",
    )
    resume.add_argument("batch", metavar="BATCH", help="a batch id (or a unique prefix of one)")
    resume.add_argument(
        "--workers", type=_positive, default=None, metavar="N", help="worker processes (default: the number of cores)"
    )
    resume.add_argument("--retry-failed", action="store_true", help="also run again the jobs that ended in ERROR")
    resume.add_argument("--json", action="store_true", help="print the results as JSON on stdout, no progress bar")
    resume.set_defaults(handler=cmd_resume)
