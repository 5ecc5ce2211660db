"""A 200-job six-atom sweep three ways, then where each local emulator stops. Run by hand, not in CI.

    python bench/bench_cluster.py              # both parts, one run (about 14 minutes on 2 cores)
    python bench/bench_cluster.py --sweep      # only the 200-job comparison, 3 rounds (about 7 minutes)
    python bench/bench_cluster.py --scale      # only the emulators' sizes

Part 1, wall time end to end, each a fresh process tree: a plain serial Pulser loop
(build + `QutipBackendV2` per job, results kept in memory), `qpurun run --workers 2`,
and `qpurun run --cluster` on a 2-worker `distributed.LocalCluster` (one thread per
worker; started and warmed up before the clock starts: a cluster outlives its batches,
and its workers import Pulser once, as the forked local workers do), once with Dask's
defaults and once with the workers quietened (`QUIET_WORKERS`, see docs/running.md).
Three interleaved rounds by default (`--rounds`); the medians are compared. Targets:
the cluster within 10% of `--workers 2`, both ≤ 0.6x the serial loop.

Part 2, one job per size (a chain of N atoms 7 µm apart, a 2 µs sweep on MockDevice,
100 shots), smallest first, one single-threaded process per target: each job's wall time
and the peak memory so far (resident set, Python and the emulator's libraries included:
~0.3 GB before any state), from 4 atoms up to the largest each target runs within 8 GB
and 60 s; it stops before a size it expects past them (time x2 per atom for a state
vector, in proportion to the atoms for emu-mps, as measured here). qutip and
emu-sv hold 2^N complex amplitudes (16 bytes each: memory and time double per atom);
emu-mps holds a matrix product state whose size grows with the entanglement (the bond
dimension, capped by `max_bond_dim`), not with 2^N.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_run import RUNS, timed  # noqa: E402

SPEC = HERE / "six_atoms.qx"
DELTAS = [d * 3.141592653589793 for d in range(-4, 16)]  # 20 final detunings: -2 .. 7.5 MHz
DURATIONS = list(range(3000, 5701, 300))  # 10 durations
MEMORY_CAP = 8 * 2**30
TIME_CAP = 60.0
SIZES = {
    "qutip": (4, 8, 12, 14, 16, 18, 20, 22, 24),
    "emu-sv": (4, 8, 12, 14, 16, 18, 20, 22, 24, 26, 28),
    "emu-mps": (4, 8, 12, 16, 24, 32, 48, 64),
}


def sweep_spec(directory: Path) -> Path:
    """bench/six_atoms.qx with 20 final detunings: 200 jobs."""
    text = SPEC.read_text().replace(
        "delta_f = [-2, -1, 0, 1, 2, 3, 4, 5, 6, 7] * 2 * pi rad/us",
        "delta_f = [" + ", ".join(str(d / 2) for d in range(-4, 16)) + "] * 2 * pi rad/us",
    )
    text = text.replace('experiment "six-atoms"', 'experiment "six-atoms-200"')
    path = directory / "six_atoms_200.qx"
    path.write_text(text)
    return path


def plain_loop() -> None:
    from pulser.backend import BitStrings
    from pulser_simulation import QutipBackendV2, QutipConfig

    from bench_run import plain_sequence

    sequence = plain_sequence()
    results = []
    for delta_f in DELTAS:
        for t in DURATIONS:
            built = sequence.build(delta_f=delta_f, t=t)
            results.append(QutipBackendV2(built, config=QutipConfig(observables=[BitStrings(num_shots=RUNS)])).run())
    assert len(results) == 200


def check_same_jobs(spec: Path) -> None:
    """The plain loop runs the spec's jobs."""
    import qpurun

    params = qpurun.load(spec).job_params
    assert len(params) == 200
    got = sorted((round(p["variables"]["delta_f"], 9), p["variables"]["t"]) for p in params)
    assert got == sorted((round(d, 9), t) for d in DELTAS for t in DURATIONS), "the plain loop's jobs differ"


