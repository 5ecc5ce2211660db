"""The local emulator targets: qpurun's cost on top of each emulator, and each one's time per job.

    python bench/bench_targets.py                        # both parts, one run (about 4 minutes on 2 cores)
    python bench/bench_targets.py --jobs 40 --sizes 4 8  # smaller
    python bench/bench_targets.py --part sizes --targets emu-sv emu-mps

(a) overhead: a 100-job Rabi sweep (one atom, t = 16 ns, 24 ns, ... , 808 ns; 200 shots a
    job) on `qutip` and `emu-sv`. The bare loop builds the sequence with each job's `t` and
    runs the emulator's backend, in one process, keeping the results in memory. qpurun's path
    is `RemoteBackend(sequence, LocalConnection(store=..., workers=1, target=NAME),
    mimic_qpu=False).run(job_params)` and `connection.wait(batch_id)`: the jobs go through the
    SQLite store to one worker process, which runs `qpurun.run.emulator`'s function for the
    target and commits each result (`to_abstract_repr()` and the counts). Each contender is a
    fresh process, timed from interpreter start to the last result (so the emulator's imports
    count, wherever they happen: qpurun's worker imports torch and emu-sv itself); the jobs
    alone are timed too. Target: qpurun ≤ 1.05× the bare loop.
(b) time per job: an AFM-style ramp (Ω up to 2π·1.8 rad/µs, δ from -2π·6 to 2π·3 rad/µs over
    2 µs) on 4, 8 and 12 atoms of a square lattice (6 µm, rows of 2, 2, 3 atoms; AnalogDevice),
    200 shots, on `qutip`, `emu-sv` and `emu-mps`, each through `qpurun.run.emulator`'s function
    with the default settings (dt = 10 ns), in one process held to one thread as a worker is;
    one warm-up job per target first. For emu-mps, its qubit-ordering search is timed apart.

Every contender runs with the worker's one-thread environment (OMP_NUM_THREADS=1, ...).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qpurun.run.executor import SINGLE_THREAD_ENV  # what a worker runs with (no numpy, no Pulser imported)

START = time.perf_counter()


# ---- the sequences


def rabi_sequence() -> Any:
    """One atom, a constant 2π rad/µs pulse of variable duration `t` (specs/rabi.qx, by hand)."""
    import numpy as np
    from pulser import Pulse, Sequence
    from pulser.devices import AnalogDevice
    from pulser.register.special_layouts import TriangularLatticeLayout
    from pulser.waveforms import ConstantWaveform

    register = TriangularLatticeLayout(61, 5).define_register(0, qubit_ids=["q0"])
    sequence = Sequence(register, AnalogDevice)
    sequence.declare_channel("ryd", "rydberg_global")
    t = sequence.declare_variable("t", dtype=int)
    sequence.add(Pulse(ConstantWaveform(t, 2 * np.pi), ConstantWaveform(t, 0.0), 0), "ryd")
    sequence.measure("ground-rydberg")
    return sequence


def rabi_jobs(count: int, start: int, step: int, runs: int) -> list[dict[str, Any]]:
    return [{"runs": runs, "variables": {"t": start + step * i}} for i in range(count)]


def afm_sequence(atoms: int, spacing: float, duration: int) -> Any:
    """An AFM-style ramp on `atoms` atoms of a square lattice: rise, detuning sweep, fall."""
    import numpy as np
    from pulser import Pulse, Sequence
    from pulser.devices import AnalogDevice
    from pulser.register.special_layouts import SquareLatticeLayout
    from pulser.waveforms import ConstantWaveform, RampWaveform

    rows = 2 if atoms <= 8 else 3 if atoms <= 15 else 4
    columns = math.ceil(atoms / rows)
    side = max(6, 2 * columns, 2 * rows)  # a layout large enough for the device's filling limit
    traps = [r * side + c for r in range(rows) for c in range(columns)][:atoms]
    register = SquareLatticeLayout(side, side, spacing).define_register(*traps, qubit_ids=[f"q{i}" for i in traps])
    sequence = Sequence(register, AnalogDevice)
    sequence.declare_channel("ryd", "rydberg_global")
    omega, delta_0, delta_f = 1.8 * 2 * np.pi, -6 * 2 * np.pi, 3 * 2 * np.pi
    rise = fall = duration // 8 // 4 * 4
    sweep = duration - rise - fall
    sequence.add(Pulse(RampWaveform(rise, 0, omega), ConstantWaveform(rise, delta_0), 0), "ryd")
    sequence.add(Pulse(ConstantWaveform(sweep, omega), RampWaveform(sweep, delta_0, delta_f), 0), "ryd")
    sequence.add(Pulse(RampWaveform(fall, omega, 0), ConstantWaveform(fall, delta_f), 0), "ryd")
    sequence.measure("ground-rydberg")
    return sequence


# ---- (a) the contenders, each in a fresh process


def bare_backend(target: str, built: Any, runs: int) -> Any:
    """The emulator's own backend, configured as qpurun configures it (no noise, default settings)."""
    import logging

    from pulser.backend import BitStrings

    bitstrings = [BitStrings(num_shots=runs, one_state="r")]
    if target == "qutip":
        from pulser_simulation import QutipBackendV2, QutipConfig

        return QutipBackendV2(built, config=QutipConfig(observables=bitstrings))
    if target == "emu-sv":
        from emu_sv import SVBackend, SVConfig

        return SVBackend(built, config=SVConfig(observables=bitstrings, gpu=False, log_level=logging.WARNING))
    from emu_mps import MPSBackend, MPSConfig

    return MPSBackend(built, config=MPSConfig(observables=bitstrings, gpu=False, log_level=logging.WARNING))


