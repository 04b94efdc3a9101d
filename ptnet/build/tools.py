"""The user-space tools of kernel/tools/ and the netmap user headers, built into the cache.

    build/tools/                       pkt-gen, afpacket-gen, ring-limit, ... (static binaries)
                                       and make's objects
    build/headers/include/net/         netmap.h, netmap_legacy.h, netmap_user.h (the default prefix)

The tools build with kernel/tools/Makefile and O= pointing into the cache, so the checkout never
holds build output and make rebuilds only what changed. The lab guest sees the cache read-only at
the same path, so tool_path() works there too once the tools are built on the host.
"""

import filecmp
import os
import shutil
from pathlib import Path

from ptnet import host, paths
from ptnet.errors import UsageError
from ptnet.locking import file_lock

TOOLS = (
    "pkt-gen",
    "afpacket-gen",
    "nm-kloop-test",
    "vale-ctl",
    "bridge",
    "ring-limit",
    "nf-fw",
    "nf-nat",
    "nf-ids",
    "nf-probe",
)
HEADERS = ("netmap.h", "netmap_legacy.h", "netmap_user.h")


def tools_dir() -> Path:
    """Where the tools are built."""
    return paths.builds_dir() / "tools"


def default_headers_prefix() -> Path:
    return paths.builds_dir() / "headers"


def _tools_src() -> Path:
    return paths.source_root() / "kernel" / "tools"


def _uapi_net() -> Path:
    return paths.source_root() / "kernel" / "include" / "uapi" / "net"


def build_tools() -> list[Path]:
    """Build the tools (incrementally) into the cache; return their paths."""
    make = host.require("make", "make")
    host.require("gcc", "gcc")
    out = tools_dir()
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, len(os.sched_getaffinity(0)))
    src = _tools_src()
    argv = [make, "--no-print-directory", "-C", src, f"O={out}"]
    with file_lock(out / ".lock"):
        # make's dependency files name the sources by absolute path: objects built from
        # another checkout would point at files that may be gone, so they are dropped and
        # everything is built again. The tools stay in place until relinked (each by a
        # rename), so an image build or a lab reading them meanwhile never finds one missing
        # or half written.
        stamp = out / ".source"
        rebuild: list[str] = []
        if not stamp.is_file() or stamp.read_text() != str(src):
            host.run([*argv, "clean-objects"])
            rebuild = ["--always-make"]
        host.run([*argv, *rebuild, f"-j{jobs}"])
        stamp.write_text(str(src))
    return [out / name for name in TOOLS]


def tool_path(name: str) -> Path:
    """The built tool `name`; UsageError when it is unknown or not built yet."""
    if name not in TOOLS:
        raise UsageError(f"unknown tool {name!r}; the tools are: {', '.join(TOOLS)}")
    path = tools_dir() / name
    if not path.is_file():
        raise UsageError(f"{name} is not built; run: ptnet build tools")
    return path


def install_headers(prefix: Path | None = None) -> Path:
    """Install the user headers under PREFIX/include/net/; return PREFIX/include (for -I).

    Only changed files are rewritten (each atomically), so dependent builds stay up to date.
    """
    include = (prefix or default_headers_prefix()).resolve() / "include"
    dest = include / "net"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for name in HEADERS:
            src, dst = _uapi_net() / name, dest / name
            if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
                continue
            tmp = dst.with_name(f".{name}.ptnet-tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
    except OSError as exc:
        raise UsageError(f"cannot install the headers under {include}: {exc}") from exc
    return include
