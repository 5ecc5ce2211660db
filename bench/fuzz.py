"""The long fuzz run of issue 11: minutes of generated and mutated specs, one reproducer per crash class.

    .venv/bin/python bench/fuzz.py --minutes 10 [--inputs N] [--out /tmp/qpurun-fuzz] [--seed 0]

The inputs are those of tests/test_fuzz.py (tests/fuzz/: specs written from
the grammar, and example specs after token-level edits), drawn from
`random.Random` instead of hypothesis, so no time goes to shrinking. Each is
compiled twice, `qpurun.loads(text)` and `loads(text, validate=False)` (the
second skipped after a timeout of the first), in
one worker process, under a per-input timer (`--timeout`, SIGALRM) and a
memory cap (`--memory` MB above what the worker starts with, RLIMIT_AS).
Anything but a compile or a QxError is a crash, named by its exception type
and the innermost qpurun frame it passed through; for each new class the
worker shrinks the input (lines, tokens, nesting levels, digits) while it
crashes the same way and writes `<out>/NN-<class>.qx` (the reproducer) and
`.txt` (its traceback and the input found).

Python does not check signals inside one long C call (a huge `int ** int`,
a numpy allocation), so the timer cannot stop every input: this process
watches the worker, and one silent for too long is sent SIGUSR1 (faulthandler
dumps its stack), killed, its input recorded as a "hard timeout", and
replaced by a new worker that goes on with the next input (that input is
written as found: shrinking it would cost a hang per try). The same happens
if the worker dies (a segfault, the kernel's OOM killer).

Every input is a function of `--seed` and its number, so a run is
repeatable; the figures at the end are: inputs tried, compiled, QxError (by
kind), crashes (by class), timeouts, inputs per second.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import re
import resource
import select
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/fuzz, ahead of this file (also named fuzz)

from fuzz.generate import RandomChooser, generate  # noqa: E402
from fuzz.harness import Outcome, attempt, minimize  # noqa: E402
from fuzz.mutate import mutated  # noqa: E402

GRACE = 10.0
"""Seconds past two timeouts (the two compiles) before a silent worker is killed."""


def spec_for(seed: int, number: int, mutated_share: float) -> tuple[str, str]:
    """Input `number` of a run: ("generated" | "mutated", text), the same every time."""
    rng = random.Random(f"{seed}:{number}")
    chooser = RandomChooser(rng)
    if rng.random() < mutated_share:
        return "mutated", mutated(chooser)
    return "generated", generate(chooser)


def worst(pair: tuple[Outcome, Outcome]) -> Outcome:
    """The outcome an input is counted by: a crash of either compile, else a timeout, else `loads(text)`'s."""
    for status in ("crash", "timeout"):
        for outcome in pair:
            if outcome.status == status:
                return outcome
    return pair[0]


# ---- the worker: one process, every input in turn ------------------------------------------


def _send(pipe: int, **message: object) -> None:
    os.write(pipe, (json.dumps(message) + "\n").encode())


def _cap_memory(megabytes: int) -> None:
    """RLIMIT_AS at what the worker already maps plus `megabytes`: a runaway allocation is a MemoryError."""
    with open("/proc/self/status", encoding="ascii") as status:
        mapped = next(int(line.split()[1]) for line in status if line.startswith("VmSize:")) * 1024
    limit = mapped + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))


def work(pipe: int, start: int, args: argparse.Namespace, seen: set[str], dumps: Path) -> None:
    """Run inputs start, start + 1, ... until told to stop (by time or count), reporting each on `pipe`."""
    faulthandler.register(signal.SIGUSR1, file=open(dumps, "w"), all_threads=False)  # noqa: SIM115
    _cap_memory(args.memory)
    number = start
    while number < args.inputs_end and time.time() < args.deadline:
        _send(pipe, start=number)
        origin, text = spec_for(args.seed, number, args.mutated)
        first = attempt(text, validate=True, seconds=args.timeout)
        # After a timeout the cheaper compile would most likely time out too: it is not worth another wait.
        pair = (
            (first, first)
            if first.status == "timeout"
            else (first, attempt(text, validate=False, seconds=args.timeout))
        )
        outcome = worst(pair)
        mode = "validate=False" if outcome is pair[1] and pair[0].status != outcome.status else "validate=True"
        _send(pipe, done=number, origin=origin, status=outcome.status, label=outcome.label, mode=mode)
        if outcome.bad and outcome.label not in seen:
            seen.add(outcome.label)
            _send(pipe, minimizing=number, label=outcome.label)
            validate = mode == "validate=True"
            small = text if args.no_minimize else _shrink(pipe, text, outcome, validate, args)
            again = attempt(small, validate=validate, seconds=args.timeout)
            details = again.details if again.label == outcome.label else outcome.details
            _send(
                pipe, found=outcome.label, status=outcome.status, mode=mode, text=small, original=text, details=details
            )
        number += 1
    _send(pipe, finished=number)


