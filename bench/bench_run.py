"""`qpurun run` against a plain Pulser loop: 100 six-atom jobs, wall time end to end.

    python bench/bench_run.py            # all three, in one run (a few minutes on 2 cores)
    python bench/bench_run.py --plain    # only the plain loop (what the benchmark times)

Each contender is timed as a fresh process, from interpreter start to the last
result: the plain loop imports Pulser, builds the sequence by hand, then for
each job builds it with the job's values and runs `QutipBackendV2` (500
bitstrings), keeping the results in memory. `qpurun run --workers N` does the
same jobs, plus compiling and validating the spec, storing every result in
SQLite as it comes and writing the output directory. Both sample the same
physics: the script checks that the hand-written sequence is the one qpurun
compiles.

Targets: `--workers 2` ≤ 0.6× the plain loop, `--workers 1` ≤ 1.05×.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPEC = HERE / "six_atoms.qx"
DELTAS = [d * 2 * 3.141592653589793 for d in (-2, -1, 0, 1, 2, 3, 4, 5, 6, 7)]
DURATIONS = list(range(3000, 5701, 300))
RUNS = 500


def plain_sequence() -> Any:
    """The spec, written by hand with Pulser."""
    import numpy as np
    from pulser import Pulse, Sequence
    from pulser.devices import AnalogDevice
    from pulser.register.special_layouts import TriangularLatticeLayout
    from pulser.waveforms import ConstantWaveform, RampWaveform

    register = TriangularLatticeLayout(61, 5).define_register(*range(6), qubit_ids=[f"q{i}" for i in range(6)])
    sequence = Sequence(register, AnalogDevice)
    sequence.declare_channel("ryd", "rydberg_global")
    delta_f = sequence.declare_variable("delta_f")
    t = sequence.declare_variable("t", dtype=int)
    sequence.add(Pulse(ConstantWaveform(t, 2 * np.pi), RampWaveform(t, -12 * np.pi, delta_f), 0), "ryd")
    sequence.measure("ground-rydberg")
    return sequence


def plain_loop() -> list[Any]:
    from pulser.backend import BitStrings
    from pulser_simulation import QutipBackendV2, QutipConfig

    sequence = plain_sequence()
    results = []
    for delta_f in DELTAS:
        for t in DURATIONS:
            built = sequence.build(delta_f=delta_f, t=t)
            config = QutipConfig(observables=[BitStrings(num_shots=RUNS)])
            results.append(QutipBackendV2(built, config=config).run())
    return results


def check_same_sequence() -> None:
    """The plain loop's sequence is the one qpurun compiles (same jobs, same physics)."""
    import qpurun

    experiment = qpurun.load(SPEC)
    plain = plain_sequence()
    params = experiment.job_params
    assert len(params) == len(DELTAS) * len(DURATIONS) == 100
    for job in (params[0], params[57], params[-1]):
        ours = json.loads(experiment.sequence.build(**job["variables"]).to_abstract_repr())
        theirs = json.loads(plain.build(**job["variables"]).to_abstract_repr())
        assert ours == theirs, "the hand-written sequence differs from the spec's"


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (Linux /proc/stat), to see what else ran."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall time of one command, its CPU time (all its processes), and the CPU others used meanwhile."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = _busy_seconds()
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return wall, cpu, max(0.0, _busy_seconds() - busy - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plain", action="store_true", help="run only the plain Pulser loop (what is timed)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved; the best wall time counts")
    args = parser.parse_args()
    if args.plain:
        plain_loop()
        return
    check_same_sequence()
    load = os.getloadavg()[0]
    walls: dict[str, list[float]] = {}
    others: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, QPURUN_HOME=str(Path(scratch) / "home"))
        qpurun = [sys.executable, "-c", "from qpurun.cli import entry; entry()"]
        for round_ in range(args.repeat):
            contenders = {
                "plain Pulser loop": [sys.executable, __file__, "--plain"],
                "qpurun run --workers 1": [
                    *qpurun,
                    "run",
                    str(SPEC),
                    "--workers",
                    "1",
                    "--json",
                    "--out",
                    f"{scratch}/1-{round_}",
                ],
                "qpurun run --workers 2": [
                    *qpurun,
                    "run",
                    str(SPEC),
                    "--workers",
                    "2",
                    "--json",
                    "--out",
                    f"{scratch}/2-{round_}",
                ],
            }
            for name, command in contenders.items():
                wall, cpu, other = timed(command, env)
                walls.setdefault(name, []).append(wall)
                cpus.setdefault(name, []).append(cpu)
                others.setdefault(name, []).append(other / wall)
    plain = min(walls["plain Pulser loop"])
    print(f"100 jobs, 6 atoms, {RUNS} shots each; {os.cpu_count()} cores; best of {args.repeat}, one process tree each")
    print(
        f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f} (other work on the machine skews wall times)"
    )
    print("  (CPU: the contender's processes; others: cores busy with other work meanwhile, per round)")
    for name in walls:
        best = walls[name].index(min(walls[name]))
        wall = walls[name][best]
        rounds = ", ".join(f"{w:.2f} s/{o:.1f}" for w, o in zip(walls[name], others[name], strict=True))
        print(
            f"  {name:<24} {wall:7.2f} s   {wall / plain:5.2f}x   CPU {cpus[name][best]:6.2f} s   "
            f"(rounds, wall/others: {rounds})"
        )
    targets = {"qpurun run --workers 1": 1.05, "qpurun run --workers 2": 0.6}
    for name, target in targets.items():
        ratio = min(walls[name]) / plain
        verdict = "ok" if ratio <= target else "MISSED"
        print(f"  {name}: {ratio:.2f}x the plain loop's wall time (target <= {target}x) {verdict}")


if __name__ == "__main__":
    main()
