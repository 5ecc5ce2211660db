"""One job on a local emulator: build the sequence with the job's values, run it, Pulser's `Results`.

Three targets, each a function `run_job*(sequence, variables, runs, noise, settings)`
(`EMULATORS` names them for the worker):

- `qutip`: pulser-simulation's `QutipBackendV2` (`run_job`, the default);
- `emu-sv`: emu-sv's `SVBackend`, a state vector (`run_job_emu_sv`);
- `emu-mps`: emu-mps's `MPSBackend`, a matrix product state (`run_job_emu_mps`).

emu-sv and emu-mps come with the `emu` extra (`available(name)` says whether a
target's packages import, and how to install them); they and torch are imported
only inside their functions, so qpurun works, and starts fast, without them.
(Where torch is installed, `import pulser` imports it anyway, for about 2.4 s.)

Every target samples `runs` bitstrings at the end of the sequence with Pulser's
`BitStrings` (the measurement basis's eigenstate read as 1: `ONE_STATE`), under the
noise block's `NoiseModel`, and returns Pulser `Results`: `to_abstract_repr()` and
`final_bitstrings` work the same for the three. The bitstrings read the same way
too: one character per atom, in the register's order (the first atom leftmost),
1 for the Rydberg state; emu-mps undoes its own qubit reordering.

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

emu-sv and emu-mps (2.10) take the same `n_trajectories` and `BitStrings.num_shots`
and multiply them the same way, with two differences `plan_shots(..., target=)`
accounts for:

- they run *every* trajectory they are given, noisy or not (QuTiP solves once when
  the noise is not stochastic): qpurun gives them T = 1 then, so `runs` shots again;
- emu-mps has no master equation: it treats the dissipative rates (`dephasing_rate`,
  `relaxation_rate`, `depolarizing_rate`, `eff_noise`, leakage) by quantum jumps, one
  jump history per trajectory, so for emu-mps those rates are stochastic noise and
  take trajectories × shots like the others (emu-sv, like QuTiP, solves them exactly
  with a density matrix when nothing else is stochastic).

Each emu trajectory is a full solve (repeated trajectories are not merged), so a
noisy emu job costs about T times a noiseless one.

Every other key of the noise block is a `pulser.NoiseModel` argument.

What emu-sv and emu-mps 2.10 support
------------------------------------

Sequences: the ground-rydberg basis (Rydberg channels, global or local, detuning
maps, SLM masks); emu-mps also the XY basis (`mw_global`). The digital basis
(Raman channels) is refused by both (`ValueError: Only ground-rydberg and
mw_global(XY) channels are supported`), XY by emu-sv (`AssertionError: Only Rydberg
interaction is currently supported`). emu-mps needs at least 2 atoms, and searches a
qubit ordering for every trajectory (`optimize_qubit_ordering`, its default, kept):
3 to 6 s of CPU whatever the number of atoms, often most of a small job's time.

Noise (the `NoiseModel` is passed as it is; what an emulator refuses raises, and the
worker records it as the job's error): measurement errors (`p_false_pos`,
`p_false_neg`), `state_prep_error`, `amp_sigma`, `detuning_sigma`, `temperature`
(Doppler), register noise (`trap_waist`, `trap_depth`), `dephasing_rate`,
`relaxation_rate`, `depolarizing_rate`, `eff_noise` (2×2 operators) — all run on both.
`hyperfine_dephasing_rate` is refused by both (`NotImplementedError`: digital basis
only); leakage (`with_leakage`, 3×3 `eff_noise`) runs on emu-mps and is refused by
emu-sv (`AssertionError: Only single-qubit lindblad operators are supported`).

Settings (`settings`: `dt`, `max_bond_dim`, `gpu`; a missing key or None: the default)
---------------------------------------------------------------------------------------

- `dt` (ns): the time step of emu-sv and emu-mps (`SVConfig.dt` / `MPSConfig.dt`,
  default 10 ns). QuTiP has no time step (its `sampling_rate` is a fraction of the
  pulse samples, not a step): `dt` is ignored by `qutip`.
- `max_bond_dim`: `MPSConfig.max_bond_dim` (emu-mps's default 1024); ignored by the others.
- `gpu`: `SVConfig.gpu` / `MPSConfig.gpu` (default False: the CPU, even where a GPU is
  present; True without a GPU: emu-sv silently, emu-mps with a logged warning, stay on
  the CPU). Ignored by `qutip`.

emu-sv and emu-mps log at WARNING level, to stderr (their default is every time
step, to stdout, where `qpurun run --json` writes). Where the environment holds
OpenMP to one thread (`OMP_NUM_THREADS=1`, as in qpurun's worker processes), torch is
held to one thread too, so N workers use N cores.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import sys
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

# The local emulator targets: name -> the `module:function` a worker runs each job with.
EMULATORS: dict[str, str] = {
    "qutip": "qpurun.run.emulator:run_job",
    "emu-sv": "qpurun.run.emulator:run_job_emu_sv",
    "emu-mps": "qpurun.run.emulator:run_job_emu_mps",
}

# The extra (`pip install 'qpurun[NAME]'`) that brings a target's packages.
EXTRA_FOR: dict[str, str] = {"emu-sv": "emu", "emu-mps": "emu"}

# What each target imports, in order (torch first: the emulators import it).
_MODULES: dict[str, tuple[str, ...]] = {
    "qutip": ("pulser_simulation",),
    "emu-sv": ("torch", "emu_sv"),
    "emu-mps": ("torch", "emu_mps"),
}

INSTALL_EMU = "pip install torch==2.13.0 'qpurun[emu]'"

# The noise types emu-mps can only treat by quantum jumps, one jump history per trajectory.
_JUMP_NOISE = frozenset({"dephasing", "relaxation", "depolarizing", "eff_noise", "leakage"})


@dataclass(frozen=True)
class ShotPlan:
    """How a job's `runs` become trajectories × shots per trajectory."""

    trajectories: int
    shots_per_trajectory: int
    stochastic: bool

    @property
    def total(self) -> int:
        return self.trajectories * self.shots_per_trajectory


