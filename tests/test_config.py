"""The project configuration: found upwards, layered, and every mistake located in the house format."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from qpurun.config import Config, describe, describe_json, find_config, mask_url, resolve
from qpurun.language.errors import QxConfigError, QxError, QxErrors

NOTIFY = "https://hooks.example.org/services/T000/B000/very-secret-path"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("QPURUN_BACKEND", raising=False)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(start: Path, **kwargs: object) -> QxError:
    with pytest.raises(QxError) as caught:
        resolve(start, **kwargs)  # type: ignore[arg-type]
    return caught.value


# ---- discovery


def test_no_file_gives_the_defaults(tmp_path: Path) -> None:
    resolved = resolve(tmp_path, overrides={})
    assert resolved.file is None
    assert resolved.config == Config()
    assert resolved.config.backend == "qutip"
    assert resolved.sources["backend"] == "default"
    assert resolved.settings_for_emulator() == {
        "dt": None,
        "max_bond_dim": None,
        "gpu": False,
        "optimize_qubit_ordering": True,
    }


def test_found_from_the_spec_directory_upwards(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", 'backend = "emu-mps"\n')
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    resolved = resolve(deep, overrides={})
    assert resolved.path == tmp_path / "qpurun.toml"
    assert resolved.config.backend == "emu-mps"
    assert resolved.sources["backend"] == "qpurun.toml:1"


def test_a_spec_file_as_start_means_its_directory(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", "workers = 2\n")
    spec = write(tmp_path / "specs" / "rabi.qx", "experiment x\n")
    assert resolve(spec).config.workers == 2


def test_pyproject_tool_qpurun(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "lab"

        [tool.qpurun]
        backend = "pasqal:FRESNEL"

        [tool.qpurun.pasqal]
        project_id = "p-123"
        """,
    )
    (tmp_path / "sub").mkdir()
    resolved = resolve(tmp_path / "sub")
    assert resolved.config.backend == "pasqal:FRESNEL"
    assert resolved.config.pasqal.project_id == "p-123"
    assert resolved.sources["backend"] == "pyproject.toml:5 [tool.qpurun]"
    assert resolved.sources["pasqal.project_id"] == "pyproject.toml:8 [tool.qpurun]"


def test_a_pyproject_without_the_table_does_not_count(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", "workers = 7\n")
    write(tmp_path / "pkg" / "pyproject.toml", '[project]\nname = "qpurun-plugin"\n[tool.ruff]\nline-length = 99\n')
    resolved = resolve(tmp_path / "pkg")
    assert resolved.path == tmp_path / "qpurun.toml"
    assert resolved.config.workers == 7


def test_the_nearest_wins(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", "workers = 1\n")
    write(tmp_path / "inner" / "pyproject.toml", "[tool.qpurun]\nworkers = 2\n")
    write(tmp_path / "inner" / "deeper" / "qpurun.toml", "workers = 3\n")
    assert resolve(tmp_path / "inner" / "deeper").config.workers == 3
    assert resolve(tmp_path / "inner").config.workers == 2
    assert resolve(tmp_path).config.workers == 1


def test_in_one_directory_qpurun_toml_wins(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.qpurun]\nworkers = 2\n")
    write(tmp_path / "qpurun.toml", "workers = 3\n")
    found = find_config(tmp_path)
    assert found is not None and found.path.name == "qpurun.toml"


# ---- layers and sources


def test_flags_over_file_over_environment_over_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path / "qpurun.toml",
        """
        # the lab's settings
        workers = 4
        store = "data/qpurun.db"

        [pasqal]
        project_id = "from-file"
        """,
    )
    monkeypatch.setenv("QPURUN_BACKEND", "emu-sv")
    resolved = resolve(tmp_path, overrides={"workers": 8, "pasqal.project_id": "from-flag", "notify": None})
    assert resolved.config.backend == "emu-sv"
    assert resolved.sources["backend"] == "env QPURUN_BACKEND"
    assert resolved.config.workers == 8
    assert resolved.sources["workers"] == "--workers"
    assert resolved.config.pasqal.project_id == "from-flag"
    assert resolved.sources["pasqal.project_id"] == "--project-id"
    assert resolved.config.store == tmp_path / "data" / "qpurun.db"
    assert resolved.sources["store"] == "qpurun.toml:3"
    assert resolved.sources["notify"] == "default"  # None: the flag was not given


def test_the_file_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "qpurun.toml", 'backend = "qutip"\n')
    monkeypatch.setenv("QPURUN_BACKEND", "emu-mps")
    resolved = resolve(tmp_path)
    assert resolved.config.backend == "qutip"
    assert resolved.sources["backend"] == "qpurun.toml:1"
    assert resolve(tmp_path, overrides={"backend": "local"}).sources["backend"] == "--backend"


def test_flag_names_can_be_given(tmp_path: Path) -> None:
    resolved = resolve(tmp_path, overrides={"pasqal.project_id": "x"}, flags={"pasqal.project_id": "--project"})
    assert resolved.sources["pasqal.project_id"] == "--project"


