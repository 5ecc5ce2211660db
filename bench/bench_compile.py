"""Issue #2's benchmark targets, measured in one run.

    .venv/bin/python bench/bench_compile.py [--quick] [--no-sweep]

1. End to end: `qpurun compile` on specs/{rabi,afm_ramp,local_gates}.qx
   against the hand-written Pulser script doing the same work
   (bench/hand_compile.py: build, validate as `QPUBackend.run` does, build
   every job, serialize). Target: qpurun <= 1.10x the script. Measured
   in-process (repeated, median) and as whole commands (a fresh process
   each, start-up included).
2. Per-job validation of bench/sweep_10k.qx, 10,000 jobs with mixed verdicts:
   Pulser's plain `sequence.build` loop against qpurun's validator. Both
   verdict lists are computed and must be identical. Target: >= 5,000 jobs/s.

The two sides of each comparison run alternately, so that other work on the
machine slows both alike; the load average is printed with the figures.
Commands run with bytecode caching on (PYTHONDONTWRITEBYTECODE unset), as an
installed package and a script's imports normally run.
"""

from __future__ import annotations

import io
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SPECS = ("rabi", "afm_ramp", "local_gates")
SWEEP = BENCH / "sweep_10k.qx"
TARGET_RATIO = 1.10
TARGET_JOBS_PER_S = 5000

sys.path.insert(0, str(BENCH))
from hand_compile import compile_by_hand, load_reference  # noqa: E402


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def _cpu() -> float:
    """CPU seconds of this process and of its finished children: what contention does not inflate."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def alternate(first: Callable[[], object], second: Callable[[], object], rounds: int) -> list[tuple[float, float]]:
    """[(median wall s, median CPU s)] of each, timed in alternation (ABBA order)."""
    walls: tuple[list[float], list[float]] = ([], [])
    cpus: tuple[list[float], list[float]] = ([], [])
    for round_ in range(rounds):
        order = (0, 1) if round_ % 2 == 0 else (1, 0)
        for which in order:
            run = (first, second)[which]
            wall, cpu = time.perf_counter(), _cpu()
            run()
            walls[which].append(time.perf_counter() - wall)
            cpus[which].append(_cpu() - cpu)
    return [(statistics.median(walls[k]), statistics.median(cpus[k])) for k in (0, 1)]


def verdict(ratio: float) -> str:
    return "ok" if ratio <= TARGET_RATIO else f"over {TARGET_RATIO:.2f}x"


def compare(name: str, ours: Callable[[], object], hand: Callable[[], object], rounds: int, unit: float) -> None:
    (mine, mine_cpu), (theirs, theirs_cpu) = alternate(ours, hand, rounds)
    wall, cpu = mine / theirs, mine_cpu / theirs_cpu
    print(
        f"    {name:<12} {theirs * unit:>9.1f} {mine * unit:>9.1f} {wall:>6.2f}x {verdict(wall):<9}"
        f" {theirs_cpu * unit:>9.1f} {mine_cpu * unit:>9.1f} {cpu:>6.2f}x {verdict(cpu)}"
    )


HEADER = (
    f"    {'spec':<12} {'hand':>9} {'qpurun':>9} {'ratio':>7} {'':<9} {'hand':>9} {'qpurun':>9} {'ratio':>7}\n"
    f"    {'':<12} {'wall':-^27} {'':<9} {'CPU':-^27}"
)


# ---- 1. end to end -------------------------------------------------------------------


def end_to_end_in_process(rounds: int) -> None:
    import qpurun

    print(f"\n1a. End to end, in-process: ms, median of {rounds}")
    print("    (hand: build, validate, build the jobs, serialize; qpurun: load(spec).sequence_json())")
    print(HEADER)
    for name in SPECS:
        module = load_reference(name)
        spec = str(ROOT / "specs" / f"{name}.qx")

        def ours(spec: str = spec) -> None:
            # What `qpurun compile` does once its arguments are parsed.
            print(qpurun.load(spec).sequence_json(), file=io.StringIO())

        def hand(module: object = module) -> None:
            print(compile_by_hand(module), file=io.StringIO())

        hand(), ours()  # warm: imports, grammar, Pulser's caches
        compare(name, ours, hand, rounds, unit=1e3)


def cpu_breakdown(rounds: int) -> None:
    """Where each side's in-process CPU time goes, stage by stage."""
    from pulser.backend import QPUBackend

    import qpurun
    from qpurun.bridge.lower import Lowerer
    from qpurun.bridge.validate import validate
    from qpurun.language.checker import check
    from qpurun.language.errors import Source
    from qpurun.language.parser import parse

    def cpu_ms(run: Callable[[], object]) -> float:
        run()
        times = []
        for _ in range(rounds):
            start = time.process_time()
            run()
            times.append(time.process_time() - start)
        return statistics.median(times) * 1e3

    print(f"\n1c. Where the in-process CPU time goes (ms, median of {rounds})")
    for name in SPECS:
        path = ROOT / "specs" / f"{name}.qx"
        text = path.read_text(encoding="utf-8")
        source = Source(str(path), text)
        spec = parse(text, filename=str(path))
        checked = check(spec, source)
        experiment = qpurun.load(path, validate=False)
        ours = {
            "parse": cpu_ms(lambda: parse(text, filename=str(path))),  # noqa: B023 - used at once
            "check": cpu_ms(lambda: check(spec, source)),  # noqa: B023
            "lower": cpu_ms(lambda: Lowerer(checked).lower()),  # noqa: B023
            "validate": cpu_ms(lambda: validate(experiment)),  # noqa: B023
            "serialize": cpu_ms(experiment.sequence_json),
        }
        module = load_reference(name)
        sequence, job_params = module.build()

        def build_jobs(sequence: Any = sequence, job_params: list[dict[str, Any]] = job_params) -> None:
            for job in job_params:
                sequence.build(**job.get("variables", {}))

        hand = {
            "build": cpu_ms(module.build),
            "validate": cpu_ms(lambda: QPUBackend.validate_sequence(sequence, mimic_qpu=True)),  # noqa: B023
            "build jobs": cpu_ms(build_jobs),
            "serialize": cpu_ms(sequence.to_abstract_repr),
        }
        print(f"    {name:<12} qpurun " + "  ".join(f"{k} {v:.2f}" for k, v in ours.items()))
        print(f"    {'':<12} hand   " + "  ".join(f"{k} {v:.2f}" for k, v in hand.items()))


