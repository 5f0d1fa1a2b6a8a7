"""Which devices exist here, and validation of a requested one (imports torch)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DeviceError(ValueError):
    """A device that does not exist here; the message lists the ones that do."""


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # what --device takes: cpu, cuda:0, mps
    label: str  # for people: name, model and free memory


def available() -> list[DeviceInfo]:
    devices = [DeviceInfo("cpu", f"cpu · {torch.get_num_threads()} threads")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            free, _total = torch.cuda.mem_get_info(i)
            name = torch.cuda.get_device_name(i)
            label = f"cuda:{i} · {name} · {free / 2**30:.0f} GiB free"
            devices.append(DeviceInfo(f"cuda:{i}", label))
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append(DeviceInfo("mps", "mps · Apple GPU"))
    return devices


def validate(name: str) -> str:
    """The canonical name of a device that exists (``cuda`` means ``cuda:0``), else DeviceError."""
    wanted = name.strip().lower()
    if wanted == "cuda":
        wanted = "cuda:0"
    names = [d.name for d in available()]
    if wanted in names:
        return wanted
    raise DeviceError(f"device {name!r} is not available here; devices: {', '.join(names)}")
