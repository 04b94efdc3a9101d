"""A chain of network functions as the user asks for it: the shorthand, the YAML file, the
JSON Schema. Pure: `load_file` reads the file it is given and nothing else.

A chain is an ordered list of NFs between two ends, ingress and egress. Each NF is a VM with a
role (built in: fw, nat, ids; or custom, with the command that starts it), a trust level, an
image, CPUs, memory and a backend. The shorthand `fw,ids:untrusted,nat` names the roles in order;
the file, in the spirit of containerlab's .clab.yml, says everything:

    name: edge
    ingress: netmap:eth1        # or host (the default): a host port named after the chain
    egress: host
    nfs:
      - role: fw
        config: {rules: /etc/ptnet/fw.rules}
      - {role: ids, trust: untrusted, mem: 1G, config: {mode: ips}}
      - {name: filter, role: nft, command: "nft-start {in} {out}"}

A chain may spread over several hosts (`hosts:`, and `host:` on an NF): see chain_hosts.py.

The file is validated with pydantic (its JSON Schema is `json_schema()`), then by the rules that
span fields (unique names, roles and commands). Every bad input raises UsageError with one line
that names the field path: `nfs[1].trust: expected trusted or untrusted`.
"""

import enum
import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, WithJsonSchema

from ptnet.errors import UsageError
from ptnet.model.chain_hosts import (
    DEFAULT_MTU,
    HOST_NAME,
    LOCAL,
    MAX_CHAIN_MTU,
    MIN_MTU,
    VNI_MAX,
    VNI_MIN,
    HostFile,
    HostSpec,
    default_vni,
    host_spec,
)
from ptnet.model.ports import NETMAP_PREFIX, parse_port
from ptnet.model.vm import MAX_CPUS, MIN_MEM_MB, BackendName, check_name, parse_mem


class Trust(enum.StrEnum):
    """Whether an NF may map its neighbours' buffers (pipes) or must be copied to (VALE)."""

    trusted = "trusted"
    untrusted = "untrusted"


# The roles whose programs we ship (nf-ROLE in the role's image, images/ROLE).
BUILTIN_ROLES = ("fw", "nat", "ids")
MAX_NFS = 8
# The chain's name is its pipe parent's name (a netdev name, with room for the `{N` suffix
# inside IFNAMSIZ) and the prefix of its VMs' names: "CHAIN-NF" is a VM name.
MAX_CHAIN_NAME = 12
MAX_NF_NAME = 15
RESERVED_NF_NAMES = ("ingress", "egress")
HOST = "host"
MAX_FILE_BYTES = 1 << 20

_CHAIN_NAME = re.compile(rf"[a-z][a-z0-9-]{{0,{MAX_CHAIN_NAME - 1}}}")
_NF_NAME = re.compile(rf"[a-z][a-z0-9-]{{0,{MAX_NF_NAME - 1}}}")
_ROLE = re.compile(r"[a-z][a-z0-9-]{0,30}")
_IMAGE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_CONFIG_KEY = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_MEM_PATTERN = r"^\s*[0-9]+([MGmg]?)([iI]?[bB])?\s*$"


# -- the typed model -------------------------------------------------------------------------


@dataclass(frozen=True)
class End:
    """One end of the chain: a host port named after the chain (`host`), or a real NIC
    (`netmap:IFNAME`) that the chain reaches through VALE attach."""

    kind: Literal["host", "nic"] = "host"
    nic: str | None = None

    def __str__(self) -> str:
        return HOST if self.nic is None else f"{NETMAP_PREFIX}{self.nic}"


ConfigValue = str | int | float | bool | list[str | int | float | bool]


@dataclass(frozen=True)
class NfSpec:
    """One network function: a VM running its role between its two ports (in, then out)."""

    name: str
    role: str
    trust: Trust = Trust.trusted
    image: str = ""
    cpus: int = 1
    mem_mb: int = 512
    backend: BackendName = BackendName.qemu
    command: str | None = None  # custom roles only: what starts the NF in the guest
    config: Mapping[str, ConfigValue] = field(default_factory=dict)  # the role's options
    host: str = LOCAL  # the host whose libvirt runs it (hosts:)
    vni: int | None = None  # the VNI of the hop into it, when that hop crosses hosts

    @property
    def builtin(self) -> bool:
        return self.role in BUILTIN_ROLES

    def to_dict(self) -> dict[str, Any]:
        """The NF as the file has it."""
        return {
            "name": self.name,
            "role": self.role,
            "trust": self.trust.value,
            "image": self.image,
            "cpus": self.cpus,
            "mem": self.mem_mb,
            "backend": self.backend.value,
            "command": self.command,
            "config": dict(self.config),
            "host": self.host,
            **({} if self.vni is None else {"vni": self.vni}),
        }


