"""The project configuration: `qpurun.toml`, or `[tool.qpurun]` in `pyproject.toml`.

Why a file: the target, the store, the Pasqal project and the emulator's
defaults belong to a project, not to each command line. The file is found
from the spec's directory upwards, so every spec of a project shares it::

    backend = "pasqal:EMU_MPS"     # qutip | local | emu-sv | emu-mps | pasqal:<DEVICE>
    store = "runs/qpurun.db"       # relative to this file
    workers = 4
    notify = "https://hooks.example.org/services/T0/B0/XXXX"   # a secret: printed masked

    [pasqal]
    project_id = "..."             # never a password: that lives in the environment or the credentials file
    region = "fr"

    [emulator]
    dt = 10
    noise = { p_false_pos = 0.01 }

    [cluster]                      # or just: cluster = "tcp://scheduler:8786"
    address = "tls://scheduler.example.org:8786"   # a Dask scheduler: `run --cluster` sends the jobs there
    tls_ca_file = "certs/ca.pem"   # Dask TLS (paths relative to this file); keys are files, never values
    tls_client_cert = "certs/client.pem"
    tls_client_key = "certs/client.key"

Precedence, highest first: command-line flags, the file, the environment
(`QPURUN_BACKEND`: a user's default across projects, which a project's own
file overrides), the built-in defaults. Every resolved value remembers where
it came from (`qpurun config` prints it).

A misspelt key or a bad value is a `QxConfigError` in the house format
(`qpurun.toml:4:1: config error: ...`, the line, a caret, a hint), so the CLI
reports it like a mistake in a spec (exit 2). Nothing here imports Pulser.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qpurun.language.errors import QxConfigError, QxError, Source, Span, raise_all

__all__ = [
    "CONFIG_FILE",
    "PYPROJECT_FILE",
    "ClusterSettings",
    "Config",
    "ConfigFile",
    "EmulatorSettings",
    "PasqalSettings",
    "Resolved",
    "describe",
    "describe_json",
    "find_config",
    "mask_url",
    "resolve",
]

CONFIG_FILE = "qpurun.toml"
PYPROJECT_FILE = "pyproject.toml"
PYPROJECT_TABLE = ("tool", "qpurun")

# Environment variables that set a value, below the project file (see the module docstring).
ENVIRONMENT = {"backend": "QPURUN_BACKEND"}

# Keys whose value is never printed in full: in `describe`, and in the source line of an error.
SECRET_KEYS = frozenset({"notify"})
# Keys refused in a project file: a project file is committed and shared.
FORBIDDEN_KEYS = frozenset({"password", "token", "secret", "api_key"})

_BACKEND = re.compile(r"(qutip|local|emu-sv|emu-mps|pasqal:[A-Za-z][A-Za-z0-9_]*)")
_CALLABLE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
)
_URL = "an http:// or https:// URL"


def mask_url(url: str) -> str:
    """A secret URL as it may be printed: scheme and host only (`https://hooks.example.org/…`)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"
    where = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{where}{f':{port}' if port is not None else ''}/…"


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return value


# ---- the models


