"""An emulator that fails on purpose for some jobs: `LocalConnection(emulator="run.faulty:run_job")`."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from qpurun.run.emulator import run_job as emulate


def run_job(
    sequence: Any, variables: Mapping[str, Any], runs: int, noise: Mapping[str, Any], settings: Mapping[str, Any]
) -> Any:
    if variables.get("t") == 300:
        raise RuntimeError("the emulator broke on purpose (t = 300)")
    if variables.get("t") == 500:
        time.sleep(0.3)  # long enough for the runner to have sent this worker its next job
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-job
    return emulate(sequence, variables, runs, noise, settings)
