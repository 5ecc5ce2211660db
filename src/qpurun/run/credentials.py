"""Pasqal Cloud credentials: found without ever prompting, kept out of every message.

Why this module: a batch may run unattended (CI, a cluster, `nohup`), where
pasqal-cloud's habit of calling `getpass` for a missing password would hang
or die; and a password must never land in a log, a traceback or a project
file. Sources, first found wins:

    1. `[pasqal] token_provider = "module:callable"` in the configuration: imported and
       called; it must return a `pasqal_cloud.authentication.TokenProvider`
    2. PASQAL_TOKEN                       a static bearer token
    3. PASQAL_PASSWORD                    with PASQAL_USERNAME (else `[pasqal] username`, else the file's)
    4. the credentials file               $QPURUN_CREDENTIALS, default ~/.config/qpurun/credentials.toml:
                                          `token`, or `username` + `password`; refused, like ssh does,
                                          when group or others may read it

The project id: `[pasqal] project_id`, else PASQAL_PROJECT_ID, else the file's.

Secrets stay in `Secret`, whose `str` and `repr` are `***`; `connection_kwargs`
is the one place they are revealed, into `PasqalCloudConnection(**kwargs)`.
pasqal-cloud is an optional extra (`qpurun[pasqal]`), imported only here and
only when needed.
"""

from __future__ import annotations

import functools
import hmac
import importlib
import importlib.util
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from qpurun.language.errors import HintedError

if TYPE_CHECKING:
    from pasqal_cloud.authentication import TokenProvider

    from qpurun.config import PasqalSettings

__all__ = [
    "Credentials",
    "CredentialsError",
    "Secret",
    "connection_kwargs",
    "credentials_path",
    "describe_source",
    "load_credentials",
    "require_pasqal_cloud",
    "static_token_provider",
]

ENV_TOKEN = "PASQAL_TOKEN"
ENV_USERNAME = "PASQAL_USERNAME"
ENV_PASSWORD = "PASQAL_PASSWORD"
ENV_PROJECT = "PASQAL_PROJECT_ID"
ENV_FILE = "QPURUN_CREDENTIALS"
FILE_KEYS = ("username", "password", "token", "project_id")
INSTALL_HINT = "pip install 'qpurun[pasqal]'"


class CredentialsError(HintedError):
    """Credentials missing, unusable or unsafe. The message never holds a secret; `str()` adds the hint."""


