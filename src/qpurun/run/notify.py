"""A webhook when a batch ends, so a long run can be left alone.

`notify(url, summary)` POSTs one JSON object, Slack/Mattermost incoming-webhook
style: a `text` line for humans plus the summary's fields for machines. A
notification is a courtesy, never the result: it does not raise, it gives up
after a few short attempts (about `attempts × timeout` at most), and it
returns a warning for the CLI to print instead. The URL of an incoming
webhook is a credential (whoever has it can post), so a warning names only
its scheme and host.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from qpurun import __version__
from qpurun.config import mask_url

__all__ = ["notify", "summary_text"]

BACKOFF = 0.25
"""Seconds before the second attempt; doubled for each next one, up to MAX_BACKOFF."""
MAX_BACKOFF = 2.0


def summary_text(summary: Mapping[str, Any]) -> str:
    """The one human line: `qpurun: rabi.qx on qutip: 19/20 jobs done, 1 failed; results in runs/rabi-…/`.

    Reads `spec` (or `name`), `target` (or `backend`), `jobs`, `done`, `failed`, `status`,
    `results` (or `out_dir`) and `batch_id`; any may be missing.
    """
    what = summary.get("spec") or summary.get("name") or "a batch"
    target = summary.get("target") or summary.get("backend")
    line = f"qpurun: {what}" + (f" on {target}" if target else "")
    jobs, done, failed = summary.get("jobs"), summary.get("done"), summary.get("failed")
    counts = []
    if done is not None:
        counts.append(f"{done}/{jobs} jobs done" if jobs is not None else f"{done} jobs done")
    elif jobs is not None:
        counts.append(f"{jobs} jobs")
    if failed is not None:
        counts.append(f"{failed} failed")
    if counts:
        line += ": " + ", ".join(counts)
    status = summary.get("status")
    if status and status != "DONE":
        line += f" ({status})"
    results = summary.get("results") or summary.get("out_dir")
    if results:
        line += f"; results in {results}"
    batch = summary.get("batch_id")
    if batch:
        line += f" (batch {batch})"
    return line


def _payload(summary: Mapping[str, Any]) -> dict[str, Any]:
    text = summary_text(summary)
    try:
        # Paths, datetimes and the like as strings; `text` is ours.
        fields: dict[str, Any] = json.loads(json.dumps(dict(summary), default=str))
    except (TypeError, ValueError):
        fields = {}
    return {**fields, "text": text}


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


def notify(url: str, summary: Mapping[str, Any], *, timeout: float = 5.0, attempts: int = 3) -> str | None:
    """POST the summary to the webhook `url`: None once it is accepted (2xx), else a warning to print.

    Retries connection errors, timeouts, 5xx and 429 with a short backoff; a 4xx is final. Never raises,
    and returns within about `attempts × timeout` seconds. The warning names the scheme and host only.
    """
    where = mask_url(url)
    attempts = max(1, attempts)
    deadline = time.monotonic() + attempts * timeout
    problem = "no attempt made"
    made = 0
    try:
        payload = _payload(summary)
        headers = {"User-Agent": f"qpurun/{__version__}"}
        with httpx.Client(timeout=timeout, follow_redirects=False, headers=headers) as client:
            while made < attempts:
                remaining = deadline - time.monotonic()
                if remaining <= 0.01:
                    break
                made += 1
                pause = min(BACKOFF * 2 ** (made - 1), MAX_BACKOFF)
                try:
                    response = client.post(url, json=payload, timeout=min(timeout, remaining))
                except (httpx.UnsupportedProtocol, httpx.InvalidURL):
                    return f"webhook {where} failed: not an http:// or https:// URL"
                except httpx.TimeoutException:
                    problem = "timed out"
                except httpx.TransportError:
                    problem = "cannot connect"
                else:
                    if response.is_success:
                        return None
                    problem = str(response.status_code)
                    if response.status_code != 429 and response.status_code < 500:
                        return f"webhook {where} failed: {problem}"
                    pause = max(pause, min(_retry_after(response), MAX_BACKOFF))
                if made < attempts:
                    time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
    except Exception as error:  # a courtesy must not end the run: report, never raise
        return f"webhook {where} failed: {type(error).__name__}"
    return f"webhook {where} failed: {problem} after {made} attempt{'s' if made != 1 else ''}"
