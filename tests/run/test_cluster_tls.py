"""`--cluster` against a real TLS Dask scheduler: the `[cluster]` TLS files reach Dask, a client that cannot
prove who it is (or talks plain TCP) is refused cleanly, and the client's private key is never written down.

Why a real scheduler: `Security` is built from the configuration's paths and handed to `distributed.Client`;
only a scheduler that demands mutual TLS shows whether the right files arrive, resolved against qpurun.toml,
and what the user sees when they do not. One throwaway CA (made here with `cryptography`) signs the scheduler's,
the worker's and the client's certificates; a second CA signs nothing the scheduler trusts. One
`LocalCluster(protocol="tls://")` on 127.0.0.1 serves the module: nothing leaves loopback.
"""

from __future__ import annotations

import base64
import datetime
import importlib
import ipaddress
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from qpurun.command import EXIT_ENVIRONMENT  # noqa: E402
from qpurun.run.backends import BackendError  # noqa: E402
from qpurun.run.cluster import CONNECT_TIMEOUT, connect, security  # noqa: E402
from run.conftest import SPECS, spawn  # noqa: E402

SHOTS = 200
SWEEP = [100, 200, 300]  # ns: three jobs keep the run short; rabi.qx has twenty
PROMPTLY = CONNECT_TIMEOUT
"""A refusal must come sooner than the client's connect timeout: then it was said, not waited out."""
A_RUN = 120.0  # seconds a three-job run may take on a shared machine before it counts as hung


# ---- a throwaway public-key infrastructure


@dataclass(frozen=True)
class Pki:
    """PEM files: `ca.pem` signed every `<role>.pem` (role: scheduler, worker, client; key `<role>.key`),
    `other-ca.pem` signed nothing."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def other_ca(self) -> Path:
        return self.directory / "other-ca.pem"

    def cert(self, role: str) -> Path:
        return self.directory / f"{role}.pem"

    def key(self, role: str) -> Path:
        return self.directory / f"{role}.key"

    def client_files(self, ca: Path) -> dict[str, Path]:
        """The `[cluster]` TLS settings of this PKI's client, trusting the CA at `ca`."""
        return {"tls_ca_file": ca, "tls_client_cert": self.cert("client"), "tls_client_key": self.key("client")}

    def security(self, *roles: str) -> Any:
        """Dask's `Security` holding the certificates and keys of `roles`, encryption required."""
        files: dict[str, str] = {"tls_ca_file": str(self.ca)}
        for role in roles:
            files[f"tls_{role}_cert"] = str(self.cert(role))
            files[f"tls_{role}_key"] = str(self.key(role))
        return distributed.Security(require_encryption=True, **files)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=1)
    )


