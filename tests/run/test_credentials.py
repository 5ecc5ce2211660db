"""Pasqal Cloud credentials: each source, their order, no prompt ever, no secret in any message."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from loopback import json_body, serve_posts
from qpurun.config import PasqalSettings, resolve
from qpurun.run import credentials as creds_module
from qpurun.run.credentials import (
    Credentials,
    CredentialsError,
    Secret,
    connection_kwargs,
    credentials_path,
    describe_source,
    load_credentials,
)

pasqal_cloud = pytest.importorskip("pasqal_cloud")
from pasqal_cloud.authentication import TokenProvider  # noqa: E402
from pasqal_cloud.endpoints import PUBLIC_CLIENT_ID, Endpoints, TokenProviderConf  # noqa: E402

PASSWORD = "pw-very-secret-1"
TOKEN = "tok-very-secret-2"
SECRETS = (PASSWORD, TOKEN, "file-secret-3", "provider-secret-4")

ENV = ("PASQAL_TOKEN", "PASQAL_USERNAME", "PASQAL_PASSWORD", "PASQAL_PROJECT_ID", "QPURUN_CREDENTIALS")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real credentials leak in; the default file is a fresh one; any prompt fails the test."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def no_prompt(*args: Any, **kwargs: Any) -> str:
        pytest.fail("getpass was called: qpurun must never prompt")

    monkeypatch.setattr(getpass, "getpass", no_prompt)
    import pasqal_cloud.http_client

    monkeypatch.setattr(pasqal_cloud.http_client, "getpass", no_prompt)


def credentials_file(tmp_path: Path, text: str, mode: int = 0o600, *, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "creds.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    monkeypatch.setenv("QPURUN_CREDENTIALS", str(path))
    return path


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# ---- each source


def test_a_configured_token_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lab_auth.py").write_text(
        "from pasqal_cloud.authentication import TokenProvider\n"
        "class Mine(TokenProvider):\n"
        "    def get_token(self):\n"
        "        return 'provider-secret-4'\n"
        "def make():\n"
        "    return Mine()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lab_auth", raising=False)
    settings = PasqalSettings(token_provider="lab_auth:make", project_id="p1")
    creds = load_credentials(settings, sources={"pasqal.token_provider": "qpurun.toml:3"})
    assert creds.kind == "token_provider"
    assert isinstance(creds.token_provider, TokenProvider)
    assert creds.token_provider.get_token() == "provider-secret-4"
    assert "lab_auth:make" in describe_source(creds) and "qpurun.toml:3" in describe_source(creds)
    assert connection_kwargs(creds, settings)["token_provider"] is creds.token_provider


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def make():\n    return 'a string'\n", "returned a str, not a TokenProvider"),
        ("def make():\n    raise RuntimeError('provider-secret-4 is wrong')\n", "failed: RuntimeError"),
        ("make = 3\n", "is not callable"),
        ("\n", "has no 'make'"),
        ("raise RuntimeError('provider-secret-4 at import')\n", "importing 'bad_auth' for the token provider failed"),
    ],
)
def test_a_bad_token_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, message: str) -> None:
    (tmp_path / "bad_auth.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "bad_auth", raising=False)
    with pytest.raises(CredentialsError) as caught:
        load_credentials(PasqalSettings(token_provider="bad_auth:make", project_id="p"))
    assert message in str(caught.value)
    assert_no_secret(str(caught.value))


def test_a_token_provider_that_does_not_import() -> None:
    with pytest.raises(CredentialsError, match="cannot import 'no_such_module_xyz'"):
        load_credentials(PasqalSettings(token_provider="no_such_module_xyz:make", project_id="p"))


def test_pasqal_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASQAL_TOKEN", TOKEN)
    monkeypatch.setenv("PASQAL_PROJECT_ID", "proj-env")
    creds = load_credentials(PasqalSettings())
    assert creds.kind == "token"
    assert creds.token is not None and creds.token.reveal() == TOKEN
    assert isinstance(creds.token_provider, TokenProvider)
    assert creds.token_provider.get_token() == TOKEN
    assert creds.project_id == "proj-env"
    assert describe_source(creds) == "PASQAL_TOKEN from the environment; project proj-env from env PASQAL_PROJECT_ID"
    assert_no_secret(repr(creds) + repr(creds.token_provider) + describe_source(creds))


def test_username_and_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASQAL_USERNAME", "ada@lab.org")
    monkeypatch.setenv("PASQAL_PASSWORD", PASSWORD)
    creds = load_credentials(PasqalSettings(project_id="p"))
    assert (creds.kind, creds.username) == ("password", "ada@lab.org")
    assert creds.password is not None and creds.password.reveal() == PASSWORD
    assert describe_source(creds).startswith("PASQAL_USERNAME/PASQAL_PASSWORD from the environment (user ada@lab.org)")
    kwargs = connection_kwargs(creds, PasqalSettings(project_id="p"))
    assert kwargs == {"project_id": "p", "region": "fr", "username": "ada@lab.org", "password": PASSWORD}
    assert_no_secret(repr(creds) + str(creds) + describe_source(creds))


def test_the_configured_username_goes_with_the_environment_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASQAL_PASSWORD", PASSWORD)
    creds = load_credentials(
        PasqalSettings(username="ada@lab.org", project_id="p"), sources={"pasqal.username": "qpurun.toml:2"}
    )
    assert creds.username == "ada@lab.org"
    assert creds.source == "username from qpurun.toml:2, PASQAL_PASSWORD from the environment"


def test_a_password_without_any_username(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASQAL_PASSWORD", PASSWORD)
    with pytest.raises(CredentialsError, match="no username") as caught:
        load_credentials(PasqalSettings(project_id="p"))
    assert_no_secret(str(caught.value))


def test_the_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = credentials_file(
        tmp_path,
        'username = "ada@lab.org"\npassword = "file-secret-3"\nproject_id = "proj-file"\n',
        monkeypatch=monkeypatch,
    )
    creds = load_credentials(PasqalSettings())
    assert (creds.kind, creds.username, creds.project_id) == ("password", "ada@lab.org", "proj-file")
    assert creds.password is not None and creds.password.reveal() == "file-secret-3"
    assert creds.source == f"username and password from {path}"
    assert creds.project_source == str(path)


def test_a_token_in_the_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials_file(tmp_path, 'token = "file-secret-3"\nproject_id = "p"\n', monkeypatch=monkeypatch)
    creds = load_credentials()
    assert creds.kind == "token"
    assert creds.token_provider is not None and creds.token_provider.get_token() == "file-secret-3"


def test_the_default_file_is_in_the_user_config_directory(tmp_path: Path) -> None:
    path = credentials_path()
    assert path.name == "credentials.toml" and path.parent.name == "qpurun"
    path.parent.mkdir(parents=True)
    path.write_text('token = "file-secret-3"\nproject_id = "p"\n', encoding="utf-8")
    path.chmod(0o600)
    assert load_credentials().kind == "token"


# ---- the file's permissions


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700 | 0o010])
def test_a_file_others_may_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int) -> None:
    path = credentials_file(tmp_path, 'token = "file-secret-3"\nproject_id = "p"\n', mode, monkeypatch=monkeypatch)
    with pytest.raises(CredentialsError) as caught:
        load_credentials()
    report = str(caught.value)
    assert f"{path} is refused" in report and f"{mode:04o}" in report
    assert f"hint: chmod 600 {path}" in report
    assert_no_secret(report)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_file_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int) -> None:
    credentials_file(tmp_path, 'token = "file-secret-3"\nproject_id = "p"\n', mode, monkeypatch=monkeypatch)
    assert load_credentials().kind == "token"


def test_a_named_file_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPURUN_CREDENTIALS", str(tmp_path / "nope.toml"))
    with pytest.raises(CredentialsError, match="does not exist"):
        load_credentials()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('password = "file-secret-3\n', "not valid TOML"),
        ('pasword = "file-secret-3"\n', "unknown keys: pasword"),
        ("password = 12345\n", "`password` in the credentials file"),
    ],
)
def test_a_bad_file_never_shows_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    credentials_file(tmp_path, text, monkeypatch=monkeypatch)
    with pytest.raises(CredentialsError) as caught:
        load_credentials(PasqalSettings(project_id="p"))
    assert message in str(caught.value)
    assert_no_secret(str(caught.value))
    assert "12345" not in str(caught.value)


# ---- the order


def test_order_provider_then_token_then_environment_password_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "order_auth.py").write_text(
        "from pasqal_cloud.authentication import TokenProvider\n"
        "class Mine(TokenProvider):\n"
        "    def get_token(self):\n"
        "        return 'provider-secret-4'\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "order_auth", raising=False)
    credentials_file(tmp_path, 'username = "file-user"\npassword = "file-secret-3"\n', monkeypatch=monkeypatch)
    monkeypatch.setenv("PASQAL_USERNAME", "env-user")
    monkeypatch.setenv("PASQAL_PASSWORD", PASSWORD)
    monkeypatch.setenv("PASQAL_TOKEN", TOKEN)
    with_provider = PasqalSettings(token_provider="order_auth:Mine", project_id="p")
    plain = PasqalSettings(project_id="p")

    assert load_credentials(with_provider).kind == "token_provider"
    assert load_credentials(plain).kind == "token"
    monkeypatch.delenv("PASQAL_TOKEN")
    creds = load_credentials(plain)
    assert (creds.kind, creds.username, creds.source) == (
        "password",
        "env-user",
        "PASQAL_USERNAME/PASQAL_PASSWORD from the environment",
    )
    monkeypatch.delenv("PASQAL_PASSWORD")
    creds = load_credentials(plain)  # the environment's username, the file's password
    assert creds.username == "env-user"
    assert creds.password is not None and creds.password.reveal() == "file-secret-3"
    monkeypatch.delenv("PASQAL_USERNAME")
    assert load_credentials(plain).username == "file-user"


def test_project_id_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = credentials_file(tmp_path, 'token = "file-secret-3"\nproject_id = "from-file"\n', monkeypatch=monkeypatch)
    monkeypatch.setenv("PASQAL_PROJECT_ID", "from-env")
    config = PasqalSettings(project_id="from-config")
    creds = load_credentials(config, sources={"pasqal.project_id": "qpurun.toml:7"})
    assert (creds.project_id, creds.project_source) == ("from-config", "qpurun.toml:7")
    assert load_credentials(PasqalSettings()).project_id == "from-env"
    monkeypatch.delenv("PASQAL_PROJECT_ID")
    creds = load_credentials(PasqalSettings())
    assert (creds.project_id, creds.project_source) == ("from-file", str(path))


def test_no_project_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASQAL_TOKEN", TOKEN)
    with pytest.raises(CredentialsError, match="no Pasqal Cloud project id") as caught:
        load_credentials()
    assert caught.value.hint is not None and "PASQAL_PROJECT_ID" in caught.value.hint
    assert load_credentials(require_project=False).project_id is None


def test_from_a_resolved_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "qpurun.toml").write_text('[pasqal]\nproject_id = "p9"\nregion = "sa"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PASQAL_TOKEN", TOKEN)
    resolved = resolve(tmp_path)
    creds = load_credentials(resolved.config.pasqal, sources=resolved.sources)
    assert describe_source(creds) == "PASQAL_TOKEN from the environment; project p9 from qpurun.toml:2"
    assert connection_kwargs(creds, resolved.config.pasqal)["region"] == "sa"


# ---- never a prompt


def test_a_username_without_a_password_never_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASQAL_USERNAME", "ada@lab.org")
    with pytest.raises(CredentialsError) as caught:
        load_credentials(PasqalSettings(project_id="p"))
    error = caught.value
    assert "never prompts" in error.message
    assert error.hint is not None
    for name in ("PASQAL_PASSWORD", "PASQAL_TOKEN", "credentials.toml"):
        assert name in error.hint


def test_a_configured_username_without_a_password_never_prompts() -> None:
    with pytest.raises(CredentialsError, match="never prompts"):
        load_credentials(PasqalSettings(username="ada@lab.org", project_id="p"))


def test_nothing_at_all() -> None:
    with pytest.raises(CredentialsError, match="no Pasqal Cloud credentials found") as caught:
        load_credentials(PasqalSettings(project_id="p"))
    assert caught.value.hint is not None and "PASQAL_USERNAME" in caught.value.hint


def test_connection_kwargs_refuses_a_username_without_password() -> None:
    with pytest.raises(CredentialsError, match="never prompts"):
        connection_kwargs(Credentials("password", "test", username="ada", project_id="p"))


# ---- secrets stay secret


def test_secret_never_shows() -> None:
    secret = Secret(PASSWORD)
    for shown in (str(secret), repr(secret), f"{secret}", f"{secret!r}", f"{secret:>10}", repr([secret])):
        assert PASSWORD not in shown
    assert str(secret) == "***"
    assert secret.reveal() == PASSWORD
    assert secret == Secret(PASSWORD) and secret != Secret("other")
    assert not Secret("")


def test_no_secret_in_the_repr_of_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASQAL_USERNAME", "ada")
    monkeypatch.setenv("PASQAL_PASSWORD", PASSWORD)
    creds = load_credentials(PasqalSettings(project_id="p"))
    assert_no_secret(repr(creds) + str(creds) + describe_source(creds))


# ---- connection_kwargs


def test_connection_kwargs_with_url_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASQAL_TOKEN", TOKEN)
    settings = PasqalSettings(
        project_id="p",
        core_url="http://127.0.0.1:9/core/",
        token_url="http://127.0.0.1:9/oauth/token",
    )
    kwargs = connection_kwargs(load_credentials(settings), settings)
    assert kwargs["endpoints"] == Endpoints(core="http://127.0.0.1:9/core", account=Endpoints().account)
    assert kwargs["auth_config"] == TokenProviderConf(
        token_endpoint="http://127.0.0.1:9/oauth/token",
        public_client_id=PUBLIC_CLIENT_ID,
        audience=TokenProviderConf.from_region("fr").audience,
        realm=TokenProviderConf.from_region("fr").realm,
        grant_type=TokenProviderConf.from_region("fr").grant_type,
    )
    connection = pasqal_cloud.PasqalCloudConnection(**kwargs)
    assert connection.cloud_client._client.endpoints.core == "http://127.0.0.1:9/core"
    assert connection.cloud_client.user_token() == TOKEN


def test_connection_kwargs_without_overrides_leaves_pasqal_cloud_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASQAL_TOKEN", TOKEN)
    settings = PasqalSettings(project_id="p", region="sa")
    kwargs = connection_kwargs(load_credentials(settings), settings)
    assert set(kwargs) == {"project_id", "region", "token_provider"}
    assert kwargs["region"] == "sa"


@pytest.fixture
def token_server() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    """A fake OAuth token endpoint on 127.0.0.1: records each form it gets, answers a token."""
    received: list[dict[str, list[str]]] = []

    def answer(request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        received.append(parse_qs(body.decode()))
        return 200, *json_body({"access_token": "server-token", "expires_in": 3600})

    with serve_posts(answer) as url:
        yield f"{url}/oauth/token", received


def test_a_password_login_against_a_fake_token_endpoint(
    monkeypatch: pytest.MonkeyPatch, token_server: tuple[str, list[dict[str, list[str]]]]
) -> None:
    url, received = token_server
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("PASQAL_USERNAME", "ada@lab.org")
    monkeypatch.setenv("PASQAL_PASSWORD", PASSWORD)
    settings = PasqalSettings(project_id="p", token_url=url, core_url="http://127.0.0.1:9/core")
    connection = pasqal_cloud.PasqalCloudConnection(**connection_kwargs(load_credentials(settings), settings))
    assert connection.cloud_client.user_token() == "server-token"
    assert len(received) == 1
    form = received[0]
    assert form["username"] == ["ada@lab.org"] and form["password"] == [PASSWORD]
    assert form["client_id"] == [PUBLIC_CLIENT_ID]


def test_missing_pasqal_cloud_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pasqal_cloud.authentication", None)  # import fails
    creds_module._static_provider_class.cache_clear()
    monkeypatch.setenv("PASQAL_TOKEN", TOKEN)
    try:
        with pytest.raises(CredentialsError) as caught:
            load_credentials(PasqalSettings(project_id="p"))
        assert "pip install 'qpurun[pasqal]'" in str(caught.value)
    finally:
        creds_module._static_provider_class.cache_clear()


def test_missing_pasqal_cloud_is_found_before_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pasqal_cloud" else real(name, *a)
    )
    monkeypatch.setitem(sys.modules, "pasqal_cloud", None)
    monkeypatch.setenv("PASQAL_USERNAME", "ada")
    monkeypatch.setenv("PASQAL_PASSWORD", PASSWORD)
    with pytest.raises(CredentialsError, match="not installed") as caught:
        load_credentials(PasqalSettings(project_id="p"))
    assert caught.value.hint == "pip install 'qpurun[pasqal]'"