class _Model(BaseModel):
    # strict: TOML has types, and `workers = "4"` or `gpu = 1` is a mistake worth naming.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PasqalSettings(_Model):
    """`[pasqal]`: the Pasqal Cloud project and endpoints (credentials are not here: see run/credentials.py)."""

    project_id: str | None = Field(default=None, description="a project id (a string)")
    region: Literal["fr", "sa"] = Field(default="fr", description='"fr" or "sa"')
    username: str | None = Field(default=None, description="a user name (a string)")
    token_provider: str | None = Field(
        default=None, description='"module:callable", a function that returns a pasqal_cloud TokenProvider'
    )
    core_url: str | None = Field(default=None, description=_URL)
    account_url: str | None = Field(default=None, description=_URL)
    token_url: str | None = Field(default=None, description=_URL)
    poll_interval: float = Field(default=5.0, gt=0, description="a number of seconds greater than 0")
    max_jobs_per_batch: int = Field(default=500, ge=1, description="a whole number of at least 1")

    @field_validator("token_provider")
    @classmethod
    def _callable(cls, value: str | None) -> str | None:
        if value is not None and not _CALLABLE.fullmatch(value):
            raise ValueError("not module:callable")
        return value

    @field_validator("core_url", "account_url", "token_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _check_url(value)


class EmulatorSettings(_Model):
    """`[emulator]`: settings for the emulators, and defaults for a spec's noise block."""

    dt: int | None = Field(default=None, ge=1, description="a whole number of nanoseconds, at least 1")
    max_bond_dim: int | None = Field(default=None, ge=1, description="a whole number of at least 1")
    gpu: bool = Field(default=False, description="true or false")
    optimize_qubit_ordering: bool = Field(default=True, description="true or false")
    noise: dict[str, float | int | bool] = Field(
        default_factory=dict, description="a table of numbers and booleans (`[emulator.noise]`)"
    )


_CLUSTER_ADDRESS = re.compile(r"([a-z][a-z0-9+.-]*://)?[^\s/]+")


class ClusterSettings(_Model):
    """`cluster = "ADDRESS"` or `[cluster]`: the Dask scheduler `run --cluster` sends the jobs to, and the
    TLS files that authenticate both ends when it is not on a trusted network (see qpurun.run.cluster)."""

    address: str | None = Field(
        default=None, description='a Dask scheduler address (a string), e.g. "tcp://host:8786" or "tls://host:8786"'
    )
    tls_ca_file: Path | None = Field(default=None, strict=False, description="a path to a PEM file (a string)")
    tls_client_cert: Path | None = Field(default=None, strict=False, description="a path to a PEM file (a string)")
    tls_client_key: Path | None = Field(default=None, strict=False, description="a path to a PEM file (a string)")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _CLUSTER_ADDRESS.fullmatch(value):
            raise ValueError("not a scheduler address")
        return value

    @property
    def tls(self) -> bool:
        """Whether TLS files are configured (the connection must then be encrypted)."""
        return any(path is not None for path in (self.tls_ca_file, self.tls_client_cert, self.tls_client_key))


class Config(_Model):
    """The whole project configuration, validated."""

    backend: str = Field(default="qutip", description="a target: qutip, local, emu-sv, emu-mps or pasqal:<DEVICE>")
    store: Path | None = Field(default=None, strict=False, description="a path to the store's SQLite file (a string)")
    workers: int | None = Field(default=None, ge=1, description="a whole number of at least 1")
    notify: str | None = Field(default=None, description="a webhook URL (http:// or https://)")
    cluster: ClusterSettings = Field(
        default=ClusterSettings(),
        description='a Dask scheduler address (a string, e.g. "tcp://host:8786") or a table (`[cluster]`)',
    )
    pasqal: PasqalSettings = Field(default=PasqalSettings(), description="a table (`[pasqal]`)")
    emulator: EmulatorSettings = Field(default=EmulatorSettings(), description="a table (`[emulator]`)")

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        if not _BACKEND.fullmatch(value):
            raise ValueError("not a target")
        return value

    @field_validator("notify")
    @classmethod
    def _notify(cls, value: str | None) -> str | None:
        return _check_url(value)

    @field_validator("cluster", mode="before")
    @classmethod
    def _cluster(cls, value: Any) -> Any:
        """`cluster = "tcp://host:8786"` is short for `[cluster] address = "tcp://host:8786"`."""
        return {"address": value} if isinstance(value, str) else value


_HINTS = {
    "backend": "`qpurun backends` lists the targets, e.g. pasqal:FRESNEL, pasqal:EMU_MPS",
    "workers": "leave `workers` out to use one worker per core",
    "store": 'a string, e.g. store = "runs/qpurun.db" (relative to the configuration file)',
    "notify": "an incoming-webhook URL (Slack, Mattermost); keep it out of a public repository",
    "pasqal.region": "Pasqal Cloud has two regions: fr (Europe) and sa (Saudi Arabia)",
    "pasqal.token_provider": 'e.g. token_provider = "mylab.auth:make_provider"; it is imported and called',
    "pasqal.poll_interval": "how often to ask Pasqal Cloud for a batch's status, in seconds",
    "pasqal.max_jobs_per_batch": "a larger sweep goes out as one open batch, this many jobs at a time",
    "emulator.dt": "the emulators' time step, in ns",
    "emulator.optimize_qubit_ordering": "emu-mps searches a qubit order per trajectory; false skips it",
    "emulator.noise": "defaults for a spec's noise block, e.g. p_false_pos = 0.01",
    "cluster": 'cluster = "tcp://host:8786", or a [cluster] table with address and the tls_* files',
    "cluster.address": 'the address `dask scheduler` prints, e.g. "tcp://10.0.0.5:8786" or "tls://host:8786"',
}
_DEFAULT_HINT = "`qpurun config` shows every setting and where it comes from"


# ---- finding and reading the file


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file found on disk, read and parsed (not yet validated)."""

    path: Path
    text: str
    data: dict[str, Any]
    """The qpurun table: the whole of qpurun.toml, or pyproject.toml's [tool.qpurun]."""
    prefix: tuple[str, ...]
    """Where that table sits in the file: () or ("tool", "qpurun")."""

    @property
    def name(self) -> str:
        """The file as printed: relative to the working directory when under it."""
        return _display(self.path)

    @property
    def source(self) -> Source:
        return Source(self.name, self.text)

    def label(self, line: int | None) -> str:
        """Where a value came from, for `sources`: `qpurun.toml:4`, `pyproject.toml:12 [tool.qpurun]`."""
        where = self.name if line is None else f"{self.name}:{line}"
        return where + (" [" + ".".join(self.prefix) + "]" if self.prefix else "")


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def find_config(start_dir: str | Path) -> ConfigFile | None:
    """The nearest qpurun.toml, or pyproject.toml with [tool.qpurun], from `start_dir` up to the root.

    In one directory qpurun.toml wins over pyproject.toml; a pyproject.toml
    without [tool.qpurun] does not count and the search goes on upwards.
    """
    directory = Path(start_dir).expanduser().absolute()
    if directory.is_file():
        directory = directory.parent
    for candidate in (directory, *directory.parents):
        found = candidate / CONFIG_FILE
        if found.is_file():
            text = _read_text(found)
            return ConfigFile(found, text, _parse(found, text), ())
        found = candidate / PYPROJECT_FILE
        if found.is_file():
            text = _read_text(found)
            if "qpurun" not in text:  # cheap: most pyproject.toml files are not ours to parse
                continue
            data = _parse(found, text)
            tool = data.get("tool")
            table = tool.get("qpurun") if isinstance(tool, dict) else None
            if table is None:
                continue
            if not isinstance(table, dict):
                line, column, end = _locate(text, (), PYPROJECT_TABLE) or (1, 1, 2)
                raise QxConfigError(
                    "`tool.qpurun` must be a table",
                    Span(line, column, line, end),
                    Source(_display(found), text),
                    hint="write it as a [tool.qpurun] section",
                )
            return ConfigFile(found, text, table, PYPROJECT_TABLE)
    return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise QxConfigError(f"cannot read it: {error.strerror or error}", source=Source(_display(path), "")) from None
    except UnicodeDecodeError:
        raise QxConfigError("cannot read it: it is not UTF-8 text", source=Source(_display(path), "")) from None


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def _parse(path: Path, text: str) -> dict[str, Any]:
    """The TOML of a file; a syntax error is located where tomllib says (its message carries line and column)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        lines = text.splitlines() or [""]
        match = _TOML_AT.search(message)
        if match:
            line, column = int(match[1]), int(match[2])
            message = message[: match.start()]
        else:
            line, column = len(lines), len(lines[-1]) + 1
            message = _TOML_END.sub("", message)
        raise QxConfigError(
            f"not valid TOML: {message[:1].lower()}{message[1:]}",
            Span(line, column, line, column + 1),
            Source(_display(path), text),
            hint='each setting is `key = value`; strings are quoted: backend = "qutip"',
        ) from None


# ---- where a key is written

_HEADER = re.compile(r"\s*\[(?!\[)\s*([^\]]*?)\s*\]\s*(#.*)?")
_TABLE_ARRAY = re.compile(r"\s*\[\[")
_KEY = re.compile(r"\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _dotted(text: str) -> tuple[str, ...]:
    # Quoted keys holding a dot are split wrongly; nobody writes them in a qpurun table.
    return tuple(part.strip().strip("\"'") for part in text.split("."))


def _locate(text: str, key: tuple[str, ...], prefix: tuple[str, ...]) -> tuple[int, int, int] | None:
    """The line, column and end column where `key` is written, or the nearest enclosing table/inline table.

    A scan of the text for table headers and `key =` lines, not a TOML parser:
    good enough for the files people write (a `key =` inside a multi-line
    string could fool it, and would only move a caret).
    """
    wanted = prefix + key
    table: tuple[str, ...] | None = ()
    best: tuple[int, tuple[int, int, int]] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        found: tuple[str, ...] | None = None
        if _TABLE_ARRAY.match(line):
            table = None
            continue
        header = _HEADER.fullmatch(line)
        if header:
            table = _dotted(header[1])
            found = table
        elif table is not None:
            match = _KEY.match(line)
            if match:
                found = table + _dotted(match[1])
        if found is None or found != wanted[: len(found)]:
            continue
        column = len(line) - len(line.lstrip()) + 1
        place = (number, column, len(line.rstrip()) + 1)
        if found == wanted and not header:
            return place
        if best is None or len(found) > best[0]:
            best = (len(found), place)
    return best[1] if best else None


# ---- validation errors, in the house format


def _field(key: tuple[str, ...]) -> Any:
    """The pydantic FieldInfo of a dotted key (None when unknown or inside `noise`)."""
    model: Any = Config
    info: Any = None
    for part in key:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return None
        info = fields[part]
        model = info.annotation
    return info


def _known_keys(table: tuple[str, ...]) -> list[str]:
    model: Any = Config
    for part in table:
        model = model.model_fields[part].annotation
    return list(model.model_fields)


def _key_of(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    """The configuration key of a pydantic error location: follow the models, drop union member tags."""
    key: list[str] = []
    model: Any = Config
    for part in loc:
        key.append(str(part))
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            break  # an unknown key, or a noise entry (its union tags follow)
        model = fields[part].annotation
    return tuple(key)


def _show(value: Any) -> str:
    """A value as it is written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _describe_problem(key: tuple[str, ...], kind: str, value: Any) -> tuple[str, str]:
    """The message and hint for one bad key."""
    dotted = ".".join(key)
    if kind == "extra_forbidden":
        if key[-1] in FORBIDDEN_KEYS:
            return (
                f"`{dotted}` does not belong in a project file: it is a secret and the file is shared",
                "set PASQAL_PASSWORD (or PASQAL_TOKEN) in the environment, or put it in the credentials file "
                "(~/.config/qpurun/credentials.toml, or $QPURUN_CREDENTIALS; mode 0600)",
            )
        known = _known_keys(key[:-1])
        where = f"[{'.'.join(key[:-1])}]" if len(key) > 1 else "the top level"
        close = difflib.get_close_matches(key[-1], known, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return f"unknown key `{dotted}`", f"{hint}the keys of {where} are: {', '.join(known)}"
    if len(key) == 3 and key[:2] == ("emulator", "noise"):
        expected = "a number or true/false"
    else:
        info = _field(key)
        expected = info.description if info is not None and info.description else "something else"
    if key[-1] in SECRET_KEYS:
        message = f"`{dotted}` must be {expected}"
    else:
        message = f"`{dotted}` must be {expected}, not {_show(value)}"
    return message, _HINTS.get(dotted, _HINTS.get(".".join(key[:2]), _DEFAULT_HINT))


def _problems(error: ValidationError) -> list[tuple[tuple[str, ...], str, str]]:
    """(key, message, hint) for each bad key, once each, in the order pydantic found them."""
    seen: dict[tuple[str, ...], tuple[str, str]] = {}
    for item in error.errors():
        key = _key_of(item["loc"])
        if key not in seen:
            seen[key] = _describe_problem(key, item["type"], item["input"])
    return [(key, message, hint) for key, (message, hint) in seen.items()]


def _masked_text(text: str, line: int, key: str) -> str:
    """The file's text with the value on `line` masked, for a secret key's error."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return text
    before, sep, value = lines[line - 1].partition("=")
    if sep:
        raw = value.strip().strip("\"'")
        shown = mask_url(raw) if key in SECRET_KEYS else "***"
        lines[line - 1] = f'{before}= "{shown}"'
    return "\n".join(lines)


def _file_errors(file: ConfigFile, error: ValidationError) -> list[QxError]:
    errors: list[QxError] = []
    for key, message, hint in _problems(error):
        place = _locate(file.text, key, file.prefix)
        if place is None:
            errors.append(QxConfigError(message, source=file.source, hint=hint))
            continue
        line, column, end = place
        text = file.text
        if key[-1] in SECRET_KEYS or key[-1] in FORBIDDEN_KEYS:
            text = _masked_text(text, line, key[-1])
            end = column + len(text.splitlines()[line - 1].strip())
        errors.append(QxConfigError(message, Span(line, column, line, end), Source(file.name, text), hint=hint))
    return sorted(errors, key=lambda error: (error.line or 0, error.column or 0))


# ---- resolving: flags over the file over the environment over the defaults


@dataclass(frozen=True)
class Resolved:
    """The configuration in force, and where each value came from."""

    config: Config
    sources: dict[str, str]
    """For each dotted key (`backend`, `pasqal.region`, `emulator.noise.p_false_pos`): `qpurun.toml:4`,
    `pyproject.toml:12 [tool.qpurun]`, `--backend`, `env QPURUN_BACKEND` or `default`."""
    file: ConfigFile | None = None
    """The configuration file in force, if one was found."""

    @property
    def path(self) -> Path | None:
        return self.file.path if self.file is not None else None

    def settings_for_emulator(self) -> dict[str, Any]:
        """`{"dt": ..., "max_bond_dim": ..., "gpu": ...}`: plain JSON, for the emulator backends."""
        emulator = self.config.emulator
        return {
            "dt": emulator.dt,
            "max_bond_dim": emulator.max_bond_dim,
            "gpu": emulator.gpu,
            "optimize_qubit_ordering": emulator.optimize_qubit_ordering,
        }


def _flag(key: str) -> str:
    return "--" + key.rsplit(".", 1)[-1].replace("_", "-")


def _set(data: dict[str, Any], key: tuple[str, ...], value: Any) -> None:
    for part in key[:-1]:
        inner = data.get(part)
        if not isinstance(inner, dict):
            inner = data[part] = {}
        else:
            inner = data[part] = dict(inner)
        data = inner
    data[key[-1]] = value


def _leaves(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = []
    for name, value in data.items():
        key = (*prefix, name)
        if isinstance(value, Mapping) and (value or key == ("emulator", "noise")):
            if key == ("emulator", "noise"):
                keys.append(key)
            keys.extend(_leaves(value, key))
        else:
            keys.append(key)
    return keys


def resolve(
    start_dir: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    flags: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Resolved:
    """The configuration for a spec in `start_dir`: command-line `overrides` over the nearest file over the
    environment over the defaults.

    `overrides` maps dotted keys (`backend`, `workers`, `store`, `pasqal.project_id`) to the flags' values;
    None means the flag was not given. `flags` names the flag of a key for `sources` and errors (default:
    `--` and the key's last part, `pasqal.project_id` → `--project-id`). A relative `store` is resolved
    against the file's directory when it comes from the file, else against the working directory.
    Raises QxConfigError (several as QxErrors) for a bad file, variable or override.
    """
    environ = os.environ if environ is None else environ
    file = find_config(start_dir)
    data: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    from_the_file: set[tuple[str, ...]] = set()

    for name, variable in ENVIRONMENT.items():
        value = environ.get(variable)
        if value:
            _set(data, (name,), value)
            origin[(name,)] = f"env {variable}"

    if file is not None:
        try:
            Config.model_validate(file.data)
        except ValidationError as error:
            raise_all(_file_errors(file, error))
        for key in _leaves(file.data):
            place = _locate(file.text, key, file.prefix)
            origin[key] = file.label(place[0] if place else None)
            from_the_file.add(key)
            if key == ("cluster",):  # the short form: `cluster = "ADDRESS"` is cluster.address
                origin[("cluster", "address")] = origin[key]
        for table, value in file.data.items():
            if isinstance(value, dict) and isinstance(data.get(table), dict):
                data[table] = {**data[table], **value}
            else:
                data[table] = value

    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        key = tuple(dotted.split("."))
        if _field(key) is None and not (len(key) == 3 and key[:2] == ("emulator", "noise")):
            raise ValueError(f"no configuration key {dotted!r}")
        _set(data, key, str(value) if isinstance(value, Path) else value)
        origin[key] = (flags or {}).get(dotted, _flag(dotted))
        from_the_file.discard(key)

    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        errors: list[QxError] = []
        for key, message, hint in _problems(error):
            label = next((origin[key[:n]] for n in range(len(key), 0, -1) if key[:n] in origin), "default")
            errors.append(QxConfigError(message, source=Source(label, ""), hint=hint))
        raise_all(errors)
        raise  # unreachable: raise_all raised

    def absolute(path: Path, key: tuple[str, ...]) -> Path:
        """A relative path from the file is relative to the file's directory, else to the working directory."""
        path = path.expanduser()
        if path.is_absolute():
            return path
        from_file = file is not None and key in from_the_file
        return (file.path.parent if file is not None and from_file else Path.cwd()) / path

    if config.store is not None:
        config = config.model_copy(update={"store": absolute(config.store, ("store",))})
    tls = {
        name: absolute(path, ("cluster", name))
        for name in ("tls_ca_file", "tls_client_cert", "tls_client_key")
        if (path := getattr(config.cluster, name)) is not None
    }
    if tls:
        config = config.model_copy(update={"cluster": config.cluster.model_copy(update=tls)})

    sources = {".".join(key): origin.get(key, "default") for key in _leaves(config.model_dump())}
    return Resolved(config=config, sources=sources, file=file)


# ---- `qpurun config`


def _values(resolved: Resolved) -> list[tuple[str, Any]]:
    dumped = resolved.config.model_dump(mode="json")
    values: list[tuple[str, Any]] = []
    for key in _leaves(dumped):
        value: Any = dumped
        for part in key:
            value = value[part]
        if key == ("emulator", "noise") and value:
            continue  # its entries follow, one per line
        if key[-1] in SECRET_KEYS and isinstance(value, str):
            value = mask_url(value)
        values.append((".".join(key), value))
    return values


def _text(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == {}:
        return "{}"
    return str(value)


def describe(resolved: Resolved) -> str:
    """`qpurun config`: the file in force, then each value with its source; secrets masked."""
    head = (
        f"# configuration: {resolved.file.label(None)}"
        if resolved.file is not None
        else f"# no {CONFIG_FILE} or {PYPROJECT_FILE} [tool.qpurun] found: flags, environment and defaults"
    )
    lines = [head]
    for key, value in _values(resolved):
        lines.append(f"{key} = {_text(value)}  ({resolved.sources.get(key, 'default')})")
    return "\n".join(lines)


def describe_json(resolved: Resolved) -> dict[str, Any]:
    """`qpurun config --json`: {"file": path or null, "settings": {key: {"value", "source"}}}; secrets masked."""
    return {
        "file": str(resolved.path) if resolved.path is not None else None,
        "settings": {
            key: {"value": value, "source": resolved.sources.get(key, "default")} for key, value in _values(resolved)
        },
    }
