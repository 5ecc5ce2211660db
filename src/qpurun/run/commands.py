"""`qpurun run | runs | status | results | plot | report | resume | cancel | backends | config`.

Registered through `qpurun.cli._extra_commands`. `run` compiles the spec for
its target, submits every job as one batch through the target's runner
(`qpurun.run.backends`: this machine's workers, or Pasqal Cloud), shows
progress on a terminal, writes the output directory and prints a summary.
Everything is in the store the moment it happens, so Ctrl-C, a kill or a full
disk lose no finished job and `qpurun resume BATCH` carries on. The commands
never ask which kind of runner they talk to. Pulser is imported only by the
commands that run something.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from qpurun.command import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SPEC_ERROR,
    SPEC_OPTIONS,
    EnvironmentProblem,
    Interrupted,
    UsageProblem,
    compile_spec,
    deaf_to_interrupts,
    exit_codes,
    target_of,
    template_values,
)
from qpurun.command import (
    jobs as count_jobs,
)
from qpurun.run import output
from qpurun.run.backends import BackendError, Runner, SubmissionRefused, offline_devices, runner_for, warn
from qpurun.run.executor import SINGLE_THREAD_ENV, ExecutorError
from qpurun.run.store import Batch, JobRow, Store, StoreError, batch_status
from qpurun.run.targets import Target, parse_target

if TYPE_CHECKING:
    from typing import TypeAlias

    from qpurun.config import Resolved
    from qpurun.report import Picture

    Drawn: TypeAlias = tuple[Picture, Picture] | None  # the report's register and schedule, drawn during the run

_T = TypeVar("_T")

STORE_EPILOG = """
The batch and every result are stored in SQLite under $QPURUN_HOME (default: the
per-user data directory); QPURUN_STORE_TIMEOUT is how long to wait for a locked
store (seconds, default 10).
"""


# ---- helpers


def project(args: argparse.Namespace, spec: str | None = None) -> Resolved:
    """The project configuration for a command: the nearest qpurun.toml from the spec (or here), with flags."""
    from qpurun.config import resolve

    start = Path(spec).resolve().parent if spec else Path.cwd()
    overrides = {"backend": getattr(args, "backend", None), "workers": getattr(args, "workers", None)}
    if getattr(args, "notify", None):
        overrides["notify"] = args.notify
    if getattr(args, "cluster", None):
        overrides["cluster.address"] = args.cluster
    try:
        return resolve(start, overrides=overrides, flags={"cluster.address": "--cluster"})
    except ValueError as error:  # not a QxError: an override naming no key (a bug of ours)
        raise UsageProblem(str(error)) from None


def store_for(resolved: Resolved) -> Store:
    """The project's store, not opened yet (check and compile touch it only for cached device specs)."""
    return Store(resolved.config.store)


def _store(resolved: Resolved) -> Store:
    """The project's store, opened now: a locked or corrupt file is reported before any work."""
    store = store_for(resolved)
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
    except (StoreError, output.OutputError, BackendError) as error:
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
def _stopping(runner: Runner) -> Iterator[None]:
    """However the command ends (Ctrl-C while submitting included), no worker outlives it."""
    try:
        yield
    finally:
        runner.stop()


def _resume_command(args: argparse.Namespace, batch_id: str) -> str:
    """How to carry on with a batch: on the cluster it ran on, when that was given as --cluster
    (a cluster in qpurun.toml is found again without it)."""
    cluster = getattr(args, "cluster", None)
    return f"qpurun resume {batch_id}" + (f" --cluster {cluster}" if cluster else "")


