"""The import corpus: sequences of Pulser's tutorials and tests, imported and compiled back.

`tests/import_corpus/` holds each sequence's abstract representation, written
by `generate.py` there, and `manifest.json`, which says where it came from and
what `qpurun import` must do with it. A round trip imports the JSON, compiles
the spec and compares the result with the JSON, floats within 1e-9 (as
`test_import.py` does). A parametrized sequence is compared parametrized; when
its JSON holds default values, they are the imported job's, and the compiled
sequence is serialized with them.

Two respellings leave a sequence unchanged but not its JSON, and a case lists
those it needs in `rewrites`; the expected JSON is rewritten the same way:

- `setup_first`: a `config_slm_mask` or `config_detuning_map` Pulser made after
  other operations is a setup statement in `.qx`, which runs before them;
- `all_targets`: a `phase_shift` without targets (every qubit, since Pulser
  1.4) is written with every qubit.

Either way the compiled sequence's samples must equal those of Pulser's own
reading of the JSON, so that a respelling never hides a difference. A refused
case must raise a `QxImportError` whose message holds the manifest's text.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pulser import Sequence
from pulser.sampler import sample

import qpurun
from conftest import assert_close
from qpurun.bridge.importer import QxImportError, import_text

CORPUS = Path(__file__).parent / "import_corpus"
MANIFEST: dict[str, dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
_SETUP = ("config_slm_mask", "config_detuning_map")


def test_every_sequence_is_in_the_manifest() -> None:
    files = {path.stem for path in CORPUS.glob("*.json") if path.name != "manifest.json"}
    assert files == set(MANIFEST), "each corpus JSON needs a manifest entry, and each entry its JSON"
    for name, entry in MANIFEST.items():
        assert entry["source"], name
        assert entry["expect"] == "roundtrip" or set(entry["expect"]) == {"refused"}, name
        assert set(entry.get("rewrites", ())) <= {"setup_first", "all_targets"}, name


def test_the_corpus_is_small() -> None:
    sizes = {path.name: path.stat().st_size for path in CORPUS.glob("*.json")}
    assert max(sizes.values()) < 50_000, max(sizes, key=sizes.__getitem__)


def rewritten(original: dict[str, Any], rewrites: list[str]) -> dict[str, Any]:
    """The JSON `.qx` spells for the same sequence (see the module docstring)."""
    expected: dict[str, Any] = json.loads(json.dumps(original))
    operations = expected["operations"]
    if "setup_first" in rewrites:
        # Up to the channels' initial targets (leading `target` ops), which are setup too.
        start = next((i for i, op in enumerate(operations) if op["op"] not in (*_SETUP, "target")), len(operations))
        late = [op for op in operations[start:] if op["op"] in _SETUP]
        operations[start:] = late + [op for op in operations[start:] if op["op"] not in _SETUP]
    if "all_targets" in rewrites:
        for op in operations:
            if op["op"] == "phase_shift" and op["targets"] == []:
                op["targets"] = list(range(len(expected["register"])))
    return expected


def samples(seq: Sequence[Any], variables: dict[str, Any]) -> dict[str, Any]:
    built = seq.build(**variables) if seq.is_parametrized() or seq.is_register_mappable() else seq
    return dict(sample(built).to_nested_dict()) if built.get_duration() else {}  # nothing plays


def assert_same_samples(actual: Any, expected: Any, path: str = "$") -> None:
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), f"{path}: {set(actual) ^ set(expected)}"
        for key in expected:
            assert_same_samples(actual[key], expected[key], f"{path}.{key}")
    else:
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-9, atol=1e-9, err_msg=path)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_corpus_sequence(name: str, tmp_path: Path) -> None:
    entry = MANIFEST[name]
    seq_json = (CORPUS / f"{name}.json").read_text(encoding="utf-8")
    jobs = entry.get("jobs")
    side_files: dict[str, str] = {}
    if entry["expect"] != "roundtrip":
        with pytest.raises(QxImportError) as raised:
            import_text(seq_json, jobs=jobs, side_files=side_files)
        assert entry["expect"]["refused"] in raised.value.message
        return

    text = import_text(seq_json, jobs=jobs, side_files=side_files)
    for file_name, content in side_files.items():
        (tmp_path / file_name).write_text(content, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pulser's notes (a duration rounded to the clock) are not the point
        experiment = qpurun.loads(text, filename=str(tmp_path / "imported.qx"), validate=False)
        original = json.loads(seq_json)
        if jobs is None and experiment.job_params[0].get("variables"):
            # The JSON's defaults became the job: serialize the compiled sequence with them.
            variables = dict(experiment.job_params[0]["variables"])
            compiled = json.loads(experiment.sequence.to_abstract_repr(**variables))
        else:
            variables = dict((jobs or [{}])[0].get("variables", {}))
            compiled = json.loads(experiment.sequence.to_abstract_repr())
            if jobs:
                assert [job["runs"] for job in experiment.job_params] == [job["runs"] for job in jobs]
                for ours, theirs in zip(experiment.job_params, jobs, strict=True):
                    assert_close(ours.get("variables", {}), theirs.get("variables", {}))
        rewrites = entry.get("rewrites", [])
        for rewrite in rewrites:
            assert rewritten(original, [rewrite]) != original, f"`{rewrite}` changes nothing here: drop it"
        assert_close(compiled, rewritten(original, rewrites))
        # Pulser's own reading of the JSON plays the same samples.
        theirs = Sequence.from_abstract_repr(seq_json)
        dmm = any(op["op"] in _SETUP for op in original["operations"])
        if not (dmm and theirs.is_register_mappable()):  # which Pulser cannot sample
            assert_same_samples(samples(experiment.sequence, variables), samples(theirs, variables))
    assert qpurun.language.printer.format_text(text) == text
