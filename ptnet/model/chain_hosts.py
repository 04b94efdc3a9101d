"""The hosts of a chain spread over several machines: each host's libvirt URI, the SSH target
that runs netmap tools there, its underlay address and its uplink. Pure.

    hosts:
      local:                      # this machine: implicit; an entry only to give its uplink
        address: 192.0.2.1
        uplink: {vxlan: eth0, mtu: 9000}
      b:
        uri: qemu+ssh://root@192.0.2.2/system
        ssh: root@192.0.2.2       # default: [USER@]HOST of the URI (ssh://USER@HOST:PORT with one)
        address: 192.0.2.2        # default: the URI's host, when it is an IP address
        uplink: {vxlan: eth0, mtu: 9000}   # or {nic: [eth3, eth4]}: NICs cabled to peers
    mtu: 1500                     # the largest IP packet the chain carries (chain level)
    vni: 5000                     # the first hop's VNI; hop I gets 5000 + I (chain level)
    nfs:
      - {role: fw}
      - {role: nat, host: b, vni: 7001}   # the VNI of the hop into nat, overriding 5000 + 1

An uplink is what joins a host's VALE switch of a cross-host hop to the other host: a NIC of its
own (VALE attach; a NIC attaches to one switch, so the host's Kth hop between hosts takes its Kth
NIC), or a VXLAN device (one per hop, with its VNI) over an underlay device, attached to the
switch through the generic adapter.
"""

import hashlib
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from ptnet.errors import UsageError

LOCAL = "local"
MAX_HOST_NAME = 15
# VXLAN (RFC 7348): a 24-bit VNI; 0 is left out here, as many switches reserve it.
VNI_MIN, VNI_MAX = 1, (1 << 24) - 1
VXLAN_PORT = 4789  # IANA
# What VXLAN adds around the chain's IP packet on the underlay: the inner Ethernet header (14),
# VXLAN (8), UDP (8) and the outer IPv4 header (20).
VXLAN_OVERHEAD = 50
ETH_HLEN = 14
NETMAP_BUF_SIZE = 2048  # a frame must fit one netmap buffer of the switches it crosses
MAX_CHAIN_MTU = NETMAP_BUF_SIZE - ETH_HLEN
MIN_MTU = 576
DEFAULT_MTU = 1500
LIBVIRT_SCHEMES = ("qemu+ssh", "qemu+libssh", "qemu+libssh2", "qemu+tcp", "qemu+tls")
LIBVIRT_PATHS = ("/system", "/session")

HOST_NAME = re.compile(rf"[a-z][a-z0-9-]{{0,{MAX_HOST_NAME - 1}}}")
# A netdev name (1..15 bytes, no '/', ':' or blanks), as the uplink NIC or VXLAN's underlay.
IFNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
# An OpenSSH destination: [USER@]HOST, or ssh://[USER@]HOST[:PORT] (an IPv6 HOST in brackets).
_USER = r"(?:[a-z_][a-z0-9_.-]{0,31}@)?"
_HOST = r"(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)"
SSH_TARGET = re.compile(
    rf"{_USER}{_HOST}|ssh://{_USER}(?:{_HOST}|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?"
)


@dataclass(frozen=True)
class Uplink:
    """How a host's switch of a cross-host hop reaches the peer: `nic` attaches one of `devs`
    (the host's Kth hop between hosts, the Kth) to the switch; `vxlan` makes a VXLAN device per
    hop over underlay device `devs[0]`. `mtu` is the underlay's (the NICs', or devs[0]'s) IP
    MTU."""

    kind: Literal["nic", "vxlan"]
    devs: tuple[str, ...]
    mtu: int = DEFAULT_MTU

    @property
    def room(self) -> int:
        """The largest IP packet of the chain this uplink carries."""
        return self.mtu - (VXLAN_OVERHEAD if self.kind == "vxlan" else 0)

    def to_dict(self) -> dict[str, Any]:
        devs = self.devs[0] if len(self.devs) == 1 else list(self.devs)
        return {self.kind: devs, "mtu": self.mtu}


