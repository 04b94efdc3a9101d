"""Netmap port specs: the grammar of port names, parsed into a typed value and printed back.

The grammar is the one `nm_spec_parse()` in kernel/include/uapi/net/netmap_user.h accepts, which
is what `nm_open()` (and so QEMU's `-netdev netmap,ifname=`) and our tools parse:

    spec   := ["netmap:"] IF [pipe] [rings] item*       a NIC, or a pipe of the port IF
            | ["netmap:"] "val" S ":" P [pipe] [rings] item*
    pipe   := "{" ID | "}" ID                           master / slave end of pipe ID
    rings  := "^" | "^" N | "*" | "-" N                 SW, ONE_SW, NIC_SW, ONE_NIC
    item   := "/" [xztrRT]*  |  "@" N  |  "@conf:" key=N ("," key=N)*

Every name that starts with "val" is a VALE name, as the kernel has it (so IF never does): S is
[0-9A-Za-z_]* and P [0-9A-Za-z_]+ (the kernel takes any characters in P, but the grammar's own
characters end it, and nm_spec_parse() takes those).

A pipe ID is any non-empty text up to the next `^ * - @ /` ("pipe{1}2" is the master end of pipe
"1}2", as the kernel has it), as long as the kernel, which splits a name at its last "{", else its
last "}", finds the same parent: no "{" in an ID, and no "}" in the ID of a slave end.

On top of the parser's own rules, a spec is accepted only when the kernel can accept its name
whatever the state of the system: the port name (with its pipe suffix) fits IFNAMSIZ, which
nm_open() needs; a NIC name or a pipe's parent follows the rules of interface names
(kernel/port.c); and host rings are asked only of NIC ports, the only ones that have them.
Everything else (a NIC that does not exist, a ring index past the port's rings, a busy port) is
for the kernel to refuse when the port is opened.

Pure: no I/O. `parse_port(str(p)) == p` for every parsed `p`.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from ptnet.errors import UsageError

PortKind = Literal["vale", "pipe", "nic"]
PipeEnd = Literal["master", "slave"]
# The binding modes a spec can select, named after netmap's NR_REG_* values.
RingMode = Literal["all-nic", "one-nic", "sw", "one-sw", "nic-sw"]
PortFlag = Literal["exclusive", "zcopy-monitor", "tx-monitor", "rx-monitor", "rx-only", "tx-only"]

IFNAMSIZ = 16  # a name, NUL included, as the kernel and the legacy nmreq hold it
RING_MAX = 0x0FFF  # NETMAP_RING_MASK: the largest ring index of "-N" and "^N"
MEM_ID_MAX = 0xFFFF
VALE_NAME_PREFIX = "val"  # what makes a name a VALE name
NETMAP_PREFIX = "netmap:"

NR_REG = {"all-nic": 1, "sw": 2, "nic-sw": 3, "one-nic": 4, "one-sw": 8}
NR_FLAG = {
    "tx-monitor": 0x100,
    "rx-monitor": 0x200,
    "zcopy-monitor": 0x400,
    "exclusive": 0x800,
    "rx-only": 0x2000,
    "tx-only": 0x4000,
}
# The letters after "/", in the order the canonical form prints them.
FLAG_LETTERS: dict[str, PortFlag] = {
    "x": "exclusive",
    "z": "zcopy-monitor",
    "t": "tx-monitor",
    "r": "rx-monitor",
    "R": "rx-only",
    "T": "tx-only",
}
MONITOR_FLAGS: frozenset[PortFlag] = frozenset({"zcopy-monitor", "tx-monitor", "rx-monitor"})
HOST_RING_MODES: frozenset[RingMode] = frozenset({"sw", "one-sw", "nic-sw"})

_WORD = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_DIGITS = frozenset("0123456789")
_NAME_STOP = "{}^*-@/:"  # where a plain port name ends
_ID_STOP = "^*-@/"  # where a pipe id ends
# "@conf:" keys: the PortConf fields each sets, and its largest value (rings u16, slots u32).
_CONF_KEYS: dict[str, tuple[tuple[str, ...], int]] = {
    "rings": (("tx_rings", "rx_rings"), 0xFFFF),
    "tx-rings": (("tx_rings",), 0xFFFF),
    "rx-rings": (("rx_rings",), 0xFFFF),
    "host-rings": (("host_tx_rings", "host_rx_rings"), 0xFFFF),
    "host-tx-rings": (("host_tx_rings",), 0xFFFF),
    "host-rx-rings": (("host_rx_rings",), 0xFFFF),
    "slots": (("tx_slots", "rx_slots"), 0xFFFFFFFF),
    "tx-slots": (("tx_slots",), 0xFFFFFFFF),
    "rx-slots": (("rx_slots",), 0xFFFFFFFF),
}


@dataclass(frozen=True)
class PortConf:
    """The `@conf:` counts a spec asks for when it creates a port; 0 means the default."""

    tx_rings: int = 0
    rx_rings: int = 0
    host_tx_rings: int = 0
    host_rx_rings: int = 0
    tx_slots: int = 0
    rx_slots: int = 0

    def __str__(self) -> str:
        """The `key=N,...` list (without `@conf:`), shortest form; "" when all are defaults."""
        items = []
        for host, what, tx, rx in (
            ("", "rings", self.tx_rings, self.rx_rings),
            ("host-", "rings", self.host_tx_rings, self.host_rx_rings),
            ("", "slots", self.tx_slots, self.rx_slots),
        ):
            if tx and tx == rx:
                items.append(f"{host}{what}={tx}")
                continue
            if tx:
                items.append(f"{host}tx-{what}={tx}")
            if rx:
                items.append(f"{host}rx-{what}={rx}")
        return ",".join(items)


@dataclass(frozen=True)
class PortSpec:
    """One netmap port spec. Build it with `parse_port()`; `str()` gives the canonical text.

    `name` is the port the spec names without any suffix: "valeS:P" for a VALE port, the
    interface for a NIC, and for a pipe end the pipe's parent (either of those two forms).
    """

    kind: PortKind
    name: str
    pipe_end: PipeEnd | None = None
    pipe_id: str | None = None
    rings: RingMode = "all-nic"
    ring: int | None = None  # the N of "-N" and "^N"
    flags: frozenset[PortFlag] = frozenset()
    mem_id: int | None = None  # the N of "@N"
    conf: PortConf = field(default_factory=PortConf)

    def __str__(self) -> str:
        text = self.name if _is_vale_name(self.name) else NETMAP_PREFIX + self.name
        if self.pipe_end is not None:
            text += f"{'{' if self.pipe_end == 'master' else '}'}{self.pipe_id}"
        text += {"all-nic": "", "sw": "^", "nic-sw": "*"}.get(self.rings, "")
        if self.rings == "one-nic":
            text += f"-{self.ring}"
        elif self.rings == "one-sw":
            text += f"^{self.ring}"
        letters = "".join(c for c, f in FLAG_LETTERS.items() if f in self.flags)
        if letters:
            text += "/" + letters
        if self.mem_id is not None:
            text += f"@{self.mem_id}"
        if conf := str(self.conf):
            text += "@conf:" + conf
        return text

    @property
    def ifname(self) -> str:
        """What QEMU's `-netdev netmap,ifname=` and `nm_open()` take: the canonical spec.

        nm_open() resolves it to `nr_name` (the port) plus the mode, ring and flags.
        """
        return str(self)

    @property
    def nr_name(self) -> str:
        """The name the kernel resolves (`nr_name`): no `netmap:` prefix, pipe suffix kept."""
        if self.pipe_end is None:
            return self.name
        return f"{self.name}{'{' if self.pipe_end == 'master' else '}'}{self.pipe_id}"

    @property
    def switch(self) -> str | None:
        """The VALE switch ("valeS") of a VALE port or of a pipe's VALE parent."""
        return self.name.split(":", 1)[0] if _is_vale_name(self.name) else None

    @property
    def port(self) -> str | None:
        """The P of "valeS:P"."""
        return self.name.split(":", 1)[1] if _is_vale_name(self.name) else None

    @property
    def interface(self) -> str | None:
        """The interface of a NIC port, or the plain (non-VALE) parent of a pipe end."""
        return None if _is_vale_name(self.name) else self.name

    @property
    def monitor(self) -> bool:
        return bool(self.flags & MONITOR_FLAGS)

    @property
    def nr_mode(self) -> int:
        """NR_REG_* for nmreq_register.nr_mode."""
        return NR_REG[self.rings]

    @property
    def nr_ringid(self) -> int:
        return self.ring or 0

    @property
    def nr_flags(self) -> int:
        """The NR_* flags of the spec, for nmreq_register.nr_flags."""
        bits = 0
        for f in self.flags:
            bits |= NR_FLAG[f]
        return bits

    def to_dict(self) -> dict[str, Any]:
        """The decoded fields, JSON-ready."""
        return {
            "spec": str(self),
            "kind": self.kind,
            "nr_name": self.nr_name,
            "switch": self.switch,
            "port": self.port,
            "interface": self.interface,
            "pipe_end": self.pipe_end,
            "pipe_id": self.pipe_id,
            "rings": self.rings,
            "ring": self.ring,
            "flags": [f for f in FLAG_LETTERS.values() if f in self.flags],
            "mem_id": self.mem_id,
            "conf": {k: v for k, v in dataclasses.asdict(self.conf).items() if v},
            "nr_mode": self.nr_mode,
            "nr_ringid": self.nr_ringid,
            "nr_flags": self.nr_flags,
        }