def test_relative_store_from_a_flag_is_against_the_working_directory(tmp_path: Path) -> None:
    write(tmp_path / "proj" / "qpurun.toml", 'store = "a.db"\n')
    resolved = resolve(tmp_path / "proj", overrides={"store": "b.db"})
    assert resolved.config.store == tmp_path / "b.db"


def test_unknown_override_key_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no configuration key"):
        resolve(tmp_path, overrides={"wrokers": 3})


def test_emulator_settings_and_noise(tmp_path: Path) -> None:
    write(
        tmp_path / "qpurun.toml",
        """
        [emulator]
        dt = 10
        max_bond_dim = 64
        gpu = true

        [emulator.noise]
        p_false_pos = 0.01
        runs = 10
        amplitude = true
        """,
    )
    resolved = resolve(tmp_path)
    assert resolved.settings_for_emulator() == {
        "dt": 10,
        "max_bond_dim": 64,
        "gpu": True,
        "optimize_qubit_ordering": True,
    }
    assert resolved.config.emulator.noise == {"p_false_pos": 0.01, "runs": 10, "amplitude": True}
    assert resolved.sources["emulator.noise.runs"] == "qpurun.toml:8"


def test_every_backend_shape(tmp_path: Path) -> None:
    for name in ("qutip", "local", "emu-sv", "emu-mps", "pasqal:FRESNEL", "pasqal:EMU_MPS", "pasqal:EMU_FREE"):
        assert resolve(tmp_path, overrides={"backend": name}).config.backend == name


# ---- mistakes, located


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("# c\n\n\nworkers = 0\n", 4, 1, "`workers` must be a whole number of at least 1, not 0"),
        ('workers = "4"\n', 1, 1, '`workers` must be a whole number of at least 1, not "4"'),
        ("workers = 2.5\n", 1, 1, "`workers` must be a whole number of at least 1, not 2.5"),
        ('\nbackend = "qpu"\n', 2, 1, "`backend` must be a target: qutip, local, emu-sv, emu-mps or pasqal:<DEVICE>"),
        ('backend = "pasqal:"\n', 1, 1, "`backend` must be a target"),
        ("store = 3\n", 1, 1, "`store` must be a path to the store's SQLite file (a string), not 3"),
        ('[pasqal]\nproject_id = "p"\n  region = "us"\n', 3, 3, '`pasqal.region` must be "fr" or "sa", not "us"'),
        ("[pasqal]\npoll_interval = 0\n", 2, 1, "`pasqal.poll_interval` must be a number of seconds greater than 0"),
        ('[pasqal]\ntoken_provider = "nocolon"\n', 2, 1, '`pasqal.token_provider` must be "module:callable"'),
        ('[pasqal]\ncore_url = "apis.example"\n', 2, 1, "`pasqal.core_url` must be an http:// or https:// URL"),
        ("[emulator]\ngpu = 1\n", 2, 1, "`emulator.gpu` must be true or false, not 1"),
        ("[emulator]\ndt = 0\n", 2, 1, "`emulator.dt` must be a whole number of nanoseconds, at least 1, not 0"),
        ("[emulator]\nmax_bond_dim = -1\n", 2, 1, "`emulator.max_bond_dim` must be a whole number of at least 1"),
        ('[emulator.noise]\np = "high"\n', 2, 1, '`emulator.noise.p` must be a number or true/false, not "high"'),
        ('[emulator]\nnoise = { p = "high" }\n', 2, 1, "`emulator.noise.p` must be a number or true/false"),
        ("pasqal = 3\n", 1, 1, "`pasqal` must be a table (`[pasqal]`), not 3"),
        ('pasqal.region = "xx"\n', 1, 1, '`pasqal.region` must be "fr" or "sa", not "xx"'),
    ],
)
def test_a_bad_value_names_file_line_key_and_what_was_expected(
    tmp_path: Path, text: str, line: int, column: int, message: str
) -> None:
    (tmp_path / "qpurun.toml").write_text(text, encoding="utf-8")
    error = error_of(tmp_path)
    assert isinstance(error, QxConfigError)
    assert (error.line, error.column) == (line, column)
    assert message in error.message
    report = str(error)
    head, source_line, caret, hint = report.splitlines()
    assert head.startswith(f"qpurun.toml:{line}:{column}: config error: ")
    assert source_line == f"{line:>4} | " + text.splitlines()[line - 1]
    assert caret.startswith(" " * (len(f"{line:>4} | ") + column - 1) + "^")
    assert hint.startswith("  hint: ")


