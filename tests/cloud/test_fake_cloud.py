"""The fake Pasqal Cloud, driven by pasqal-cloud's real client the way a user (or qpurun) drives the real one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from pasqal_cloud import PasqalCloudConnection, RemoteMPSBackend
from pasqal_cloud.authentication import TokenProviderError
from pasqal_cloud.errors import BatchFetchingError, DeviceSpecsFetchingError
from pasqal_cloud.pasqal_cloud_client import PasqalCloudClient
from pasqal_cloud.utils.constants import BatchStatus as CloudBatchStatus
from pasqal_cloud.utils.filters import BatchFilters
from pulser import Pulse, Sequence
from pulser.backend import EmulationConfig, QPUBackend
from pulser.backend.remote import BatchStatus, RemoteResultsError
from pulser.register.special_layouts import TriangularLatticeLayout

from cloud.fake_cloud import FRESNEL, FakePasqalCloud

# pasqal-cloud warns (DeprecationWarning) once its version is within 30 days of its end-of-support date.
pytestmark = pytest.mark.filterwarnings("ignore:SDK version:DeprecationWarning:pasqal_cloud")

USER, PASSWORD = "alice@example.org", "s3cret-pw"
CORE = "/core/api"


def make_sequence() -> Sequence:
    """Two atoms of FRESNEL's layout, one global constant pulse whose duration is the variable `t`; not measured."""
    register = TriangularLatticeLayout(61, 5).define_register(0, 1, qubit_ids=["q0", "q1"])
    seq = Sequence(register, FRESNEL)
    seq.declare_channel("ryd", "rydberg_global")
    duration = seq.declare_variable("t", dtype=int)
    seq.add(Pulse.ConstantPulse(duration, 2.0, 0.0, 0.0), "ryd")
    return seq


def connect(cloud: FakePasqalCloud, password: str = PASSWORD) -> PasqalCloudConnection:
    return PasqalCloudConnection(
        username=USER,
        password=password,
        project_id=cloud.project_id,
        endpoints=cloud.endpoints,
        auth_config=cloud.auth_config,
    )


def route(cloud: FakePasqalCloud, start: int = 0) -> list[tuple[str, str, int | None]]:
    """The requests since `start`, ids replaced by {id}: the order pasqal-cloud sends them in."""
    batches = cloud.batches
    ids = set(batches) | {job["id"] for batch in batches.values() for job in batch["jobs"]}
    return [
        (r.method, "/".join("{id}" if part in ids else part for part in r.path.split("/")), r.status)
        for r in cloud.requests[start:]
    ]