def _is_vale_name(name: str) -> bool:
    return name.startswith(VALE_NAME_PREFIX)


def _printable(spec: str) -> str:
    """The spec for a one-line message: control and non-ASCII characters escaped."""
    return "".join(c if " " <= c < "\x7f" else ascii(c)[1:-1] for c in spec)


def _shorten(text: str, keep: int = 24) -> str:
    return text if len(text) <= keep else f"{text[: keep // 2]}...{text[-keep // 2 :]}"


def _quote(text: str, keep: int = 40) -> str:
    """Text for a one-line message: escaped, and cut in the middle when long."""
    return _shorten(_printable(text), keep)


class _Parser:
    """One pass over a spec, in the same order and with the same rules as nm_spec_parse()."""

    def __init__(self, spec: str) -> None:
        self.s = spec
        self.i = 0

    def fail(self, where: int, what: str) -> UsageError:
        spec = _quote(self.s, 80)
        return UsageError(f"bad port spec '{spec}': {what} (at offset {where})")

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def number(self, limit: int, what: str) -> int:
        j = self.i
        while self.peek() in _DIGITS:
            self.i += 1
        if self.i == j:
            got = f"{self.peek()!r}" if self.peek() else "the end"
            raise self.fail(j, f"{what} must be a number, got {_quote(got)}")
        digits = self.s[j : self.i].lstrip("0") or "0"
        if len(digits) > len(str(limit)) or int(digits) > limit:
            raise self.fail(j, f"{what} {_shorten(self.s[j : self.i])} is over {limit}")
        return int(digits)

    def parse(self) -> PortSpec:
        s = self.s
        if not s:
            raise self.fail(0, "empty spec")
        if "\0" in s:
            raise self.fail(s.index("\0"), "NUL character")
        if s.startswith(NETMAP_PREFIX):
            self.i = len(NETMAP_PREFIX)
        start = self.i
        vale = s.startswith(VALE_NAME_PREFIX, start)
        if vale:
            self.name_vale(start)
        else:
            while self.peek() and self.peek() not in _NAME_STOP:
                self.i += 1
            if self.peek() == ":":
                raise self.fail(
                    start, f"unknown prefix '{_quote(s[start : self.i + 1])}' (netmap: or val)"
                )
        if self.i == start:
            raise self.fail(start, "empty port name")
        name = s[start : self.i]

        pipe_end: PipeEnd | None = None
        pipe_id = None
        if self.peek() in ("{", "}"):
            pipe_end = "master" if self.peek() == "{" else "slave"
            pipe_id = self.pipe_id()
        nr_name = s[start : self.i]

        rings, ring = self.ring_selector()
        if pipe_end is not None and rings not in ("all-nic", "one-nic"):
            raise self.fail(self.i - 1, "a pipe end has no host rings ('^', '*')")
        flags, mem_id, conf = self.items()
        if {"rx-only", "tx-only"} <= flags:
            raise self.fail(start, "both R (rx rings only) and T (tx rings only)")

        # What nm_open() and the kernel refuse for this name, whatever exists.
        size = len(nr_name.encode(errors="surrogateescape"))
        if size >= IFNAMSIZ:
            raise self.fail(
                start,
                f"port name '{_quote(nr_name)}' is {size} bytes, over {IFNAMSIZ - 1} (IFNAMSIZ)",
            )
        if not vale:
            self.check_ifname(name, start)
        if vale and pipe_end is None and rings in HOST_RING_MODES:
            raise self.fail(start + len(name), "host rings ('^', '*') exist only on NIC ports")
        kind: PortKind = "pipe" if pipe_end is not None else "vale" if vale else "nic"
        return PortSpec(kind, name, pipe_end, pipe_id, rings, ring, flags, mem_id, conf)

    def name_vale(self, start: int) -> None:
        """A VALE name, valS:P with S in [0-9A-Za-z_]* and P in [0-9A-Za-z_]+."""
        self.i = start + len(VALE_NAME_PREFIX)
        while self.peek() in _WORD:
            self.i += 1
        if self.peek() != ":":
            got = f"'{_quote(self.peek())}'" if self.peek() else "the end"
            raise self.fail(
                self.i,
                "a name that starts with 'val' is a VALE name, valS:P: VALE switch name must be"
                f" [0-9A-Za-z_]* and end with ':', got {got}",
            )
        self.i += 1
        if self.peek() not in _WORD:
            got = f"'{_quote(self.peek())}'" if self.peek() else "nothing"
            raise self.fail(self.i, f"VALE port name must be [0-9A-Za-z_]+, got {got}")
        while self.peek() in _WORD:
            self.i += 1

    def pipe_id(self) -> str:
        """The ID after "{" or "}": up to the next ring selector or item, not empty, and
        without the braces that would make the kernel split the name elsewhere."""
        brace = self.peek()
        self.i += 1
        j = self.i
        while self.peek() and self.peek() not in _ID_STOP:
            c = self.peek()
            if c == "{" or (c == "}" and brace == "}"):
                raise self.fail(
                    self.i,
                    f"'{c}' in the pipe id after '{brace}' would make the parent a pipe end"
                    " (the kernel splits at the last '{', else the last '}')",
                )
            self.i += 1
        if self.i == j:
            got = f"'{_quote(self.peek())}'" if self.peek() else "the end"
            raise self.fail(j, f"the pipe id after '{brace}' is empty, got {got}")
        return self.s[j : self.i]

    def check_ifname(self, name: str, start: int) -> None:
        """The kernel's rules for a NIC name or a pipe's plain parent (netmap_port_name_ok)."""
        if name in (".", ".."):
            raise self.fail(start, f"'{name}' is not an interface name")
        for k, c in enumerate(name):
            if not " " < c < "\x7f":
                raise self.fail(start + k, f"an interface name cannot hold '{_quote(c)}'")

    def ring_selector(self) -> tuple[RingMode, int | None]:
        c = self.peek()
        if c == "^":
            self.i += 1
            if self.peek() in _DIGITS:
                return "one-sw", self.number(RING_MAX, "the host ring after '^'")
            return "sw", None
        if c == "*":
            self.i += 1
            return "nic-sw", None
        if c == "-":
            self.i += 1
            return "one-nic", self.number(RING_MAX, "the ring after '-'")
        return "all-nic", None

    def items(self) -> tuple[frozenset[PortFlag], int | None, PortConf]:
        flags: set[PortFlag] = set()
        mem_id = None
        conf: dict[str, int] = {}
        s = self.s
        while self.peek():
            c = self.peek()
            if c == "/":
                if not self.peek(1):
                    raise self.fail(self.i, "no flags after '/'")
                self.i += 1
                while self.peek() and self.peek() not in "@/":
                    f = FLAG_LETTERS.get(self.peek())
                    if f is None:
                        raise self.fail(
                            self.i, f"unknown flag '{_quote(self.peek())}' (x z t r R T)"
                        )
                    flags.add(f)
                    self.i += 1
            elif c == "@" and self.peek(1) in _DIGITS:
                self.i += 1
                at = self.i
                mem_id = self.number(MEM_ID_MAX, "the memory id after '@'")
                if mem_id == 0:
                    raise self.fail(at, "memory id 0 does not exist (ids start at 1)")
            elif s.startswith("@conf:", self.i):
                self.i += len("@conf:")
                self.conf_list(conf)
            elif c == "@":
                raise self.fail(self.i, "unsupported option after '@' (@N or @conf:)")
            else:
                raise self.fail(self.i, f"unexpected '{_quote(c)}'")
        return frozenset(flags), mem_id, PortConf(**conf)

    def conf_list(self, conf: dict[str, int]) -> None:
        """key=N,... after "@conf:", into conf (PortConf's fields); later keys win."""
        s = self.s
        while True:
            key = next((k for k in _CONF_KEYS if s.startswith(k + "=", self.i)), None)
            if key is None:
                word = s[self.i :].split("=", 1)[0].split(",", 1)[0]
                what = f"unknown @conf: key '{_quote(word)}'" if word else "no @conf: key"
                raise self.fail(self.i, f"{what} ({', '.join(_CONF_KEYS)})")
            self.i += len(key) + 1
            names, limit = _CONF_KEYS[key]
            value = self.number(limit, f"@conf: {key}")
            for n in names:
                conf[n] = value
            if self.peek() != ",":
                break
            self.i += 1
        if self.peek() and self.peek() not in "@/":
            raise self.fail(self.i, f"unexpected '{_quote(self.peek())}' after @conf:")


def parse_port(spec: str) -> PortSpec:
    """Parse one port spec; raises UsageError naming the bad part and its offset."""
    return _Parser(spec).parse()