def _follow(
    runner: Runner,
    batch_id: str,
    *,
    show: bool,
    label: str,
    resume: str,
    meanwhile: Callable[[], _T] | None = None,
) -> _T | None:
    """Wait for the batch, drawing progress; on Ctrl-C stop following and say how to resume (`resume`,
    the command). `meanwhile`: work for this process while the jobs run (its value is returned)."""
    store: Store = runner.store
    remote = store.batch(batch_id).remote
    counts = store.counts(batch_id)
    total = sum(counts.values())
    ended = counts.get("DONE", 0) + counts.get("ERROR", 0)
    progress = Progress(total, ended, stream=sys.stderr, enabled=show, label=label)
    done_meanwhile: _T | None = None
    try:
        progress.update(ended, counts.get("ERROR", 0))
        if meanwhile is not None:
            done_meanwhile = meanwhile()
        while True:
            finished = runner.wait(batch_id, timeout=0.2)
            counts = store.counts(batch_id)
            ended = sum(counts.get(s, 0) for s in ("DONE", "ERROR", "CANCELED"))
            progress.update(ended, counts.get("ERROR", 0))
            if finished:
                break
    except (StoreError, ExecutorError, BackendError) as error:
        progress.finish()
        runner.stop()
        raise EnvironmentProblem(f"{error}\n  the batch is {batch_id}: `{resume}` continues it") from None
    except KeyboardInterrupt:
        with deaf_to_interrupts():
            progress.finish()
            runner.stop()
            counts = store.counts(batch_id)
            where = "it runs on, on the cloud; " if remote else ""
            done = counts.get("DONE", 0)
            print(
                f"qpurun: interrupted; batch {batch_id} is stored with {done} of {count_jobs(total)} done\n"
                f"  hint: {where}`{resume}` " + ("follows it again" if remote else "runs the rest"),
                file=sys.stderr,
            )
        raise Interrupted from None
    finally:
        progress.finish()
    return done_meanwhile


def _pictures(store: Store, batch_id: str, out_dir: Path | None) -> Callable[[], Drawn]:
    """The report's register and schedule, drawn while the jobs run (when there is a report to write)."""

    def draw() -> Drawn:
        from qpurun.report import draw_while_running

        return draw_while_running(store, batch_id) if out_dir is not None else None

    return draw


def _finish(store: Store, batch: Batch, *, as_json: bool, out_dir: Path | None, drawn: Drawn = None) -> int:
    """Write the results files, print the summary (or JSON), and choose the exit code."""
    jobs = output.merge_parts(store.jobs(batch.batch_id), store.parts(batch.batch_id))
    batch = store.batch(batch.batch_id)
    status = batch_status(batch, store.counts(batch.batch_id))
    report: Path | None = None
    if out_dir is not None:
        try:
            output.write_results(out_dir, batch, jobs, status)
        except output.OutputError as error:
            raise EnvironmentProblem(
                f"{error}\n  the results are safe in the store: `qpurun results {batch.batch_id} --csv`"
            ) from None
        from qpurun.report import write_into_run

        report = write_into_run(store, batch.batch_id, out_dir, drawn=drawn)  # a failure is a warning
    if as_json:
        print(json.dumps(output.results_json(batch, jobs, status), indent=2))
    else:
        print(output.summary_table(batch, jobs))
        if out_dir is not None:
            print(f"\nresults: {out_dir}/{output.RESULTS_CSV}  (batch {batch.batch_id})")
            if report is not None:
                print(f"report:  {report}")
    failed = [job for job in jobs if job.status == "ERROR"]
    for job in failed[:10]:
        print(f"qpurun: job {job.index} failed: {job.error}", file=sys.stderr)
    if len(failed) > 10:
        print(f"qpurun: ... and {len(failed) - 10} more failed jobs", file=sys.stderr)
    return EXIT_RUN_FAILED if failed or status not in ("DONE",) else EXIT_OK


def _notify(resolved: Resolved, batch_id: str, store: Store) -> None:
    """POST the batch's summary to the configured webhook; a failure is a warning, never the batch's."""
    url = resolved.config.notify
    if not url:
        return
    from qpurun.run.notify import notify

    batch = store.batch(batch_id)
    counts = store.counts(batch_id)
    summary = {
        "batch_id": batch.batch_id,
        "name": batch.name,
        "spec": batch.spec_name,
        "target": batch.target,
        "status": batch_status(batch, counts),
        "jobs": sum(counts.values()),
        "done": counts.get("DONE", 0),
        "failed": counts.get("ERROR", 0),
        "results": batch.out_dir,
    }
    problem = notify(url, summary)
    if problem:
        warn(problem)


# ---- run


def _single_threaded_blas() -> None:
    """Workers are forked from this process: hold BLAS/OpenMP to one thread before numpy loads."""
    if "numpy" not in sys.modules:
        os.environ.update(SINGLE_THREAD_ENV)


