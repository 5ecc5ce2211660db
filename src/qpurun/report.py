"""`qpurun report`: one HTML page that shows a batch to someone who was not there.

The page is self-contained so that it can be mailed, attached to a logbook or opened years
later on a machine without network: its CSS, its images (base64 PNG) and its data (a
`<script type="application/json" id="qpurun-data">` block, the results as `qpurun.results`
reads them) are inline, and it names no URL at all, so nothing is fetched and nothing leaks
when it is opened. Everything that comes from a user (names, values, errors, the spec) is
escaped; the spec is highlighted by `qpurun.highlight.html`.

Sections, each an element with an id a test (or a script) can find: `summary`, `plots`,
`run` (target, device, versions: the run directory's manifest.json, else what the store
knows), `spec`, `register` and `schedule` (job 0 drawn by `qpurun.draw`, from the batch's
stored sequence), `jobs` (status and timings). A drawing Pulser cannot make becomes a note in
its section, never a missing report.

`qpurun run` writes the page into the run's directory as `report.html` (`write_into_run`): a
failure there is a warning, never the run's.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qpurun.command import EXIT_OK, EnvironmentProblem

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from qpurun.batch_results import BatchResults
    from qpurun.run.store import Batch, Store

REPORT = "report.html"
"""Its name in a run directory."""
DATA_ID = "qpurun-data"
SECTIONS = ("summary", "plots", "run", "spec", "register", "schedule", "jobs")
"""The ids of the page's sections, in order."""
DPI = 100


# ---- what the page holds