@dataclass(frozen=True)
class ChainSpec:
    name: str
    nfs: tuple[NfSpec, ...]
    ingress: End = End()
    egress: End = End()
    # The hosts the file names (the local host is implicit: it may have no entry).
    hosts: tuple[HostSpec, ...] = ()
    mtu: int = DEFAULT_MTU  # the largest IP packet the chain carries
    vni: int | None = None  # the first hop's VNI (None: default_vni(name))

    def vm_name(self, nf: NfSpec) -> str:
        return f"{self.name}-{nf.name}"

    def host(self, name: str) -> HostSpec:
        """The host named `name`; the local host whether the file has an entry or not."""
        for h in self.hosts:
            if h.name == name:
                return h
        assert name == LOCAL, name
        return HostSpec(LOCAL)

    @property
    def placement(self) -> tuple[str, ...]:
        """The host of each end of each hop, ingress to egress: the ends are local."""
        return (LOCAL, *(nf.host for nf in self.nfs), LOCAL)

    @property
    def vnis(self) -> dict[int, int]:
        """The VNI of each hop between two hosts, by hop index: the NF's own `vni` for the hop
        into it, else the chain's first VNI plus the hop's index."""
        base = default_vni(self.name) if self.vni is None else self.vni
        where = self.placement
        out = {}
        for i in range(len(where) - 1):
            if where[i] != where[i + 1]:
                own = self.nfs[i].vni if i < len(self.nfs) else None
                out[i] = base + i if own is None else own
        return out

    def to_dict(self) -> dict[str, Any]:
        """The chain as a file that gives it back: from_data(spec.to_dict()) == spec."""
        return {
            "name": self.name,
            "ingress": str(self.ingress),
            "egress": str(self.egress),
            "nfs": [nf.to_dict() for nf in self.nfs],
            "mtu": self.mtu,
            **({} if self.vni is None else {"vni": self.vni}),
            **({"hosts": {h.name: h.to_dict() for h in self.hosts}} if self.hosts else {}),
        }


# -- the file, as pydantic validates it --------------------------------------------------------


