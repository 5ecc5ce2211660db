"""Every spec with a reference script compiles to what that script builds by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qpurun
from conftest import REFERENCES, SPECS, assert_close, load_reference

WITH_REFERENCE = [p for p in SPECS if (REFERENCES / f"{p.stem}.py").exists()]


def test_every_shared_example_has_a_reference() -> None:
    assert {p.stem for p in WITH_REFERENCE} >= {"rabi", "afm_ramp", "local_gates"}


@pytest.mark.parametrize("path", WITH_REFERENCE, ids=[p.stem for p in WITH_REFERENCE])
def test_compiles_to_the_reference(path: Path) -> None:
    reference_sequence, reference_jobs = load_reference(path.stem).build()
    experiment = qpurun.load(path)

    assert len(experiment.job_params) == len(reference_jobs)
    for ours, theirs in zip(experiment.job_params, reference_jobs, strict=True):
        assert ours["runs"] == theirs["runs"]
        assert_close(ours.get("variables", {}), theirs.get("variables", {}))
        built = experiment.sequence.build(**ours.get("variables", {}))
        expected = reference_sequence.build(**theirs.get("variables", {}))
        assert_close(json.loads(built.to_abstract_repr()), json.loads(expected.to_abstract_repr()))


def test_every_spec_compiles(spec_path: Path) -> None:
    experiment = qpurun.load(spec_path)
    assert experiment.jobs
    assert experiment.name


def test_compiling_twice_is_byte_identical(spec_path: Path) -> None:
    first = qpurun.load(spec_path).sequence_json()
    second = qpurun.load(spec_path).sequence_json()
    assert first == second


def test_variable_types_follow_declarations() -> None:
    rabi = qpurun.load(Path(__file__).parent.parent / "specs" / "rabi.qx")
    assert all(type(p["variables"]["t"]) is int for p in rabi.job_params)
    assert [p["variables"]["t"] for p in rabi.job_params] == list(range(100, 2001, 100))