def cloud_options(resolved: Resolved, *, anonymous: bool = False) -> dict[str, Any]:
    """How a cloud runner connects: credentials are looked up only when it first needs the cloud.

    `anonymous`: without credentials, connect anyway (Pasqal Cloud's public device specs are all it reads).
    """
    pasqal = resolved.config.pasqal

    def connect() -> Any:
        from qpurun.run.cloud import connect as open_connection
        from qpurun.run.credentials import ANONYMOUS, CredentialsError, connection_kwargs, load_credentials

        try:
            credentials = load_credentials(pasqal, sources=resolved.sources, require_project=not anonymous)
        except CredentialsError as error:
            if not anonymous:
                raise BackendError(error.message, hint=error.hint) from None
            credentials = ANONYMOUS
        return open_connection(**connection_kwargs(credentials, pasqal))

    return {"connect": connect, "poll_interval": pasqal.poll_interval, "max_jobs_per_batch": pasqal.max_jobs_per_batch}


def make_runner(
    target: Target,
    store: Store,
    resolved: Resolved,
    *,
    workers: int | None = None,
    anonymous: bool = False,
    cluster: bool = False,
) -> Runner:
    """`cluster`: run on the configured Dask cluster, if any (run and resume; --cluster or `cluster` in the file)."""
    with _environment():
        return runner_for(
            target,
            store,
            workers=workers or resolved.config.workers,
            settings=resolved.settings_for_emulator(),
            cloud=cloud_options(resolved, anonymous=anonymous),
            cluster=resolved.config.cluster if cluster else None,
            cluster_given=resolved.sources.get("cluster.address") == "--cluster",
        )


def remote_devices(store: Store, runner: Runner | None = None) -> Any:
    """Where `device remote "NAME"` is looked up: the runner's devices (a cloud's, live), else offline.

    Offline (check, compile) the specs the last cloud connection fetched (the store's cache) win over
    Pulser's devices of the same name.
    """

    def devices() -> dict[str, Any]:
        if runner is None:
            return offline_devices(store)
        with _environment():
            return runner.fetch_devices()

    return devices


def device_note(experiment: Any, store: Store) -> str | None:
    """Which specs `device remote` got, and how old they are (printed by check and run)."""
    if not experiment.checked.device.remote:
        return None
    name = experiment.device.name
    with contextlib.suppress(StoreError):
        cached = store.cached_devices("pasqal").get(name)
        if cached is not None:
            return f"device {name}: the specs Pasqal Cloud offered on {_fetched(cached[1])}"
    return (
        f"device {name}: Pulser's own specs (no specs fetched from a cloud yet; "
        "`qpurun backends --refresh` fetches them)"
    )


def _fetched(stamp: str) -> str:
    """When specs were fetched and how old they are: `2026-12-01 11:40 UTC (3 h old)`."""
    return f"{stamp[:16].replace('T', ' ')} UTC ({_age(stamp)})"


