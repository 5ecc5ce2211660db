"""Shared fixtures: every spec in specs/ is a parameter of the tests that want one; one spec preamble."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.qx"))
REFERENCES = Path(__file__).resolve().parent / "reference"


# The preamble most small test specs start with, by keyword: one atom on a layout, one global Rydberg channel.
PREAMBLE = {
    "device": "AnalogDevice",
    "layout": "triangular(61, spacing = 5 um)",
    "register": "{ q0 = trap 0 }",
    "channel": "ryd = rydberg_global",
}


def with_preamble(body: str, **lines: str) -> str:
    """`body` after the shared preamble; a keyword replaces one of its lines, e.g. `register="{ q0 = trap 2 }"`."""
    unknown = lines.keys() - PREAMBLE.keys()
    assert not unknown, f"the preamble has no line {sorted(unknown)}, only {list(PREAMBLE)}"
    return "".join(f"{keyword} {value}\n" for keyword, value in {**PREAMBLE, **lines}.items()) + body


@pytest.fixture(params=SPECS, ids=[p.stem for p in SPECS])
def spec_path(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


def load_reference(name: str) -> ModuleType:
    """The hand-written Pulser script a spec must compile to."""
    spec = importlib.util.spec_from_file_location(f"reference_{name}", REFERENCES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_close(actual: Any, expected: Any, path: str = "$") -> None:
    """JSON-like equality, floats within 1e-9: how compiled output is compared with Pulser's."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        assert actual.keys() == expected.keys(), f"{path}: keys differ: {set(actual) ^ set(expected)}"
        for key in expected:
            assert_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple), f"{path}: {actual!r} is not a list"
        assert len(actual) == len(expected), f"{path}: {len(actual)} items, expected {len(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{index}]")
    elif isinstance(expected, bool) or not isinstance(expected, int | float):
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
    else:
        assert isinstance(actual, int | float) and not isinstance(actual, bool), f"{path}: {actual!r}"
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {actual!r} != {expected!r}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The Dask tests run last: a `distributed.Client` leaves its event-loop and offload threads in
    this process, and the validator rightly refuses to fork a threaded process, so the tests of its
    forked workers (tests/test_validate.py) would otherwise lose their subject."""
    items.sort(key=lambda item: "run/test_cluster" in item.nodeid)  # stable: the rest keep their order
