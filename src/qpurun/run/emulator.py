"""One job on pulser-simulation: build the sequence with the job's values, run `QutipBackendV2`.

How shots and noise trajectories combine
----------------------------------------

A job asks for `runs` shots, as it would on the QPU. Without stochastic noise
(no noise block, or only measurement errors `p_false_pos` / `p_false_neg`, or
only dissipative rates solved with the master equation) the emulator solves
once and samples `runs` bitstrings from the final state: exactly `runs` shots.

With stochastic noise (`state_prep_error`, `amp_sigma`, `detuning_sigma`,
`temperature`, ...) Pulser solves `n_trajectories` noisy Hamiltonians and
samples `BitStrings.num_shots` from each, then unions the samples: Pulser
*multiplies* the two. qpurun chooses them so that the product is the job's
`runs`:

- the noise block's `runs` is the number of trajectories T (Pulser's
  `EmulationConfig.n_trajectories`; `NoiseModel.runs` is deprecated);
  its `samples_per_run` is the number of shots per trajectory S;
- given T only, S = ceil(runs / T); given S only, T = ceil(runs / S);
  given neither, T = min(runs, 40) (Pulser's default of 40) and S = ceil(runs / T);
- the job then holds T × S bitstrings: exactly `runs` when T divides it,
  a few more otherwise (`plan_shots` says so, and the CLI warns).

Every other key of the noise block is a `pulser.NoiseModel` argument.
"""

from __future__ import annotations

import math
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_TRAJECTORIES = 40

# Keys of the noise block that are not NoiseModel arguments.
SHOT_KEYS = ("runs", "samples_per_run")

# The eigenstate read as 1 in each measurement basis (Pulser's convention). Said explicitly, because
# a sequence that uses both the Rydberg and the Raman channels has three levels (r, g, h) and Pulser
# cannot infer which one the measurement reads as 1.
ONE_STATE: dict[str, Any] = {"ground-rydberg": "r", "digital": "h", "XY": "d"}


@dataclass(frozen=True)
class ShotPlan:
    """How a job's `runs` become trajectories × shots per trajectory."""

    trajectories: int
    shots_per_trajectory: int
    stochastic: bool

    @property
    def total(self) -> int:
        return self.trajectories * self.shots_per_trajectory


def noise_model(noise: Mapping[str, Any]) -> Any:
    """The `pulser.NoiseModel` of a noise block (None when the block is empty)."""
    arguments = {k: v for k, v in noise.items() if k not in SHOT_KEYS}
    if not arguments:
        return None
    from pulser import NoiseModel

    return NoiseModel(**arguments)


def plan_shots(runs: int, noise: Mapping[str, Any], model: Any = None) -> ShotPlan:
    """Trajectories and shots per trajectory for a job of `runs` shots (see the module docstring)."""
    if model is None:
        model = noise_model(noise)
    stochastic = False
    if model is not None:
        from pulser_simulation.simulation import _has_stochastic_noise

        stochastic = bool(_has_stochastic_noise(model))
    if not stochastic:
        return ShotPlan(1, runs, False)
    trajectories = noise.get("runs")
    per_trajectory = noise.get("samples_per_run")
    if trajectories is None and per_trajectory is None:
        trajectories = min(runs, DEFAULT_TRAJECTORIES)
    if trajectories is None:
        trajectories = math.ceil(runs / int(typing.cast(int, per_trajectory)))
    if per_trajectory is None:
        per_trajectory = math.ceil(runs / int(trajectories))
    return ShotPlan(int(trajectories), int(per_trajectory), True)


def config(runs: int, noise: Mapping[str, Any], basis: str | None = None) -> Any:
    """The `QutipConfig` of one job: bitstrings at the end in `basis`, the noise block's NoiseModel."""
    from pulser.backend import BitStrings
    from pulser_simulation import QutipConfig

    model = noise_model(noise)
    plan = plan_shots(runs, noise, model)
    bitstrings = BitStrings(num_shots=plan.shots_per_trajectory, one_state=ONE_STATE.get(basis or ""))
    options: dict[str, Any] = {"observables": [bitstrings]}
    if model is not None:
        options["noise_model"] = model
        options["n_trajectories"] = plan.trajectories
    return QutipConfig(**options)


def run_job(sequence: Any, variables: Mapping[str, Any], runs: int, noise: Mapping[str, Any]) -> Any:
    """Build `sequence` with `variables` and emulate it; Pulser's `Results`.

    This is the default emulator of `LocalConnection`; another one is any
    importable function with this signature (`emulator="package.module:function"`).
    """
    from pulser_simulation import QutipBackendV2

    with warnings.catch_warnings():
        # Rounding and similar warnings were reported when the spec was compiled.
        warnings.simplefilter("ignore")
        built = sequence.build(**variables) if sequence.is_parametrized() else sequence
        basis = built.get_measurement_basis() if built.is_measured() else None
        backend = QutipBackendV2(built, config=config(runs, noise, basis))
        return backend.run()
