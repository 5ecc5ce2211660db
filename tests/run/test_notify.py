"""The end-of-batch webhook, against servers on 127.0.0.1 that each test starts: it retries, gives up in time,
never raises, and never prints the URL's secret path."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from loopback import serve_posts
from qpurun.run import notify as notify_module
from qpurun.run.notify import notify, summary_text

SECRET_PATH = "/services/T000/B000/very-secret-path"
SUMMARY = {
    "spec": "specs/rabi.qx",
    "target": "qutip",
    "batch_id": "b-123",
    "jobs": 20,
    "done": 19,
    "failed": 1,
    "status": "DONE",
    "results": "runs/rabi-20240101/",
}


@dataclass
class Server:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _fast_and_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shorter backoff (the retries are what is tested, not the pause), and no proxy between us and 127.0.0.1."""
    monkeypatch.setattr(notify_module, "BACKOFF", 0.02)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def serve() -> Iterator[Callable[[list[int]], Server]]:
    """`serve([500, 200])`: a webhook on 127.0.0.1 answering those statuses in turn (the last one repeats)."""
    with contextlib.ExitStack() as servers:

        def start(statuses: list[int]) -> Server:
            record = Server(url="")

            def answer(request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
                record.bodies.append(json.loads(body))
                record.paths.append(request.path)
                status = statuses[min(len(record.bodies), len(statuses)) - 1]
                return status, {}, b"ok" if status < 400 else b"nope"

            record.url = servers.enter_context(serve_posts(answer)) + SECRET_PATH
            return record

        yield start


def test_success_posts_text_and_the_fields(serve: Callable[[list[int]], Server]) -> None:
    server = serve([200])
    assert notify(server.url, SUMMARY) is None
    assert server.paths == [SECRET_PATH]
    (body,) = server.bodies
    assert body["text"] == summary_text(SUMMARY)
    for key, value in SUMMARY.items():
        assert body[key] == value


def test_a_5xx_is_retried(serve: Callable[[list[int]], Server]) -> None:
    server = serve([500, 200])
    assert notify(server.url, SUMMARY, timeout=2.0) is None
    assert len(server.bodies) == 2
    assert server.bodies[0] == server.bodies[1]


def test_429_is_retried(serve: Callable[[list[int]], Server]) -> None:
    server = serve([429, 503, 204])
    assert notify(server.url, SUMMARY, timeout=2.0) is None
    assert len(server.bodies) == 3


def test_always_500_gives_a_warning_without_the_path(serve: Callable[[list[int]], Server]) -> None:
    server = serve([500])
    warning = notify(server.url, SUMMARY, timeout=2.0, attempts=3)
    assert warning is not None
    host = server.url.split("/")[2]
    assert warning == f"webhook http://{host}/… failed: 500 after 3 attempts"
    assert "services" not in warning and "secret" not in warning
    assert len(server.bodies) == 3


def test_a_4xx_is_not_retried(serve: Callable[[list[int]], Server]) -> None:
    server = serve([404])
    warning = notify(server.url, SUMMARY)
    assert warning is not None and warning.endswith("failed: 404")
    assert len(server.bodies) == 1


def test_a_server_that_never_answers_is_given_up_on_in_time() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # connections complete in the backlog; nothing ever reads or answers them
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}{SECRET_PATH}"
        started = time.monotonic()
        warning = notify(url, SUMMARY, timeout=0.3, attempts=2)
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert warning is not None and "timed out" in warning and "secret" not in warning
    assert elapsed < 2 * 0.3 + 0.5


def test_connection_refused() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    started = time.monotonic()
    warning = notify(f"http://127.0.0.1:{port}{SECRET_PATH}", SUMMARY, timeout=1.0, attempts=3)
    assert time.monotonic() - started < 3.0
    assert warning == f"webhook http://127.0.0.1:{port}/… failed: cannot connect after 3 attempts"


def test_not_a_url_is_a_warning_too() -> None:
    warning = notify("hooks.example.org/secret", SUMMARY)
    assert warning is not None and "secret" not in warning


def test_a_summary_that_is_not_json_still_notifies(serve: Callable[[list[int]], Server]) -> None:
    from pathlib import Path

    server = serve([200])
    assert notify(server.url, {**SUMMARY, "results": Path("runs/x"), "odd": {1, 2}}) is None
    assert server.bodies[0]["text"].endswith("results in runs/x (batch b-123)")


def test_summary_text() -> None:
    assert summary_text(SUMMARY) == (
        "qpurun: specs/rabi.qx on qutip: 19/20 jobs done, 1 failed; results in runs/rabi-20240101/ (batch b-123)"
    )
    assert summary_text({"name": "rabi", "jobs": 3, "status": "PAUSED"}) == "qpurun: rabi: 3 jobs (PAUSED)"
    assert summary_text({}) == "qpurun: a batch"