def _mem(value: object) -> object:
    """`mem:` as MiB (an integer) or a size with an M or G suffix, by vm.py's rule."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected a size: MiB, or with an M or G suffix (512M, 1G)")
    try:
        return parse_mem(str(value))
    except UsageError:
        raise ValueError(
            f"expected a size of at least {MIN_MEM_MB} MiB: MiB, or with an M or G suffix"
        ) from None


def _command(value: object) -> object:
    """A command line, split as a shell would (quotes balanced)."""
    if not isinstance(value, str):
        raise ValueError("expected a string")
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"expected a command line: {exc}") from None
    if not words:
        raise ValueError("expected a command, got only blanks")
    return value


def _config(value: object) -> object:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of role options")
    for key, item in value.items():
        if not isinstance(key, str) or not _CONFIG_KEY.fullmatch(key):
            raise ValueError(f"bad option name {_show(key)}: lowercase letters, digits, '-', '_'")
        items = item if isinstance(item, list) else [item]
        if not all(isinstance(v, str | int | float | bool) for v in items):
            raise ValueError(f"option {key}: expected a string, number, boolean or a list of them")
    return value


def _matching(pattern: re.Pattern[str], what: str) -> BeforeValidator:
    def check(value: object) -> object:
        if not isinstance(value, str):
            raise ValueError("expected a string")
        if not pattern.fullmatch(value):
            raise ValueError(f"bad {what} {_show(value)}: {_RULES[what]}")
        return value

    return BeforeValidator(check)


_RULES = {
    "chain name": f"a lowercase letter, then up to {MAX_CHAIN_NAME - 1} of a-z, 0-9 and '-'",
    "NF name": f"a lowercase letter, then up to {MAX_NF_NAME - 1} of a-z, 0-9 and '-'",
    "role": "a lowercase letter, then up to 30 of a-z, 0-9 and '-'",
    "image": "a lowercase letter, then a-z, 0-9, '-' and '_' (images/NAME)",
    "host name": "a lowercase letter, then up to 14 of a-z, 0-9 and '-'",
}

Mem = Annotated[
    int,
    BeforeValidator(_mem),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": MIN_MEM_MB},
                {"type": "string", "pattern": _MEM_PATTERN},
            ],
            "description": "Memory: MiB, or a size with an M or G suffix (512M, 1G).",
        }
    ),
]
_scalar = [{"type": t} for t in ("string", "number", "boolean")]
Config = Annotated[
    dict[str, Any],
    BeforeValidator(_config),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": f"^{_CONFIG_KEY.pattern}$"},
            "additionalProperties": {
                "anyOf": [*_scalar, {"type": "array", "items": {"anyOf": _scalar}}]
            },
            "description": "The role's options, passed to its program as --KEY VALUE.",
        }
    ),
]


def _pattern_schema(pattern: re.Pattern[str], description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": f"^{pattern.pattern}$", "description": description}
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NfFile(_Strict):
    """One NF in the file."""

    name: (
        Annotated[
            str,
            _matching(_NF_NAME, "NF name"),
            _pattern_schema(_NF_NAME, "The NF's name in the chain (default: its role, numbered)."),
        ]
        | None
    ) = None
    role: Annotated[
        str,
        _matching(_ROLE, "role"),
        _pattern_schema(_ROLE, f"A built-in role ({', '.join(BUILTIN_ROLES)}) or a custom one."),
    ]
    trust: Trust = Field(Trust.trusted, description="untrusted NFs are reached through VALE.")
    image: (
        Annotated[
            str,
            _matching(_IMAGE, "image"),
            _pattern_schema(_IMAGE, "The image recipe, images/NAME (default: the role's)."),
        ]
        | None
    ) = None
    cpus: StrictInt = Field(1, ge=1, le=MAX_CPUS, description="Virtual CPUs.")
    mem: Mem = 512
    backend: BackendName = Field(BackendName.qemu, description="Who runs the NF's QEMU.")
    command: Annotated[str, BeforeValidator(_command)] | None = Field(
        None,
        description="Custom roles only: the command that starts the NF in the guest, split as"
        " a shell would; {in} and {out} stand for its two netdevs.",
    )
    config: Config = {}
    host: (
        Annotated[
            str,
            _matching(HOST_NAME, "host name"),
            _pattern_schema(HOST_NAME, f"Its host, a key of hosts: (default: {LOCAL})."),
        ]
        | None
    ) = None
    vni: StrictInt | None = Field(
        None,
        ge=VNI_MIN,
        le=VNI_MAX,
        description="The VNI of the VXLAN hop into this NF, when it crosses hosts.",
    )


_END = "host (a host port named after the chain), or netmap:IFNAME for a NIC (VALE attach)."
_END_PATTERN = f"^({HOST}|{NETMAP_PREFIX}[^:{{}}^*@/-]+)$"


class ChainFile(_Strict):
    """A chain of network functions (ptnet chain create -f FILE)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="ptnet chain")

    name: (
        Annotated[
            str,
            _matching(_CHAIN_NAME, "chain name"),
            _pattern_schema(_CHAIN_NAME, "The chain's name (default: derived from the roles)."),
        ]
        | None
    ) = None
    ingress: str = Field(HOST, description=_END, json_schema_extra={"pattern": _END_PATTERN})
    egress: str = Field(HOST, description=_END, json_schema_extra={"pattern": _END_PATTERN})
    nfs: list[NfFile] = Field(min_length=1, max_length=MAX_NFS, description="The NFs, in order.")
    hosts: dict[str, HostFile] = Field(
        {},
        max_length=MAX_NFS + 1,
        description=f"The hosts NFs are placed on, by name ({LOCAL}: this machine, implicit).",
        json_schema_extra={"propertyNames": {"pattern": f"^{HOST_NAME.pattern}$"}},
    )
    mtu: StrictInt = Field(
        DEFAULT_MTU,
        ge=MIN_MTU,
        le=MAX_CHAIN_MTU,
        description="The largest IP packet the chain carries, checked against every uplink.",
    )
    vni: StrictInt | None = Field(
        None,
        ge=VNI_MIN,
        le=VNI_MAX,
        description="The chain's first VNI: hop I between hosts gets it plus I.",
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the chain file."""
    schema = ChainFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# -- pydantic's errors as one line -------------------------------------------------------------


def _show(value: object, keep: int = 40) -> str:
    """A value for a one-line message: repr, escaped, cut in the middle when long."""
    text = repr(value).encode("ascii", "backslashreplace").decode()
    return text if len(text) <= keep else f"{text[: keep // 2]}...{text[-keep // 2 :]}"


def field_path(loc: tuple[int | str, ...]) -> str:
    """('nfs', 1, 'trust') -> 'nfs[1].trust'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _problem(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "enum":
        return "expected " + str(ctx.get("expected", "")).replace("'", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "expected a mapping"
    if kind == "list_type":
        return "expected a list"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "expected an integer"
    if kind == "string_type":
        return "expected a string"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"expected {'at least' if kind == 'greater_than_equal' else 'at most'} " + str(
            ctx.get("ge", ctx.get("le"))
        )
    return str(error["msg"])


def _usage(exc: pydantic.ValidationError) -> UsageError:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = field_path(error["loc"]) or "chain"
    return UsageError(f"{where}: {_problem(error)}")


# -- from validated data to the typed model ----------------------------------------------------


def default_name(roles: list[str]) -> str:
    """The roles joined by '-', or, when that is no valid chain name, chain-HASH."""
    joined = "-".join(roles)
    if _CHAIN_NAME.fullmatch(joined) and not joined.startswith("val"):
        return joined
    return "chain-" + hashlib.sha256(",".join(roles).encode()).hexdigest()[:6]


def parse_end(text: str, where: str) -> End:
    """`host`, or `netmap:IFNAME` for a real NIC with no suffix."""
    if text == HOST:
        return End()
    expected = f"expected {HOST} or {NETMAP_PREFIX}IFNAME"
    if not text.startswith(NETMAP_PREFIX):
        raise UsageError(f"{where}: {expected}, got {_show(text)}")
    try:
        port = parse_port(text)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    if port.kind != "nic" or str(port) != f"{NETMAP_PREFIX}{port.name}":
        raise UsageError(f"{where}: {expected} (a NIC, with no suffix), got {_show(text)}")
    return End("nic", port.name)


def _nf_names(nfs: list[NfFile]) -> list[str]:
    """Each NF's name: its own, or its role (numbered from 1 when the role repeats)."""
    counts: dict[str, int] = {}
    for nf in nfs:
        counts[nf.role] = counts.get(nf.role, 0) + 1
    seen: dict[str, int] = {}
    names = []
    for nf in nfs:
        seen[nf.role] = seen.get(nf.role, 0) + 1
        default = nf.role if counts[nf.role] == 1 else f"{nf.role}{seen[nf.role]}"
        names.append(nf.name or default)
    return names


def _check_chain_name(name: str) -> None:
    if name.startswith("val"):
        raise UsageError(
            f"name: bad chain name {_show(name)}: names that start with 'val' are VALE names"
        )


def _spec(chain: ChainFile) -> ChainSpec:
    name = chain.name or default_name([nf.role for nf in chain.nfs])
    _check_chain_name(name)
    names = _nf_names(chain.nfs)
    hosts = _hosts(chain)
    first: dict[str, int] = {}
    nfs = []
    for i, (nf, nf_name) in enumerate(zip(chain.nfs, names, strict=True)):
        where = f"nfs[{i}]"
        if not _NF_NAME.fullmatch(nf_name):
            raise UsageError(f"{where}.name: bad NF name {_show(nf_name)}: {_RULES['NF name']}")
        if nf_name in RESERVED_NF_NAMES:
            raise UsageError(f"{where}.name: {nf_name} names an end of the chain; choose another")
        if nf_name in first:
            raise UsageError(
                f"{where}.name: duplicate NF name {nf_name!r} (also nfs[{first[nf_name]}])"
            )
        first[nf_name] = i
        try:
            check_name(f"{name}-{nf_name}")
        except UsageError as exc:
            raise UsageError(f"{where}.name: {exc}") from None
        builtin = nf.role in BUILTIN_ROLES
        if not builtin and nf.command is None:
            raise UsageError(
                f"{where}.role: unknown role {nf.role!r}; built-in roles are "
                f"{', '.join(BUILTIN_ROLES)}, or give a command for a custom role"
            )
        if builtin and nf.command is not None:
            raise UsageError(
                f"{where}.command: {nf.role} is a built-in role; a command is for custom roles"
            )
        place = nf.host or LOCAL
        if place != LOCAL and place not in hosts:
            known = ", ".join([LOCAL, *sorted(hosts)])
            raise UsageError(f"{where}.host: unknown host {place!r}; the hosts are {known}")
        backend = nf.backend
        if place != LOCAL:
            if "backend" in nf.model_fields_set and backend is not BackendName.libvirt:
                raise UsageError(
                    f"{where}.backend: {nf_name} is on host {place}, which ptnet reaches through "
                    "its libvirt; expected libvirt"
                )
            backend = BackendName.libvirt
        nfs.append(
            NfSpec(
                name=nf_name,
                role=nf.role,
                trust=nf.trust,
                image=nf.image or nf.role,
                cpus=nf.cpus,
                mem_mb=nf.mem,
                backend=backend,
                command=nf.command,
                config=dict(nf.config),
                host=place,
                vni=nf.vni,
            )
        )
    ingress = parse_end(chain.ingress, "ingress")
    egress = parse_end(chain.egress, "egress")
    if ingress.nic is not None and ingress.nic == egress.nic:
        raise UsageError(f"egress: {egress} is already the ingress; a NIC can be one end only")
    spec = ChainSpec(
        name=name,
        nfs=tuple(nfs),
        ingress=ingress,
        egress=egress,
        hosts=tuple(hosts.values()),
        mtu=chain.mtu,
        vni=chain.vni,
    )
    _check_vnis(spec)
    return spec


def _hosts(chain: ChainFile) -> dict[str, HostSpec]:
    hosts = {}
    for key, entry in chain.hosts.items():
        if not HOST_NAME.fullmatch(key):
            raise UsageError(f"hosts: bad host name {_show(key)}: {_RULES['host name']}")
        hosts[key] = host_spec(key, entry)
    return hosts


def _check_vnis(spec: ChainSpec) -> None:
    """Each NF's own VNI is for a hop between hosts; every hop's VNI is in range and its own."""
    vnis = spec.vnis
    for k, nf in enumerate(spec.nfs):
        if nf.vni is not None and k not in vnis:
            raise UsageError(
                f"nfs[{k}].vni: the hop into {nf.name} stays on host {nf.host}; a VNI is for a "
                "hop between hosts"
            )
    owner: dict[int, tuple[int, str]] = {}
    for i, vni in vnis.items():
        own = i < len(spec.nfs) and spec.nfs[i].vni is not None
        where = f"nfs[{i}].vni" if own else "vni"
        if vni > VNI_MAX:
            raise UsageError(
                f"vni: hop {i} would get VNI {vni} ({vni - i} + {i}), past {VNI_MAX}, the last "
                "24-bit VNI; give a smaller vni"
            )
        if vni in owner:
            other, other_where = owner[vni]
            where = where if own else other_where
            raise UsageError(f"{where}: duplicate VNI {vni}: hops {other} and {i} would share it")
        owner[vni] = (i, where)


def from_data(
    data: object,
    *,
    name: str | None = None,
    ingress: str | None = None,
    egress: str | None = None,
    backend: str | None = None,
) -> ChainSpec:
    """Validate parsed data (the file's, or the shorthand's) with the command line's overrides:
    the chain's name, its ends, and every local NF's backend."""
    if isinstance(data, dict):
        overrides = {"name": name, "ingress": ingress, "egress": egress}
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
        if backend is not None and isinstance(data.get("nfs"), list):
            # an NF on a remote host runs through that host's libvirt, whatever --backend says
            data["nfs"] = [
                {**nf, "backend": backend}
                if isinstance(nf, dict) and nf.get("host") in (None, LOCAL)
                else nf
                for nf in data["nfs"]
            ]
    try:
        chain = ChainFile.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _usage(exc) from None
    return _spec(chain)


def parse_shorthand(
    text: str,
    name: str | None = None,
    *,
    ingress: str | None = None,
    egress: str | None = None,
    backend: str | None = None,
) -> ChainSpec:
    """`fw,ids:untrusted,nat`: roles in order, each optionally `:trusted` or `:untrusted`."""
    nfs: list[dict[str, str]] = []
    for i, item in enumerate(text.split(",")):
        role, colon, trust = item.strip().partition(":")
        if not role:
            raise UsageError(
                f"nfs[{i}].role: empty item {i + 1} in {_show(text)}; expected ROLE[:untrusted]"
            )
        nfs.append({"role": role, **({"trust": trust} if colon else {})})
    return from_data({"nfs": nfs}, name=name, ingress=ingress, egress=egress, backend=backend)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {_show(key)} is given twice", key_node.start_mark
            )
    return dict(loader.construct_pairs(node, deep=True))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_text(text: str, source: str = "chain file", **overrides: str | None) -> ChainSpec:
    """A chain file's text; `source` names it in messages."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = " ".join(str(exc.problem or exc.context or "bad YAML").split())
        raise UsageError(f"{where}: {problem}") from None
    except RecursionError:
        raise UsageError(f"{source}: nested too deeply") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise UsageError(f"{source}: bad YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a mapping with name, ingress, egress and nfs")
    return from_data(data, **overrides)


def load_file(path: str | Path, **overrides: str | None) -> ChainSpec:
    """The chain file at `path` (YAML, see the module's doc), with the CLI's overrides."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"{p}: over {MAX_FILE_BYTES} bytes; not a chain file")
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise UsageError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    return parse_text(text, str(p), **overrides)