def _shrink(pipe: int, text: str, outcome: Outcome, validate: bool, args: argparse.Namespace) -> str:
    """The input cut down while the compile that failed still fails the same way (the other is not re-run)."""

    def same(candidate: str) -> bool:
        _send(pipe, beat=True)
        return attempt(candidate, validate=validate, seconds=args.timeout).label == outcome.label

    return minimize(text, same, seconds=args.minimize_seconds)


# ---- the supervisor ------------------------------------------------------------------------------------


@dataclass
class Found:
    label: str
    status: str
    count: int = 0
    mode: str = "validate=True"
    path: Path | None = None


@dataclass
class Run:
    args: argparse.Namespace
    started: float = field(default_factory=time.time)
    tried: int = 0
    origins: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    found: dict[str, Found] = field(default_factory=dict)

    def count(self, message: dict) -> None:
        self.tried += 1
        self.origins[message["origin"]] += 1
        self.statuses[message["status"]] += 1
        if message["status"] == "qx-error":
            for kind in message["label"].split(", "):
                self.kinds[kind] += 1
        if message["status"] in ("crash", "timeout"):
            entry = self.found.setdefault(message["label"], Found(message["label"], message["status"]))
            entry.count += 1

    def write(self, label: str, status: str, mode: str, text: str, original: str, details: str) -> None:
        entry = self.found.setdefault(label, Found(label, status))
        entry.mode = mode
        number = sum(1 for f in self.found.values() if f.path is not None) + 1
        slug = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:80]
        entry.path = self.args.out / f"{number:02d}-{slug}.qx"
        entry.path.write_text(text, encoding="utf-8")
        report = f"{label}\nfound with {mode}\n\n{details}\n\n---- the input as found ----\n{original}"
        entry.path.with_suffix(".txt").write_text(report, encoding="utf-8")

    def progress(self) -> str:
        elapsed = time.time() - self.started
        crashes = sum(f.count for f in self.found.values() if f.status == "crash")
        return (
            f"[{elapsed:5.0f} s] {self.tried} inputs, {self.statuses['compiled']} compiled, "
            f"{self.statuses['qx-error']} QxError, {crashes} crashes, {self.statuses['timeout']} timeouts, "
            f"{len(self.found)} classes"
        )

    def summary(self) -> str:
        elapsed = time.time() - self.started
        lines = [
            f"inputs tried: {self.tried} ({self.origins['generated']} generated, {self.origins['mutated']} mutated)"
            f" in {elapsed:.0f} s: {self.tried / max(elapsed, 1e-9):.1f} inputs/s",
            f"compiled:     {self.statuses['compiled']}",
            f"QxError:      {self.statuses['qx-error']}  ("
            + ", ".join(f"{kind} {n}" for kind, n in self.kinds.most_common())
            + ")",
            f"crashes:      {sum(f.count for f in self.found.values() if f.status == 'crash')}",
            f"timeouts:     {sum(f.count for f in self.found.values() if f.status == 'timeout')}",
            f"classes:      {len(self.found)}, reproducers in {self.args.out}",
        ]
        for entry in sorted(self.found.values(), key=lambda f: -f.count):
            where = entry.path.name if entry.path else "(no reproducer)"
            lines.append(f"  {entry.count:6d}  {entry.label}  [{entry.mode}]  {where}")
        return "\n".join(lines)