def contender(kind: str, target: str, jobs: list[dict[str, Any]]) -> dict[str, float]:
    """Run the sweep one way; the wall time from interpreter start, and of the jobs alone."""
    sequence = rabi_sequence()
    if kind == "bare":
        if target != "qutip":
            import torch

            torch.set_num_threads(1)  # as qpurun's worker does where OMP_NUM_THREADS=1
        started = time.perf_counter()
        results = []
        for job in jobs:
            built = sequence.build(**job["variables"])
            results.append(bare_backend(target, built, job["runs"]).run())
        ended = time.perf_counter()
        assert all(sum(r.final_bitstrings.values()) == job["runs"] for r, job in zip(results, jobs, strict=True))
        return {"wall": ended - START, "jobs": ended - started}

    import inspect

    from pulser.backend.remote import RemoteBackend

    from qpurun.run import LocalConnection
    from qpurun.run.emulator import EMULATORS

    # The target's own path where LocalConnection takes one; else the emulator's function for every job.
    parameters = inspect.signature(LocalConnection).parameters
    choice: dict[str, Any] = {"target": target} if "target" in parameters else {"emulator": EMULATORS[target]}
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        connection = LocalConnection(store=Path(scratch) / "store.sqlite3", workers=1, **choice)
        remote = RemoteBackend(sequence, connection, mimic_qpu=False).run(jobs)  # type: ignore[arg-type]
        connection.wait(remote.batch_id)
        ended = time.perf_counter()
        stored = connection.store.jobs(remote.batch_id)
        connection.close()
    assert [job.status for job in stored] == ["DONE"] * len(jobs), [job.error for job in stored if job.error][:1]
    return {"wall": ended - START, "jobs": ended - started}


def run_contender(kind: str, target: str, args: argparse.Namespace) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--contender",
        kind,
        "--target",
        target,
        "--jobs",
        str(args.jobs),
        "--t-start",
        str(args.t_start),
        "--t-step",
        str(args.t_step),
        "--runs",
        str(args.runs),
    ]
    started = time.perf_counter()
    out = subprocess.run(
        command, env=dict(os.environ, **SINGLE_THREAD_ENV), check=True, capture_output=True, text=True
    ).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    figures["process"] = time.perf_counter() - started  # interpreter start to exit, as the parent sees it
    return figures


def overhead(args: argparse.Namespace) -> None:
    targets = [t for t in args.targets if t in ("qutip", "emu-sv")]
    if not targets:
        return
    print(
        f"(a) qpurun on top of the bare emulator: {args.jobs} Rabi jobs (1 atom, t = {args.t_start} ns step "
        f"{args.t_step} ns), {args.runs} shots, workers=1; fresh processes, best of {args.repeat}",
        flush=True,
    )
    for target in targets:
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):
            for kind in ("bare", "qpurun"):
                figures = run_contender(kind, target, args)
                if kind not in best or figures["wall"] < best[kind]["wall"]:
                    best[kind] = figures
        bare, ours = best["bare"], best["qpurun"]
        ratio = ours["wall"] / bare["wall"]
        verdict = "ok" if ratio <= 1.05 else "MISSED"
        per_job = {kind: 1000 * figures["jobs"] / args.jobs for kind, figures in best.items()}
        print(
            f"  {target:<7} bare loop {bare['wall']:6.2f} s (jobs {bare['jobs']:6.2f} s, {per_job['bare']:5.1f} ms/job)"
            f"   qpurun {ours['wall']:6.2f} s (jobs {ours['jobs']:6.2f} s, {per_job['qpurun']:5.1f} ms/job)"
            f"   {ratio:.3f}x end to end, {ours['jobs'] / bare['jobs']:.3f}x the jobs alone;"
            f" qpurun adds {per_job['qpurun'] - per_job['bare']:+.1f} ms/job (target <= 1.05x end to end) {verdict}",
            flush=True,
        )


