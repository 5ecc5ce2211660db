"""`qpurun report` (issue 8): one self-contained page, its data the store's, rendered by a real browser."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.image

import qpurun
from qpurun import report
from qpurun.run.store import Store
from run.conftest import SPECS, Outcome
from run.conftest import main_captured as _main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA = re.compile(r'<script type="application/json" id="qpurun-data">(.*?)</script>', re.DOTALL)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SINGLE = """\
experiment "single"
device AnalogDevice
layout triangular(61, spacing = 5 um)
register { q0 = trap 0  q1 = trap 1 }
channel ryd = rydberg_global
sequence {
  add pulse(amplitude = constant(300 ns, 2 * pi rad/us), detuning = 0, phase = 0) on ryd
  measure ground-rydberg
}
runs 20
"""


@pytest.fixture(scope="module")
def rabi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str, Path, Outcome]:
    """specs/rabi.qx with 40 shots a job, run as a person would (a summary, not --json): its store,
    batch id, output directory and what the run printed."""
    root = tmp_path_factory.mktemp("rabi")
    spec = root / "rabi.qx"
    spec.write_text((SPECS / "rabi.qx").read_text().replace("runs 200", "runs 40"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QPURUN_HOME", str(root / "home"))
        patch.chdir(root)
        outcome = _main("run", str(spec), "--workers", "2", "--out", str(root / "out"))
    assert outcome.code == 0, outcome.err
    store = Store(root / "home" / "store.sqlite3")
    (batch,) = store.batches()
    return store, batch.batch_id, root / "out", outcome


def _data(page: str) -> Any:
    (block,) = DATA.findall(page)
    return json.loads(block)


def test_the_run_writes_its_report(rabi: tuple[Store, str, Path, Outcome]) -> None:
    _, _, out, outcome = rabi
    assert (out / "report.html").is_file()
    assert f"report:  {out}/report.html" in outcome.out
    assert "warning" not in outcome.err


def test_the_embedded_data_is_the_stored_results(rabi: tuple[Store, str, Path, Outcome]) -> None:
    store, batch_id, out, _ = rabi
    data = _data((out / "report.html").read_text(encoding="utf-8"))
    results = qpurun.results(batch_id, store=store)
    assert (data["batch_id"], data["name"], data["target"], data["device"], data["status"]) == (
        batch_id,
        "rabi",
        "qutip",
        "AnalogDevice",
        "DONE",
    )
    assert (data["variables"], data["units"], data["qubits"]) == (["t"], {"t": "ns"}, ["q0"])
    assert len(data["jobs"]) == 20
    for shown, job in zip(data["jobs"], results.jobs, strict=True):
        assert shown == {
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
    assert [job["variables"]["t"] for job in data["jobs"]] == list(range(100, 2001, 100))  # the spec's unit, ns
    assert np.array_equal(np.array(data["occupation"]), results.occupation)
    assert data["manifest"]["batch_id"] == batch_id and "pulser-core" in data["manifest"]["versions"]
    assert "configuration" not in data["manifest"]


def test_the_command_writes_the_same_page(rabi: tuple[Store, str, Path, Outcome], tmp_path: Path) -> None:
    store, batch_id, out, _ = rabi
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QPURUN_HOME", str(store.path.parent))
        patch.chdir(tmp_path)
        outcome = _main("report", batch_id[:8], "-o", "again.html")
        assert outcome.code == 0, outcome.err
        assert outcome.out == "again.html\n"
        default = _main("report", batch_id[:8])
        assert default.out == "report.html\n" and (tmp_path / "report.html").is_file()
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert _data(again) == _data((out / "report.html").read_text(encoding="utf-8"))


def test_nothing_is_fetched(rabi: tuple[Store, str, Path, Outcome]) -> None:
    _, _, out, _ = rabi
    page = (out / "report.html").read_text(encoding="utf-8")
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # base64 may hold `//`
    assert not re.search(r"https?:|//[a-z0-9]", text, re.IGNORECASE), "the page names a URL"
    assert "<link" not in page and "@import" not in page and "url(" not in page
    sources = re.findall(r'\bsrc="([^"]*)"', page)
    assert len(sources) >= 3  # the plot, the register, the schedule
    for source in sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        picture = base64.b64decode(source[len(prefix) :])
        assert picture.startswith(PNG_MAGIC)
        assert matplotlib.image.imread(io.BytesIO(picture), format="png").shape[0] > 100
    assert all(link.startswith("#") for link in re.findall(r'\bhref="([^"]*)"', page))


def test_every_section_is_there(rabi: tuple[Store, str, Path, Outcome]) -> None:
    _, _, out, _ = rabi
    page = (out / "report.html").read_text(encoding="utf-8")
    for section in report.SECTIONS:
        assert len(re.findall(rf'\bid="{section}"', page)) == 1, section
    register = page[page.index('id="register"') : page.index('id="schedule"')]
    schedule = page[page.index('id="schedule"') : page.index('id="jobs"')]
    assert "<img" in register and "<img" in schedule and "placeholder" not in register + schedule
    spec = page[page.index('id="spec"') : page.index('id="register"')]
    assert 'class="highlight qx"' in spec and ">experiment</span>" in spec and '"rabi"</span>' in spec
    jobs = page[page.index('id="jobs-table"') :]
    assert jobs.count('<td class="status-DONE">DONE</td>') == 20
    assert "<th>t [ns]</th>" in jobs and "<th>seconds</th>" in jobs
    run = page[page.index('id="run"') : page.index('id="spec"')]
    assert "as the run&#x27;s manifest.json recorded them" in run and "pulser-core" in run


def test_what_users_wrote_is_escaped(rabi: tuple[Store, str, Path, Outcome]) -> None:
    store, batch_id, _, _ = rabi
    hostile = '<script>alert("name")</script>'
    results = qpurun.results(batch_id, store=store)
    jobs = [dataclasses.replace(results.jobs[0], error="<img src=x onerror=alert(1)>", status="ERROR")]
    results = dataclasses.replace(results, name=hostile, qubits=["<b>q0</b>"], jobs=jobs + results.jobs[1:])
    batch = dataclasses.replace(store.batch(batch_id), spec_text='experiment "</script><i>"\n', spec_name="<u>.qx")
    drawn = report.Picture("the register", problem="<blink>no</blink>")
    page = report.page(results, batch, manifest=None, plotted=[], register=drawn, schedule=drawn)
    for raw in (hostile, "<img src=x", "<b>q0</b>", "<i>", "<u>.qx", "<blink>"):
        assert raw not in page, raw
    assert html.escape(hostile) in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("</script>") == 1  # the data block's own end: no value closes it early
    data = _data(page)
    assert data["name"] == hostile and data["jobs"][0]["error"] == "<img src=x onerror=alert(1)>"
    assert "the run directory&#x27;s manifest.json was not found" in page


def test_a_drawing_that_cannot_be_made_is_a_labelled_placeholder(rabi: tuple[Store, str, Path, Outcome]) -> None:
    store, batch_id, _, _ = rabi
    broken = dataclasses.replace(store.batch(batch_id), sequence_json='{"register": []}')
    page = report.build(store, broken)
    register = page[page.index('id="register"') : page.index('id="schedule"')]
    assert 'class="placeholder" data-kind="register"' in register and "cannot be rebuilt" in register
    assert len(DATA.findall(page)) == 1 and "<img" in page[page.index('id="plots"') : page.index('id="run"')]


def test_a_report_that_fails_is_a_warning_not_a_failed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPURUN_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "single.qx").write_text(SINGLE)

    def fail(store: Store, batch: Any, **drawn: Any) -> str:
        raise RuntimeError("the drawing broke")

    monkeypatch.setattr(report, "build", fail)
    outcome = _main("run", "single.qx", "--workers", "1", "--out", "out")
    assert outcome.code == 0, outcome.err
    assert "qpurun: warning: no report.html written: the drawing broke" in outcome.err
    assert "report:" not in outcome.out and "results: out/results.csv" in outcome.out
    assert (tmp_path / "out" / "results.csv").is_file() and not (tmp_path / "out" / "report.html").exists()


def test_the_register_and_schedule_are_drawn_once_while_the_jobs_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They need no result: drawn while the jobs run, the run ends that much sooner."""
    monkeypatch.setenv("QPURUN_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "single.qx").write_text(SINGLE)
    drawn = report.drawings
    results_written: list[bool] = []

    def counted(batch: Any, first_job: Any) -> Any:
        results_written.append((tmp_path / "out" / "results.csv").exists())
        return drawn(batch, first_job)

    monkeypatch.setattr(report, "drawings", counted)
    outcome = _main("run", "single.qx", "--workers", "1", "--out", "out")
    assert outcome.code == 0, outcome.err
    assert results_written == [False]  # once, before the end of the run
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    register = page[page.index('id="register"') : page.index('id="schedule"')]
    schedule = page[page.index('id="schedule"') : page.index('id="jobs"')]
    assert "<img" in register and "<img" in schedule and "placeholder" not in register + schedule


# ---- in a browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()


def _browse(page: Path, profile: Path, *what: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM or "chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *what, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium; .ci/run does)")
def test_the_report_renders_in_chromium(rabi: tuple[Store, str, Path, Outcome], tmp_path: Path) -> None:
    _, batch_id, out, _ = rabi
    page = out / "report.html"
    shot = tmp_path / "report.png"
    done = _browse(page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.is_file(), f"chromium wrote no screenshot ({done.returncode}): {done.stderr[-2000:]}"
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (2000, 1280)
    rgb = np.round(image[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours = len(np.unique(rgb, axis=0))
    inked = float((rgb < 235).any(axis=1).mean())
    assert colours > 200, f"{colours} colours: the page did not render its pictures"
    assert inked > 0.02, f"{inked:.1%} of the screenshot is not white"
    curve = int((np.abs(rgb.astype(int) - (31, 119, 180)).max(axis=1) < 40).sum())  # matplotlib's first blue
    assert curve > 500, f"{curve} pixels of the Rabi curve's blue: the plot did not render"
    dumped = _browse(page, tmp_path / "profile-dom", "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    for section in report.SECTIONS:
        assert f'id="{section}"' in dom, section
    assert dom.count("<img") >= 3 and dom.count("<tr>") >= 20
    (block,) = DATA.findall(dom)
    assert json.loads(block)["batch_id"] == batch_id
