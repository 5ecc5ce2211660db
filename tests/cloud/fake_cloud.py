"""A fake Pasqal Cloud: a real HTTP server on loopback that pasqal-cloud's own client talks to.

It answers the requests pasqal-cloud 0.24 really sends (paths, gzip bodies, JSend envelopes, pagination), runs each
job for real with pulser-simulation once the job has been polled `polls_to_finish` times, and can be scripted to
misbehave: fail the next requests with any status, handle a request and then hang up without answering, fail a job,
expire every token. Test infrastructure only: it listens on 127.0.0.1 and nowhere else.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pasqal_cloud.endpoints import Endpoints, TokenProviderConf
from pulser import Sequence
from pulser.backend import BitStrings
from pulser.devices import AnalogDevice
from pulser.devices._device_datacls import BaseDevice
from pulser_simulation import QutipBackendV2, QutipConfig

FRESNEL = dataclasses.replace(AnalogDevice, name="FRESNEL")
DEFAULT_USERS = {"alice@example.org": "s3cret-pw"}
DEFAULT_PROJECT_ID = "9f3c2a10-5b7e-4d6a-8c1f-0e2d4b6a8c10"
STATUSES = ("PENDING", "RUNNING", "DONE", "ERROR", "CANCELED")
TERMINAL = frozenset({"DONE", "ERROR", "CANCELED"})
JobMatcher = int | Callable[[dict[str, Any]], bool]


@dataclasses.dataclass
class Request:
    """One request as the fake received it; `status` is None when the fake hung up without answering."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int | None = None


@dataclasses.dataclass
class _Rule:
    method: str
    path: re.Pattern[str]
    times: int
    status: int = 500
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: Any = None
    drop: bool = False

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in ("*", method) and self.path.search(path) is not None


@dataclasses.dataclass
class _Job:
    id: str
    index: int  # creation order over the whole fake
    batch: _Batch
    runs: int | None
    variables: dict[str, Any] | None
    sequence: str | None  # the job's own sequence; None: the batch's
    created_at: str
    updated_at: str
    status: str = "PENDING"
    polls: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    start_timestamp: str | None = None
    end_timestamp: str | None = None
    result: dict[str, Any] | None = None  # what /results/{id} serves: counter, raw, serialised_results


@dataclasses.dataclass
class _Batch:
    id: str
    number: int
    project_id: str
    user_id: str
    device_type: str
    sequence_builder: str | None
    open: bool
    tags: list[str]
    webhook: str | None
    configuration: Any
    backend_configuration: str | None
    created_at: str
    updated_at: str
    jobs: list[_Job] = dataclasses.field(default_factory=list)
    canceled: bool = False


# What the API shows of _Batch and _Job as stored; the rest of their JSON is derived (status, counts, ...).
_BATCH_FIELDS = [f.name for f in dataclasses.fields(_Batch) if f.name not in ("number", "jobs", "canceled")]
_JOB_FIELDS = [
    f.name for f in dataclasses.fields(_Job) if f.name not in ("index", "batch", "sequence", "polls", "result")
]


@dataclasses.dataclass
class _Call:
    args: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    user: str | None