def available(name: str) -> str | None:
    """None when the packages of emulator target `name` import; else why not, in one line, with the fix."""
    if name not in EMULATORS:
        return f"unknown emulator {name!r} (known: {', '.join(EMULATORS)})"
    for module in _MODULES[name]:
        try:
            importlib.import_module(module)
        except Exception as error:  # ImportError, or e.g. OSError from a torch without its libraries
            lines = str(error).strip().splitlines()
            why = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
            if name in EXTRA_FOR:
                return (
                    f"the {name} emulator needs {module} (qpurun's {EXTRA_FOR[name]!r} extra), which does not "
                    f"import ({why}); install it with: {INSTALL_EMU} (torch first and pinned: the CPU build; "
                    "a bare torch requirement pulls a multi-GB CUDA build)"
                )
            return (
                f"the {name} emulator needs {module}, which does not import ({why}); "
                "it is one of qpurun's own dependencies: reinstall qpurun"
            )
    return None


def noise_model(noise: Mapping[str, Any]) -> Any:
    """The `pulser.NoiseModel` of a noise block (None when the block is empty)."""
    arguments = {k: v for k, v in noise.items() if k not in SHOT_KEYS}
    if not arguments:
        return None
    from pulser import NoiseModel

    return NoiseModel(**arguments)


def plan_shots(runs: int, noise: Mapping[str, Any], model: Any = None, *, target: str = "qutip") -> ShotPlan:
    """Trajectories and shots per trajectory for a job of `runs` shots on `target` (see the module docstring)."""
    if model is None:
        model = noise_model(noise)
    stochastic = False
    if model is not None:
        from pulser_simulation.simulation import _has_stochastic_noise

        stochastic = bool(_has_stochastic_noise(model))
        if target == "emu-mps" and _JUMP_NOISE.intersection(model.noise_types):
            stochastic = True
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


def _options(runs: int, noise: Mapping[str, Any], one_state: Any, *, target: str = "qutip") -> dict[str, Any]:
    """The `EmulationConfig` arguments every target shares: the bitstrings, the noise, the trajectories."""
    from pulser.backend import BitStrings

    model = noise_model(noise)
    plan = plan_shots(runs, noise, model, target=target)
    options: dict[str, Any] = {"observables": [BitStrings(num_shots=plan.shots_per_trajectory, one_state=one_state)]}
    if model is not None:
        options["noise_model"] = model
        options["n_trajectories"] = plan.trajectories
    return options


def config(runs: int, noise: Mapping[str, Any], basis: str | None = None) -> Any:
    """The `QutipConfig` of one job: bitstrings at the end in `basis`, the noise block's NoiseModel."""
    from pulser_simulation import QutipConfig

    return QutipConfig(**_options(runs, noise, ONE_STATE.get(basis or "")))