def test_the_exact_house_format(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", '# lab\nbackend = "qutip"\n\nworkers = 0\n')
    assert str(error_of(tmp_path)) == (
        "qpurun.toml:4:1: config error: `workers` must be a whole number of at least 1, not 0\n"
        "   4 | workers = 0\n"
        "       ^^^^^^^^^^^\n"
        "  hint: leave `workers` out to use one worker per core"
    )


def test_errors_in_pyproject_point_into_tool_qpurun(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\nworkers = 0\n\n[tool.qpurun]\nbackend = "emu-sv"\nworkers = 0\n',
    )
    error = error_of(tmp_path)
    assert (error.line, error.column) == (7, 1)  # not the [project] table's line 3
    assert str(error).startswith("pyproject.toml:7:1: config error: `workers`")


def test_a_misspelt_key(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", 'backend = "qutip"\nwokers = 4\n')
    error = error_of(tmp_path)
    assert (error.line, error.column) == (2, 1)
    assert error.message == "unknown key `wokers`"
    assert error.hint is not None and "did you mean `workers`?" in error.hint


def test_a_misspelt_key_in_a_table(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", '[pasqal]\nregion = "fr"\n\n[emulator]\nmax_bond = 3\n')
    error = error_of(tmp_path)
    assert (error.line, error.column) == (5, 1)
    assert error.message == "unknown key `emulator.max_bond`"
    assert error.hint is not None and "`max_bond_dim`" in error.hint


def test_several_mistakes_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", "workers = 0\nfoo = 1\n[emulator]\ndt = 0\n")
    error = error_of(tmp_path)
    assert isinstance(error, QxErrors)
    assert [(e.line, e.column) for e in error.errors] == [(1, 1), (2, 1), (4, 1)]


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("workers = \n", 1, 11),
        ('backend = "qutip"\n[pasqal\nregion = "fr"\n', 2, 8),
        ('backend = "qutip\n', 1, 17),  # an unterminated string: tomllib points at its end
        ("workers = 1\nworkers = 2\n", 2, 12),
    ],
)
def test_a_toml_syntax_error_is_located_where_tomllib_says(tmp_path: Path, text: str, line: int, column: int) -> None:
    (tmp_path / "qpurun.toml").write_text(text, encoding="utf-8")
    error = error_of(tmp_path)
    assert (error.line, error.column) == (line, column)
    assert error.message.startswith("not valid TOML: ")
    assert "(at line" not in error.message
    assert str(error).startswith(f"qpurun.toml:{line}:{column}: config error: not valid TOML")


def test_a_password_in_the_project_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", '[pasqal]\nusername = "ada@lab.org"\npassword = "hunter2-secret"\n')
    error = error_of(tmp_path)
    assert (error.line, error.column) == (3, 1)
    assert "`pasqal.password` does not belong in a project file" in error.message
    assert error.hint is not None and "PASQAL_PASSWORD" in error.hint and "credentials" in error.hint
    assert "hunter2-secret" not in str(error)  # not even in the quoted source line


def test_a_bad_notify_url_is_not_printed(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", 'notify = "hooks.example.org/services/T000/secret"\n')
    error = error_of(tmp_path)
    assert error.message.startswith("`notify` must be")
    assert "services/T000/secret" not in str(error)


def test_a_bad_environment_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPURUN_BACKEND", "cloud")
    error = error_of(tmp_path)
    assert str(error).startswith("env QPURUN_BACKEND: config error: `backend` must be a target")
    assert error.hint


def test_a_bad_flag_value_names_the_flag(tmp_path: Path) -> None:
    error = error_of(tmp_path, overrides={"workers": 0})
    assert str(error).startswith("--workers: config error: `workers` must be a whole number of at least 1, not 0")


def test_an_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "qpurun.toml").write_bytes(b"backend = \xff\n")
    error = error_of(tmp_path)
    assert isinstance(error, QxConfigError)
    assert "not UTF-8" in error.message


# ---- qpurun config


def test_describe_masks_the_notify_url(tmp_path: Path) -> None:
    write(tmp_path / "qpurun.toml", f'backend = "emu-sv"\nworkers = 3\nnotify = "{NOTIFY}"\n')
    resolved = resolve(tmp_path, overrides={"workers": 5})
    assert resolved.config.notify == NOTIFY  # the real value, for notify()
    text = describe(resolved)
    assert "very-secret-path" not in text
    assert "notify = https://hooks.example.org/…  (qpurun.toml:3)" in text.splitlines()
    assert "backend = emu-sv  (qpurun.toml:1)" in text.splitlines()
    assert "workers = 5  (--workers)" in text.splitlines()
    assert "pasqal.region = fr  (default)" in text.splitlines()
    data = describe_json(resolved)
    assert "very-secret-path" not in repr(data)
    assert data["settings"]["notify"] == {"value": "https://hooks.example.org/…", "source": "qpurun.toml:3"}
    assert data["settings"]["workers"] == {"value": 5, "source": "--workers"}
    assert data["file"] == str(tmp_path / "qpurun.toml")


def test_describe_without_a_file(tmp_path: Path) -> None:
    text = describe(resolve(tmp_path))
    assert text.splitlines()[0].startswith("# no qpurun.toml")
    assert "notify = (not set)  (default)" in text.splitlines()


def test_mask_url() -> None:
    assert mask_url(NOTIFY) == "https://hooks.example.org/…"
    assert mask_url("http://user:pw@127.0.0.1:8080/x?y=1") == "http://127.0.0.1:8080/…"
    assert mask_url("not a url") == "***"