def _age(stamp: str) -> str:
    from datetime import UTC, datetime

    seconds = (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
    if seconds < 3600:
        return f"{int(seconds // 60)} min old"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h old"
    return f"{int(seconds // 86400)} days old"


def cmd_run(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    resolved = project(args, args.spec)
    target = target_of(args, resolved.config.backend)
    store = _store(resolved)
    runner = make_runner(target, store, resolved, workers=args.workers, cluster=True)
    values = template_values(args)
    experiment = compile_spec(
        args.spec,
        target=target,
        values=values,
        allow_paths=args.allow_path,
        split_runs=args.split_runs,
        remote_devices=remote_devices(store, runner),
    )
    note = device_note(experiment, store)
    if note:
        print(f"qpurun: {note}", file=sys.stderr)
    from qpurun.run.emulator import plan_shots

    if target.kind == "local" and resolved.config.emulator.noise:  # the project's noise defaults
        experiment.noise = {**resolved.config.emulator.noise, **experiment.noise}
    out_dir = Path(args.out) if args.out else output.default_out_dir(experiment.name)
    with _environment():
        output.prepare_out_dir(out_dir)
    if target.kind == "local":
        _warn_about_shots(experiment, plan_shots, target.name)
    stored: list[str] = []
    from qpurun.config import describe_json

    inputs = output.run_inputs(
        experiment,
        values=values,
        options={"split_runs": bool(args.split_runs), "allow_paths": [str(p) for p in args.allow_path or ()]},
        configuration=describe_json(resolved),  # secrets masked; credentials are never in it
    )

    def on_stored(batch_id: str) -> None:
        """The batch is in the store: its parts, units, inputs and id are recorded before it is sent."""
        stored.append(batch_id)
        if any(job.origin is not None for job in experiment.jobs):
            # --split-runs: results merge the parts back on the job as written
            store.set_parts(batch_id, [job.written_index for job in experiment.jobs])
        store.set_units(batch_id, output.units_of(experiment))  # results show values as the spec wrote them
        output.write_inputs(out_dir, store.batch(batch_id), store.jobs(batch_id), inputs)
        if not args.json:
            print(
                f"batch {batch_id}: {count_jobs(len(experiment.jobs))} on {experiment.device.name}, "
                f"{target.name} ({runner.describe()}); store {store.path}",
                file=sys.stderr,
            )

    with _sigterm_as_interrupt(), _environment(), _stopping(runner):
        try:
            batch_id = runner.submit(experiment, out_dir=str(out_dir), on_stored=on_stored)
        except SubmissionRefused as error:
            print(f"qpurun: {args.spec}: {error}", file=sys.stderr)
            return EXIT_SPEC_ERROR
        except KeyboardInterrupt:
            if stored:
                print(
                    f"qpurun: interrupted while submitting; batch {stored[0]} is stored\n"
                    f"  hint: `qpurun resume {stored[0]}` sends it, after looking for it on the cloud",
                    file=sys.stderr,
                )
                raise Interrupted from None
            raise
        batch = store.batch(batch_id)
        drawn = _follow(
            runner,
            batch_id,
            show=not args.json,
            label=experiment.name,
            resume=_resume_command(args, batch_id),
            meanwhile=_pictures(store, batch_id, out_dir),
        )
        code = _finish(store, batch, as_json=args.json, out_dir=out_dir, drawn=drawn)
    _notify(resolved, batch_id, store)
    return code


def _warn_about_shots(experiment: Any, plan_shots: Any, target: str) -> None:
    if not experiment.noise:
        return
    for job in experiment.jobs:
        plan = plan_shots(job.runs, experiment.noise, target=target)
        if plan.total != job.runs:
            print(
                f"qpurun: note: with stochastic noise Pulser samples {plan.shots_per_trajectory} shots from each of "
                f"{plan.trajectories} trajectories: {job.describe()} gets {plan.total} bitstrings, not {job.runs} "
                "(make the noise block's `runs` divide the job's runs for an exact count)",
                file=sys.stderr,
            )
            return


# ---- resume


def _batch_runner(
    args: argparse.Namespace, batch: Batch, store: Store, resolved: Resolved, *, cluster: bool = False
) -> Runner:
    """The runner of a stored batch: the target it was submitted to, whatever the configuration says now."""
    try:
        target = parse_target(batch.target)
    except ValueError:
        raise EnvironmentProblem(f"batch {batch.batch_id} names the unknown target {batch.target!r}") from None
    return make_runner(target, store, resolved, workers=getattr(args, "workers", None), cluster=cluster)


def _spec_dir(batch: Batch) -> str | None:
    """The spec a batch came from, when it is still there: its directory's configuration applies."""
    if batch.spec_name and not batch.spec_name.startswith("<") and Path(batch.spec_name).exists():
        return batch.spec_name
    return None


def _stored(args: argparse.Namespace) -> tuple[Store, Batch, Resolved]:
    """The batch a command names, from the store the configuration (here) points at."""
    here = project(args)
    store = _store(here)
    with _environment():
        batch = store.batch(store.resolve(args.batch))
    spec = _spec_dir(batch)
    return store, batch, project(args, spec) if spec else here


def cmd_resume(args: argparse.Namespace) -> int:
    _single_threaded_blas()
    store, batch, resolved = _stored(args)
    batch_id = batch.batch_id
    runner = _batch_runner(args, batch, store, resolved, cluster=True)
    with _sigterm_as_interrupt(), _environment(), _stopping(runner):
        counts = store.counts(batch_id)
        remaining = (
            counts.get("PENDING", 0) + counts.get("RUNNING", 0) + (counts.get("ERROR", 0) if args.retry_failed else 0)
        )
        runner.resume(batch, retry_failed=args.retry_failed)
        if not args.json:
            verb = "following" if batch.remote else "resuming"
            print(f"batch {batch_id}: {verb} {remaining} of {count_jobs(sum(counts.values()))}", file=sys.stderr)
        out_dir = Path(batch.out_dir) if batch.out_dir else None
        drawn = _follow(
            runner,
            batch_id,
            show=not args.json,
            label=batch.name,
            resume=_resume_command(args, batch_id),
            meanwhile=_pictures(store, batch_id, out_dir),
        )
        if out_dir is not None and not (out_dir / "sequence.json").is_file():
            output.write_inputs(out_dir, batch, store.jobs(batch_id))
        code = _finish(store, batch, as_json=args.json, out_dir=out_dir, drawn=drawn)
    _notify(resolved, batch_id, store)
    return code


def cmd_cancel(args: argparse.Namespace) -> int:
    store, batch, resolved = _stored(args)
    runner = _batch_runner(args, batch, store, resolved)
    with _environment():
        canceled = runner.cancel(batch.batch_id)
        status = batch_status(store.batch(batch.batch_id), store.counts(batch.batch_id))
    running = store.counts(batch.batch_id).get("RUNNING", 0)
    tail = f"; {running} running job(s) finish" if running and not batch.remote else ""
    print(f"batch {batch.batch_id}: {canceled} job(s) canceled, now {status}{tail}")
    return EXIT_OK


# ---- runs, status, results


def cmd_runs(args: argparse.Namespace) -> int:
    store = _store(project(args))
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
                    "target": batch.target,
                    "remote_id": batch.remote_id,
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
    rows = [["batch", "created (UTC)", "name", "target", "status", "done", "spec"]]
    for r in records:
        rows.append(
            [
                r["batch_id"][:12],
                r["created_at"][:19].replace("T", " "),
                r["name"],
                r["target"],
                r["status"],
                f"{r['done']}/{r['jobs']}" + (f" ({r['failed']} failed)" if r["failed"] else ""),
                r["spec"] or "",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def _load(args: argparse.Namespace, *, refresh: bool = False) -> tuple[Store, Batch, list[JobRow], str]:
    store, batch, resolved = _stored(args)
    batch_id = batch.batch_id
    if refresh and batch.remote and batch_status(batch, store.counts(batch_id)) in ("PENDING", "RUNNING"):
        # Ask the cloud once; without it (no credentials, no network), say what the store knew.
        try:
            with _environment():
                _batch_runner(args, batch, store, resolved).refresh(batch_id)
        except EnvironmentProblem as problem:
            print(f"qpurun: note: as of the last poll; the cloud could not be asked: {problem}", file=sys.stderr)
    with _environment():
        batch = store.batch(batch_id)
        jobs = store.jobs(batch_id)
        status = batch_status(batch, store.counts(batch_id))
    return store, batch, jobs, status


def cmd_status(args: argparse.Namespace) -> int:
    _, batch, jobs, status = _load(args, refresh=True)
    if args.json:
        print(json.dumps(output.status_json(batch, jobs, status), indent=2))
        return EXIT_OK
    done = sum(job.status == "DONE" for job in jobs)
    failed = [job for job in jobs if job.status == "ERROR"]
    where = f" on {batch.target}" + (f" (cloud batch {batch.remote_id})" if batch.remote_id else "")
    print(
        f"batch {batch.batch_id} ({batch.name}){where}: {status}, {done}/{len(jobs)} jobs done"
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
    store, batch, jobs, status = _load(args, refresh=True)
    with _environment():
        jobs = output.merge_parts(jobs, store.parts(batch.batch_id))
    if args.csv:
        sys.stdout.write(output.results_csv(batch, jobs))
    elif args.bitstrings:
        sys.stdout.write(output.bitstrings_csv(batch, jobs))
    elif args.json:
        print(json.dumps(output.results_json(batch, jobs, status), indent=2))
    else:
        print(f"batch {batch.batch_id} ({batch.name}): {status}")
        print(output.summary_table(batch, jobs, limit=10**9))
    return EXIT_OK


def cmd_plot(args: argparse.Namespace) -> int:
    from qpurun.plot import command

    store, batch, _ = _stored(args)
    with _environment():
        return command(args, store, batch)


def cmd_report(args: argparse.Namespace) -> int:
    from qpurun.report import command

    store, batch, _ = _stored(args)
    with _environment():
        return command(args, store, batch)


# ---- backends, config


def cmd_backends(args: argparse.Namespace) -> int:
    from qpurun.run.targets import known

    resolved = project(args)
    store = _store(resolved)
    refreshed = None
    if args.refresh:
        target = parse_target("pasqal:EMU_FREE")
        runner = make_runner(target, store, resolved, anonymous=True)  # device specs are public
        with _environment():
            refreshed = sorted(runner.fetch_devices())
    credentials = _credentials_source(resolved)
    cached: dict[str, tuple[str, str]] = {}
    with contextlib.suppress(StoreError):
        cached = store.cached_devices("pasqal")
    records: list[dict[str, Any]] = []
    for name in known():
        target = parse_target(name)
        records.append(
            {
                "target": target.name,
                "kind": "QPU" if target.qpu else "emulator",
                "where": target.description,
                "installed": target.missing() is None,
                "missing": target.missing(),
                "needs": target.needs,
                "default": target.name == parse_target(resolved.config.backend).name,
            }
        )
    if args.json:
        print(
            json.dumps(
                {
                    "targets": records,
                    "credentials": credentials,
                    "devices": {name: {"fetched_at": when} for name, (_, when) in sorted(cached.items())},
                },
                indent=2,
            )
        )
        return EXIT_OK
    rows = [["target", "kind", "installed", "runs on", "needs"]]
    for r in records:
        mark = "yes" if r["installed"] else "no"
        rows.append([r["target"] + (" *" if r["default"] else ""), r["kind"], mark, r["where"], r["needs"]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    origin = resolved.sources.get("backend", "default").replace("default", "built in")
    print(f"\n* the default here ({origin}); any pasqal:<QPU> name works, e.g. pasqal:FRESNEL")
    print(f"Pasqal Cloud credentials: {credentials}")
    if cached:
        for name, (_, when) in sorted(cached.items()):
            print(f"device specs cached: {name}, fetched {_fetched(when)}")
    else:
        print("device specs cached: none (`qpurun backends --refresh` fetches Pasqal Cloud's)")
    if refreshed is not None:
        print(f"refreshed: {', '.join(refreshed) or 'no devices offered'}")
    return EXIT_OK


def _credentials_source(resolved: Resolved) -> str:
    """Where Pasqal Cloud credentials would come from, without showing them (or `not found: why`)."""
    if parse_target("pasqal:FRESNEL").missing():
        return "not needed until qpurun[pasqal] is installed"
    from qpurun.run.credentials import CredentialsError, describe_source, load_credentials

    try:
        return describe_source(load_credentials(resolved.config.pasqal, sources=resolved.sources))
    except CredentialsError as error:
        return f"none found; {error.hint}" if error.hint else f"none found ({error})"


def cmd_config(args: argparse.Namespace) -> int:
    from qpurun.config import describe, describe_json

    resolved = project(args, args.spec)
    if args.json:
        print(json.dumps(describe_json(resolved), indent=2))
    else:
        print(describe(resolved))
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


def _batch_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("batch", metavar="BATCH", help="a batch id (or a unique prefix of one)")


def register(commands: Any) -> None:
    """Add the runner's commands to `qpurun`'s subcommand parser."""

    def add(name: str, help: str, description: str, *, spec: bool = False) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name,
            help=help,
            description=description,
            epilog=exit_codes(name) + STORE_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[SPEC_OPTIONS] if spec else [],
        )
        return parser

    notify_help = "POST a JSON summary to this webhook URL when the batch ends (a secret: never printed in full)"
    cluster_help = (
        "run the jobs on the Dask scheduler at ADDRESS (tcp://host:8786; default: `cluster` in qpurun.toml); "
        "this process stores each result. Needs qpurun[dask]"
    )
    run = add(
        "run",
        "run a spec's jobs as one batch on its target, durably",
        "Compile SPEC for its target (--backend), submit all its jobs as one batch (this machine's workers "
        "for qutip, emu-sv, emu-mps; Pasqal Cloud for pasqal:...), store every result as it comes, and summarize.",
        spec=True,
    )
    run.add_argument("spec", metavar="SPEC", help="a .qx file")
    run.add_argument("--notify", metavar="URL", help=notify_help)
    run.add_argument(
        "--workers", type=_positive, default=None, metavar="N", help="worker processes (default: the number of cores)"
    )
    run.add_argument("--cluster", metavar="ADDRESS", help=cluster_help)
    run.add_argument("--out", metavar="DIR", help="output directory (default: runs/<name>-<timestamp>/)")
    run.add_argument("--json", action="store_true", help="print the results as JSON on stdout, no progress bar")
    run.set_defaults(handler=cmd_run)

    runs = add("runs", "list the stored batches", "List the batches in the store, newest last.")
    runs.add_argument("--json", action="store_true", help="print JSON on stdout")
    runs.set_defaults(handler=_quiet_on_closed_pipe(cmd_runs))

    status = add("status", "show a batch's status, job by job", "Show a batch's status and each job's.")
    _batch_argument(status)
    status.add_argument("--json", action="store_true", help="print JSON on stdout")
    status.set_defaults(handler=_quiet_on_closed_pipe(cmd_status))

    results = add("results", "print a batch's results", "Print a batch's results: a table, JSON or CSV.")
    _batch_argument(results)
    form = results.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON on stdout")
    form.add_argument("--csv", action="store_true", help="print results.csv on stdout: one row per job")
    form.add_argument(
        "--bitstrings", action="store_true", help="print bitstrings.csv on stdout: one row per job and bitstring"
    )
    results.set_defaults(handler=_quiet_on_closed_pipe(cmd_results))

    plot = add(
        "plot",
        "plot a batch's measured quantity against its swept variables",
        "Plot what a batch measured against what its sweep varies, in the spec's units, with shot-noise error "
        "bars: a curve for one swept axis, a map for two, a map per value of a third; for one job, the "
        "bitstring histogram. Writes a PNG, SVG or PDF; never opens a window.",
    )
    _batch_argument(plot)
    plot.add_argument(
        "--y",
        metavar="QUANTITY",
        help="occupation (default: per qubit), occupation:QUBIT, bitstring:0101, excitations (their mean "
        "number), staggered (staggered magnetisation), neel (the probability of either Néel state)",
    )
    plot.add_argument("-o", "--output", metavar="FILE", help="a .png, .svg or .pdf (default: NAME-BATCH-Y.png here)")
    plot.set_defaults(handler=cmd_plot)

    report = add(
        "report",
        "write a batch's self-contained HTML report",
        "Write one HTML page about a batch, images and data inline, nothing fetched: the spec highlighted, "
        "target, device and versions, the register and the pulse schedule, the jobs with their timings, "
        "and the plots. `qpurun run` writes it into the run's directory too.",
    )
    _batch_argument(report)
    report.add_argument("-o", "--output", metavar="FILE", help="the HTML file (default: report.html here)")
    report.set_defaults(handler=cmd_report)

    resume = add(
        "resume",
        "finish a batch that was interrupted or killed",
        "Run the jobs of a stored batch that have not finished; finished jobs are never re-run.",
    )
    _batch_argument(resume)
    resume.add_argument(
        "--workers", type=_positive, default=None, metavar="N", help="worker processes (default: the number of cores)"
    )
    resume.add_argument("--retry-failed", action="store_true", help="also run again the jobs that ended in ERROR")
    resume.add_argument("--cluster", metavar="ADDRESS", help=cluster_help)
    resume.add_argument("--notify", metavar="URL", help=notify_help)
    resume.add_argument("--json", action="store_true", help="print the results as JSON on stdout, no progress bar")
    resume.set_defaults(handler=cmd_resume)

    cancel = add(
        "cancel",
        "cancel a batch's jobs that have not run",
        "Cancel the jobs of a stored batch that have not started: on Pasqal Cloud, the cloud batch is canceled; "
        "locally, running jobs finish and the rest are never started.",
    )
    _batch_argument(cancel)
    cancel.set_defaults(handler=cmd_cancel)

    backends = add(
        "backends",
        "list the targets: which are installed, what each needs",
        "List the targets --backend takes, whether each can run here, what it needs, where credentials "
        "come from, and the cloud device specs the store holds.",
    )
    backends.add_argument(
        "--refresh", action="store_true", help="fetch Pasqal Cloud's device specs now (public: no credentials needed)"
    )
    backends.add_argument("--json", action="store_true", help="print JSON on stdout")
    backends.set_defaults(handler=cmd_backends)

    config = add(
        "config",
        "print the resolved project configuration and where each value came from",
        "Print the configuration in force for SPEC (or this directory): qpurun.toml or [tool.qpurun] in "
        "pyproject.toml, found upwards, under the command-line flags; secrets masked.",
    )
    config.add_argument("spec", nargs="?", metavar="SPEC", help="a .qx file (default: this directory)")
    config.add_argument("--backend", metavar="TARGET", help="as `run --backend` would set it")
    config.add_argument("--json", action="store_true", help="print JSON on stdout")
    config.set_defaults(handler=cmd_config)
