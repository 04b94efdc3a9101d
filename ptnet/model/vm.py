"""A VM as the user asks for it: name, image, size, backend and netmap ports. Pure data, no I/O."""

import enum
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from ptnet.errors import UsageError
from ptnet.model.ports import PortSpec, parse_port

E = TypeVar("E", bound=enum.StrEnum)


class BackendName(enum.StrEnum):
    """Who runs a VM's QEMU: ptnet itself, or libvirt."""

    qemu = "qemu"
    libvirt = "libvirt"


class PortMode(enum.StrEnum):
    """How a netmap port reaches the guest: its own rings (ptnet), or copied into virtio-net."""

    passthrough = "passthrough"
    emulated = "emulated"


# A VM name is also its guest hostname and (on libvirt) its domain name.
_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_MEM = re.compile(r"(\d+)([MG]?)(i?B)?", re.IGNORECASE)
MIN_MEM_MB = 128
MAX_CPUS = 64


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"bad VM name {name!r}: a lowercase letter, then up to 30 of a-z, 0-9 and '-'"
        )
    return name


def parse_mem(text: str) -> int:
    """'512', '512M', '1G' or '1GiB' -> MiB."""
    m = _MEM.fullmatch(text.strip())
    if not m:
        raise UsageError(f"bad --mem {text!r}: a size in MiB, or with an M or G suffix")
    mb = int(m.group(1)) * (1024 if m.group(2).upper() == "G" else 1)
    if mb < MIN_MEM_MB:
        raise UsageError(f"bad --mem {text!r}: at least {MIN_MEM_MB} MiB")
    return mb


def _choice(kind: type[E], what: str, value: str) -> E:
    try:
        return kind(value)
    except ValueError:
        names = " or ".join(kind)
        raise UsageError(f"unknown {what} {value!r}; choose {names}") from None


@dataclass(frozen=True)
class VmSpec:
    name: str
    image: str = "default"
    cpus: int = 1
    mem_mb: int = 512
    backend: BackendName = BackendName.qemu
    port_mode: PortMode = PortMode.passthrough
    ports: tuple[PortSpec, ...] = ()

    def __post_init__(self) -> None:
        check_name(self.name)
        if not 1 <= self.cpus <= MAX_CPUS:
            raise UsageError(f"bad --cpus {self.cpus}: 1 to {MAX_CPUS}")
        if self.mem_mb < MIN_MEM_MB:
            raise UsageError(f"bad --mem {self.mem_mb}: at least {MIN_MEM_MB} MiB")
        # Specs read back from records hold plain strings: make them the enums.
        object.__setattr__(self, "backend", _choice(BackendName, "backend", self.backend))
        object.__setattr__(self, "port_mode", _choice(PortMode, "port mode", self.port_mode))
        seen: set[str] = set()
        for p in self.ports:
            if str(p) in seen:
                raise UsageError(f"port '{p}' is given twice")
            seen.add(str(p))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": self.image,
            "cpus": self.cpus,
            "mem_mb": self.mem_mb,
            "backend": self.backend.value,
            "port_mode": self.port_mode.value,
            "ports": [str(p) for p in self.ports],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VmSpec":
        return cls(
            name=data["name"],
            image=data["image"],
            cpus=int(data["cpus"]),
            mem_mb=int(data["mem_mb"]),
            backend=data["backend"],
            port_mode=data["port_mode"],
            ports=tuple(parse_port(p) for p in data["ports"]),
        )
