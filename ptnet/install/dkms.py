"""The DKMS package "ptnet": netmap.ko and the guest driver, rebuilt by DKMS for every kernel.

`ptnet host install` copies the kbuild sources of the checkout's module directories (kernel/,
then guest/: ptnet.build.kbuild.MODULE_DIRS) to /usr/src/ptnet-VERSION with a dkms.conf made
from their Kbuild files, then registers, builds and installs that tree for the running kernel.
DKMS puts the modules under /lib/modules/RELEASE/updates/dkms and rebuilds them when a new
kernel's headers are installed (AUTOINSTALL).
"""

import re
import shutil
from pathlib import Path

import ptnet
from ptnet import host, paths
from ptnet.build.kbuild import MODULE_DIRS

NAME = "ptnet"
SOURCE_TREE = Path("/usr/src")
DKMS_TREE = Path("/var/lib/dkms")
DEST = "/updates/dkms"
# The kernels DKMS may build for: 6.1 and later 6.x, and 7.x (preflight.py's range). A kernel
# outside it is skipped by DKMS instead of failing to build.
BUILD_EXCLUSIVE_KERNEL = r"^(6\.([1-9]|[1-9][0-9])|7\.[0-9]+)\."
_SOURCE_SUFFIXES = frozenset({".c", ".h", ".S"})
_OBJ_M = re.compile(r"^obj-m\s*[:+]?=\s*(.+)$", re.MULTILINE)


def version() -> str:
    return ptnet.__version__


def source_dir(ver: str | None = None) -> Path:
    return SOURCE_TREE / f"{NAME}-{ver or version()}"


def kbuild_modules(kbuild: Path) -> list[str]:
    """The module names a Kbuild file builds (its obj-m objects)."""
    names: list[str] = []
    for m in _OBJ_M.finditer(kbuild.read_text()):
        names += [w[:-2] for w in m.group(1).split() if w.endswith(".o")]
    return names


def module_dirs(root: Path | None = None) -> list[tuple[str, list[str]]]:
    """(directory, its modules) for each module directory of the checkout, in build order."""
    base = root or paths.source_root()
    return [
        (d, kbuild_modules(base / d / "Kbuild"))
        for d in MODULE_DIRS
        if (base / d / "Kbuild").is_file()
    ]


def dkms_conf(ver: str, dirs: list[tuple[str, list[str]]]) -> str:
    """dkms.conf for `dirs`: one make per directory, in order, each later one given the
    Module.symvers of the earlier ones (the guest driver links against netmap.ko)."""
    # Double quotes: dkms sources this file with kernel_source_dir and dkms_tree set.
    build = f"${{dkms_tree}}/{NAME}/{ver}/build"
    makes, cleans, symvers = [], [], []
    for d, _ in dirs:
        extra = f" KBUILD_EXTRA_SYMBOLS='{' '.join(symvers)}'" if symvers else ""
        makes.append(f"make -C ${{kernel_source_dir}} M={build}/{d}{extra} modules")
        cleans.append(f"make -C ${{kernel_source_dir}} M={build}/{d} clean")
        symvers.append(f"{build}/{d}/Module.symvers")
    lines = [
        "# Written by `ptnet host install` from the Kbuild files of "
        + ", ".join(f"{d}/" for d, _ in dirs)
        + "; removed by `ptnet host uninstall`.",
        f'PACKAGE_NAME="{NAME}"',
        f'PACKAGE_VERSION="{ver}"',
        f'MAKE[0]="{" && ".join(makes)}"',
        f'CLEAN="{"; ".join(cleans)}"',
    ]
    i = 0
    for d, modules in dirs:
        for module in modules:
            lines += [
                f'BUILT_MODULE_NAME[{i}]="{module}"',
                f'BUILT_MODULE_LOCATION[{i}]="{d}/"',
                f'DEST_MODULE_LOCATION[{i}]="{DEST}"',
            ]
            i += 1
    lines += [f"BUILD_EXCLUSIVE_KERNEL='{BUILD_EXCLUSIVE_KERNEL}'", 'AUTOINSTALL="yes"']
    return "\n".join(lines) + "\n"


def stage(dest: Path, root: Path | None = None) -> None:
    """Write the DKMS source tree into `dest` (a directory of ours, not yet the host's): each
    module directory's Kbuild and C sources, without its user-space tools, and dkms.conf."""
    base = root or paths.source_root()
    dirs = module_dirs(base)
    for d, _ in dirs:
        src = base / d
        for p in sorted(src.rglob("*")):
            rel = p.relative_to(src)
            if not p.is_file() or rel.parts[0] == "tools" or rel.parts[0].startswith("."):
                continue
            if p.name == "Kbuild" or p.suffix in _SOURCE_SUFFIXES:
                (dest / d / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, dest / d / rel)
    (dest / "dkms.conf").write_text(dkms_conf(version(), dirs))


def registered() -> list[str]:
    """The versions of our package DKMS knows, from its tree (no dkms needed to read it)."""
    tree = DKMS_TREE / NAME
    if not tree.is_dir():
        return []
    return sorted(p.name for p in tree.iterdir() if p.is_dir() and not p.is_symlink())


def status() -> str:
    """`dkms status` for our package, one line per version and kernel ("" when unregistered)."""
    if not shutil.which("dkms"):
        return ""
    return host.run(["dkms", "status", "-m", NAME], capture=True, quiet=True).stdout.strip()


def install(staged: Path, release: str) -> None:
    """Replace any registered version by `staged`, then build and install it for `release`."""
    dkms = host.require("dkms", "dkms")
    remove()
    dest = source_dir()
    host.run(host.as_root(["cp", "-r", str(staged), str(dest)]))
    host.run(host.as_root([dkms, "add", "-m", NAME, "-v", version()]))
    host.run(host.as_root([dkms, "build", "-m", NAME, "-v", version(), "-k", release]))
    host.run(host.as_root([dkms, "install", "-m", NAME, "-v", version(), "-k", release]))


def remove() -> None:
    """Unregister every version of our package from DKMS (its modules leave /lib/modules) and
    remove the source trees."""
    for ver in registered():
        dkms = host.require("dkms", "dkms")
        host.run(host.as_root([dkms, "remove", "-m", NAME, "-v", ver, "--all"]))
    trees = sorted(SOURCE_TREE.glob(f"{NAME}-*"))
    if trees:
        host.run(host.as_root(["rm", "-rf", *map(str, trees)]))