class _Fail(Exception):
    def __init__(self, status: int, message: str, payload: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload if payload is not None else _jsend_fail(status, message)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _at(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ok(data: Any, pagination: dict[str, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "success", "code": 200, "message": "OK.", "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return body


def _jsend_fail(status: int, message: str) -> dict[str, Any]:
    return {"status": "fail", "code": status, "message": message, "data": {"description": message}}


_RESULTS: dict[tuple[str, str, int], tuple[dict[str, int], str]] = {}
_RESULTS_LOCK = threading.Lock()


def simulate(sequence: str, variables: Mapping[str, Any] | None, runs: int) -> tuple[dict[str, int], str]:
    """Bitstring counts and `Results.to_abstract_repr()` of one job, from QutipBackendV2; cached over all fakes."""
    key = (sequence, json.dumps(variables or {}, sort_keys=True), runs)
    with _RESULTS_LOCK:
        if key not in _RESULTS:
            seq = Sequence.from_abstract_repr(sequence)
            if seq.is_parametrized() or seq.is_register_mappable():
                seq = seq.build(**(variables or {}))
            if not seq.is_measured():  # as RemoteConnection._add_measurement_to_sequence does
                bases = seq.get_addressed_bases()
                if len(bases) != 1:
                    raise ValueError("the measurement basis can't be implicitly determined")
                seq.measure(bases[0])
            config = QutipConfig(observables=[BitStrings(num_shots=runs)])
            results = QutipBackendV2(seq, config=config).run()
            counter = {bits: int(n) for bits, n in results.final_bitstrings.items()}
            _RESULTS[key] = (counter, results.to_abstract_repr())
        return _RESULTS[key]


def _device_name(sequence: str | None) -> str | None:
    if sequence is None:
        return None
    device = json.loads(sequence).get("device")
    return str(device["name"] if isinstance(device, dict) else device)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cloud: FakePasqalCloud) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cloud = cloud


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one connection per request, closed by the server, so no keep-alive socket outlives a test.
    server: _Server

    def do_GET(self) -> None:
        self.server.cloud._serve(self)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakePasqalCloud:
    """Pasqal Cloud's core API, token endpoint and result storage, on http://127.0.0.1:<free port>.

    Args:
        users: username -> password of the accounts that can log in.
        project_id: the one project every user belongs to; batches for another project are refused (403).
        devices: name -> device served by the devices endpoints (default: AnalogDevice renamed FRESNEL).
        polls_to_finish: how many polls (a batch's get/status, a job's get/status, a jobs listing) a job takes to
            go PENDING -> RUNNING -> DONE; 0 runs it as soon as it is created.
        token_lifetime: seconds an access token is valid (sent as `expires_in`). pasqal-cloud refreshes a token one
            minute before it expires, so below 60 s it logs in again before every request.
        page_size: the most items a listing returns per page, whatever `limit` asks (the real API caps it at 100).
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        project_id: str = DEFAULT_PROJECT_ID,
        devices: Mapping[str, BaseDevice] | None = None,
        polls_to_finish: int = 1,
        token_lifetime: float = 3600.0,
        page_size: int = 100,
    ) -> None:
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.project_id = project_id
        self.devices = {name: dev.to_abstract_repr() for name, dev in (devices or {"FRESNEL": FRESNEL}).items()}
        self.polls_to_finish = polls_to_finish
        self.token_lifetime = token_lifetime
        self.page_size = page_size
        self._lock = threading.RLock()
        self._requests: list[Request] = []
        self._rules: list[_Rule] = []
        self._job_failures: list[tuple[JobMatcher, str]] = []
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (username, monotonic expiry)
        self._expire_countdown: int | None = None  # authenticated requests left before expire_tokens(after=...)
        self._batches: dict[str, _Batch] = {}
        self._jobs: dict[str, _Job] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle and addresses ------------------------------------------------------------------------------------

    def start(self) -> FakePasqalCloud:
        """Listen on a free loopback port, serving from a daemon thread."""
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> FakePasqalCloud:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        if self._server is None:
            raise RuntimeError("FakePasqalCloud is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def endpoints(self) -> Endpoints:
        """What to pass as `endpoints=` to PasqalCloudConnection / PasqalCloudClient."""
        return Endpoints(core=f"{self.url}/core", account=f"{self.url}/account")

    @property
    def auth_config(self) -> TokenProviderConf:
        """What to pass as `auth_config=`: the fake's password-grant token endpoint."""
        return TokenProviderConf(
            token_endpoint=f"{self.url}/oauth/token",
            public_client_id="fake-pasqal-cloud-sdk",
            audience="https://apis.fake.pasqal.cloud/account/api/v1",
            realm="pcs-users",
            grant_type="password",
        )

    # -- scripted faults --------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next `times` requests matching (method or "*", re.search on the path) with `status`, unhandled."""
        rule = _Rule(method.upper(), re.compile(path_regex), times, status, dict(headers or {}), body)
        with self._lock:
            self._rules.append(rule)

    def accept_then_drop(self, method: str, path_regex: str, times: int = 1) -> None:
        """Handle the next `times` matching requests for real, then hang up without sending any response."""
        with self._lock:
            self._rules.append(_Rule(method.upper(), re.compile(path_regex), times, drop=True))

    def fail_job(self, which: JobMatcher, message: str = "Injected failure: the QPU lost the atoms") -> None:
        """Make a job end in ERROR with `message` in its errors: by creation index (0-based, over the whole fake)
        or by a predicate on the job's JSON (id, batch_id, runs, variables, ...)."""
        with self._lock:
            self._job_failures.append((which, message))

    def expire_tokens(self, after: int = 0) -> None:
        """Every token issued so far answers 401 from now on, or once `after` more authenticated requests have been
        let through. pasqal-cloud keeps sending its cached token: it never logs in again on a 401."""
        with self._lock:
            self._expire_countdown = after if after > 0 else None
            if after <= 0:
                self._tokens = {token: (user, float("-inf")) for token, (user, _) in self._tokens.items()}

    # -- state ------------------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path_regex: str) -> list[Request]:
        """The requests with this method whose path matches (re.search)."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method.upper() and pattern.search(r.path)]

    @property
    def batches(self) -> dict[str, dict[str, Any]]:
        """batch id -> the batch as the API shows it, with its `jobs` (a snapshot; reading it advances nothing)."""
        with self._lock:
            return dict(json.loads(json.dumps({b.id: self._batch_json(b, jobs=True) for b in self._batches.values()})))

    def batch_count(self, tag: str | None = None) -> int:
        """How many batches the fake holds (with this tag, if given)."""
        with self._lock:
            return sum(1 for b in self._batches.values() if tag is None or tag in b.tags)

    # -- HTTP plumbing ----------------------------------------------------------------------------------------------

    _ROUTES: tuple[tuple[str, re.Pattern[str], str, bool], ...] = tuple(
        (method, re.compile(path), handler, authenticated)
        for method, path, handler, authenticated in [
            ("POST", r"/oauth/token", "_token", False),
            ("GET", r"/results/(?P<job_id>[^/]+)", "_download", False),
            ("GET", r"/core/api/v1/devices/public-specs", "_public_specs", False),
            ("GET", r"/core/api/v1/devices/specs", "_specs", True),
            ("POST", r"/core/api/v1/batches", "_create_batch", True),
            ("GET", r"/core/api/v1/batches", "_list_batches", True),
            ("GET", r"/core/api/v2/batches/(?P<batch_id>[^/]+)", "_get_batch", True),
            ("GET", r"/core/api/v1/batches/(?P<batch_id>[^/]+)/status", "_batch_status", True),
            ("PATCH", r"/core/api/v2/batches/(?P<batch_id>[^/]+)/complete", "_close_batch", True),
            ("PATCH", r"/core/api/v2/batches/(?P<batch_id>[^/]+)/cancel", "_cancel_batch", True),
            ("POST", r"/core/api/v2/batches/(?P<batch_id>[^/]+)/jobs", "_add_jobs", True),
            ("PATCH", r"/core/api/v1/batches/(?P<batch_id>[^/]+)/tags", "_set_tags", True),
            ("GET", r"/core/api/v2/jobs", "_list_jobs", True),
            ("GET", r"/core/api/v2/jobs/(?P<job_id>[^/]+)", "_get_job", True),
            ("GET", r"/core/api/v1/jobs/(?P<job_id>[^/]+)/status", "_job_status", True),
            ("GET", r"/core/api/v1/jobs/(?P<job_id>[^/]+)/results_link", "_results_link", True),
            ("PATCH", r"/core/api/v2/jobs/(?P<job_id>[^/]+)/cancel", "_cancel_job", True),
            ("GET", r"/account/api/v1/projects", "_projects", True),
        ]
    )

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query, keep_blank_values=True)
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = dict(handler.headers.items())
        record = Request(handler.command, url.path, query, headers, None)
        with self._lock:
            self._requests.append(record)
            rule = next((r for r in self._rules if r.matches(handler.command, url.path)), None)
            if rule is not None:
                rule.times -= 1
        extra: dict[str, str] = {}
        try:
            record.body = self._decode(raw, handler.headers.get("Content-Encoding"), handler.headers.get_content_type())
            if rule is not None and not rule.drop:
                status, payload, extra = rule.status, rule.body, rule.headers
                if payload is None:  # what the token endpoint (OAuth2) or the API (JSend) says when it fails
                    oauth = {"error": "temporarily_unavailable", "error_description": "Injected failure"}
                    payload = oauth if url.path == "/oauth/token" else _jsend_fail(status, "Injected failure")
            else:
                status, payload = self._dispatch(handler.command, url.path, query, record.body, headers)
        except _Fail as fail:
            status, payload = fail.status, fail.payload
        if rule is not None and rule.drop:
            handler.close_connection = True  # nothing written: the client sees the connection closed, no answer
            return
        record.status = status
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/xml" if isinstance(payload, bytes) else "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _decode(raw: bytes, encoding: str | None, content_type: str) -> Any:
        try:
            if encoding == "gzip":
                raw = gzip.decompress(raw)
            if not raw:
                return None
            if content_type == "application/x-www-form-urlencoded":
                return {key: values[-1] for key, values in parse_qs(raw.decode()).items()}
            return json.loads(raw)
        except (OSError, ValueError) as error:
            raise _Fail(400, f"Unreadable request body: {error}") from error

    def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        for route_method, pattern, name, authenticated in self._ROUTES:
            if route_method == method and (match := pattern.fullmatch(path)):
                with self._lock:
                    user = self._authenticate(headers) if authenticated else None
                    try:
                        return 200, getattr(self, name)(_Call(match.groupdict(), query, body, user))
                    except _Fail:
                        raise
                    except Exception as error:  # a bug in the fake or a body it can't make sense of
                        traceback.print_exc()
                        raise _Fail(500, f"{type(error).__name__}: {error}") from error
        raise _Fail(404, f"No route for {method} {path}")

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        user, expiry = self._tokens.get(token, ("", float("-inf")))
        if scheme != "Bearer" or expiry < time.monotonic():
            raise _Fail(401, "Unauthorized: missing, unknown or expired token")
        if self._expire_countdown is not None:
            self._expire_countdown -= 1
            if self._expire_countdown == 0:
                self.expire_tokens()
        return user

    # -- state helpers ----------------------------------------------------------------------------------------------

    def _batch(self, call: _Call) -> _Batch:
        batch = self._batches.get(call.args["batch_id"])
        if batch is None or batch.project_id != self.project_id:
            raise _Fail(404, f"Batch {call.args['batch_id']} not found")
        return batch

    def _job(self, call: _Call) -> _Job:
        job = self._jobs.get(call.args["job_id"])
        if job is None:
            raise _Fail(404, f"Job {call.args['job_id']} not found")
        return job

    def _new_jobs(self, batch: _Batch, payload: Any) -> None:
        if not isinstance(payload, list) or not all(isinstance(j, dict) for j in payload):
            raise _Fail(422, "jobs must be a list of objects")
        if any(not isinstance(j.get("runs"), int | None) for j in payload):
            raise _Fail(422, "a job's runs must be an integer")
        if batch.sequence_builder is None and any(j.get("sequence") is None for j in payload):
            raise _Fail(400, "A job without a sequence needs a batch sequence_builder")
        for spec in payload:
            now = _now()
            job = _Job(
                str(uuid.uuid4()), len(self._jobs), batch, spec.get("runs"), spec.get("variables"),
                spec.get("sequence"), now, now,
            )  # fmt: skip
            batch.jobs.append(job)
            self._jobs[job.id] = job
            if self.polls_to_finish <= 0:
                self._finish(job)
        batch.updated_at = _now()

    def _advance(self, jobs: list[_Job]) -> None:
        """One poll of these jobs: the clock each job runs on."""
        for job in jobs:
            if job.status in TERMINAL:
                continue
            job.polls += 1
            if job.polls >= self.polls_to_finish:
                self._finish(job)
            elif job.status == "PENDING":
                job.status, job.start_timestamp = "RUNNING", _now()
                job.updated_at = job.start_timestamp

    def _finish(self, job: _Job) -> None:
        job.start_timestamp = job.start_timestamp or _now()
        failure = next((msg for which, msg in self._job_failures if self._is(which, job)), None)
        try:
            if failure is not None:
                raise RuntimeError(failure)
            sequence = job.sequence or job.batch.sequence_builder
            assert sequence is not None
            counter, serialised = simulate(sequence, job.variables, job.runs or 1000)
        except Exception as error:
            job.status, job.errors = "ERROR", [str(error) if failure else f"{type(error).__name__}: {error}"]
        else:
            raw = [bits for bits, n in sorted(counter.items()) for _ in range(n)]
            job.status, job.result = "DONE", {"counter": counter, "raw": raw, "serialised_results": serialised}
        job.end_timestamp = job.updated_at = _now()

    def _is(self, which: JobMatcher, job: _Job) -> bool:
        return job.index == which if isinstance(which, int) else which(self._job_json(job))

    @staticmethod
    def _status_of(batch: _Batch) -> str:
        if batch.canceled:
            return "CANCELED"
        statuses = {job.status for job in batch.jobs}
        if statuses & {"PENDING", "RUNNING"}:
            return "PENDING" if statuses == {"PENDING"} else "RUNNING"
        if batch.open:  # all its jobs are over, but more may come
            return "RUNNING" if batch.jobs else "PENDING"
        if "ERROR" in statuses:
            return "ERROR"
        return "CANCELED" if statuses == {"CANCELED"} else "DONE"

    def _batch_json(self, batch: _Batch, *, jobs: bool) -> dict[str, Any]:
        counts = dict.fromkeys(STATUSES, 0)
        for job in batch.jobs:
            counts[job.status] += 1
        status = self._status_of(batch)
        starts = [j.start_timestamp for j in batch.jobs if j.start_timestamp]
        ends = [j.end_timestamp for j in batch.jobs if j.end_timestamp]
        data = {name: getattr(batch, name) for name in _BATCH_FIELDS} | {
            "complete": not batch.open,
            "status": status,
            "priority": 10,
            "start_datetime": min(starts) if starts else None,
            "end_datetime": max(ends) if ends and status in TERMINAL else None,
            "device_status": "UP",
            "parent_id": None,
            "jobs_count": len(batch.jobs),
            "jobs_count_per_status": counts,
        }
        if jobs:
            data["jobs"] = [self._job_json(job) for job in batch.jobs]
        else:
            data["job_ids"] = [job.id for job in batch.jobs]
        return data

    @staticmethod
    def _job_json(job: _Job, *, sequence: bool = False) -> dict[str, Any]:
        data = {name: getattr(job, name) for name in _JOB_FIELDS} | {
            "batch_id": job.batch.id,
            "project_id": job.batch.project_id,
            "user_id": job.batch.user_id,
            "parent_id": None,
        }
        if sequence:
            data["sequence"] = job.sequence
        return data

    # -- endpoints --------------------------------------------------------------------------------------------------

    def _token(self, call: _Call) -> dict[str, Any]:
        form = call.body if isinstance(call.body, dict) else {}
        # Its own client, and the public client pasqal-cloud itself sends for a region (what the real one accepts).
        clients = {
            (c.grant_type, c.public_client_id)
            for c in (self.auth_config, *map(TokenProviderConf.from_region, ("fr", "sa")))
        }
        if (form.get("grant_type"), form.get("client_id")) not in clients:
            raise _Fail(401, "", {"error": "unauthorized_client", "error_description": "Unknown client or grant"})
        username = form.get("username", "")
        if username not in self.users or self.users[username] != form.get("password"):
            raise _Fail(403, "", {"error": "invalid_grant", "error_description": "Wrong email or password."})
        token = f"fake-{uuid.uuid4().hex}"
        self._tokens[token] = (username, time.monotonic() + self.token_lifetime)
        lifetime = self.token_lifetime
        expires_in = int(lifetime) if float(lifetime).is_integer() else lifetime
        return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": "openid"}

    def _download(self, call: _Call) -> Any:
        job = self._jobs.get(call.args["job_id"])
        if job is None or job.result is None:
            raise _Fail(404, "", b"<Error><Code>NoSuchKey</Code></Error>")
        return job.result

    def _public_specs(self, call: _Call) -> dict[str, Any]:
        return _ok([{"device_type": name, "specs": specs} for name, specs in self.devices.items()])

    def _specs(self, call: _Call) -> dict[str, Any]:
        return _ok(dict(self.devices))

    def _projects(self, call: _Call) -> dict[str, Any]:
        return _ok([{"id": self.project_id, "name": "Fake project", "status": "ACTIVE"}])

    def _create_batch(self, call: _Call) -> dict[str, Any]:
        body = call.body
        if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
            raise _Fail(422, "A batch needs a `jobs` list")
        if body.get("project_id") != self.project_id:
            raise _Fail(403, f"Not a member of project {body.get('project_id')}")
        sequence = body.get("sequence_builder")
        device_type = body.get("device_type") or _device_name(sequence)
        if device_type is None or (device_type not in self.devices and not device_type.startswith("EMU_")):
            raise _Fail(400, f"Unknown device type {device_type}")
        now = _now()
        user = call.user or ""
        batch = _Batch(
            str(uuid.uuid4()), len(self._batches), self.project_id, str(uuid.uuid5(uuid.NAMESPACE_URL, user)),
            device_type, sequence, bool(body.get("open", False)), list(body.get("tags") or []),
            body.get("webhook"), body.get("configuration"), body.get("backend_configuration"), now, now,
        )  # fmt: skip
        self._new_jobs(batch, body["jobs"])
        self._batches[batch.id] = batch
        return _ok(self._batch_json(batch, jobs=True))

    def _get_batch(self, call: _Call) -> dict[str, Any]:
        batch = self._batch(call)
        self._advance(batch.jobs)
        return _ok(self._batch_json(batch, jobs=False))

    def _batch_status(self, call: _Call) -> dict[str, Any]:
        batch = self._batch(call)
        self._advance(batch.jobs)
        data = self._batch_json(batch, jobs=False)
        return _ok({key: data[key] for key in ("id", "status", "jobs_count_per_status")})

    def _close_batch(self, call: _Call) -> dict[str, Any]:
        batch = self._batch(call)
        batch.open, batch.updated_at = False, _now()
        return _ok(self._batch_json(batch, jobs=True))

    def _cancel_batch(self, call: _Call) -> dict[str, Any]:
        batch = self._batch(call)
        if self._status_of(batch) in TERMINAL:
            raise _Fail(400, f"Batch {batch.id} is already over")
        batch.open, batch.canceled, batch.updated_at = False, True, _now()
        for job in batch.jobs:
            if job.status not in TERMINAL:
                job.status, job.end_timestamp = "CANCELED", _now()
        return _ok(self._batch_json(batch, jobs=True))

    def _add_jobs(self, call: _Call) -> dict[str, Any]:
        batch = self._batch(call)
        if not batch.open:
            raise _Fail(400, f"Batch {batch.id} is closed: no more jobs can be added")
        self._new_jobs(batch, call.body)
        return _ok(self._batch_json(batch, jobs=True))

    def _set_tags(self, call: _Call) -> dict[str, Any]:
        batch = self._batch(call)
        if not isinstance(call.body, list) or not all(isinstance(tag, str) for tag in call.body):
            raise _Fail(422, "tags must be a list of strings")
        batch.tags, batch.updated_at = list(call.body), _now()
        return _ok(self._batch_json(batch, jobs=True))

    def _page(self, call: _Call, items: list[Any]) -> tuple[list[Any], dict[str, int]]:
        offset = int(call.query.get("offset", ["0"])[-1])
        limit = min(int(call.query.get("limit", ["100"])[-1]), self.page_size)
        page = items[offset : offset + limit]
        return page, {"total": len(items), "offset": offset, "end": offset + len(page)}

    @staticmethod
    def _wanted(call: _Call, fields: Mapping[str, Any]) -> bool:
        """A listing's filters: a parameter, when given, lists the values it keeps."""
        return all(not call.query.get(name) or str(value) in call.query[name] for name, value in fields.items())

    @staticmethod
    def _flag(call: _Call, name: str, value: bool) -> bool:
        given = call.query.get(name, [""])[-1].lower()
        return given not in ("true", "false") or value == (given == "true")

    def _list_batches(self, call: _Call) -> dict[str, Any]:
        tag = call.query.get("tag", [None])[-1]
        since, until = (call.query.get(name, [""])[-1] for name in ("start_date", "end_date"))
        found = [
            b
            for b in sorted(self._batches.values(), key=lambda b: -b.number)  # newest first, as the API
            if self._wanted(call, {"id": b.id, "user_id": b.user_id, "device_type": b.device_type})
            and self._wanted(call, {"project_id": b.project_id, "status": self._status_of(b)})
            and self._flag(call, "open", b.open)
            and (tag is None or tag in b.tags)
            and (not since or _at(b.created_at) >= _at(since))
            and (not until or _at(b.created_at) <= _at(until))
        ]
        page, pagination = self._page(call, found)
        return _ok([self._batch_json(batch, jobs=False) for batch in page], pagination)

    def _list_jobs(self, call: _Call) -> dict[str, Any]:
        low, high = int(call.query.get("min_runs", ["0"])[-1]), int(call.query.get("max_runs", ["-1"])[-1])
        found = [
            j
            for j in self._jobs.values()
            if self._wanted(call, {"id": j.id, "batch_id": j.batch.id, "status": j.status})
            and self._wanted(call, {"project_id": j.batch.project_id, "user_id": j.batch.user_id})
            and self._flag(call, "errors", bool(j.errors))
            and low <= (j.runs or 0)
            and (high < 0 or (j.runs or 0) <= high)
        ]
        if call.query.get("order_by_direction", ["DESC"])[-1].upper() != "ASC":
            found.reverse()  # newest first unless asked otherwise
        page, pagination = self._page(call, found)
        self._advance(page)
        return _ok([self._job_json(job) for job in page], pagination)

    def _get_job(self, call: _Call) -> dict[str, Any]:
        job = self._job(call)
        self._advance([job])
        return _ok(self._job_json(job, sequence=True))

    def _job_status(self, call: _Call) -> dict[str, Any]:
        job = self._job(call)
        self._advance([job])
        return _ok({"id": job.id, "status": job.status})

    def _results_link(self, call: _Call) -> dict[str, Any]:
        job = self._job(call)
        link = f"{self.url}/results/{job.id}" if job.result is not None else None
        return _ok({"results_link": link})

    def _cancel_job(self, call: _Call) -> dict[str, Any]:
        job = self._job(call)
        if job.status in TERMINAL:
            raise _Fail(400, f"Job {job.id} is already {job.status}")
        job.status, job.end_timestamp = "CANCELED", _now()
        return _ok(self._job_json(job))