def supervise(run: Run) -> None:
    """Workers one after another, each from the input after the last one's; a stuck or dead one is replaced."""
    args, number = run.args, 0
    dumps = args.out / ".stack.txt"
    last_progress = time.time()
    while number < args.inputs_end and time.time() < args.deadline:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read)
            code = 0
            try:
                work(write, number, args, set(run.found), dumps)
            except BaseException:  # reported by the supervisor as a dead worker
                code = 1
            os._exit(code)
        os.close(write)
        current, minimizing, buffer, finished, killed = number, None, b"", False, False
        beat = time.time()
        while not finished:
            limit = 2 * args.timeout + GRACE + (0 if minimizing is None else args.timeout)
            ready, _, _ = select.select([read], [], [], 1.0)
            if ready:
                chunk = os.read(read, 1 << 20)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    message = json.loads(line)
                    beat = time.time()
                    if "start" in message:
                        current, minimizing = message["start"], None
                    elif "done" in message:
                        run.count(message)
                    elif "minimizing" in message:
                        minimizing = message["label"]
                        current = message["minimizing"]
                    elif "found" in message:
                        run.write(
                            message["found"], message["status"], message["mode"], message["text"],
                            message["original"], message["details"],
                        )  # fmt: skip
                        minimizing = None
                        print(f"new class: {message['found']}", flush=True)
                    elif "finished" in message:
                        finished = True
            elif time.time() - beat > limit:  # stuck in C code the timer cannot interrupt
                os.kill(pid, signal.SIGUSR1)
                time.sleep(1.0)
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            if time.time() - last_progress > 30:
                print(run.progress(), flush=True)
                last_progress = time.time()
        _, status = os.waitpid(pid, 0)
        os.close(read)
        if finished:
            break
        _lost_worker(run, current, minimizing, killed, status, dumps)
        number = current + 1


def _lost_worker(run: Run, number: int, minimizing: str | None, killed: bool, status: int, dumps: Path) -> None:
    """Record the input a worker was on when it hung (and was killed) or died; its stack dump says where."""
    origin, text = spec_for(run.args.seed, number, run.args.mutated)
    if minimizing is not None:  # it hung while shrinking a class found earlier: keep that class's input as found
        print(f"worker lost while shrinking {minimizing}; its input kept unshrunk", flush=True)
        run.write(minimizing, run.found[minimizing].status, "validate=True", text, text, "(lost while shrinking)")
        return
    signalled = not killed
    stack = dumps.read_text(encoding="utf-8", errors="replace") if dumps.exists() else ""
    frames = re.findall(r'File "[^"]*/qpurun/([^"]+)", line \d+ in (\S+)', stack)
    where = f"{frames[0][0]}:{frames[0][1]}" if frames else "unknown"
    if signalled:
        code = os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        label, kind = f"worker died ({'signal' if os.WIFSIGNALED(status) else 'exit'} {code}) at {where}", "crash"
    else:
        label, kind = f"hard timeout at {where}", "timeout"
    if label not in run.found:
        run.write(label, kind, "validate=True", text, text, stack)
        print(f"new class: {label}", flush=True)
    run.tried += 1
    run.origins[origin] += 1
    run.statuses[kind] += 1
    run.found[label].count += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--inputs", type=int, default=None, help="stop after this many inputs")
    parser.add_argument("--out", type=Path, default=Path("/tmp/qpurun-fuzz"), help="where reproducers go")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed: the same seed, the same inputs")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per compile (default 5)")
    parser.add_argument("--memory", type=int, default=2048, help="MB a worker may map beyond its start")
    parser.add_argument("--mutated", type=float, default=0.5, help="share of mutated examples (default 0.5)")
    parser.add_argument("--minimize-seconds", type=float, default=60.0, help="shrinking budget per class")
    parser.add_argument("--no-minimize", action="store_true", help="write each class's input as found")
    args = parser.parse_args()
    args.deadline = time.time() + args.minutes * 60
    args.inputs_end = args.inputs if args.inputs is not None else sys.maxsize
    args.out.mkdir(parents=True, exist_ok=True)

    attempt("device MockDevice\n", seconds=None)  # import Pulser once, so every worker starts warm
    run = Run(args)
    try:
        supervise(run)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    summary = run.summary()
    (args.out / "summary.txt").write_text(summary + "\n", encoding="utf-8")
    print(summary)


if __name__ == "__main__":
    main()