def _warm() -> None:
    import pulser_simulation  # noqa: F401

    import qpurun.run.cluster  # noqa: F401


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# Dask's worker defaults that cost CPU beside a job that computes for a quarter of a second: a profiler
# sampling the running task's stack 100 times a second, the event loop's 20 ms tick, and a system monitor
# twice a second (the memory limit's monitor is left as it is: it is what stops a job that outgrows memory).
QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
}


def _cluster_run(
    qpurun: list[str], spec: Path, out: str, env: dict[str, str], config: dict[str, Any]
) -> tuple[float, float, float]:
    """A fresh cluster, started and warmed up before the clock (a cluster outlives its batches, and its
    workers import Pulser once), closed after: an idle cluster's heartbeats would otherwise be charged to
    the other contenders. (wall, CPU, setup seconds)."""
    import dask
    import distributed

    started = time.perf_counter()
    with dask.config.set(config):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
        )
    client = distributed.Client(cluster)
    client.run(_warm)
    setup = time.perf_counter() - started
    try:
        command = [*qpurun, "run", str(spec), "--cluster", cluster.scheduler_address, "--json", "--out", out]
        wall, cpu, _ = timed(command, env)
    finally:
        client.close()
        cluster.close()
    return wall, cpu, setup


def sweep(rounds: int) -> None:
    """`rounds` interleaved rounds of the contenders; the medians are compared (this machine's wall
    times vary by several per cent from one run to the next)."""
    names = (
        "plain serial Pulser loop",
        "qpurun run --workers 2",
        "qpurun run --cluster (2 workers)",
        "  the same, workers quietened",
    )
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    setups: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        spec = sweep_spec(Path(scratch))
        check_same_jobs(spec)
        env = dict(os.environ, QPURUN_HOME=str(Path(scratch) / "home"))
        qpurun = [sys.executable, "-c", "from qpurun.cli import entry; entry()"]
        load = os.getloadavg()[0]
        for round_ in range(rounds):
            wall, cpu, _ = timed([sys.executable, __file__, "--plain"], env)
            walls[names[0]].append(wall)
            cpus[names[0]].append(cpu)
            command = [*qpurun, "run", str(spec), "--workers", "2", "--json", "--out", f"{scratch}/local-{round_}"]
            wall, cpu, _ = timed(command, env)
            walls[names[1]].append(wall)
            cpus[names[1]].append(cpu)
            for name, config in ((names[2], {}), (names[3], QUIET_WORKERS)):
                wall, cpu, setup = _cluster_run(qpurun, spec, f"{scratch}/{name[-4:]}-{round_}", env, config)
                walls[name].append(wall)
                cpus[name].append(cpu)
                setups.append(setup)
    median = {name: _median(walls[name]) for name in names}
    plain = median[names[0]]
    print(
        f"200 jobs, 6 atoms, {RUNS} shots each; {os.cpu_count()} cores; load average before {load:.2f}; "
        f"{rounds} interleaved round(s), the median counts"
    )
    print("  (CPU: the contender's own processes; the cluster's scheduler and workers are not its children)")
    for name in names:
        each = ", ".join(f"{wall:.1f}" for wall in walls[name])
        print(
            f"  {name:<34} {median[name]:7.2f} s   {median[name] / plain:5.2f}x   "
            f"CPU {_median(cpus[name]):6.2f} s   (each: {each} s)"
        )
    setup = _median(setups)
    print(f"  (each LocalCluster started and imported Pulser in its workers in {setup:.1f} s, before the clock)")
    print(f"  (workers quietened: {', '.join(f'{key} = {value}' for key, value in QUIET_WORKERS.items())})")
    local, remote, quiet = median[names[1]], median[names[2]], median[names[3]]
    for name, wall in (("--cluster", remote), ("--cluster, quietened", quiet)):
        print(
            f"  {name} / --workers 2: {wall / local:.2f}x (target <= 1.10) "
            + ("ok" if wall <= 1.1 * local else "MISSED")
        )
    for name, wall in (("--workers 2", local), ("--cluster", remote), ("--cluster, quietened", quiet)):
        print(
            f"  {name} / serial loop: {wall / plain:.2f}x (target <= 0.6) {'ok' if wall <= 0.6 * plain else 'MISSED'}"
        )


# ---- part 2: where each emulator stops


