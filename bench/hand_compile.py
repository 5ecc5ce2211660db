"""The hand-written side of the end-to-end benchmark, as a command.

`python bench/hand_compile.py rabi` does by hand, with Pulser, what
`qpurun compile specs/rabi.qx` does: build the sequence (tests/reference/rabi.py),
validate it as `QPUBackend.run` would (validate_sequence with mimic_qpu,
validate_job_params), build every job, and print the sequence's abstract
representation.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from pulser.backend import QPUBackend

REFERENCES = Path(__file__).resolve().parent.parent / "tests" / "reference"


def load_reference(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"reference_{name}", REFERENCES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_by_hand(module: Any) -> str:
    sequence, job_params = module.build()
    QPUBackend.validate_sequence(sequence, mimic_qpu=True)
    QPUBackend.validate_job_params(job_params, sequence.device.max_runs)
    for job in job_params:
        sequence.build(**job.get("variables", {}))
    text: str = sequence.to_abstract_repr()
    return text


def main() -> None:
    print(compile_by_hand(load_reference(sys.argv[1])))


if __name__ == "__main__":
    main()