def _build(sequence: Any, variables: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The sequence built with the job's values, and its measurement basis."""
    with warnings.catch_warnings():
        # Rounding and similar warnings were reported when the spec was compiled.
        warnings.simplefilter("ignore")
        built = sequence.build(**variables) if sequence.is_parametrized() else sequence
    basis = built.get_measurement_basis() if built.is_measured() else None
    return built, basis


def run_job(
    sequence: Any,
    variables: Mapping[str, Any],
    runs: int,
    noise: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Build `sequence` with `variables` and emulate it with QutipBackendV2; Pulser's `Results`.

    This is the default emulator of `LocalConnection`; another one is any
    importable function with this signature (`emulator="package.module:function"`).
    `settings` is accepted for the common signature and ignored: QuTiP has no
    time step (`dt`), no bond dimension, no GPU.
    """
    from pulser_simulation import QutipBackendV2

    built, basis = _build(sequence, variables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what Pulser says of the built sequence was said at compile time
        return QutipBackendV2(built, config=config(runs, noise, basis)).run()


def _emu_settings(settings: Mapping[str, Any] | None, *, bond_dimension: bool) -> dict[str, Any]:
    """SVConfig / MPSConfig arguments from qpurun's settings (`dt`, `gpu`; for MPS `max_bond_dim`,
    `optimize_qubit_ordering`)."""
    settings = settings or {}
    options: dict[str, Any] = {"gpu": bool(settings.get("gpu") or False), "log_level": logging.WARNING}
    dt = settings.get("dt")
    if dt is not None:
        if isinstance(dt, bool) or not isinstance(dt, int | float) or dt <= 0:
            raise ValueError(f"settings: dt must be a positive number of ns, not {dt!r}")
        options["dt"] = dt
    max_bond_dim = settings.get("max_bond_dim")
    if bond_dimension and max_bond_dim is not None:
        if isinstance(max_bond_dim, bool) or not isinstance(max_bond_dim, int) or max_bond_dim < 1:
            raise ValueError(f"settings: max_bond_dim must be a whole number of at least 1, not {max_bond_dim!r}")
        options["max_bond_dim"] = max_bond_dim
    ordering = settings.get("optimize_qubit_ordering")
    if bond_dimension and ordering is not None:
        options["optimize_qubit_ordering"] = bool(ordering)  # its search costs seconds a trajectory
    return options


def _prepare_torch() -> None:
    """One torch thread where OpenMP is held to one (qpurun's workers): N workers, N cores."""
    import torch

    if os.environ.get("OMP_NUM_THREADS") == "1" and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _emulator_logs_to_stderr() -> None:
    """emu-sv and emu-mps log to stdout (their `emulators` logger); stdout is for qpurun's output."""
    for handler in logging.getLogger("emulators").handlers:
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stdout, sys.__stdout__):
            handler.setStream(sys.stderr)


def run_job_emu_sv(
    sequence: Any,
    variables: Mapping[str, Any],
    runs: int,
    noise: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Build `sequence` with `variables` and emulate it with emu-sv's `SVBackend`; Pulser's `Results`.

    Settings: `dt` (ns) and `gpu`; `max_bond_dim` does not apply. Noise and supported
    sequences: see the module docstring.
    """
    _prepare_torch()
    from emu_sv import SVBackend, SVConfig

    built, basis = _build(sequence, variables)
    options = _options(runs, noise, ONE_STATE.get(basis or ""), target="emu-sv")
    backend = SVBackend(built, config=SVConfig(**options, **_emu_settings(settings, bond_dimension=False)))
    _emulator_logs_to_stderr()
    return backend.run()


def run_job_emu_mps(
    sequence: Any,
    variables: Mapping[str, Any],
    runs: int,
    noise: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Build `sequence` with `variables` and emulate it with emu-mps's `MPSBackend`; Pulser's `Results`.

    Settings: `dt` (ns), `max_bond_dim` and `gpu`. Noise and supported sequences: see
    the module docstring. emu-mps's qubit ordering search (`optimize_qubit_ordering`, on by
    default) costs seconds per trajectory whatever the size; `optimize_qubit_ordering = false`
    under `[emulator]` turns it off (a chain already in order loses nothing).
    """
    _prepare_torch()
    from emu_mps import MPSBackend, MPSConfig

    built, basis = _build(sequence, variables)
    atoms = len(built.register.qubit_ids)
    if atoms < 2:
        raise ValueError(f"emu-mps needs at least 2 atoms, this sequence has {atoms}: use emu-sv or qutip")
    # emu-mps's sampler reads its second basis state as 1 and accepts only "r", "1" or None as its name:
    # in the XY basis that state is the one qutip's one_state="d" reads as 1, so None reads the same.
    one_state = None if basis == "XY" else ONE_STATE.get(basis or "")
    options = _options(runs, noise, one_state, target="emu-mps")
    backend = MPSBackend(built, config=MPSConfig(**options, **_emu_settings(settings, bond_dimension=True)))
    _emulator_logs_to_stderr()
    return backend.run()
