"""Pasqal Cloud: QPUs and cloud emulators through pasqal-cloud's `PasqalCloudConnection`, durably.

The rule for submission (docs/running.md says it to users):

1. The batch and its jobs are written to the store *before anything is sent*,
   with a tag (`qpurun-<batch id>`) and the state `submitting`.
2. The batch is sent once, with the tag, and no automatic retry:
   pasqal-cloud's request carries no idempotency key, and both its HTTP layer
   (5xx, 429) and `PasqalCloudConnection.submit` (any failure, 5 times) would
   send it again, creating a second batch when the first attempt had in fact
   been accepted. qpurun sends through an HTTP client whose POSTs are not
   retried (`_submit_once_client`).
3. If sending fails in any way that the server may have accepted (a timeout,
   a dropped connection, a 5xx), qpurun first *looks for the batch by its
   tag*; only if the cloud has none is it sent again (after `Retry-After` for
   a 429). A 4xx other than 408/429 is the cloud refusing the batch.
4. The cloud's batch id and job ids are committed the moment the answer
   arrives; then each job's result as it arrives. A client killed anywhere in
   between loses nothing: `qpurun resume` finds the batch by its id, or by its
   tag while its id was not recorded yet, and keeps polling.

A sweep larger than `max_jobs_per_batch` goes out as an open batch, in
chunks (each chunk checked against the cloud's job count before it is sent
again), then closed: one cloud batch, one qpurun batch.

pasqal-cloud is imported only here, and only when a cloud target is used.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from qpurun.run.backends import BackendError, SubmissionRefused, warn
from qpurun.run.store import CANCELED, REFUSED, SUBMITTED, TERMINAL, Batch, JobRow, Store
from qpurun.run.targets import CLOUD_EMULATORS, Target

if TYPE_CHECKING:
    from qpurun.api import Experiment

PROVIDER = "pasqal"
DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_MAX_JOBS_PER_BATCH = 500
SUBMIT_ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0
_MAX_BACKOFF = 60.0
_PERMANENT = "a 4xx other than 408, 425 and 429"


@cache
def _submit_once_client() -> type[Any]:
    """pasqal-cloud's HTTP client, with submissions (POST batch, POST jobs) sent exactly once."""
    from pasqal_cloud.http_client import TIMEOUT, HTTPClient

    class SubmitOnceHTTPClient(HTTPClient):
        def _post_once(self, url: str, payload: Any) -> Any:
            if self.authenticator is None:
                raise ValueError("Authentication required: no Pasqal Cloud credentials were given")
            headers = {"content-type": "application/json", "User-Agent": self.user_agent}
            body: dict[str, Any]
            if self.allow_gzip_request_body:
                headers["Content-Encoding"] = "gzip"
                body = {"data": gzip.compress(json.dumps(payload).encode("utf-8"))}
            else:
                body = {"json": payload}
            response = self._request_with_status_check(
                "POST", url, timeout=TIMEOUT, headers=headers, auth=self.authenticator, **body
            )
            return response.json()["data"]

        def send_batch(self, batch_data: dict[str, Any]) -> dict[str, Any]:
            batch_data.update({"project_id": self.project_id})
            data: dict[str, Any] = self._post_once(self._get_url("send_batch"), batch_data)
            return data

        def add_jobs(self, batch_id: str, jobs_data: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
            data: dict[str, Any] = self._post_once(self._get_url("add_jobs", batch_id=batch_id), list(jobs_data))
            return data

    return SubmitOnceHTTPClient


def connect(**kwargs: Any) -> Any:
    """A `PasqalCloudConnection` whose submissions are never retried blindly (kwargs: credentials, endpoints)."""
    from pasqal_cloud import PasqalCloudConnection

    return PasqalCloudConnection(client_class=_submit_once_client(), **kwargs)


@cache
def _cloud_errors() -> tuple[type[BaseException], ...]:
    """What a pasqal-cloud call raises when the cloud fails: requests' errors, and every error class of
    pasqal-cloud (they derive from BaseException, not Exception, so `except Exception` misses them)."""
    import inspect

    import pasqal_cloud.errors
    import requests
    from pasqal_cloud.authentication import TokenProviderError

    own = tuple(
        kind
        for _, kind in inspect.getmembers(pasqal_cloud.errors, inspect.isclass)
        if issubclass(kind, BaseException) and kind.__module__ == pasqal_cloud.errors.__name__
    )
    return (requests.RequestException, TokenProviderError, *own)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it was raised from or while handling (pasqal-cloud does not always say `from`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        argument = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = current.__cause__ or argument or current.__context__


def _response_of(error: BaseException) -> Any:
    import requests

    for each in _causes(error):
        if isinstance(each, requests.HTTPError) and each.response is not None:
            return each.response
    return None


def _status_of(error: BaseException) -> int | None:
    """The HTTP status behind a pasqal-cloud error, if there was an answer."""
    response = _response_of(error)
    return None if response is None else int(response.status_code)


def _retry_after(error: BaseException) -> float | None:
    response = _response_of(error)
    value = None if response is None else response.headers.get("Retry-After")
    try:
        return None if value is None else min(float(value), MAX_RETRY_AFTER)
    except ValueError:
        return None


_URL = re.compile(r"\b(https?://[^/\s]+)/\S*")


def _first_line(error: BaseException) -> str:
    """One line for a message: the error's first line, every URL cut to its host (a results link is a secret)."""
    text = str(error).strip().splitlines()
    line = f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
    return _URL.sub(r"\1/…", line)


def _may_have_landed(status: int | None) -> bool:
    """Whether a failed send may have been accepted: no answer at all, a timeout, or any server error."""
    return status is None or status in (408, 425) or status >= 500


@contextlib.contextmanager
def _translated(doing: str, hint: str | None = None) -> Iterator[None]:
    """A failure of the cloud (pasqal-cloud raises BaseExceptions) as a BackendError that says what to do."""
    try:
        yield
    except _cloud_errors() as error:
        raise BackendError(f"cannot {doing} on Pasqal Cloud: {_first_line(error)}", hint=hint or None) from None


class CloudRunner:
    """Batches on Pasqal Cloud, through `PasqalCloudConnection`; the store is the truth between polls."""

    def __init__(
        self,
        store: Store,
        target: Target,
        *,
        connect: Callable[[], Any],
        settings: Mapping[str, Any] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_jobs_per_batch: int = DEFAULT_MAX_JOBS_PER_BATCH,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.target = target
        self.settings = dict(settings or {})
        self.poll_interval = poll_interval
        self.max_jobs_per_batch = max_jobs_per_batch
        self._connect = connect
        self._connection: Any = None
        self._sleep = sleep or (lambda seconds: time.sleep(seconds))  # looked up when called: tests time it
        self._next_poll = 0.0
        self._backoff = 0.0

    # ---- the connection

    @property
    def connection(self) -> Any:
        if self._connection is None:
            try:
                self._connection = self._connect()
            except _cloud_errors() as error:
                raise self._auth_error(error) from None
        return self._connection

    def _auth_error(self, error: BaseException) -> BackendError:
        status = _status_of(error)
        if status in (401, 403):
            return BackendError(
                f"Pasqal Cloud refused the credentials ({status})",
                hint="check PASQAL_USERNAME/PASQAL_PASSWORD (or PASQAL_TOKEN) and the project id; "
                "`qpurun backends` says where credentials were found",
            )
        return BackendError(f"cannot reach Pasqal Cloud: {_first_line(error)}")

    def _call(self, function: Callable[[Any], Any]) -> Any:
        """One call to the cloud; an expired token is renewed once (a new connection logs in again)."""
        try:
            return function(self.connection)
        except _cloud_errors() as error:
            if _status_of(error) != 401:
                raise
        self._connection = None  # log in again
        try:
            return function(self.connection)
        except _cloud_errors() as error:
            if _status_of(error) == 401:
                raise self._auth_error(error) from None
            raise

    def describe(self) -> str:
        return f"{self.target.name} on Pasqal Cloud"

    def fetch_devices(self) -> dict[str, Any]:
        """The devices the cloud offers now (cached in the store with today's date)."""
        try:
            devices: dict[str, Any] = self._call(lambda c: c.fetch_available_devices())
        except _cloud_errors() as error:
            raise BackendError(f"cannot fetch Pasqal Cloud's devices: {_first_line(error)}") from None
        self.store.save_devices(PROVIDER, {name: device.to_abstract_repr() for name, device in devices.items()})
        return devices

    # ---- submission

    def submit(
        self, experiment: Experiment, *, out_dir: str | None, on_stored: Callable[[str], None] | None = None
    ) -> str:
        from pulser.backend.remote import RemoteConnection
        from pulser.json.utils import make_json_compatible

        sequence = experiment.sequence
        job_params: list[dict[str, Any]] = make_json_compatible(experiment.job_params)
        backend = self._backend(experiment)
        try:
            if self.target.qpu:  # fetching the devices can fail: translated below
                # What QPUBackend.run does first: the device as the cloud offers it today, the runs.
                sequence = self.connection.update_sequence_device(sequence)
                backend.validate_job_params(job_params, sequence.device.max_runs)
            sequence = RemoteConnection._add_measurement_to_sequence(sequence)
        except (ValueError, TypeError) as error:
            raise SubmissionRefused(f"the batch was refused at submission: {error}") from None
        except _cloud_errors() as error:
            raise BackendError(f"cannot fetch Pasqal Cloud's devices: {_first_line(error)}") from None
        submit_kwargs = backend._submit_kwargs()
        configuration = submit_kwargs.get("backend_configuration")
        device_type = submit_kwargs.get("device_type")
        settings = {
            "device_type": None if device_type is None else str(device_type),
            "backend_configuration": None if configuration is None else configuration.to_abstract_repr(),
        }
        batch_id = self.store.create_batch(
            name=experiment.name,
            sequence_json=sequence.to_abstract_repr(),
            device_name=sequence.device.name,
            noise=experiment.noise,
            qpu_checks=self.target.qpu,
            open=False,
            spec_name=experiment.source.name,
            spec_text=experiment.source.text,
            out_dir=out_dir,
            jobs=[(int(job["runs"]), dict(job.get("variables") or {})) for job in job_params],
            target=self.target.name,
            settings=settings,
            remote=True,
        )
        if on_stored is not None:
            on_stored(batch_id)
        self._send_held(batch_id)
        return batch_id

    def _send_held(self, batch_id: str) -> None:
        """Send as the batch's one runner (the store's lease): a second process cannot send it meanwhile."""
        token = self.store.acquire(batch_id)
        try:
            with _translated("submit the batch", f"the batch is stored: `qpurun resume {batch_id}` tries again"):
                self._send(self.store.batch(batch_id))
        finally:
            self.store.release(batch_id, token)

    def _backend(self, experiment: Experiment) -> Any:
        """Pulser's backend for the target: it validates the sequence (and the emulation config) as Pulser does."""
        from pulser.backend import BackendConfig, QPUBackend

        try:
            if self.target.qpu:
                runs = experiment.jobs[0].runs if experiment.jobs else None
                return QPUBackend(experiment.sequence, self.connection, config=BackendConfig(default_num_shots=runs))
            import pasqal_cloud

            backend_class = getattr(pasqal_cloud, CLOUD_EMULATORS[str(self.target.device)])
            return backend_class(experiment.sequence, self.connection, config=self._emulation_config(experiment))
        except (ValueError, TypeError) as error:
            raise SubmissionRefused(f"the batch was refused at submission: {error}") from None

    def _emulation_config(self, experiment: Experiment) -> Any:
        """The cloud emulator's config: its defaults, with the spec's noise and the emulator settings."""
        import pasqal_cloud

        from qpurun.run.emulator import noise_model

        backend_class = getattr(pasqal_cloud, CLOUD_EMULATORS[str(self.target.device)])
        options: dict[str, Any] = {}
        model = noise_model(experiment.noise)
        if model is not None:
            options["noise_model"] = model
        if self.settings.get("dt"):
            options["dt"] = int(self.settings["dt"])
        if self.settings.get("max_bond_dim") and self.target.device == "EMU_MPS":
            options["max_bond_dim"] = int(self.settings["max_bond_dim"])
        if not options:
            return backend_class.default_config
        return backend_class.default_config.with_changes(**options)

    def _send(self, batch: Batch) -> None:
        """Put the batch on the cloud exactly once (see the module docstring), recording ids as they come.

        Picks up where an earlier attempt stopped: the batch found by its id or tag, the chunks it holds
        already, closed if it was not.
        """
        if batch.submit_state in (CANCELED, REFUSED):
            raise BackendError(f"batch {batch.batch_id} was {batch.submit_state} before it reached the cloud")
        jobs = self.store.jobs(batch.batch_id)
        size = self.max_jobs_per_batch
        chunks = [jobs[start : start + size] for start in range(0, len(jobs), size)] or [[]]
        open_batch = len(chunks) > 1
        remote = self._patiently(lambda: self._find(batch))
        if remote is None:
            remote = self._attempt(batch, lambda: self._create(batch, chunks[0], open_batch=open_batch))
        self._record(batch, remote, complete=not open_batch)
        for chunk in chunks[1:]:
            remote = self._add_chunk(batch, remote, chunk)
            self._record(batch, remote, complete=False)
        if open_batch:
            remote_id = remote.id
            if remote.open:
                remote = self._call(lambda c: c.cloud_client.close_batch(remote_id))
            self._record(batch, remote, complete=True)

    def _add_chunk(self, batch: Batch, remote: Any, chunk: Sequence[JobRow]) -> Any:
        """Add one chunk of jobs to the open cloud batch, unless an earlier attempt already did."""
        remote_id: str = remote.id
        start, end = chunk[0].index, chunk[0].index + len(chunk)
        held = len(self._ordered_jobs(remote))
        if held >= end:
            return remote
        if held != start:
            raise BackendError(
                f"the cloud batch {remote_id} holds {held} jobs, not the {start} qpurun sent before",
                hint="`qpurun cancel` it and run the spec again",
            )
        payload = self._payload(chunk)
        return self._attempt(
            batch,
            lambda: self._call(lambda c: c.cloud_client.add_jobs(remote_id, jobs=payload)),
            found=lambda: self._if_holds(remote_id, end),
        )

    @staticmethod
    def _payload(jobs: Sequence[JobRow]) -> list[dict[str, Any]]:
        return [{"runs": job.runs, **({"variables": job.variables} if job.variables else {})} for job in jobs]

    def _create(self, batch: Batch, jobs: Sequence[JobRow], *, open_batch: bool) -> Any:
        settings = batch.settings
        return self._call(
            lambda c: c.cloud_client.create_batch(
                serialized_sequence=batch.sequence_json,
                jobs=self._payload(jobs),
                device_type=settings.get("device_type"),
                backend_configuration=settings.get("backend_configuration"),
                open=open_batch,
                wait=False,
                tags=[batch.remote_tag],
            ),
        )

    def _attempt(self, batch: Batch, send: Callable[[], Any], *, found: Callable[[], Any] | None = None) -> Any:
        """Send; after a failure that may have landed, wait, then look, and send again only if nothing landed."""
        look = found or (lambda: self._find(batch))
        delay = 1.0
        last: BaseException | None = None
        for attempt in range(SUBMIT_ATTEMPTS):
            if attempt:
                wait = _retry_after(last) if last is not None and _status_of(last) == 429 else None
                wait = delay if wait is None else wait
                if wait > 5:
                    warn(f"Pasqal Cloud asks to wait: sending batch {batch.batch_id} again in {wait:g} s")
                self._sleep(wait)
                delay = min(delay * 2, _MAX_BACKOFF)
                landed = self._patiently(look)  # the earlier request may have been accepted meanwhile
                if landed is not None:
                    return landed
                if self.store.batch(batch.batch_id).submit_state in (CANCELED, REFUSED):
                    raise BackendError(f"batch {batch.batch_id} was canceled while qpurun was sending it")
            try:
                return send()
            except _cloud_errors() as error:
                last = error
                status = _status_of(error)
                if status != 429 and not _may_have_landed(status):
                    reason = f"Pasqal Cloud refused the batch: {_first_line(error)}"
                    self.store.end_submission(batch.batch_id, REFUSED, reason=reason)
                    raise SubmissionRefused(f"{reason} (batch {batch.batch_id}: its jobs end in ERROR)") from None
        assert last is not None
        raise BackendError(
            f"could not submit batch {batch.batch_id} to Pasqal Cloud: {_first_line(last)}",
            hint=f"the batch is stored; `qpurun resume {batch.batch_id}` looks for it on the cloud "
            "first and sends it only if it is not there",
        )

    def _patiently(self, look: Callable[[], Any]) -> Any:
        """What `look` finds, asking again while the cloud cannot say (a 5xx, no answer): a batch is never
        sent on a guess that it is not there. Raises after `SUBMIT_ATTEMPTS` tries, or on a refusal."""
        delay = 1.0
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                return look()
            except _cloud_errors() as error:
                status = _status_of(error)
                if attempt == SUBMIT_ATTEMPTS - 1 or (status != 429 and not _may_have_landed(status)):
                    raise
                self._sleep(_retry_after(error) or delay)
                delay = min(delay * 2, _MAX_BACKOFF)
        raise AssertionError("unreachable")  # pragma: no cover

    def _find(self, batch: Batch) -> Any:
        """The cloud batch of a stored batch: by its recorded id, else by its tag; None if it never landed."""
        if batch.remote_id is not None:
            return self._call(lambda c: c.cloud_client.get_batch(batch.remote_id))
        from pasqal_cloud.utils.filters import BatchFilters

        page = self._call(lambda c: c.cloud_client.get_batches(filters=BatchFilters(tag=batch.remote_tag)))
        matches = [each for each in page.results if batch.remote_tag in (each.tags or [])]
        if not matches:
            return None
        if len(matches) > 1:
            warn(f"Pasqal Cloud holds {len(matches)} batches tagged {batch.remote_tag}; following the first")
        return self._call(lambda c: c.cloud_client.get_batch(matches[0].id))

    def _if_holds(self, remote_id: str, count: int) -> Any:
        remote = self._call(lambda c: c.cloud_client.get_batch(remote_id))
        return remote if len(self._ordered_jobs(remote)) >= count else None

    @staticmethod
    def _ordered_jobs(remote: Any) -> list[Any]:
        return list(remote.ordered_jobs)

    def _record(self, batch: Batch, remote: Any, *, complete: bool) -> None:
        ids = [job.id for job in self._ordered_jobs(remote)]
        self.store.record_remote(batch.batch_id, remote.id, ids, complete=complete)

    # ---- following

    def resume(self, batch: Batch, *, retry_failed: bool = False) -> None:
        if retry_failed:
            warn("--retry-failed applies to local batches; a cloud batch's failed jobs stay as the cloud ran them")
        if batch.submit_state in (CANCELED, REFUSED):
            return  # nothing to send: its jobs ended when it was canceled or refused
        if batch.submit_state != SUBMITTED:
            self._send_held(batch.batch_id)  # finds what an earlier attempt put on the cloud before sending
        self._next_poll = 0.0

    def refresh(self, batch_id: str) -> None:
        """One poll: every job that changed on the cloud is committed, each result once."""
        with _translated("poll the batch"):
            self._poll(batch_id)

    def _poll(self, batch_id: str) -> None:
        """One poll, as one call: the batch, its jobs and their results are fetched lazily by pasqal-cloud,
        so an expired token can surface anywhere inside; the whole poll is then redone (it commits each
        result once, so redoing it is safe)."""
        batch = self.store.batch(batch_id)
        if batch.remote_id is not None:
            self._call(lambda connection: self._poll_with(connection, batch))

    def _poll_with(self, connection: Any, batch: Batch) -> None:
        batch_id = batch.batch_id
        remote = connection.cloud_client.get_batch(batch.remote_id)
        rows = {job.remote_id: job for job in self.store.jobs(batch_id)}
        sequence: Any = None
        for job in self._ordered_jobs(remote):
            row = rows.get(job.id)
            if row is None or row.status in TERMINAL or job.status == row.status:
                continue
            if job.status == "DONE":
                if sequence is None:
                    import pulser

                    sequence = pulser.Sequence.from_abstract_repr(batch.sequence_json)
                found = self._result(job, sequence)
                if found is None:
                    continue  # DONE, but its results are not there yet: the next poll fetches them
                result_json, counts = found
                self.store.update_remote_job(batch_id, row.index, "DONE", result_json=result_json, counts=counts)
            elif job.status in ("ERROR", "CANCELED"):
                reason = "; ".join(str(e) for e in (job.errors or [])) or f"the job ended {job.status} on the cloud"
                self.store.update_remote_job(batch_id, row.index, job.status, error=reason[:1000])
            elif job.status in ("RUNNING", "PENDING"):
                self.store.update_remote_job(batch_id, row.index, job.status)

    @staticmethod
    def _result(job: Any, sequence: Any) -> tuple[str | None, dict[str, int]] | None:
        """A DONE job's Pulser Results (abstract repr) and its bitstring counts; None while they are missing."""
        full = job.full_result or {}
        counter = {str(k): int(v) for k, v in (full.get("counter") or {}).items()}
        if not counter and full.get("serialised_results") is None:
            return None
        serialised = full.get("serialised_results")
        if serialised is not None:
            if not counter:
                from pulser.backend.results import Results

                counter = {str(k): int(v) for k, v in Results.from_abstract_repr(serialised).final_bitstrings.items()}
            return serialised, dict(sorted(counter.items()))
        # No serialized Results: a SampledResult from the counter, as PasqalCloudConnection makes one.
        from pulser.result import SampledResult

        variables = job.variables or {}
        built = sequence.build(**variables) if variables else sequence
        atoms = sequence.get_register(include_mappable=True).qubit_ids
        size = len(variables["qubits"]) if "qubits" in variables else None
        result = SampledResult(
            atom_order=atoms[slice(size)], meas_basis=built.get_measurement_basis(), bitstring_counts=counter
        )
        try:
            text: str | None = result.to_abstract_repr()
        except Exception:  # an old Result that Pulser cannot serialize: the counts are what matter
            text = None
        return text, dict(sorted(counter.items()))

    def wait(self, batch_id: str, timeout: float) -> bool:
        now = time.monotonic()
        if now >= self._next_poll:
            try:
                self._poll(batch_id)
                self._backoff = 0.0
            except _cloud_errors() as error:  # the cloud is down for a while: keep the batch, keep trying
                status = _status_of(error)
                if status is not None and 400 <= status < 500 and status not in (408, 425, 429):
                    raise BackendError(  # asking again will not change the answer
                        f"Pasqal Cloud refuses to show batch {batch_id}: {_first_line(error)}",
                        hint=f"check the project and the credentials, then `qpurun resume {batch_id}`",
                    ) from None
                self._backoff = min(max(self._backoff * 2, self.poll_interval), _MAX_BACKOFF)
                warn(f"polling Pasqal Cloud failed ({_first_line(error)}); trying again in {self._backoff:g} s")
            self._next_poll = time.monotonic() + max(self.poll_interval, self._backoff)
        if self._unfinished(batch_id) == 0:
            return True
        self._sleep(max(0.0, min(timeout, self._next_poll - time.monotonic())))
        return self._unfinished(batch_id) == 0

    def _unfinished(self, batch_id: str) -> int:
        counts = self.store.counts(batch_id)
        return counts.get("PENDING", 0) + counts.get("RUNNING", 0)

    def cancel(self, batch_id: str) -> int:
        with _translated("cancel the batch"):
            return self._cancel(batch_id)

    def _cancel(self, batch_id: str) -> int:
        batch = self.store.batch(batch_id)
        if self._unfinished(batch_id) == 0:
            return 0  # it has ended: nothing to cancel, here or on the cloud
        if batch.remote_id is None:
            found = self._find(batch)
            if found is None:  # nothing landed: it must never be sent now
                self.store.end_submission(batch_id, CANCELED)
                return self.store.cancel(batch_id)
            self._record(batch, found, complete=not found.open)
            batch = self.store.batch(batch_id)
        if batch.submit_state != SUBMITTED:
            self.store.end_submission(batch_id, CANCELED)  # no more chunks for it
        before = self._unfinished(batch_id)
        self._call(lambda c: c.cloud_client.cancel_batch(batch.remote_id))
        self._poll(batch_id)
        self.store.cancel(batch_id)  # jobs that never reached the cloud
        return before - self._unfinished(batch_id)

    def stop(self) -> None:
        return None  # the cloud runs on; `qpurun resume` follows it again

    failure: Exception | None = None
