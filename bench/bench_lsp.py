"""The language server's latency: from an edit to its diagnostics.

    python bench/bench_lsp.py             # both parts (about a minute)
    python bench/bench_lsp.py --rounds 5

(a) in process, best of `--rounds`, for `specs/afm_ramp.qx` and a generated
    2,000-line spec (1,500 `let`s and a 480-operation sequence): the front end
    (parse, includes, check: every diagnostic about what the spec says), the
    front end and the lowering to a `pulser.Sequence` (what the server runs
    after each edit), and every job built against the device (what it adds on
    save). Targets: front end ≤ 50 ms for afm_ramp, ≤ 300 ms for 2,000 lines.
(b) over stdio with pygls's LanguageClient, as an editor: `qpurun lsp` is
    started, the document opened, then edited `--rounds` times; each edit is
    timed from `didChange` to the `publishDiagnostics` for it. The server waits
    `DEBOUNCE_SECONDS` of quiet before checking; the figure is printed with and
    without that pause.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AFM = ROOT / "specs" / "afm_ramp.qx"


def large_spec(lets: int = 1500, operations: int = 480) -> str:
    head = [
        'experiment "large"',
        "device MockDevice",
        "register { q0 = (0, 0) um  q1 = (8, 0) um }",
        "channel ryd = rydberg_global",
        "var t: int",
    ]
    values = [f"let d{i} = {4 + (i % 4) * 4} ns" for i in range(lets)]
    body = [f"  delay d{i % lets} on ryd" for i in range(operations - 1)]
    body.append("  add pulse(amplitude = constant(t, 1 rad/us), detuning = 0) on ryd")
    tail = ["runs 100", "sweep {", "  t = [100, 200, 300]", "}"]
    return "\n".join([*head, *values, "sequence {", *body, "}", *tail]) + "\n"


def best_ms(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def in_process(rounds: int) -> None:
    print("(a) in process, best of", rounds)
    print(f"    {'spec':<22}{'lines':>7}{'front end':>12}{'+ lowering':>12}{'analyse()':>12}{'+ every job':>13}")
    for name, text, path in (("afm_ramp.qx", AFM.read_text(), str(AFM)), ("generated", large_spec(), "large.qx")):
        stages(name, text, path, rounds)


def stages(name: str, text: str, path: str, rounds: int) -> None:
    from qpurun import api
    from qpurun.language.checker import check
    from qpurun.language.errors import Source
    from qpurun.language.includes import resolve
    from qpurun.language.parser import parse
    from qpurun.lsp.analysis import analyse

    source = Source(path, text)
    front = best_ms(lambda: check(resolve(parse(text, filename=path), source), source), rounds)
    lowered = best_ms(lambda: api.compile_source(source, validate=False), rounds)
    analysed = best_ms(lambda: analyse(text, path), rounds)
    jobs = best_ms(lambda: api.compile_source(source, validate=True), max(1, rounds // 2))
    lines = text.count("\n")
    print(f"    {name:<22}{lines:>7}{front:>10.1f}ms{lowered:>10.1f}ms{analysed:>10.1f}ms{jobs:>11.1f}ms")


async def over_stdio(rounds: int) -> None:
    from qpurun.lsp.server import DEBOUNCE_SECONDS

    print(f"(b) over stdio, {rounds} edits each, debounce {DEBOUNCE_SECONDS * 1000:.0f} ms")
    for name, text, path in (("afm_ramp.qx", AFM.read_text(), AFM), ("generated", large_spec(), ROOT / "large.qx")):
        times = await edits(text, path, rounds)
        median = statistics.median(times) * 1000
        print(
            f"    {name:<22} median {median:7.1f} ms from the edit, "
            f"{median - DEBOUNCE_SECONDS * 1000:7.1f} ms after the debounce (best {min(times) * 1000:.1f} ms)"
        )


async def edits(text: str, path: Path, rounds: int) -> list[float]:
    """Seconds from each `didChange` to the diagnostics published for it."""
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("bench", "1")
    arrived: asyncio.Queue[float] = asyncio.Queue()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: types.PublishDiagnosticsParams) -> None:
        arrived.put_nowait(time.perf_counter())

    await client.start_io(sys.executable, "-m", "qpurun", "lsp")
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    uri = path.resolve().as_uri()
    item = types.TextDocumentItem(uri=uri, language_id="qx", version=1, text=text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
    await arrived.get()
    times = []
    for version in range(2, rounds + 2):
        change = types.TextDocumentContentChangeWholeDocument(text=text + f"# edit {version}\n")
        document = types.VersionedTextDocumentIdentifier(uri=uri, version=version)
        start = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(text_document=document, content_changes=[change])
        )
        times.append(await arrived.get() - start)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    in_process(args.rounds)
    asyncio.run(over_stdio(args.rounds))


if __name__ == "__main__":
    main()
