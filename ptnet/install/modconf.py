"""How the module loads on the user's host: its parameters (/etc/modprobe.d/ptnet.conf), loading
at boot (/etc/modules-load.d/ptnet.conf), and the udev rule that gives /dev/netmap the owner,
group and mode the module's dev_gid and dev_mode parameters give it (kernel/perm.c), so that the
node keeps them whoever (devtmpfs or udev) makes it."""

import grp
import re
from dataclasses import dataclass, field
from pathlib import Path

from ptnet import paths
from ptnet.errors import UsageError

MODULE = "netmap"
MODPROBE_CONF = Path("/etc/modprobe.d/ptnet.conf")
MODULES_LOAD_CONF = Path("/etc/modules-load.d/ptnet.conf")
UDEV_RULE = Path("/etc/udev/rules.d/70-ptnet-netmap.rules")
HEADER = "# Written by `ptnet host install`; removed by `ptnet host uninstall`.\n"
# kernel/perm.c's dev_mode: read and write bits only, at least the owner's.
DEFAULT_MODE = 0o600
GROUP_MODE = 0o660
_PARAM = re.compile(r"\bmodule_param(?:_cb|_named)?\(\s*(\w+)\s*,\s*&?(\w+)")
# Parameters whose operations only show a counter (kernel/stats.c, vale_gso.c): nothing to set.
_COUNTER_OPS = frozenset({"netmap_stat_ops", "vale_drops_ops"})
_VALUE = re.compile(r"[A-Za-z0-9_.,:+-]+")


def module_params(src: Path | None = None) -> set[str]:
    """The parameter names netmap.ko declares, read from its sources, without its counters."""
    base = src or paths.source_root() / "kernel"
    return {
        m.group(1)
        for c in base.glob("*.c")
        for m in _PARAM.finditer(c.read_text())
        if m.group(2) not in _COUNTER_OPS
    }


@dataclass(frozen=True)
class LoadOptions:
    """The module's parameters, and the device's group name (None: root's group)."""

    params: dict[str, str] = field(default_factory=dict)
    group: str | None = None

    @property
    def mode(self) -> int:
        return int(self.params.get("dev_mode", "0"), 8) or DEFAULT_MODE


def parse(pairs: list[str], group: str | None, known: set[str]) -> LoadOptions:
    """Check `--param NAME=VALUE` pairs and `--group`; --group sets dev_gid and, unless given,
    dev_mode 0660."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise UsageError(f"--param {pair}: expected NAME=VALUE")
        if name not in known:
            raise UsageError(
                f"--param {pair}: netmap.ko has no parameter {name!r}; "
                f"it has: {', '.join(sorted(known))}"
            )
        if not _VALUE.fullmatch(value):
            raise UsageError(f"--param {pair}: the value may hold letters, digits and _.,:+- only")
        params[name] = value
    if "dev_mode" in params:
        try:
            mode = int(params["dev_mode"], 8)
        except ValueError:
            raise UsageError(f"--param dev_mode={params['dev_mode']}: not an octal mode") from None
        if mode & ~0o666 or not mode & 0o600:
            raise UsageError(
                f"--param dev_mode={params['dev_mode']}: from 0600 to 0666, "
                "read and write bits only"
            )
        params["dev_mode"] = f"0{mode:o}"
    if group is not None:
        if "dev_gid" in params:
            raise UsageError("--group and --param dev_gid= both name the group; give one")
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise UsageError(
                f"--group {group}: no such group; create it with: groupadd --system {group}"
            ) from None
        params["dev_gid"] = str(gid)
        params.setdefault("dev_mode", f"0{GROUP_MODE:o}")
    elif "dev_gid" in params:
        try:
            group = grp.getgrgid(int(params["dev_gid"])).gr_name
        except (KeyError, ValueError):
            raise UsageError(f"--param dev_gid={params['dev_gid']}: no such group") from None
    return LoadOptions(params, group)


def modprobe_conf(opts: LoadOptions) -> str:
    line = " ".join(f"{k}={v}" for k, v in sorted(opts.params.items()))
    return HEADER + (f"options {MODULE} {line}\n" if line else "")


def udev_rule(opts: LoadOptions) -> str:
    group = opts.group or "root"
    return (
        HEADER
        + "# /dev/netmap as netmap.ko's dev_gid and dev_mode make it (kernel/perm.c).\n"
        + f'SUBSYSTEM=="netmap", KERNEL=="netmap", OWNER="root", GROUP="{group}", '
        + f'MODE="0{opts.mode:o}"\n'
    )


def modules_load_conf() -> str:
    return HEADER + f"{MODULE}\n"


def read_params(conf: Path = MODPROBE_CONF) -> dict[str, str]:
    """The parameters a modprobe.d file of ours sets."""
    if not conf.is_file():
        return {}
    params: dict[str, str] = {}
    for line in conf.read_text().splitlines():
        words = line.split()
        if words[:2] == ["options", MODULE]:
            params.update(w.split("=", 1) for w in words[2:] if "=" in w)  # type: ignore[misc]
    return params
