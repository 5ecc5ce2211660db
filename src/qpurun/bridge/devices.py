"""What the spec's device and its files hold: the errors only they can raise, located.

The checker knows everything a spec says; what a device offers (its
channels, its calibrated layouts, which limits it sets) and what a file
holds are known only once they are loaded. Those lookups are here, each
raising a located error in the spec's words, so that lowering only builds
Pulser objects and translates Pulser's own refusals.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qpurun.language import ast
from qpurun.language.catalog import devices, real_devices
from qpurun.language.errors import QxNameError, Source, Span
from qpurun.language.includes import read_named_file

if TYPE_CHECKING:
    from pulser.register import RegisterLayout

    from qpurun.language.catalog import BaseDevice

RemoteDevices = Callable[[], Mapping[str, "BaseDevice"]]
"""Where `device remote "NAME"` looks: a connection's `fetch_available_devices`."""


def load_device(
    statement: ast.Device, source: Source, remote_devices: RemoteDevices | None, allowed: Sequence[str | Path] = ()
) -> BaseDevice:
    """The device a `device` statement names: Pulser's by name, a JSON file beside the spec, or the connection's."""
    name = statement.name.name
    if statement.remote:
        # The connection's own specs: what the QPU is calibrated to today.
        available = dict(remote_devices() if remote_devices else real_devices())
        if name not in available:
            raise QxNameError(
                f"the connection offers no device `{name}`",
                statement.span,
                source,
                hint="available: "
                + (", ".join(sorted(available)) or "none")
                + "; `qpurun backends --refresh` fetches the specs of a cloud's devices (e.g. a QPU's)",
            )
        return available[name]
    if statement.is_file:
        from pulser.json.abstract_repr.deserializer import deserialize_device

        return deserialize_device(read_named_file(name, source, allowed, "device file", statement.span))
    known = devices()
    if name not in known:
        close = difflib.get_close_matches(name, list(known), n=1)
        raise QxNameError(
            f"unknown device `{name}`",
            statement.span,
            source,
            hint=f"did you mean `{close[0]}`?" if close else "devices: " + ", ".join(sorted(known)),
        )
    return known[name]


def layout_file(layout: ast.FileLayout, source: Source, allowed: Sequence[str | Path] = ()) -> RegisterLayout:
    """`layout "FILE"`: a layout's abstract representation beside the spec."""
    from pulser.register import RegisterLayout

    text = read_named_file(layout.path, source, allowed, "layout file", layout.span)
    return RegisterLayout.from_abstract_repr(text)


def calibrated_layout(device: BaseDevice, layout: ast.CalibratedLayout) -> RegisterLayout:
    """`layout calibrated "NAME"`: one of the device's pre-calibrated layouts, by name or slug."""
    known = {str(c): c for c in getattr(device, "pre_calibrated_layouts", ())}
    known |= {getattr(c, "slug", None) or str(c): c for c in known.values()}
    if layout.name not in known:
        raise QxNameError(
            f"the device has no calibrated layout `{layout.name}`",
            layout.span,
            hint="calibrated layouts: " + (", ".join(sorted(known)) or "none"),
        )
    result: RegisterLayout = known[layout.name]
    return result


def channel_id(device: BaseDevice, statement: ast.Channel) -> str:
    """The channel id a `channel` statement declares, if the device has it."""
    wanted = statement.channel_id.name
    if wanted not in device.channels:
        names = sorted(device.channels)
        close = difflib.get_close_matches(wanted, names, n=1)
        raise QxNameError(
            f"{device.name} has no channel `{wanted}`",
            statement.span,
            hint=f"did you mean `{close[0]}`?" if close else "its channels are " + ", ".join(names),
        )
    return wanted


def trap_of(written_traps: list[int] | None, number: int, span: Span | None, traps: int | None = None) -> int:
    """Pulser's id for trap `number` as the spec numbers it (in writing order for a `traps {}`
    layout), after checking that the layout of `traps` traps has it."""
    count = len(written_traps) if written_traps is not None else traps
    if count is not None and not 0 <= number < count:
        raise QxNameError(
            f"there is no trap {number}: the layout has {count} traps, numbered 0 to {count - 1}",
            span,
            hint="use a trap of the layout, or a larger layout",
        )
    return number if written_traps is None else written_traps[number]


def property_of(device: BaseDevice, channels: Mapping[str, ast.Channel], expr: ast.Attribute) -> Any:
    """`device.<name>` or `<channel>.<name>`: the value the device sets (the checker knows the name exists)."""
    owner = expr.value
    assert isinstance(owner, ast.Name)
    name = expr.name.name
    if owner.id == "device":
        found = getattr(device, name)
        if found is None:
            raise QxNameError(
                f"{device.name} sets no `{name}`", expr.span, hint="this limit is unbounded on this device"
            )
        return found
    wanted = channels[owner.id].channel_id.name
    if wanted not in device.channels:
        raise QxNameError(f"the device has no channel `{wanted}`", owner.span)
    value = getattr(device.channels[wanted], name)
    if value is None:
        raise QxNameError(
            f"channel `{owner.id}` sets no `{name}`", expr.span, hint="this limit is unbounded on this device"
        )
    return value
