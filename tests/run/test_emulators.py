"""The local emulator targets: qutip, emu-sv and emu-mps sample the same physics, read the same way.

Each comparison is within shot noise: for a qubit's excited population (or a bitstring's
probability) p_a, p_b from n_a, n_b shots, |p_a - p_b| <= 5 sqrt(p (1 - p) (1/n_a + 1/n_b)) + 0.02,
p pooled; the floor covers the emulators' time discretisations (emu's dt = 10 ns).
emu-mps pays a qubit-ordering search of seconds per job whatever the size, so it runs few jobs here.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pulser import Pulse, Register, Sequence
from pulser.devices import MockDevice
from pulser.waveforms import ConstantWaveform

import qpurun
from qpurun.run import emulator
from qpurun.run.emulator import EMULATORS, EXTRA_FOR, available, plan_shots, run_job, run_job_emu_mps, run_job_emu_sv

ROOT = Path(__file__).resolve().parents[2]
RABI = ROOT / "specs" / "rabi.qx"
AFM = ROOT / "specs" / "afm_ramp.qx"

RUN: dict[str, Callable[..., Any]] = {"qutip": run_job, "emu-sv": run_job_emu_sv, "emu-mps": run_job_emu_mps}
EMU = ["emu-sv", "emu-mps"]


def populations(counts: Mapping[str, int]) -> tuple[np.ndarray, int]:
    """Each qubit's excited population (the bitstring's characters, in order), and the shots."""
    shots = sum(counts.values())
    width = len(next(iter(counts)))
    ones = np.zeros(width)
    for bits, count in counts.items():
        ones += count * np.array([bit == "1" for bit in bits])
    return ones / shots, shots


def assert_close(p_a: float, n_a: int, p_b: float, n_b: int, what: str) -> None:
    p = (p_a * n_a + p_b * n_b) / (n_a + n_b)
    bound = 5 * math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b)) + 0.02
    assert abs(p_a - p_b) <= bound, f"{what}: {p_a:.3f} ({n_a} shots) vs {p_b:.3f} ({n_b} shots), bound {bound:.3f}"


def assert_agree(a: Mapping[str, int], b: Mapping[str, int], what: str, *, bitstrings: bool = False) -> None:
    (pa, na), (pb, nb) = populations(a), populations(b)
    assert pa.shape == pb.shape, f"{what}: {len(pa)} vs {len(pb)} qubits"
    for qubit, (x, y) in enumerate(zip(pa, pb, strict=True)):
        assert_close(float(x), na, float(y), nb, f"{what}, qubit {qubit}")
    if bitstrings:
        for bits in set(a) | set(b):
            assert_close(a.get(bits, 0) / na, na, b.get(bits, 0) / nb, nb, f"{what}, bitstring {bits}")


def run(
    target: str, sequence: Any, variables: Mapping[str, Any], runs: int, noise: Mapping[str, Any] | None = None
) -> Any:
    return RUN[target](sequence, variables, runs, noise or {}, {})


# ---- the table


def test_every_target_is_a_function_with_the_common_signature() -> None:
    assert set(EMULATORS) == {"qutip", "emu-sv", "emu-mps"}
    assert set(EXTRA_FOR) == set(EMU) and set(EXTRA_FOR.values()) == {"emu"}
    for name, path in EMULATORS.items():
        module, _, function = path.partition(":")
        resolved = getattr(importlib.import_module(module), function)
        assert resolved is RUN[name]
        parameters = list(inspect.signature(resolved).parameters.values())
        assert [p.name for p in parameters] == ["sequence", "variables", "runs", "noise", "settings"]
        assert parameters[-1].default is None  # the worker may call with four arguments
        assert available(name) is None


def test_importing_the_module_imports_no_emulator() -> None:
    code = "import sys, qpurun.run.emulator; print(sorted({'torch', 'emu_sv', 'emu_mps', 'pulser'} & set(sys.modules)))"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("module", ["emu_sv", "torch"])
def test_available_names_the_install_command_when_an_import_fails(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import emu_sv` now raises ImportError
    reason = available("emu-sv")
    assert reason is not None and "\n" not in reason
    assert module in reason and "'emu' extra" in reason
    assert "pip install torch==2.13.0 'qpurun[emu]'" in reason
    assert "CUDA" in reason  # why torch comes first
    if module == "emu_sv":
        assert available("emu-mps") is None  # each target names its own packages
    assert available("qutip") is None


def test_available_says_a_name_is_unknown() -> None:
    reason = available("emu-tn")
    assert reason is not None and "emu-tn" in reason and "emu-sv" in reason


# ---- the same physics


@pytest.fixture(scope="module")
def rabi() -> Any:
    return qpurun.load(RABI)


@pytest.mark.parametrize("target", ["qutip", "emu-sv"])
def test_rabi_follows_sin_squared_and_agrees_with_qutip(rabi: Any, target: str) -> None:
    for job in (rabi.job_params[i] for i in (0, 2, 6, 11)):  # t = 100, 300, 700, 1200 ns
        t = job["variables"]["t"]
        ours = run(target, rabi.sequence, job["variables"], job["runs"])
        counts = ours.final_bitstrings
        assert sum(counts.values()) == job["runs"] and set(counts) <= {"0", "1"}
        (p,), n = populations(counts)
        expected = math.sin(math.pi * t / 1000) ** 2
        assert abs(p - expected) <= 5 * math.sqrt(expected * (1 - expected) / n) + 0.02, (t, p, expected)
        if target != "qutip":
            reference = run("qutip", rabi.sequence, job["variables"], job["runs"]).final_bitstrings
            assert_agree(counts, reference, f"{target} vs qutip, t = {t} ns")
        # What the worker stores: the abstract representation, read back, and the counts.
        stored = type(ours).from_abstract_repr(ours.to_abstract_repr())
        assert dict(stored.final_bitstrings) == dict(counts)


def test_emu_mps_refuses_one_atom_and_runs_rabi_on_two(rabi: Any) -> None:
    job = rabi.job_params[2]
    with pytest.raises(ValueError, match="emu-mps needs at least 2 atoms"):
        run("emu-mps", rabi.sequence, job["variables"], job["runs"])
    # The same spec with a second atom 40 µm away (no interaction to speak of): both oscillate.
    text = RABI.read_text(encoding="utf-8").replace("q0 = trap 0", "q0 = trap 0  q1 = trap 60")
    pair = qpurun.loads(text, filename=str(RABI))
    job = pair.job_params[2]  # t = 300 ns: p = 0.65
    ours = run("emu-mps", pair.sequence, job["variables"], job["runs"]).final_bitstrings
    reference = run("qutip", pair.sequence, job["variables"], job["runs"]).final_bitstrings
    assert sum(ours.values()) == job["runs"] and all(len(bits) == 2 for bits in ours)
    assert_agree(ours, reference, "emu-mps vs qutip, two atoms, t = 300 ns")
    p, _ = populations(ours)
    assert_close(float(p[0]), job["runs"], math.sin(math.pi * 0.3) ** 2, 10**9, "emu-mps, two atoms, vs sin²")


@pytest.fixture(scope="module")
def afm4() -> Any:
    """specs/afm_ramp.qx on a 2×2 square (7 µm: blockaded neighbours), its sweep cut to 1 µs."""
    text = AFM.read_text(encoding="utf-8")
    start, end = text.index("register {"), text.index("}", text.index("register {")) + 1
    text = text[:start] + "register {\n  q0 = trap 0    q1 = trap 1\n  q2 = trap 5    q3 = trap 6\n}" + text[end:]
    text = text.replace("let t_sweep = 3 us", "let t_sweep = 1 us")
    experiment = qpurun.loads(text, filename=str(AFM))
    assert len(experiment.sequence.register.qubit_ids) == 4
    return experiment


@pytest.mark.parametrize(("target", "jobs"), [("emu-sv", (0, 3)), ("emu-mps", (3,))])
def test_four_atom_afm_ramp_agrees_with_qutip(afm4: Any, target: str, jobs: tuple[int, ...]) -> None:
    for index in jobs:
        job = afm4.job_params[index]
        ours = run(target, afm4.sequence, job["variables"], 300).final_bitstrings
        reference = run("qutip", afm4.sequence, job["variables"], 300).final_bitstrings
        assert sum(ours.values()) == 300 and all(len(bits) == 4 for bits in ours)
        assert_agree(ours, reference, f"{target} vs qutip, afm job {index}", bitstrings=True)


# ---- the same reading: which atom is leftmost, which state is 1


def _asymmetric() -> Sequence[Any]:
    """a: a π pulse, b: π/2, c: nothing (a local channel); far apart. Bitstrings: 100 and 110, half each.

    Written a, b, c but placed a, c, b along x: emu-mps reorders the chain (a-c-b has the smaller
    bandwidth), so its results are only right if it undoes that.
    """
    register = Register({"a": (0.0, 0.0), "b": (60.0, 0.0), "c": (30.0, 0.0)})
    sequence = Sequence(register, MockDevice)
    sequence.declare_channel("local", "rydberg_local", initial_target="a")
    sequence.add(Pulse.ConstantPulse(500, 2 * np.pi, 0, 0), "local")  # area π
    sequence.target("b", "local")
    sequence.add(Pulse.ConstantPulse(250, 2 * np.pi, 0, 0), "local")  # area π/2
    sequence.measure("ground-rydberg")
    return sequence


def test_the_asymmetric_register_is_one_emu_mps_reorders() -> None:
    positions = np.array([0.0, 60.0, 30.0])
    coupling = 1 / np.abs(positions[:, None] - positions[None, :] + np.eye(3)) ** 6 * (1 - np.eye(3))

    def bandwidth(order: list[int]) -> float:
        m = coupling[np.ix_(order, order)]
        return float(max(m[i, j] * abs(i - j) for i in range(3) for j in range(3)))

    assert bandwidth([0, 2, 1]) < bandwidth([0, 1, 2]) / 1.5


@pytest.mark.parametrize("target", ["qutip", "emu-sv", "emu-mps"])
def test_first_atom_is_leftmost_and_rydberg_reads_1(target: str) -> None:
    counts = run(target, _asymmetric(), {}, 400).final_bitstrings
    assert set(counts) == {"100", "110"}, dict(counts)
    (p_a, p_b, p_c), n = populations(counts)
    assert (p_a, p_c) == (1.0, 0.0)
    assert_close(float(p_b), n, 0.5, 10**9, f"{target}: b's π/2 pulse")


def test_xy_basis_reads_the_same_on_emu_mps_and_qutip() -> None:
    """emu-mps accepts no one_state="d": qpurun passes None, which reads the flipped atoms as 1 too."""
    register = Register({"a": (0.0, 0.0), "b": (100.0, 0.0), "c": (200.0, 0.0)})
    sequence = Sequence(register, MockDevice)
    sequence.declare_channel("mw", "mw_global")
    sequence.add(Pulse.ConstantPulse(500, 2 * np.pi, 0, 0), "mw")  # area π: every atom flips
    sequence.measure("XY")
    for target in ("qutip", "emu-mps"):
        # Nearly every shot: the XY coupling at 100 um and the solver's tolerance leave a shot in a
        # few hundred elsewhere (CI once drew 001 once in 50). The reading convention is the point.
        counts = dict(run(target, sequence, {}, 50).final_bitstrings)
        assert counts.get("111", 0) >= 45 and counts.get("000", 0) == 0, (target, counts)


def test_emu_refuses_what_it_cannot_emulate() -> None:
    register = Register({"a": (0.0, 0.0), "b": (100.0, 0.0)})
    digital = Sequence(register, MockDevice)
    digital.declare_channel("raman", "raman_local", initial_target="a")
    digital.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "raman")
    digital.measure("digital")
    for target in EMU:
        with pytest.raises(ValueError, match="ground-rydberg"):
            run(target, digital, {}, 10)
    xy = Sequence(register, MockDevice)
    xy.declare_channel("mw", "mw_global")
    xy.add(Pulse.ConstantPulse(200, 1.0, 0, 0), "mw")
    xy.measure("XY")
    with pytest.raises(AssertionError, match="Only Rydberg"):
        run("emu-sv", xy, {}, 10)


# ---- noise, shots and settings


def _pair() -> Sequence[Any]:
    sequence = Sequence(Register({"a": (0.0, 0.0), "b": (8.0, 0.0)}), MockDevice)
    sequence.declare_channel("ryd", "rydberg_global")
    sequence.add(Pulse(ConstantWaveform(300, 2 * np.pi), ConstantWaveform(300, 0.0), 0), "ryd")
    sequence.measure("ground-rydberg")
    return sequence


def test_emu_sv_shots_are_trajectories_times_shots_as_planned() -> None:
    cases = [
        ({"p_false_pos": 0.05, "p_false_neg": 0.05}, 1, 90),  # not stochastic: one solve (emu would run every T)
        ({"dephasing_rate": 0.5}, 1, 90),  # solved with a density matrix
        ({"amp_sigma": 0.05, "runs": 4}, 4, 23),  # 4 × 23 = 92 ≥ 90
    ]
    for noise, trajectories, per_trajectory in cases:
        plan = plan_shots(90, noise, target="emu-sv")
        assert (plan.trajectories, plan.shots_per_trajectory) == (trajectories, per_trajectory), noise
        assert plan == plan_shots(90, noise)  # as for qutip
        results = run("emu-sv", _pair(), {}, 90, noise)
        assert sum(results.final_bitstrings.values()) == plan.total, noise
        type(results).from_abstract_repr(results.to_abstract_repr())  # aggregated results serialize too


def test_emu_mps_takes_trajectories_for_dissipation() -> None:
    """emu-mps has no master equation: dephasing is quantum jumps, a history per trajectory."""
    assert plan_shots(90, {"dephasing_rate": 0.5}, target="emu-mps") == emulator.ShotPlan(40, 3, True)
    assert plan_shots(90, {"dephasing_rate": 0.5}, target="qutip").trajectories == 1
    assert plan_shots(90, {"p_false_pos": 0.1}, target="emu-mps").trajectories == 1
    results = run("emu-mps", _pair(), {}, 20, {"relaxation_rate": 0.5, "runs": 2})
    assert sum(results.final_bitstrings.values()) == 20  # 2 trajectories × 10 shots


def test_noise_emu_refuses_raises() -> None:
    with pytest.raises(NotImplementedError, match="hyperfine"):
        run("emu-sv", _pair(), {}, 10, {"dephasing_rate": 0.5, "hyperfine_dephasing_rate": 0.1})


def test_settings_reach_the_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    import emu_mps
    import emu_sv

    seen: dict[str, Any] = {}

    def spy(cls: type) -> type:
        class Spy(cls):  # type: ignore[misc]
            def __init__(self, **options: Any) -> None:
                seen[cls.__name__] = options
                super().__init__(**options)

        return Spy

    monkeypatch.setattr(emu_sv, "SVConfig", spy(emu_sv.SVConfig))
    monkeypatch.setattr(emu_mps, "MPSConfig", spy(emu_mps.MPSConfig))
    settings = {"dt": 20, "max_bond_dim": 8, "gpu": False, "optimize_qubit_ordering": False}
    run_job_emu_sv(_pair(), {}, 10, {}, settings)
    run_job_emu_mps(_pair(), {}, 10, {}, settings)
    assert seen["SVConfig"]["dt"] == 20 and seen["SVConfig"]["gpu"] is False and "max_bond_dim" not in seen["SVConfig"]
    assert "optimize_qubit_ordering" not in seen["SVConfig"]
    mps = seen["MPSConfig"]
    assert (mps["dt"], mps["max_bond_dim"], mps["gpu"], mps["optimize_qubit_ordering"]) == (20, 8, False, False)
    run_job_emu_sv(_pair(), {}, 10, {}, None)  # defaults: the emulator's dt, the CPU
    assert "dt" not in seen["SVConfig"] and seen["SVConfig"]["gpu"] is False
    with pytest.raises(ValueError, match="dt"):
        run_job_emu_sv(_pair(), {}, 10, {}, {"dt": 0})
    assert run_job(_pair(), {}, 10, {}, settings).final_bitstrings.total() == 10  # qutip ignores them


def test_emulator_logs_stay_off_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    run_job_emu_sv(_pair(), {}, 10, {}, {})
    assert capfd.readouterr().out == ""


def test_torch_is_held_to_one_thread_where_openmp_is(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        run_job_emu_sv(_pair(), {}, 10, {}, {})
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
