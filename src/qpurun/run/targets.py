"""Where a batch runs, and what that decides: which rules are errors, which extra it needs.

A *target* is named on the command line (`--backend NAME`) or in the project
configuration (`backend = "NAME"`)::

    qutip            pulser-simulation's QutipBackendV2 on this machine (the default; `local` is an alias)
    emu-sv           Pasqal's state-vector emulator on this machine      (extra: qpurun[emu])
    emu-mps          Pasqal's matrix-product-state emulator, likewise    (extra: qpurun[emu])
    pasqal:EMU_MPS   Pasqal Cloud's emulators: EMU_MPS, EMU_SV, EMU_FREE  (extra: qpurun[pasqal])
    pasqal:<DEVICE>  a QPU on Pasqal Cloud, e.g. pasqal:FRESNEL           (extra: qpurun[pasqal])

The target decides what is checked. What only a QPU demands (Pulser's
`mimic_qpu`: a register on a layout, a calibrated layout where the device
takes no new ones, a non-empty sequence, a real device as the connection
offers it today, `max_runs`) is an error for a QPU and a warning for an
emulator; the limits physics needs hold everywhere.

Nothing here imports Pulser or an emulator: `qpurun --help` stays fast.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import Literal

from qpurun.language.errors import HintedError

__all__ = ["CLOUD_EMULATORS", "DEFAULT_TARGET", "LOCAL_EMULATORS", "Target", "TargetError", "known", "parse_target"]

DEFAULT_TARGET = "qutip"

LOCAL_EMULATORS = ("qutip", "emu-sv", "emu-mps")
ALIASES = {"local": "qutip"}
CLOUD_EMULATORS = {
    "EMU_MPS": "RemoteMPSBackend",
    "EMU_SV": "RemoteSVBackend",
    "EMU_FREE": "RemoteEmuFreeBackend",
}
_DEVICE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class TargetError(HintedError, ValueError):
    """An unknown target name; the hint lists the known ones."""


@dataclass(frozen=True)
class Target:
    """One place to run a batch."""

    name: str
    """The canonical name: `qutip`, `emu-sv`, `pasqal:FRESNEL`, ..."""
    kind: Literal["local", "cloud"]
    qpu: bool
    """QPU-only rules are errors (else warnings)."""
    device: str | None = None
    """For a cloud target: the Pasqal device type (`FRESNEL`, `EMU_MPS`, ...)."""

    @property
    def extra(self) -> str | None:
        """The pip extra the target needs (`emu`, `pasqal`), or None."""
        if self.kind == "cloud":
            return "pasqal"
        from qpurun.run.emulator import EXTRA_FOR

        return EXTRA_FOR.get(self.name)

    @property
    def description(self) -> str:
        if self.kind == "local":
            return {
                "qutip": "pulser-simulation (QuTiP) on this machine",
                "emu-sv": "Pasqal's emu-sv (state vector, torch) on this machine",
                "emu-mps": "Pasqal's emu-mps (matrix product states, torch) on this machine",
            }[self.name]
        if self.qpu:
            return f"the {self.device} QPU on Pasqal Cloud"
        return f"Pasqal Cloud's {self.device} emulator"

    @property
    def needs(self) -> str:
        """What the target needs beyond qpurun, in words."""
        if self.kind == "cloud":
            return "qpurun[pasqal]; Pasqal Cloud credentials and a project id"
        if self.extra:
            return f"torch==2.13.0 then qpurun[{self.extra}] (CPU; `gpu = true` in [emulator] uses a GPU)"
        return "nothing (installed with qpurun)"

    def missing(self) -> str | None:
        """Why the target cannot run here (its extra is not installed), or None."""
        if self.kind == "local":
            from qpurun.run.emulator import available

            return available(self.name)
        if importlib.util.find_spec("pasqal_cloud") is not None:
            return None
        return f"{self.name} needs pasqal-cloud, which is not installed; pip install 'qpurun[pasqal]'"


def parse_target(name: str) -> Target:
    """The target a name denotes; TargetError (with the list of targets) for anything else."""
    text = name.strip()
    text = ALIASES.get(text, text)
    if text in LOCAL_EMULATORS:
        return Target(text, "local", qpu=False)
    prefix, colon, device = text.partition(":")
    if colon and prefix.lower() == "pasqal":
        if not _DEVICE_NAME.fullmatch(device):
            raise TargetError(
                f"`{name}` names no Pasqal device", hint="write pasqal:<DEVICE>, e.g. pasqal:FRESNEL or pasqal:EMU_MPS"
            )
        if device.upper() in CLOUD_EMULATORS:
            device = device.upper()
        elif device.upper().startswith("EMU_"):
            raise TargetError(
                f"`{name}` is not an emulator qpurun can run on",
                hint="Pasqal Cloud's emulators: " + ", ".join(CLOUD_EMULATORS),
            )
        return Target(f"pasqal:{device}", "cloud", qpu=device not in CLOUD_EMULATORS, device=device)
    raise TargetError(
        f"unknown target `{name}`", hint="targets: " + ", ".join(known()) + "  (`qpurun backends` says more)"
    )


def known() -> list[str]:
    """Every target name `qpurun backends` lists (a QPU by its usual name)."""
    return [*LOCAL_EMULATORS, *(f"pasqal:{device}" for device in CLOUD_EMULATORS), "pasqal:FRESNEL"]