# ---- (b) time per job


def sizes(args: argparse.Namespace) -> None:
    """Run in a child process with the worker's one-thread environment (see `main`)."""
    import torch

    torch.set_num_threads(1)
    from qpurun.run import emulator

    run = {name: getattr(emulator, path.partition(":")[2]) for name, path in emulator.EMULATORS.items()}
    targets = list(args.targets)
    print(
        f"(b) time per job: AFM ramp of {args.duration} ns, {args.spacing:g} µm square lattice, {args.runs} shots, "
        f"dt = emulator default (10 ns for emu), 1 thread; mean of {args.repeat} job(s) after a warm-up",
        flush=True,
    )
    for target in targets:  # warm-up: lazy imports and first-call costs
        run[target](afm_sequence(2, args.spacing, 400), {}, 10, {}, {})
    header = f"  {'atoms':>5}  " + "  ".join(f"{t:>12}" for t in targets)
    print(header, flush=True)
    ordering: dict[int, float] = {}
    for atoms in args.sizes:
        sequence = afm_sequence(atoms, args.spacing, args.duration)
        cells = []
        for target in targets:
            started = time.perf_counter()
            for _ in range(args.repeat):
                results = run[target](sequence, {}, args.runs, {}, {})
            elapsed = (time.perf_counter() - started) / args.repeat
            assert sum(results.final_bitstrings.values()) == args.runs
            cells.append(f"{elapsed:10.2f} s")
        print(f"  {atoms:>5}  " + "  ".join(f"{c:>12}" for c in cells), flush=True)
        if "emu-mps" in targets:
            import emu_mps.optimatrix as optimatrix
            import numpy as np

            coords = np.array([position.as_array() for position in sequence.register.qubits.values()])
            positions = torch.from_numpy(coords).to(torch.float64)
            distances = torch.cdist(positions, positions) + torch.eye(atoms, dtype=torch.float64)
            interaction = (1 / distances**6) * (1 - torch.eye(atoms, dtype=torch.float64))
            started = time.perf_counter()
            optimatrix.minimize_bandwidth(interaction)
            ordering[atoms] = time.perf_counter() - started
    if ordering:
        spent = ", ".join(f"{atoms} atoms {seconds:.1f} s" for atoms, seconds in ordering.items())
        print(f"  of emu-mps's time, its qubit-ordering search alone (optimize_qubit_ordering=True): {spent}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["overhead", "sizes", "all"], default="all")
    parser.add_argument("--targets", nargs="+", default=["qutip", "emu-sv", "emu-mps"])
    parser.add_argument("--jobs", type=int, default=100, help="(a) jobs in the sweep")
    parser.add_argument("--t-start", type=int, default=16, help="(a) the first job's pulse, ns")
    parser.add_argument("--t-step", type=int, default=8, help="(a) the sweep's step, ns")
    parser.add_argument("--runs", type=int, default=200, help="shots per job")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 12], help="(b) atom counts")
    parser.add_argument("--spacing", type=float, default=6.0, help="(b) lattice spacing, µm")
    parser.add_argument("--duration", type=int, default=2000, help="(b) the ramp's duration, ns")
    parser.add_argument("--repeat", type=int, default=1, help="(a) rounds, best counts; (b) jobs per figure")
    parser.add_argument("--contender", choices=["bare", "qpurun"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--sizes-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        jobs = rabi_jobs(args.jobs, args.t_start, args.t_step, args.runs)
        print(json.dumps(contender(args.contender, args.target, jobs)))
        return
    if args.sizes_child:
        sizes(args)
        return
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (other work on the machine skews times)")
    if args.part in ("overhead", "all"):
        overhead(args)
    if args.part in ("sizes", "all"):
        command = [sys.executable, __file__, "--sizes-child", *sys.argv[1:]]
        subprocess.run(command, env=dict(os.environ, **SINGLE_THREAD_ENV), check=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}; the benchmark took {time.perf_counter() - START:.0f} s")


if __name__ == "__main__":
    main()