class Secret:
    """A secret string: `str()`, `repr()` and f-strings show `***`; `reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True)
class Credentials:
    """How to log in to Pasqal Cloud, and where that came from (for `qpurun backends`)."""

    kind: Literal["token_provider", "token", "password", "anonymous"]
    source: str
    """E.g. "PASQAL_USERNAME/PASQAL_PASSWORD from the environment"."""
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    token_provider: TokenProvider | None = field(default=None, repr=False)
    project_id: str | None = None
    project_source: str | None = None
    """Where the project id came from: "qpurun.toml:7", "env PASQAL_PROJECT_ID", the file."""


ANONYMOUS = Credentials("anonymous", "no credentials: public device specs only")
"""No login: pasqal-cloud then reads the public device specs, and nothing else."""


# ---- pasqal-cloud, imported when needed


def _pasqal(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CredentialsError(
            "Pasqal Cloud support is not installed (the pasqal-cloud package is missing)", hint=INSTALL_HINT
        ) from None


def require_pasqal_cloud() -> None:
    """Raise CredentialsError (with `pip install 'qpurun[pasqal]'`) unless pasqal-cloud is installed; cheap."""
    if importlib.util.find_spec("pasqal_cloud") is None:
        _pasqal("pasqal_cloud")


@functools.cache
def _static_provider_class() -> Callable[[Secret], TokenProvider]:
    base: type[TokenProvider] = _pasqal("pasqal_cloud.authentication").TokenProvider

    class StaticTokenProvider(base):  # type: ignore[valid-type,misc]
        """A bearer token given as is (PASQAL_TOKEN): no refresh, no login."""

        def __init__(self, token: Secret) -> None:
            self._token = token

        def get_token(self) -> str:
            return self._token.reveal()

        def __repr__(self) -> str:
            return "StaticTokenProvider(***)"

    return StaticTokenProvider


def static_token_provider(token: Secret) -> TokenProvider:
    """A pasqal_cloud TokenProvider that always returns `token`."""
    return _static_provider_class()(token)


def _call_token_provider(spec: str, where: str) -> TokenProvider:
    """Import and call the configured `module:callable`; its result must be a TokenProvider."""
    token_provider_class: type[TokenProvider] = _pasqal("pasqal_cloud.authentication").TokenProvider
    module_name, _, attribute = spec.partition(":")
    hint = f'`token_provider = "{spec}"` ({where}) names a function, importable here, returning a TokenProvider'
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise CredentialsError(f"cannot import {module_name!r} for the token provider: {error}", hint=hint) from None
    except Exception as error:  # the module's own code failed; its message is not ours to print
        raise CredentialsError(
            f"importing {module_name!r} for the token provider failed: {type(error).__name__}", hint=hint
        ) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CredentialsError(f"{module_name!r} has no {attribute!r} for the token provider", hint=hint) from None
    if not callable(target):
        raise CredentialsError(f"the token provider {spec!r} is not callable", hint=hint)
    try:
        provider = target()
    except Exception as error:
        # Only the exception's type: its message could hold whatever the provider read.
        raise CredentialsError(
            f"the token provider {spec!r} failed: {type(error).__name__}",
            hint=f"call {attribute}() from {module_name} in Python to see the whole error",
        ) from None
    if not isinstance(provider, token_provider_class):
        raise CredentialsError(
            f"the token provider {spec!r} returned a {type(provider).__name__}, not a TokenProvider",
            hint="return an instance of a pasqal_cloud.authentication.TokenProvider subclass",
        )
    return provider


# ---- the credentials file


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    """$QPURUN_CREDENTIALS, else credentials.toml in the per-user config directory (~/.config/qpurun/)."""
    environ = os.environ if environ is None else environ
    named = environ.get(ENV_FILE)
    if named:
        return Path(named).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("qpurun", appauthor=False)) / "credentials.toml"


def _read_file(path: Path, *, named: bool) -> dict[str, str] | None:
    """The credentials file's keys, None when there is none; refused if others may read it."""
    try:
        status = path.stat()
    except FileNotFoundError:
        if named:
            raise CredentialsError(
                f"the credentials file {path} named by ${ENV_FILE} does not exist",
                hint=f"create it (keys: {', '.join(FILE_KEYS)}) with mode 0600, or unset {ENV_FILE}",
            ) from None
        return None
    except OSError as error:
        raise CredentialsError(f"cannot read the credentials file {path}: {error.strerror or error}") from None
    if os.name != "nt" and status.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"the credentials file {path} is refused: its mode {stat.S_IMODE(status.st_mode):04o} "
            "lets other users read it",
            hint=f"chmod 600 {path}",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CredentialsError(f"cannot read the credentials file {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        # tomllib names the place ("at line 2, column 9"), never the text there.
        reason = str(error) if isinstance(error, tomllib.TOMLDecodeError) else "it is not UTF-8 text"
        raise CredentialsError(
            f"the credentials file {path} is not valid TOML: {reason}",
            hint='write `key = "value"` lines: username, password, token, project_id',
        ) from None
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise CredentialsError(
            f"the credentials file {path} has unknown keys: {', '.join(unknown)}",
            hint=f"its keys are: {', '.join(FILE_KEYS)}",
        )
    for key, value in data.items():
        if not isinstance(value, str):
            raise CredentialsError(f"`{key}` in the credentials file {path} must be a string")
    return dict(data)


# ---- finding them


def load_credentials(
    pasqal: PasqalSettings | None = None,
    *,
    sources: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    require_project: bool = True,
) -> Credentials:
    """The Pasqal Cloud credentials, from the first source that has them (see the module docstring).

    `pasqal` is the configuration's `[pasqal]` and `sources` the configuration's sources (to say where a
    value came from). Never prompts: a username without a password anywhere is a CredentialsError.
    """
    require_pasqal_cloud()
    environ = os.environ if environ is None else environ
    sources = sources or {}
    token_provider_spec = pasqal.token_provider if pasqal is not None else None
    config_username = pasqal.username if pasqal is not None else None
    config_project = pasqal.project_id if pasqal is not None else None
    path = credentials_path(environ)
    named = bool(environ.get(ENV_FILE))

    file_data: dict[str, str] | None = None
    file_read = False

    def from_file() -> dict[str, str]:
        nonlocal file_data, file_read
        if not file_read:
            file_data = _read_file(path, named=named)
            file_read = True
        return file_data or {}

    def config_where(key: str) -> str:
        return sources.get(f"pasqal.{key}", "the configuration")

    # The project id, first: every kind of login needs one to submit.
    project: str | None
    if config_project:
        project, project_source = config_project, config_where("project_id")
    elif environ.get(ENV_PROJECT):
        project, project_source = environ[ENV_PROJECT], f"env {ENV_PROJECT}"
    else:
        project = from_file().get("project_id") or None
        project_source = str(path)

    def finish(credentials: Credentials) -> Credentials:
        if require_project and not credentials.project_id:
            raise CredentialsError(
                "no Pasqal Cloud project id",
                hint=f"set `project_id` under [pasqal] in qpurun.toml, or {ENV_PROJECT}, or `project_id` in {path}",
            )
        return credentials

    common: dict[str, Any] = {
        "project_id": project,
        "project_source": project_source if project else None,
    }

    if token_provider_spec:
        where = config_where("token_provider")
        provider = _call_token_provider(token_provider_spec, where)
        said = f"the token provider {token_provider_spec} ({where})"
        return finish(Credentials("token_provider", said, token_provider=provider, **common))

    if environ.get(ENV_TOKEN):
        token = Secret(environ[ENV_TOKEN])
        return finish(
            Credentials(
                "token",
                f"{ENV_TOKEN} from the environment",
                token=token,
                token_provider=static_token_provider(token),
                **common,
            )
        )

    env_username = environ.get(ENV_USERNAME) or None
    if environ.get(ENV_PASSWORD):
        if env_username:
            username, said = env_username, f"{ENV_USERNAME}/{ENV_PASSWORD} from the environment"
        elif config_username:
            username = config_username
            said = f"username from {config_where('username')}, {ENV_PASSWORD} from the environment"
        elif from_file().get("username"):
            username, said = from_file()["username"], f"username from {path}, {ENV_PASSWORD} from the environment"
        else:
            raise CredentialsError(
                f"{ENV_PASSWORD} is set but no username goes with it",
                hint=f"set {ENV_USERNAME}, or `username` under [pasqal] in qpurun.toml",
            )
        return finish(
            Credentials("password", said, username=username, password=Secret(environ[ENV_PASSWORD]), **common)
        )

    stored = from_file()
    if stored.get("token"):
        token = Secret(stored["token"])
        return finish(
            Credentials(
                "token", f"the token in {path}", token=token, token_provider=static_token_provider(token), **common
            )
        )
    known_username = env_username or config_username or stored.get("username")
    if stored.get("password"):
        if not known_username:
            raise CredentialsError(
                f"{path} holds a password but no username goes with it",
                hint=f"add `username` to {path}, or set {ENV_USERNAME}",
            )
        said = f"username and password from {path}"
        if env_username or config_username:
            said = (
                f"username from {'the environment' if env_username else config_where('username')}, password from {path}"
            )
        password = Secret(stored["password"])
        return finish(Credentials("password", said, username=known_username, password=password, **common))

    hint = (
        f"set {ENV_TOKEN}, or {ENV_USERNAME} and {ENV_PASSWORD}, or put `token` or `username` and `password` "
        f"in {path} (chmod 600)"
    )
    if known_username:
        # pasqal-cloud would call getpass() here; an unattended run must fail instead of hang.
        raise CredentialsError(
            f"a Pasqal Cloud username ({known_username}) but no password, and qpurun never prompts", hint=hint
        )
    raise CredentialsError("no Pasqal Cloud credentials found", hint=hint)


# ---- using them


def connection_kwargs(creds: Credentials, settings: PasqalSettings | None = None) -> dict[str, Any]:
    """The keyword arguments of `pasqal_cloud.PasqalCloudConnection(**kwargs)`.

    The one place a secret is revealed: do not print or log the result. With endpoint overrides in `[pasqal]`
    (`core_url`, `account_url`, `token_url`), adds `endpoints=Endpoints(...)` and `auth_config=TokenProviderConf(...)`
    whose other fields are pasqal-cloud's defaults for the region.
    """
    region = settings.region if settings is not None else "fr"
    kwargs: dict[str, Any] = {"project_id": creds.project_id or "", "region": region}
    if creds.token_provider is not None:
        kwargs["token_provider"] = creds.token_provider
    elif creds.kind == "password":
        if not creds.username or not creds.password:
            # PasqalCloudConnection would prompt with getpass.
            raise CredentialsError("a username without a password: qpurun never prompts for one")
        kwargs["username"] = creds.username
        kwargs["password"] = creds.password.reveal()
    elif creds.token is not None:
        kwargs["token_provider"] = static_token_provider(creds.token)
    if settings is None:
        return kwargs
    endpoints_module = _pasqal("pasqal_cloud.endpoints")
    if settings.core_url or settings.account_url:
        default = endpoints_module.Endpoints.from_region(region)
        kwargs["endpoints"] = endpoints_module.Endpoints(
            core=(settings.core_url or default.core).rstrip("/"),
            account=(settings.account_url or default.account).rstrip("/"),
        )
    if settings.token_url:
        default = endpoints_module.TokenProviderConf.from_region(region)
        kwargs["auth_config"] = endpoints_module.TokenProviderConf(
            token_endpoint=settings.token_url,
            public_client_id=default.public_client_id,
            audience=default.audience,
            realm=default.realm,
            grant_type=default.grant_type,
        )
    return kwargs


def describe_source(creds: Credentials) -> str:
    """One line for `qpurun backends`: how qpurun logs in, and the project; no secret."""
    text = creds.source
    if creds.kind == "password" and creds.username:
        text += f" (user {creds.username})"
    if creds.project_id:
        text += f"; project {creds.project_id} from {creds.project_source}"
    else:
        text += "; no project id"
    return text