@dataclass(frozen=True)
class HostSpec:
    """One host. The local host has no `uri` (None: the libvirt backend's, PTNET_LIBVIRT_URI)
    and no `ssh` (its tools run here)."""

    name: str
    uri: str | None = None
    ssh: str | None = None
    address: str | None = None
    uplink: Uplink | None = None

    @property
    def remote(self) -> bool:
        return self.name != LOCAL

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("uri", "ssh", "address"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.uplink is not None:
            out["uplink"] = self.uplink.to_dict()
        return out


def default_vni(chain: str) -> int:
    """The first hop's VNI when the file gives none: 20 bits of a hash of the chain's name,
    times 16 (a chain has at most 9 hops), plus 1: two chains' VNIs meet once in a million."""
    return (int(hashlib.sha256(chain.encode()).hexdigest()[:5], 16) << 4) + 1


# -- validators (pydantic) ---------------------------------------------------------------------


def _uri(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    expected = "expected qemu+ssh://[USER@]HOST[:PORT]/system (or qemu+tcp, qemu+tls)"
    try:
        u = urllib.parse.urlsplit(value)
        port = u.port
    except ValueError:
        raise ValueError(f"bad libvirt URI {value!r}: {expected}") from None
    if u.scheme not in LIBVIRT_SCHEMES:
        why = "this host's own libvirt" if u.scheme == "qemu" else f"scheme {u.scheme or 'none'}"
        raise ValueError(f"bad libvirt URI {value!r}: {why}; {expected}")
    if not u.hostname:
        raise ValueError(f"bad libvirt URI {value!r}: no host; {expected}")
    if u.path not in LIBVIRT_PATHS:
        raise ValueError(f"bad libvirt URI {value!r}: path {u.path or 'none'}; {expected}")
    if port == 0 or any(c.isspace() for c in value):
        raise ValueError(f"bad libvirt URI {value!r}: {expected}")
    return value


def _ssh(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    m = SSH_TARGET.fullmatch(value)
    if not m or (m["port"] and not 0 < int(m["port"]) < 65536):
        raise ValueError(
            f"bad SSH target {value!r}: expected [USER@]HOST or ssh://[USER@]HOST:PORT"
        )
    return value


def _address(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"bad address {value!r}: expected an IPv4 or IPv6 address") from None
    return value


def _ifname(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    if not IFNAME.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"bad interface name {value!r}: 1 to 15 of A-Z, a-z, 0-9, '_', '.', '-'")
    return value


def _schema(kind: str, description: str, **extra: Any) -> WithJsonSchema:
    return WithJsonSchema({"type": kind, "description": description, **extra})


IfName = Annotated[
    str,
    BeforeValidator(_ifname),
    _schema("string", "A network interface.", pattern=f"^{IFNAME.pattern}$"),
]


def _nics(value: object) -> object:
    """A NIC, or a list of them."""
    if isinstance(value, list):
        if not value:
            raise ValueError("expected at least one NIC")
        return [_ifname(v) for v in value]
    return _ifname(value)


Nics = Annotated[
    str | list[str],
    BeforeValidator(_nics),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"^{IFNAME.pattern}$"},
                {"type": "array", "items": {"type": "string", "pattern": f"^{IFNAME.pattern}$"}},
            ],
            "description": "A NIC, or a list of them.",
        }
    ),
]
Mtu = Annotated[StrictInt, Field(ge=MIN_MTU, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UplinkFile(_Strict):
    """A host's uplink: give nic or vxlan."""

    nic: Nics | None = Field(
        None,
        description="NICs cabled to the peers: the host's Kth hop between hosts attaches the Kth.",
    )
    vxlan: IfName | None = Field(
        None, description="The underlay device of a VXLAN device per hop (VNI: the hop's)."
    )
    mtu: Mtu = Field(DEFAULT_MTU, description="The underlay's IP MTU.")

    @model_validator(mode="after")
    def _one_kind(self) -> "UplinkFile":
        if (self.nic is None) == (self.vxlan is None):
            raise ValueError("expected one of nic: IFNAME or vxlan: IFNAME")
        nics = self.nic if isinstance(self.nic, list) else [self.nic]
        if len(set(nics)) != len(nics):
            raise ValueError("nic: a NIC is given twice (a NIC attaches to one switch)")
        return self

    def spec(self) -> Uplink:
        if self.nic is not None:
            nics = self.nic if isinstance(self.nic, list) else [self.nic]
            return Uplink("nic", tuple(nics), self.mtu)
        assert self.vxlan is not None
        return Uplink("vxlan", (self.vxlan,), self.mtu)


class HostFile(_Strict):
    """A host of the chain (the local one needs no uri or ssh)."""

    uri: (
        Annotated[
            str,
            BeforeValidator(_uri),
            _schema("string", "Its libvirt: qemu+ssh://[USER@]HOST[:PORT]/system."),
        ]
        | None
    ) = None
    ssh: (
        Annotated[
            str,
            BeforeValidator(_ssh),
            _schema("string", "Where netmap tools run: [USER@]HOST (default: from the uri)."),
        ]
        | None
    ) = None
    address: (
        Annotated[
            str,
            BeforeValidator(_address),
            _schema("string", "Its underlay address, VXLAN's remote (default: the uri's host)."),
        ]
        | None
    ) = None
    uplink: UplinkFile | None = None


def _ssh_of(uri: str) -> str:
    u = urllib.parse.urlsplit(uri)
    user = f"{u.username}@" if u.username else ""
    if u.port is None or "ssh" not in u.scheme:  # +tcp and +tls ports are libvirt's
        return f"{user}{u.hostname}"
    host = f"[{u.hostname}]" if u.hostname and ":" in u.hostname else u.hostname
    return f"ssh://{user}{host}:{u.port}"


def _address_of(uri: str) -> str | None:
    host = urllib.parse.urlsplit(uri).hostname
    try:
        return str(ipaddress.ip_address(host or ""))
    except ValueError:
        return None


def host_spec(name: str, entry: HostFile) -> HostSpec:
    """A validated entry as a HostSpec; raises UsageError naming the key at fault."""
    if name == LOCAL:
        for key in ("uri", "ssh"):
            if getattr(entry, key) is not None:
                raise UsageError(
                    f"hosts.{LOCAL}.{key}: the local host is this machine; it takes no {key}"
                )
        return HostSpec(LOCAL, address=entry.address, uplink=entry.uplink and entry.uplink.spec())
    if entry.uri is None:
        raise UsageError(
            f"hosts.{name}.uri: required for a remote host (qemu+ssh://[USER@]HOST/system)"
        )
    return HostSpec(
        name,
        uri=entry.uri,
        ssh=entry.ssh or _ssh_of(entry.uri),
        address=entry.address or _address_of(entry.uri),
        uplink=entry.uplink and entry.uplink.spec(),
    )
