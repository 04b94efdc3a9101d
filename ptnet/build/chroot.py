"""Minimal Debian chroots in the cache, for kbuild runs that need a later release's toolchain.

Debian builds each kernel with its own release's compiler, and the headers name it (CC = gcc-14 in
.kernelvariables); linux-kbuild's programs (modpost, objtool) link against that release's libc.
The 7.x kernels of trixie-backports therefore cannot be built for on a bookworm host. Their
modules are built in a debootstrap minbase chroot of that release instead:

    chroots/<release>/root/               the chroot (made in a temporary directory, renamed
                                          into place when complete)
    chroots/<release>/root/.ptnet-packages  what was asked of debootstrap, one package a line

A chroot is made once and reused; one that lacks a package asked for is made again. Making it
holds chroots/.<release>.lock, so concurrent builds wait for one debootstrap. Commands run in it
inside a private mount namespace (unshare), with the host directories they need bound at the same
paths, so absolute paths in the kernel headers and kbuild's output stay valid on both sides.
"""

import tempfile
from collections.abc import Sequence
from pathlib import Path

from ptnet import host, paths
from ptnet.errors import PtnetError
from ptnet.locking import file_lock

# What kbuild needs in a chroot besides the kernel's compiler: make, pahole for the modules' BTF,
# and the libraries linux-kbuild's programs link against (named as in that release).
KBUILD_PACKAGES: dict[str, tuple[str, ...]] = {
    "trixie": ("make", "pahole", "libelf1t64", "libssl3t64", "zlib1g"),
}

_STAMP = ".ptnet-packages"

# Runs as `sh -c SCRIPT sh ROOT BIND... -- ARGV...` inside `unshare --mount`: bind each host
# directory at the same path in the chroot, give it /dev and /proc, and exec ARGV there with a
# clean environment.
_ENTER = "; ".join(
    [
        "set -e",
        "root=$1",
        "shift",
        'while [ "$1" != -- ]; do mkdir -p "$root$1"; mount --rbind "$1" "$root$1"; shift; done',
        "shift",
        'mount --rbind /dev "$root/dev"',
        'mount -t proc proc "$root/proc"',
        'exec chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C "$@"',
    ]
)


def chroot_dir(release: str) -> Path:
    return paths.cache_dir() / "chroots" / release / "root"


def packages_for(release: str, compiler: str) -> list[str]:
    """The packages a kbuild chroot of `release` needs for a kernel built with `compiler`."""
    if release not in KBUILD_PACKAGES:
        raise PtnetError(f"no kbuild chroot recipe for Debian {release}")
    return sorted({*KBUILD_PACKAGES[release], compiler})


def has_packages(root: Path, packages: Sequence[str]) -> bool:
    """Whether the chroot at `root` is complete and was made with every one of `packages`."""
    stamp = root / _STAMP
    return stamp.is_file() and set(packages) <= set(stamp.read_text().split())


def ensure(release: str, packages: Sequence[str]) -> Path:
    """The chroot of `release` with `packages`, made with debootstrap if needed. Idempotent."""
    root = chroot_dir(release)
    if has_packages(root, packages):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(root.parent.parent / f".{release}.lock"):
        if has_packages(root, packages):  # made by another process while we waited
            return root
        _debootstrap(release, packages, root)
    return root


def _debootstrap(release: str, packages: Sequence[str], root: Path) -> None:
    debootstrap = host.require("debootstrap", "debootstrap")
    unshare = host.require("unshare", "util-linux")
    mirror = host._configured_debian_uri("bookworm")
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".make-") as tmp:
        new = Path(tmp) / "root"
        host.log(f"making a Debian {release} chroot for kbuild in {root}")
        # In a private mount namespace: whatever debootstrap mounts in the target (proc, sys)
        # goes away with it, even when it fails, so the cleanup never walks into a mount.
        host.run(
            [
                *(unshare, "--mount", "--propagation", "private", "--"),
                *(debootstrap, "--variant=minbase", f"--include={','.join(packages)}"),
                *(release, str(new), mirror),
            ]
        )
        (new / _STAMP).write_text("".join(f"{p}\n" for p in sorted(packages)))
        if root.exists():
            old = Path(tmp) / "old"
            root.rename(old)
        new.rename(root)
    host.log(f"chroot {root} is ready")


def command(root: Path, binds: Sequence[Path], argv: Sequence[str]) -> list[str]:
    """argv that runs `argv` in the chroot at `root`, with `binds` mounted at the same paths."""
    unshare = host.require("unshare", "util-linux")
    for b in binds:
        if not b.is_absolute():
            raise PtnetError(f"chroot bind {b} is not an absolute path")
    return [
        *(unshare, "--mount", "--propagation", "private", "--"),
        *("sh", "-c", _ENTER, "sh", str(root)),
        *(str(b) for b in dict.fromkeys(binds)),
        "--",
        *argv,
    ]