def scale_one(target: str) -> None:
    """Run one job per size on `target` in this process, smallest first; a JSON line per size, then why it stopped.

    Sizes grow, so the peak resident set after each job is that job's (Python and the libraries included).
    It stops before a size it expects to pass the limits: a state vector past 8 GB, or a job past 60 s
    (qutip and emu-sv: x2 per atom; emu-mps: in proportion to the atoms, as measured here).
    """
    os.environ.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    import numpy as np
    from pulser import Pulse, Register, Sequence
    from pulser.devices import MockDevice
    from pulser.waveforms import ConstantWaveform, RampWaveform

    from qpurun.run import emulator

    run = {"qutip": emulator.run_job, "emu-sv": emulator.run_job_emu_sv, "emu-mps": emulator.run_job_emu_mps}[target]
    previous: tuple[int, float] | None = None
    for atoms in SIZES[target]:
        if target != "emu-mps" and 16 * 2.0**atoms > MEMORY_CAP:
            print(json.dumps({"stop": f"{atoms} atoms: a state vector alone is {16 * 2.0**atoms / 2**30:.0f} GB"}))
            return
        if previous is not None:
            last_atoms, last_seconds = previous
            growth = 2.0 ** (atoms - last_atoms) if target != "emu-mps" else atoms / last_atoms
            if last_seconds * growth > TIME_CAP:
                print(json.dumps({"stop": f"{atoms} atoms: would take about {last_seconds * growth:.0f} s"}))
                return
        register = Register.rectangle(1, atoms, spacing=7.0, prefix="q")
        sequence = Sequence(register, MockDevice)
        sequence.declare_channel("ryd", "rydberg_global")
        sequence.add(Pulse(ConstantWaveform(2000, 2 * np.pi), RampWaveform(2000, -6 * np.pi, 4 * np.pi), 0), "ryd")
        sequence.measure("ground-rydberg")
        started = time.perf_counter()
        results = run(sequence, {}, 100, {}, {"optimize_qubit_ordering": False})  # a chain is in order already
        seconds = time.perf_counter() - started
        assert sum(results.final_bitstrings.values()) == 100
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        print(json.dumps({"atoms": atoms, "seconds": seconds, "peak": peak}), flush=True)
        if seconds > TIME_CAP or peak > MEMORY_CAP:
            print(json.dumps({"stop": "past the limits"}))
            return
        previous = (atoms, seconds)
    print(json.dumps({"stop": "the largest size tried"}))


def scale() -> None:
    from qpurun.run.emulator import available

    print(f"one job per size: a chain 7 µm apart, a 2 µs sweep, 100 shots, one thread; limits {TIME_CAP:.0f} s, 8 GB")
    for target in ("qutip", "emu-sv", "emu-mps"):
        missing = available(target)
        if missing:
            print(f"  {target}: not installed ({missing.split(';')[0]})")
            continue
        child = subprocess.Popen(
            [sys.executable, __file__, "--scale-one", target], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        watchdog = threading.Timer(10 * TIME_CAP, child.kill)  # a job that hangs past every limit
        watchdog.start()
        largest = None
        assert child.stdout is not None
        for line in child.stdout:
            report = json.loads(line)
            if "stop" in report:
                print(f"  {target:<8} stops: {report['stop']}")
                continue
            largest = report["atoms"]
            print(
                f"  {target:<8} {report['atoms']:3d} atoms: {report['seconds']:6.1f} s   "
                f"peak {report['peak'] / 2**30:5.2f} GB"
            )
        watchdog.cancel()
        if child.wait() != 0:
            print(f"  {target}: the process ended with {child.returncode}")
        print(f"  {target}: the largest job within the limits here: {largest} atoms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", action="store_true", help="only part 1: the 200-job comparison")
    parser.add_argument("--scale", action="store_true", help="only part 2: where each emulator stops")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of part 1 (default 3)")
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scale-one", metavar="TARGET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain_loop()
        return
    if args.scale_one:
        scale_one(args.scale_one)
        return
    if not args.scale:
        sweep(args.rounds)
    if not args.sweep:
        scale()


if __name__ == "__main__":
    main()