def end_to_end_commands(rounds: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    python = sys.executable
    qpurun = str(Path(python).parent / "qpurun")
    print(f"\n1b. End to end, as commands: ms, a fresh process each, median of {rounds}")
    print(f"    (hand: python bench/hand_compile.py NAME; qpurun: qpurun compile specs/NAME.qx)\n{HEADER}")

    def command(argv: list[str]) -> Callable[[], None]:
        def run() -> None:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)

        return run

    for name in SPECS:
        ours = command([qpurun, "compile", f"specs/{name}.qx"])
        hand = command([python, str(BENCH / "hand_compile.py"), name])
        hand(), ours()  # writes the bytecode caches and the grammar cache, as a first run does
        compare(name, ours, hand, rounds, unit=1e3)
    (wall, cpu), _ = alternate(command([python, "-c", "import pulser.backend"]), lambda: None, 3)
    print(f"    (of which `import pulser.backend` alone: {wall * 1e3:.0f} ms wall, {cpu * 1e3:.0f} ms CPU)")


# ---- 2. per-job validation -------------------------------------------------------------


def per_job_validation(rounds: int) -> None:
    import qpurun
    from qpurun.bridge.lower import PULSER_REFUSALS
    from qpurun.bridge.validate import _worker_count, failing_jobs, validate
    from qpurun.language.errors import QxError

    experiment = qpurun.load(SWEEP, validate=False)
    sequence, jobs = experiment.sequence, experiment.jobs
    count = len(jobs)

    def plain_loop() -> list[bool]:
        verdicts = []
        for job in jobs:
            try:
                sequence.build(**job.variables)
            except PULSER_REFUSALS:
                verdicts.append(False)
            else:
                verdicts.append(True)
        return verdicts

    def ours(workers: int | None) -> list[bool]:
        failed = set(failing_jobs(experiment, workers=workers))
        return [index not in failed for index in range(count)]

    def timed(run: Callable[[], list[bool]]) -> tuple[list[bool], float, float]:
        wall, cpu = time.perf_counter(), _cpu()
        verdicts = run()
        return verdicts, time.perf_counter() - wall, _cpu() - cpu

    print(f"\n2. Per-job validation: {SWEEP.relative_to(ROOT)}, {count} jobs; jobs/s by wall clock and per CPU-second")
    expected, wall, cpu = timed(plain_loop)
    print(f"    {'Pulser sequence.build loop:':<34} {count / wall:>6.0f}/s wall {count / cpu:>7.0f}/s CPU")
    print(f"    verdicts: {expected.count(True)} build, {expected.count(False)} refused")
    workers = _worker_count(None, count)
    for label, requested in (("1 process", 1), (f"default: {workers} processes", None)):
        walls, cpus = [], []
        for _ in range(rounds):
            got, wall, cpu = timed(lambda requested=requested: ours(requested))
            assert got == expected, "qpurun's verdicts differ from Pulser's builds"
            walls.append(wall)
            cpus.append(cpu)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        mark = "ok" if count / wall >= TARGET_JOBS_PER_S else f"under {TARGET_JOBS_PER_S}/s"
        print(f"    {'qpurun, ' + label + ':':<34} {count / wall:>6.0f}/s wall {count / cpu:>7.0f}/s CPU  {mark}")
    print("    verdicts identical to the plain loop: yes")

    def whole() -> int:
        try:
            validate(experiment)
        except QxError as error:
            return len(error.errors)
        raise AssertionError("the sweep was meant to have failing jobs")

    walls = []
    for _ in range(rounds):
        start = time.perf_counter()
        reported = whole()
        walls.append(time.perf_counter() - start)
    wall = statistics.median(walls)
    print(f"    {'whole validate(), ' + str(reported) + ' located:':<34} {count / wall:>6.0f}/s wall")


def main() -> None:
    quick = "--quick" in sys.argv
    print(f"qpurun benchmarks (issue #2) — {load()}")
    end_to_end_in_process(rounds=5 if quick else 21)
    cpu_breakdown(rounds=5 if quick else 21)
    end_to_end_commands(rounds=3 if quick else 7)
    if "--no-sweep" not in sys.argv:
        per_job_validation(rounds=1 if quick else 3)
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
