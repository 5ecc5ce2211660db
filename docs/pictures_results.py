"""Regenerate the pictures of a run's results under docs/images: `python docs/pictures_results.py`.

Runs the Rabi example (specs/rabi.qx) into a temporary QPURUN_HOME, then writes
`plot-rabi.png` (what `qpurun plot` writes for it) and `report-rabi.png` (headless Chromium's
screenshot of the `report.html` the run wrote). Both are made by the commands they show, so a
change in what qpurun draws shows in the committed pictures' diff; the screenshot needs
Debian's `chromium` package (`.ci/run` installs it). PNGs with 256 colours stay under 200 KB.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from qpurun.draw import use_backend

use_backend()  # Agg: no window, no display needed

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
WINDOW = (1280, 1900)
"""The screenshot's size: the summary, the curve, the run's details and the start of the spec."""


def _qpurun(*args: str) -> str:
    """Run `qpurun ARGS` in this process; its stdout, or exit with its stderr."""
    from qpurun.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    if status != 0:
        raise SystemExit(f"qpurun {' '.join(args)} failed ({status}):\n{err.getvalue()}")
    return out.getvalue()


def screenshot(page: Path, output: Path, profile: Path) -> None:
    """Headless Chromium's picture of `page`, with a fresh profile and nothing fetched, as an indexed PNG."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium to take the report's screenshot: apt-get install chromium")
    raw = profile.parent / "screenshot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--screenshot={raw}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ]
    done = subprocess.run([chromium, *flags, page.as_uri()], capture_output=True, text=True, timeout=60, check=False)
    if not raw.is_file():
        raise SystemExit(f"chromium took no screenshot ({done.returncode}):\n{done.stderr[-2000:]}")
    from PIL import Image

    with Image.open(raw) as image:
        indexed = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        indexed.save(output, format="PNG", optimize=True)


def main() -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qpurun-pictures-") as scratch:
        root = Path(scratch)
        os.environ["QPURUN_HOME"] = str(root / "home")
        os.chdir(root)  # relative paths, as a user's: the report shows `specs/rabi.qx`, not this machine's
        (root / "specs").mkdir()
        shutil.copyfile(ROOT / "specs" / "rabi.qx", root / "specs" / "rabi.qx")
        out = Path("runs") / "rabi"
        batch = json.loads(_qpurun("run", "specs/rabi.qx", "--json", "--out", str(out)))["batch_id"]
        plotted = IMAGES / "plot-rabi.png"
        _qpurun("plot", batch, "-o", str(plotted))
        reported = IMAGES / "report-rabi.png"
        screenshot((root / out / "report.html").resolve(), reported, root / "profile")
    for path in (plotted, reported):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":  # the run's worker processes import this module: only the main process runs it
    sys.exit(main())