def _write_cert(certificate: x509.Certificate, path: Path) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    """Unencrypted PKCS#8, as Dask needs it (it takes no passphrase), readable by its owner only."""
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _make_ca(path: Path, common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA certificate at `path` (its key stays in memory: nothing else is ever signed with it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        _validity(x509.CertificateBuilder())
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_cert(certificate, path)
    return key, certificate


def _issue(pki: Pki, role: str, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> None:
    """`<role>.pem` and `<role>.key`, signed by the CA, for both ends of a connection (Dask's roles connect
    to one another: a worker is a server to its peers and a client of the scheduler). Dask does not check
    host names (`check_hostname = False`), but the SANs name loopback so that a stricter client would accept
    them too; the key identifiers satisfy OpenSSL's strict X.509 checks (Python 3.13's default)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    both_ends = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    certificate = (
        _validity(x509.CertificateBuilder())
        .subject_name(_name(f"qpurun-test-{role}"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(names, critical=False)
        .add_extension(both_ends, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_cert(certificate, pki.cert(role))
    _write_key(key, pki.key(role))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    made = Pki(tmp_path_factory.mktemp("pki"))
    ca_key, ca = _make_ca(made.ca, "qpurun-test-ca")
    for role in ("scheduler", "worker", "client"):
        _issue(made, role, ca_key, ca)
    _make_ca(made.other_ca, "qpurun-test-other-ca")
    return made


# ---- the TLS cluster


def _import_what_a_job_needs() -> None:
    """Run on the worker up front, so that the first job does not pay for importing Pulser."""
    for module in ("pulser_simulation", "qpurun.run.cluster", "qpurun.run.worker"):
        importlib.import_module(module)


def _qpurun_tasks_computed(dask_scheduler: Any) -> int:
    """How many qpurun tasks (keys `qpurun-<batch>-<job>-<claim>`) reached memory on this scheduler, ever."""
    prefix = dask_scheduler.task_prefixes.get("qpurun")
    return 0 if prefix is None else int(prefix.state_counts["memory"])


@dataclass(frozen=True)
class TlsCluster:
    address: str
    client: Any
    """This process's own client (with the client certificate): to warm the worker and ask the scheduler."""


@pytest.fixture(scope="module")
def tls_cluster(pki: Pki) -> Iterator[TlsCluster]:
    """A one-worker LocalCluster on tls://127.0.0.1 that requires encryption and a certificate from `pki.ca`."""
    local = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        protocol="tls://",
        host="127.0.0.1",
        security=pki.security("scheduler", "worker", "client"),
        dashboard_address=":0",
        silence_logs=50,
    )
    client = distributed.Client(local, security=pki.security("client"), set_as_default=False)
    client.run(_import_what_a_job_needs)
    address = local.scheduler_address
    assert address.startswith("tls://127.0.0.1:"), address
    yield TlsCluster(address, client)
    client.close()
    local.close()


# ---- projects and the command line


def write_project(directory: Path) -> Path:
    """`specs/rabi.qx`, cut to the SWEEP's jobs at SHOTS shots each; returns the spec's directory."""
    text = (SPECS / "rabi.qx").read_text()
    assert f"runs {SHOTS}\n" in text, "rabi.qx changed its shots: update SHOTS"
    cut = text.replace("t = 100 ns .. 2 us step 100 ns", f"t = [{', '.join(map(str, SWEEP))}] ns")
    assert cut != text, "rabi.qx changed its sweep: update write_project"
    specs = directory / "specs"
    specs.mkdir(parents=True)
    (specs / "rabi.qx").write_text(cut)
    return specs


def write_config(directory: Path, address: str, files: dict[str, Path]) -> None:
    """`qpurun.toml` with `[cluster]`: `files` (a tls_* key to a PEM file) copied to `certs/`, named relative."""
    lines = ["[cluster]", f'address = "{address}"']
    certs = directory / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    for setting, source in files.items():
        copy = certs / f"{setting}{source.suffix}"
        copy.write_bytes(source.read_bytes())
        lines.append(f'{setting} = "certs/{copy.name}"')
    (directory / "qpurun.toml").write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Finished:
    code: int | None
    """None: still running at the deadline, and killed."""
    out: str
    err: str
    seconds: float


class Cli:
    """`qpurun ARGS` as its own process in `cwd`, QPURUN_HOME=`home`; several may run at once."""

    def __init__(self, home: Path, cwd: Path, *args: str) -> None:
        self.started = time.monotonic()
        self.process = spawn(home, *args, cwd=cwd)

    def finish(self, within: float) -> Finished:
        """Its outcome, or (past `within` seconds from its start) what it printed before it was killed."""
        try:
            out, err = self.process.communicate(timeout=max(0.0, self.started + within - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        code = self.process.returncode if self.process.returncode >= 0 else None
        return Finished(code, out, err, time.monotonic() - self.started)


def stored_batches(home: Path) -> int:
    path = home / "store.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])
    except sqlite3.OperationalError:  # the store was created but has no tables yet
        return 0
    finally:
        db.close()


def assert_fails_cleanly(finished: Finished, home: Path) -> None:
    """An environment problem said in the house format: exit 3, `qpurun: message` then `  hint: ...` on
    stderr and nothing else (no traceback, no Dask log), nothing on stdout, no batch stored, and promptly."""
    assert "Traceback" not in finished.err, finished.err
    assert finished.code == EXIT_ENVIRONMENT, (finished.code, finished.err)
    first, *rest = finished.err.rstrip("\n").split("\n")
    assert first.startswith("qpurun: ") and len(first) > len("qpurun: "), finished.err
    assert [line for line in rest if line.startswith("  hint: ")] == rest and len(rest) == 1, finished.err
    assert finished.out == "", finished.out
    assert stored_batches(home) == 0
    assert finished.seconds < PROMPTLY, f"took {finished.seconds:.1f} s"


# ---- a batch on the TLS cluster, with the files from qpurun.toml


@dataclass(frozen=True)
class TlsRun:
    finished: Finished
    home: Path
    specs: Path
    tasks: int
    """qpurun tasks the TLS scheduler computed during the run."""


@pytest.fixture(scope="module")
def tls_run(tmp_path_factory: pytest.TempPathFactory, pki: Pki, tls_cluster: TlsCluster) -> TlsRun:
    """`qpurun run rabi.qx --json` from `specs/`, the project's qpurun.toml one level up naming the client's
    files relative to itself (from the working directory they would not be found)."""
    project = tmp_path_factory.mktemp("tls-project")
    specs = write_project(project)
    write_config(project, tls_cluster.address, pki.client_files(ca=pki.ca))
    home = tmp_path_factory.mktemp("tls-home") / "home"
    before = tls_cluster.client.run_on_scheduler(_qpurun_tasks_computed)
    finished = Cli(home, specs, "run", "rabi.qx", "--json").finish(within=A_RUN)
    after = tls_cluster.client.run_on_scheduler(_qpurun_tasks_computed)
    return TlsRun(finished, home, specs, after - before)


def test_a_batch_runs_on_a_tls_scheduler_with_the_files_named_in_qpurun_toml(tls_run: TlsRun) -> None:
    """The scheduler accepts only clients with a certificate from the test CA over TLS: a run that completes
    there used the configuration's CA, certificate and key, found relative to qpurun.toml."""
    finished = tls_run.finished
    assert finished.code == 0, finished.err
    assert "Traceback" not in finished.err, finished.err
    report = json.loads(finished.out)
    assert report["status"] == "DONE" and report["target"] == "qutip"
    assert [job["variables"]["t"] for job in report["jobs"]] == SWEEP
    for job in report["jobs"]:
        assert job["status"] == "DONE" and job["runs"] == SHOTS, job
        assert sum(job["counts"].values()) == SHOTS, job
    assert tls_run.tasks == len(SWEEP)  # on the cluster, not on local workers


def _secret_forms(key_file: Path) -> list[bytes]:
    """The private key as it might be written down: its PEM text, each base64 line of it, its DER bytes."""
    pem = key_file.read_bytes()
    body = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    return [pem.strip(), *body, base64.b64decode(b"".join(body))]


def test_the_client_key_is_never_written_down(tls_run: TlsRun, pki: Pki) -> None:
    """The key file is Dask's to read: the manifest may name its path, but its contents must not reach the
    output directory, the store (with its WAL) or what the command printed."""
    assert tls_run.finished.code == 0, tls_run.finished.err
    (out_dir,) = (tls_run.specs / "runs").glob("rabi-*")
    written = [path for path in [*out_dir.rglob("*"), *tls_run.home.rglob("*")] if path.is_file()]
    names = {path.name for path in written}
    assert {"manifest.json", "results.json", "store.sqlite3"} <= names, names  # the scan looks where it should
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["batch_id"] == json.loads(tls_run.finished.out)["batch_id"]  # this run's record
    named = manifest["configuration"]["settings"].get("cluster.tls_client_key", {}).get("value")
    assert named in (None, str(tls_run.specs.parent / "certs" / "tls_client_key.key")), named  # a path, if anything
    printed = (tls_run.finished.out + tls_run.finished.err).encode()
    for secret in _secret_forms(pki.key("client")):
        assert secret not in printed
        for path in written:
            assert secret not in path.read_bytes(), f"{path} holds the client's private key"


# ---- refused, cleanly


@pytest.mark.parametrize("fault", ["a CA that did not sign the scheduler's certificate", "tcp:// at the TLS port"])
def test_a_scheduler_this_client_cannot_talk_to_fails_cleanly_and_promptly(
    tmp_path: Path, pki: Pki, tls_cluster: TlsCluster, fault: str
) -> None:
    """A certificate the client cannot verify is fatal at once (no retries until the connect timeout); plain
    TCP gets its connection reset by the TLS listener. Either is an environment problem, not a crash."""
    specs = write_project(tmp_path)
    home = tmp_path / "home"
    if fault.startswith("tcp://"):
        args = ["--cluster", tls_cluster.address.replace("tls://", "tcp://")]
    else:
        write_config(tmp_path, tls_cluster.address, pki.client_files(ca=pki.other_ca))
        args = []
    finished = Cli(home, specs, "run", "rabi.qx", "--json", *args).finish(within=PROMPTLY)
    assert_fails_cleanly(finished, home)
    assert "cannot reach the Dask scheduler at " in finished.err
    if fault.startswith("tcp://"):
        assert "if the scheduler uses TLS, write the address as tls://" in finished.err
    else:
        assert "TLS certificate" in finished.err and "tls_ca_file" in finished.err


def test_an_encrypted_address_without_a_client_certificate_fails_cleanly(
    tmp_path: Path, pki: Pki, tls_cluster: TlsCluster
) -> None:
    """`--cluster tls://...` with no TLS files (a user who forgot `[cluster]`), and a `[cluster]` naming only
    its CA: both must be said as a configuration problem, before any connection is tried."""
    bare, ca_only = tmp_path / "bare", tmp_path / "ca-only"
    write_config(ca_only, tls_cluster.address, {"tls_ca_file": pki.ca})
    runs = {
        bare: Cli(bare / "home", write_project(bare), "run", "rabi.qx", "--json", "--cluster", tls_cluster.address),
        ca_only: Cli(ca_only / "home", write_project(ca_only), "run", "rabi.qx", "--json"),
    }  # both at once: while the bug stands, each runs to the deadline
    for project, cli in runs.items():
        assert_fails_cleanly(cli.finish(within=PROMPTLY), project / "home")


def test_a_certificate_the_client_cannot_verify_is_hinted_at_the_tls_files(pki: Pki, tls_cluster: TlsCluster) -> None:
    """The scheduler is up and answering; what is wrong is `tls_ca_file`: the hint must say so, not send the
    user off to start a scheduler."""
    wrong_ca = security(tls_cluster.address, **pki.client_files(ca=pki.other_ca))
    with pytest.raises(BackendError, match="TLS certificate") as refused:
        connect(tls_cluster.address, security=wrong_ca, timeout=PROMPTLY)
    hint = refused.value.hint or ""
    assert "tls_ca_file" in hint and "start one" not in hint, hint