def data(results: BatchResults, manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The page's data block: the batch's results as `qpurun.results` gives them (variables in the
    spec's units), and the run's manifest without its configuration (which may hold hosts of URLs)."""
    jobs = [
        {
            "index": job.index,
            "job_id": job.job_id,
            "variables": job.variables,
            "status": job.status,
            "runs": job.runs,
            "shots": job.shots,
            "counts": job.counts,
            "error": job.error,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "seconds": job.seconds,
        }
        for job in results.jobs
    ]
    shown: dict[str, Any] = _finite(
        {
            "batch_id": results.batch_id,
            "name": results.name,
            "target": results.target,
            "device": results.device,
            "status": results.status,
            "variables": results.variables,
            "units": results.units,
            "qubits": results.qubits,
            "jobs": jobs,
            "occupation": results.occupation.tolist(),
            "manifest": None if manifest is None else {k: v for k, v in manifest.items() if k != "configuration"},
        }
    )
    return shown


def _finite(value: Any) -> Any:
    """NaN (a job without a result) as null: JSON has no NaN, and a browser's JSON.parse refuses it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def embedded_json(value: Any) -> str:
    """JSON safe inside `<script>`: `<`, `>` and `&` as \\u escapes, so no value can close the element."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def read_manifest(batch: Batch) -> dict[str, Any] | None:
    """The run directory's manifest.json, when the directory is still where the run wrote it."""
    from qpurun.run.output import MANIFEST

    if not batch.out_dir:
        return None
    try:
        manifest = json.loads((Path(batch.out_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("batch_id") != batch.batch_id:
        return None
    return manifest


# ---- pictures


def png(fig: Figure) -> str:
    """A figure as a `data:` URI (PNG, no metadata), for an `<img>` that needs no file."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass
class Picture:
    """A drawing for the page, or why there is none."""

    caption: str
    uri: str | None = None
    problem: str | None = None


def _picture(caption: str, make: Callable[[], Figure]) -> Picture:
    import matplotlib.pyplot as plt

    try:
        fig = make()
    except Exception as error:  # a drawing that fails is a note on the page, not a lost report
        return Picture(caption, problem=f"{type(error).__name__}: {error}")
    try:
        return Picture(caption, uri=png(fig))
    finally:
        plt.close(fig)  # draw's figures live in pyplot; closing a plain Figure is harmless


def plots(results: BatchResults, coordinates: list[Any] | None) -> list[Picture]:
    """The plots of `qpurun plot` that say most about this batch: the default one, then for several
    qubits the mean number of excitations, and for atoms on a square grid the antiferromagnetic order."""
    from qpurun import plot

    axes = plot.sweep_axes(results)
    if not axes:
        wanted: list[tuple[str, str | None]] = [("the bitstrings measured", None)]
        if len(results.qubits) > 1:
            wanted.append(("the occupation of each qubit", "occupation"))
    else:
        several = len(results.qubits) > 1
        shown = "the mean occupation of the qubits" if several and len(axes) > 1 else "the occupation"
        wanted = [(shown + (" of each qubit" if several and len(axes) == 1 else ""), None)]
    if axes and len(results.qubits) > 1:
        wanted.append(("the mean number of excitations", "excitations"))
        on_grid = coordinates and coordinates[0] is not None and plot.checkerboard(coordinates[0])[1]
        if on_grid and len(results.qubits) > 2:  # two atoms have no order to speak of
            wanted += [("the staggered magnetisation", "staggered"), ("the probability of the Néel states", "neel")]

    def plotted(y: str | None) -> Callable[[], Figure]:
        return lambda: plot.figure(results, y, coordinates=coordinates)

    return [
        _picture(f"qpurun plot {results.batch_id[:8]}" + (f" --y {y}" if y else "") + f": {caption}", plotted(y))
        for caption, y in wanted
    ]


def drawings(batch: Batch, first_job: Mapping[str, Any]) -> tuple[Picture, Picture]:
    """The register and the schedule of job 0, drawn by `qpurun.draw` from the batch's stored
    sequence built with the job's values (in Pulser's units, as it ran)."""
    from qpurun import draw

    try:
        from pulser import Sequence

        sequence = Sequence.from_abstract_repr(batch.sequence_json)
        if sequence.is_parametrized() or sequence.is_register_mappable():
            sequence = sequence.build(**first_job)
    except Exception as error:
        problem = f"the stored sequence cannot be rebuilt: {type(error).__name__}: {error}"
        return Picture("register", problem=problem), Picture("schedule", problem=problem)

    def register() -> Figure:
        amplitude = draw.max_rydberg_amplitude(sequence)
        radius = float(sequence.device.rydberg_blockade_radius(amplitude)) if amplitude else None
        layout = sequence.register.layout
        return draw.register_figure(
            sequence.register,
            numbers=_trap_numbers(batch, layout),
            blockade_radius=radius,
            title=draw.register_title(sequence.register, amplitude, radius),
        )

    return (
        _picture("the register of job 0, with the layout's traps numbered as the spec numbers them", register),
        _picture("the pulse schedule of job 0, every channel", lambda: draw.schedule_figure(sequence)),
    )


_TRAPS_LAYOUT = re.compile(r"^[ \t]*layout[ \t]+traps\b", re.MULTILINE)


def _trap_numbers(batch: Batch, layout: Any) -> dict[int, int]:
    """Pulser's trap id -> the spec's number: the same but for a `traps { }` layout, which the spec
    numbers in the order written (Pulser keeps that order in `_coords`), as `draw.trap_numbers` does."""
    if layout is None or not _TRAPS_LAYOUT.search(batch.spec_text or ""):
        return {}
    written = layout._coords
    return {int(trap): index for index, trap in enumerate(layout.get_traps_from_coordinates(*written))}


# ---- the page


CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1c1c1c;
       margin: 0 auto; max-width: 1200px; padding: 1.5em 2em 4em; background: #fff; }
h1 { font-size: 1.7em; margin: 0 0 .2em; } h2 { font-size: 1.25em; margin: 1.8em 0 .6em;
     border-bottom: 2px solid #d8dee9; padding-bottom: .2em; }
nav a { margin-right: 1em; color: #2b5797; text-decoration: none; }
table { border-collapse: collapse; font-size: .9em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e5e9f0; text-align: left; vertical-align: top; }
th { background: #f2f4f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status-DONE { color: #1a7f37; } .status-ERROR { color: #c62828; font-weight: bold; }
.status-PENDING, .status-RUNNING, .status-PAUSED, .status-CANCELED { color: #8a6d00; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 0 1.5em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #e5e9f0; }
figcaption { color: #555; font-size: .9em; } code, pre { font: .88em/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
.highlight pre { padding: .8em 1em; overflow-x: auto; border: 1px solid #e5e9f0; }
.placeholder { border: 2px dashed #c9ced6; padding: 1em; color: #555; background: #fafbfc; }
.scroll { max-height: 40em; overflow: auto; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _figure(picture: Picture, kind: str) -> str:
    if picture.uri is None:
        return (
            f'<div class="placeholder" data-kind="{_e(kind)}"><strong>No {_e(kind)} drawing:</strong> '
            f"{_e(picture.problem or 'not drawn')}</div>"
        )
    return (
        f'<figure class="{_e(kind)}"><img alt="{_e(picture.caption)}" src="{picture.uri}">'
        f"<figcaption>{_e(picture.caption)}</figcaption></figure>"
    )


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_e(name)}</th><td>{_e(value)}</td></tr>" for name, value in rows if value is not None)
    return f"<table>{body}</table>"


def _when(stamp: str | None) -> str:
    return stamp[:19].replace("T", " ") if stamp else ""


def _elapsed(results: BatchResults) -> float | None:
    starts = [job.started_at for job in results.jobs if job.started_at]
    ends = [job.finished_at for job in results.jobs if job.finished_at]
    if not starts or not ends:
        return None
    return (datetime.fromisoformat(max(ends)) - datetime.fromisoformat(min(starts))).total_seconds()


def _jobs_table(results: BatchResults) -> str:
    from qpurun.run import output

    names = [n for n in results.variables]
    head = ["job", *(f"{n} [{results.units[n]}]" if n in results.units else n for n in names)]
    head += ["status", "runs", "shots", "most frequent", "mean excitations", "started (UTC)", "seconds", "error"]
    rows = []
    for job in results.jobs:
        top = output.most_frequent(job.counts)
        cells = [f'<td class="num">{job.index}</td>']
        cells += [
            f'<td class="num">{_e(_value(job.variables[n]))}</td>' if n in job.variables else "<td></td>" for n in names
        ]
        cells.append(f'<td class="status-{_e(job.status)}">{_e(job.status)}</td>')
        cells.append(f'<td class="num">{job.runs}</td><td class="num">{job.shots}</td>')
        cells.append(f"<td><code>{_e(top[0])}</code> {top[1]:.0%}</td>" if top else "<td></td>")
        excitations = f"{output.mean_excitation(job.counts):.3f}" if job.counts else ""
        cells.append(f'<td class="num">{excitations}</td>')
        cells.append(f"<td>{_e(_when(job.started_at))}</td>")
        seconds = job.seconds
        cells.append(f'<td class="num">{seconds:.3g}</td>' if seconds is not None else "<td></td>")
        cells.append(f"<td>{_e(job.error or '')}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    table = f'<table id="jobs-table"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def page(
    results: BatchResults,
    batch: Batch,
    *,
    manifest: Mapping[str, Any] | None,
    plotted: list[Picture],
    register: Picture,
    schedule: Picture,
) -> str:
    """The HTML page, from what is already computed (pictures as data URIs)."""
    from qpurun.highlight import html as highlighted
    from qpurun.run.output import versions

    done = sum(job.status == "DONE" for job in results.jobs)
    failed = sum(job.status == "ERROR" for job in results.jobs)
    elapsed = _elapsed(results)
    swept = ", ".join(f"{n} [{results.units[n]}]" if n in results.units else n for n in results.variables)
    summary = (
        f'<p>batch <code>{_e(results.batch_id)}</code>: <span class="status-{_e(results.status)}">'
        f"{_e(results.status)}</span>, {done} of {len(results.jobs)} jobs done"
        + (f", {failed} failed" if failed else "")
        + f"; on <strong>{_e(results.target)}</strong>, device <strong>{_e(results.device)}</strong>; "
        + f"{len(results.qubits)} qubit{'s' if len(results.qubits) != 1 else ''} ({_e(', '.join(results.qubits))})"
        + (f"; sweeps {_e(swept)}" if swept else "")
        + (f"; {elapsed:.3g} s from the first job's start to the last one's end" if elapsed is not None else "")
        + "</p>"
    )
    if manifest is not None:
        known = manifest.get("versions") or {}
        origin = "as the run's manifest.json recorded them"
    else:
        known = versions(results.target)
        origin = "installed where this report was made (the run directory's manifest.json was not found)"
    run_rows: list[tuple[str, Any]] = [
        ("batch", results.batch_id),
        ("target", results.target),
        ("device", results.device),
        ("created (UTC)", _when(batch.created_at)),
        ("spec", batch.spec_name),
        ("spec SHA-256", batch.spec_sha256),
        ("run directory", batch.out_dir),
    ]
    if manifest is not None:
        run_rows += [
            ("run again", manifest.get("rerun")),
            ("files included", ", ".join(manifest.get("files") or []) or None),
        ]
    if batch.noise:
        run_rows.append(("noise", json.dumps(batch.noise, sort_keys=True)))
    version_rows = [(name, version) for name, version in known.items()]
    spec_text = batch.spec_text
    spec_html = (
        highlighted(spec_text)
        if spec_text is not None
        else '<div class="placeholder">The store holds no spec text for this batch.</div>'
    )
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"{results.name}: batch {results.batch_id[:8]}"
    nav = "".join(f'<a href="#{s}">{s}</a>' for s in SECTIONS[1:])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="qpurun report">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header id="summary">
<h1>{_e(results.name)}</h1>
{summary}
<nav>{nav}</nav>
</header>
<section id="plots">
<h2>Results</h2>
<div class="plots">{"".join(_figure(p, "plot") for p in plotted)}</div>
</section>
<section id="run">
<h2>Run</h2>
{_table(run_rows)}
<h3>Versions</h3>
<p>{_e(origin)}</p>
{_table(version_rows)}
</section>
<section id="spec">
<h2>Spec</h2>
{spec_html}
</section>
<section id="register">
<h2>Register</h2>
{_figure(register, "register")}
</section>
<section id="schedule">
<h2>Pulse schedule</h2>
{_figure(schedule, "schedule")}
</section>
<section id="jobs">
<h2>Jobs</h2>
{_jobs_table(results)}
</section>
<footer><p>Written by qpurun report on {_e(made)}. The data behind this page is in the
<code>{DATA_ID}</code> script element, as JSON.</p></footer>
<script type="application/json" id="{DATA_ID}">{embedded_json(data(results, manifest))}</script>
</body>
</html>
"""


def build(store: Store, batch: Batch, *, drawn: tuple[Picture, Picture] | None = None) -> str:
    """The report of a stored batch, as HTML text. `drawn`: the register and schedule, drawn already
    (by `draw_while_running`); else they are drawn now."""
    from qpurun import plot
    from qpurun.batch_results import results as read

    results = read(batch.batch_id, store=store)
    manifest = read_manifest(batch)
    try:
        coordinates: list[Any] | None = plot.register_coordinates(batch.sequence_json, results)
    except Exception:  # positions only choose the plots; without them, there are fewer
        coordinates = None
    register, schedule = drawn or drawings(batch, _first_job(store, batch.batch_id))
    return page(
        results,
        batch,
        manifest=manifest,
        plotted=plots(results, coordinates),
        register=register,
        schedule=schedule,
    )


def _first_job(store: Store, batch_id: str) -> dict[str, Any]:
    """Job 0's variables, in Pulser's units, as the job ran (the drawings show that job)."""
    from qpurun.run.store import StoreError

    try:
        return dict(store.job(batch_id, 0).variables)
    except StoreError:  # a batch of no jobs
        return {}


def write(store: Store, batch: Batch, path: Path, *, drawn: tuple[Picture, Picture] | None = None) -> Path:
    """Write the report of a stored batch to `path`."""
    text = build(store, batch, drawn=drawn)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise EnvironmentProblem(f"cannot write {path}: {error.strerror or error}") from None
    return path


def draw_while_running(store: Store, batch_id: str) -> tuple[Picture, Picture] | None:
    """The register and the schedule, which no result changes, drawn while the jobs run: at the
    end only the plots are left to draw, and the run ends seconds sooner. None when they cannot
    be drawn now (the end of the run tries again, and says why)."""
    from qpurun.draw import use_backend

    try:
        use_backend()  # the command line draws to files only
        return drawings(store.batch(batch_id), _first_job(store, batch_id))
    except Exception:
        return None


def write_into_run(
    store: Store, batch_id: str, out_dir: Path, *, drawn: tuple[Picture, Picture] | None = None
) -> Path | None:
    """At the end of `qpurun run`: `report.html` in the run's directory; a failure is a warning (the
    results are written and stored, and `qpurun report` makes the page again), never the run's.
    `drawn`: the pictures `draw_while_running` made."""
    from qpurun.draw import use_backend
    from qpurun.run.backends import warn

    path = out_dir / REPORT
    try:
        use_backend()  # the command line draws to files only
        return write(store, store.batch(batch_id), path, drawn=drawn)
    except Exception as error:
        warn(f"no {REPORT} written: {error}; `qpurun report {batch_id[:12]} -o {path}` tries again")
        return None


def command(args: argparse.Namespace, store: Store, batch: Batch) -> int:
    """`qpurun report BATCH [-o FILE]`, once the batch is found."""
    from qpurun.draw import use_backend

    use_backend()
    path = Path(args.output) if args.output else Path(REPORT)
    write(store, batch, path)
    print(path)
    return EXIT_OK