@pytest.fixture
def cloud() -> Iterator[FakePasqalCloud]:
    with FakePasqalCloud() as fake:
        yield fake


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """No real waiting: pasqal-cloud's retry (time.sleep) and tenacity (which sleeps through time.sleep) record here."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


def test_qpu_backend_run_then_results(cloud: FakePasqalCloud) -> None:
    connection = connect(cloud)
    start = len(cloud.requests)
    params = [{"runs": 50, "variables": {"t": 200}}, {"runs": 80, "variables": {"t": 400}}]
    remote = QPUBackend(make_sequence(), connection).run(params)  # type: ignore[arg-type]
    assert route(cloud, start) == [
        ("GET", f"{CORE}/v1/devices/specs", 200),  # mimic_qpu: the device is checked against the cloud's
        ("POST", f"{CORE}/v1/batches", 200),
        ("GET", f"{CORE}/v2/batches/{{id}}", 200),  # submit: the new job ids
        ("GET", f"{CORE}/v2/jobs", 200),
        ("GET", f"{CORE}/v2/batches/{{id}}", 200),  # RemoteResults(job_ids=...) checks them again
        ("GET", f"{CORE}/v2/jobs", 200),
    ]
    post = cloud.requests_to("POST", r"/v1/batches$")[0]
    assert post.headers["Content-Encoding"] == "gzip"
    assert post.body["project_id"] == cloud.project_id and post.body["device_type"] is None
    assert post.body["jobs"] == params and post.body["open"] is False
    assert Sequence.from_abstract_repr(post.body["sequence_builder"]).is_measured()  # the client added it
    assert cloud.batches[remote.batch_id]["device_type"] == "FRESNEL"  # the fake took it from the sequence
    assert cloud.requests_to("GET", r"/v2/jobs$")[0].query == {
        "batch_id": [remote.batch_id],
        "order_by": ["creation_order"],
        "order_by_direction": ["ASC"],
    }

    start = len(cloud.requests)
    assert remote.get_batch_status() is BatchStatus.DONE
    counts = [r.final_bitstrings for r in remote.results]
    assert [sum(c.values()) for c in counts] == [50, 80]
    assert route(cloud, start) == [
        ("GET", f"{CORE}/v1/batches/{{id}}/status", 200),
        ("GET", f"{CORE}/v2/batches/{{id}}", 200),
        ("GET", f"{CORE}/v2/jobs", 200),
        ("GET", f"{CORE}/v1/jobs/{{id}}/results_link", 200),
        ("GET", "/results/{id}", 200),
        ("GET", f"{CORE}/v1/jobs/{{id}}/results_link", 200),
        ("GET", "/results/{id}", 200),
    ]
    assert all("Authorization" not in r.headers for r in cloud.requests_to("GET", "^/results/"))  # presigned


def test_jobs_run_on_the_poll_clock(sleeps: list[float]) -> None:
    with FakePasqalCloud(polls_to_finish=8) as cloud:
        connection = connect(cloud)
        batch = connection.cloud_client.create_batch(
            make_sequence().to_abstract_repr(), jobs=[{"runs": 20, "variables": {"t": 200}}]
        )
        assert batch.status == "PENDING" and [job.status for job in batch.ordered_jobs] == ["PENDING"]
        # QPUBackend.run below polls 4 times (batch + jobs listing, twice); each poll is one tick of every job.
        remote = QPUBackend(make_sequence(), connection).run([{"runs": 30, "variables": {"t": 200}}])
        assert remote.get_batch_status() is BatchStatus.RUNNING  # poll 5
        with pytest.raises(RemoteResultsError):
            remote.results  # noqa: B018 -- polls 6 and 7: still running, no results link yet
        assert remote.get_batch_status() is BatchStatus.DONE  # poll 8
        assert sum(remote.results[0].final_bitstrings.values()) == 30
        assert connection.cloud_client.get_job_status(batch.ordered_jobs[0].id).value == "RUNNING"  # polled once
    assert sleeps == []


def test_remote_mps_backend_submits_an_emu_mps_batch(cloud: FakePasqalCloud) -> None:
    connection = connect(cloud)
    remote = RemoteMPSBackend(make_sequence(), connection).run([{"runs": 40, "variables": {"t": 300}}])
    batch = cloud.batches[remote.batch_id]
    assert batch["device_type"] == "EMU_MPS"
    assert isinstance(EmulationConfig.from_abstract_repr(batch["backend_configuration"]), EmulationConfig)
    assert not cloud.requests_to("GET", "/devices/")  # an emulator backend does not mimic the QPU
    assert remote.get_batch_status() is BatchStatus.DONE
    assert sum(remote.results[0].final_bitstrings.values()) == 40


def test_devices_authenticated_and_public(cloud: FakePasqalCloud) -> None:
    assert connect(cloud).fetch_available_devices() == {"FRESNEL": FRESNEL}
    anonymous = PasqalCloudClient(endpoints=cloud.endpoints)
    assert list(anonymous.get_device_specs_dict()) == ["FRESNEL"]
    public = cloud.requests_to("GET", "/devices/public-specs$")
    assert len(public) == 1 and "Authorization" not in public[0].headers


def test_a_500_on_create_batch_is_retried_and_makes_one_batch(cloud: FakePasqalCloud, sleeps: list[float]) -> None:
    connection = connect(cloud)
    cloud.fail_next("POST", r"/v1/batches$", status=500)
    remote = QPUBackend(make_sequence(), connection).run([{"runs": 10, "variables": {"t": 200}}])
    assert [r.status for r in cloud.requests_to("POST", r"/v1/batches$")] == [500, 200]
    assert sleeps == [1]  # pasqal-cloud's own retry: 2**0 s
    assert cloud.batch_count() == 1 and list(cloud.batches) == [remote.batch_id]


def test_429_waits_retry_after(cloud: FakePasqalCloud, sleeps: list[float]) -> None:
    remote = QPUBackend(make_sequence(), connect(cloud)).run([{"runs": 10, "variables": {"t": 200}}])
    cloud.fail_next("GET", r"/status$", status=429, headers={"Retry-After": "3"})
    assert remote.get_batch_status() is BatchStatus.DONE
    assert sleeps == [3]


def test_accepted_then_dropped_create_batch(cloud: FakePasqalCloud) -> None:
    client = connect(cloud).cloud_client
    cloud.accept_then_drop("POST", r"/v1/batches$")
    with pytest.raises(requests.ConnectionError):
        client.create_batch(make_sequence().to_abstract_repr(), jobs=[{"runs": 10, "variables": {"t": 200}}])
    assert cloud.batch_count() == 1  # the cloud has it, the client never heard of it
    assert [r.status for r in cloud.requests_to("POST", r"/v1/batches$")] == [None]


def test_through_pulser_a_dropped_create_batch_is_submitted_twice(cloud: FakePasqalCloud, sleeps: list[float]) -> None:
    # PasqalCloudConnection.submit wraps create_batch in tenacity's retry: the lost answer becomes a second batch.
    connection = connect(cloud)
    cloud.accept_then_drop("POST", r"/v1/batches$")
    remote = QPUBackend(make_sequence(), connection).run([{"runs": 10, "variables": {"t": 200}}])
    assert cloud.batch_count() == 2 and remote.batch_id in cloud.batches
    assert sleeps == [1]  # tenacity's wait_exponential, first wait


def test_a_wrong_password_is_a_clean_error(cloud: FakePasqalCloud) -> None:
    with pytest.raises(TokenProviderError, match=r"403: Wrong email or password\."):
        connect(cloud, password="not-it")
    assert cloud.requests[-1].status == 403


def test_no_token_or_an_unknown_one_is_401(cloud: FakePasqalCloud) -> None:
    url = f"{cloud.endpoints.core}/api/v1/devices/specs"
    assert requests.get(url, timeout=5).status_code == 401
    answer = requests.get(url, headers={"Authorization": "Bearer made-up"}, timeout=5)
    assert answer.status_code == 401 and answer.json()["status"] == "fail"


def test_expired_tokens_answer_401_and_nothing_logs_in_again(cloud: FakePasqalCloud, sleeps: list[float]) -> None:
    connection = connect(cloud)
    remote = QPUBackend(make_sequence(), connection).run([{"runs": 10, "variables": {"t": 200}}])
    cloud.expire_tokens()
    start = len(cloud.requests)
    with pytest.raises(BatchFetchingError, match="401"):
        remote.get_batch_status()
    # The cached token is sent once and not refreshed; and tenacity's @retry on the connection does not retry,
    # because pasqal-cloud's errors derive from BaseException, not Exception (`except Exception` misses them too).
    assert route(cloud, start) == [("GET", f"{CORE}/v1/batches/{{id}}/status", 401)]
    assert not issubclass(BatchFetchingError, Exception) and sleeps == []
    assert connect(cloud).cloud_client.get_batch_status(remote.batch_id) is CloudBatchStatus.DONE  # a new login


def test_tokens_can_expire_after_some_requests(cloud: FakePasqalCloud) -> None:
    client = connect(cloud).cloud_client
    cloud.expire_tokens(after=2)
    client.get_device_specs_dict()
    client.get_device_specs_dict()
    with pytest.raises(DeviceSpecsFetchingError, match="401"):
        client.get_device_specs_dict()
    assert [r.status for r in cloud.requests_to("GET", "/devices/specs$")] == [200, 200, 401]


def test_a_short_lived_token_is_fetched_before_every_request() -> None:
    with FakePasqalCloud(token_lifetime=30) as cloud:  # pasqal-cloud refreshes 60 s before expiry
        connection = connect(cloud)
        connection.fetch_available_devices()
        connection.fetch_available_devices()
        specs = f"{CORE}/v1/devices/specs"
        assert [r.path for r in cloud.requests] == ["/oauth/token", "/oauth/token", specs, "/oauth/token", specs]


def test_a_failed_job_reports_error(cloud: FakePasqalCloud) -> None:
    cloud.fail_job(lambda job: job["variables"] == {"t": 400}, message="Atoms lost")
    connection = connect(cloud)
    params = [{"runs": 10, "variables": {"t": 200}}, {"runs": 10, "variables": {"t": 400}}]
    remote = QPUBackend(make_sequence(), connection).run(params)  # type: ignore[arg-type]
    assert remote.get_batch_status() is BatchStatus.ERROR
    with pytest.raises(RemoteResultsError):
        remote.results  # noqa: B018
    ok, failed = remote.job_ids
    assert list(remote.get_available_results()) == [ok]
    assert connection.cloud_client.get_job(failed).errors == ["Atoms lost"]
    assert connection.cloud_client.get_job(ok).status == "DONE"


def test_a_job_that_cannot_build_errors_with_pulsers_message(cloud: FakePasqalCloud) -> None:
    client = connect(cloud).cloud_client
    batch = client.create_batch(make_sequence().to_abstract_repr(), jobs=[{"runs": 10}])  # `t` is missing
    job = client.get_job(batch.ordered_jobs[0].id)
    assert job.status == "ERROR" and job.errors and "t" in job.errors[0]
    assert client.get_batch_status(batch.id) is CloudBatchStatus.ERROR


def test_find_a_batch_by_tag(cloud: FakePasqalCloud) -> None:
    client = connect(cloud).cloud_client
    serialized = make_sequence().to_abstract_repr()
    tagged = client.create_batch(serialized, jobs=[{"runs": 10, "variables": {"t": 200}}], tags=["qpurun:42"])
    other = client.create_batch(serialized, jobs=[{"runs": 10, "variables": {"t": 200}}])
    found = client.get_batches(filters=BatchFilters(tag="qpurun:42"))
    assert found.total == 1 and [b.id for b in found.results] == [tagged.id]
    assert cloud.requests_to("GET", r"/v1/batches$")[-1].query["tag"] == ["qpurun:42"]
    client.set_batch_tags(other.id, ["qpurun:42", "retry"])
    assert cloud.batch_count(tag="qpurun:42") == 2
    newest_first = client.get_batches(filters=BatchFilters(tag="qpurun:42"))
    assert [b.id for b in newest_first.results] == [other.id, tagged.id]
    assert client.get_batch_status(tagged.id) is CloudBatchStatus.DONE  # a poll: its job runs
    done = client.get_batches(filters=BatchFilters(tag="qpurun:42", status=CloudBatchStatus.DONE))
    assert [b.id for b in done.results] == [tagged.id]


def test_open_batch_adds_jobs_then_closes(cloud: FakePasqalCloud) -> None:
    backend = QPUBackend(make_sequence(), connect(cloud))
    with backend.open_batch():
        first = backend.run([{"runs": 10, "variables": {"t": 200}}])
        second = backend.run([{"runs": 20, "variables": {"t": 300}}])
        assert first.get_batch_status() is BatchStatus.RUNNING  # every job done, but the batch is open
    assert first.batch_id == second.batch_id and first.job_ids != second.job_ids
    added = cloud.requests_to("POST", r"/v2/batches/[^/]+/jobs$")
    assert len(added) == 2 and added[0].headers["Content-Encoding"] == "gzip"
    assert cloud.requests_to("PATCH", "/complete$")[0].status == 200
    assert second.get_batch_status() is BatchStatus.DONE
    assert sum(second.results[0].final_bitstrings.values()) == 20


def test_jobs_come_back_in_order_over_several_pages() -> None:
    with FakePasqalCloud(page_size=2) as cloud:
        params = [{"runs": 5, "variables": {"t": t}} for t in (200, 300, 400)]
        remote = QPUBackend(make_sequence(), connect(cloud)).run(params)  # type: ignore[arg-type]
        assert remote.job_ids == [job["id"] for job in cloud.batches[remote.batch_id]["jobs"]]
        assert [sum(r.final_bitstrings.values()) for r in remote.results] == [5] * 3
        offsets = [r.query.get("offset") for r in cloud.requests_to("GET", r"/v2/jobs$")]
        assert offsets == [None, ["2"]] * 3  # submit, RemoteResults(), .results: each lists every page


def test_cancel_a_batch(sleeps: list[float]) -> None:
    with FakePasqalCloud(polls_to_finish=100) as cloud:
        client = connect(cloud).cloud_client
        batch = client.create_batch(make_sequence().to_abstract_repr(), jobs=[{"runs": 10, "variables": {"t": 200}}])
        canceled = client.cancel_batch(batch.id)
        assert canceled.status == "CANCELED" and [j.status for j in canceled.ordered_jobs] == ["CANCELED"]
        assert client.get_batch_status(batch.id) is CloudBatchStatus.CANCELED
