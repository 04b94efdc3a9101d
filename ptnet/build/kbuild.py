"""Out-of-tree kbuild of the project's kernel modules against a cached kernel's headers.

The checkout never holds build output. Each module directory (kernel/, then guest/) is mirrored
into the cache and kbuild runs on the mirror:
    build/modules/<release>/kernel/   netmap.ko and kbuild's objects
    build/modules/<release>/guest/    ptnet_guest.ko, the ptnet guest driver; it includes the
                                      kernel/ mirror's headers (../kernel) and links against
                                      netmap.ko's Module.symvers

Only changed files are copied and their mtimes are kept, so rebuilds are incremental. The build
must be warning-free: any "warning:" line in kbuild's output fails it, and the directory is then
cleaned so that the next build recompiles everything and reports the warnings again.

Kernels of the host's Debian release build with the host's compiler. A kernel of a later release
(7.x from trixie-backports) names a compiler and links kbuild's programs against a libc that the
host lacks; kbuild then runs in a chroot of that release (ptnet.build.chroot), on the same mirror.
"""

import filecmp
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ptnet import host, paths
from ptnet.build import chroot
from ptnet.errors import PtnetError, UsageError
from ptnet.lab.kernel import HOST_RELEASE, SERIES, Kernel
from ptnet.locking import file_lock

# Module directories of the checkout, built in this order (later ones may use the symbols of
# earlier ones). A directory is built when it holds a Kbuild file.
MODULE_DIRS = ("kernel", "guest")

# W=1 adds the kernel's extra warnings (missing prototypes, unused variables, ...).
KBUILD_ARGS = ("W=1",)

_SOURCE_NAMES = frozenset({"Kbuild", "Makefile"})
_SOURCE_SUFFIXES = frozenset({".c", ".h", ".S"})
_MANIFEST = ".ptnet-sources"
_WARNING = re.compile(r"\bwarning:", re.IGNORECASE)
_ERROR = re.compile(r"\berror\b", re.IGNORECASE)
_BTF_SKIPPED = "Skipping BTF generation"


def modules_dir(kernel: Kernel) -> Path:
    """Where the modules for `kernel` are built."""
    return paths.builds_dir() / "modules" / kernel.release


def module_path(kernel: Kernel, name: str) -> Path:
    """The built `name`.ko for `kernel`; UsageError when it has not been built."""
    for sub in MODULE_DIRS:
        ko = modules_dir(kernel) / sub / f"{name}.ko"
        if ko.is_file():
            return ko
    raise UsageError(
        f"module {name} is not built for {kernel.release}; "
        f"run: ptnet build modules --kernel {kernel.release}"
    )


def build_modules(kernel: Kernel) -> list[Path]:
    """Build every module directory of the checkout for `kernel`; return the .ko files."""
    if not kernel.headers_installed:
        raise UsageError(
            f"the headers of {kernel.release} are not in the cache; "
            f"run: ptnet kernel fetch --series {kernel.series}"
        )
    root = _check_tools(kernel)
    out = modules_dir(kernel)
    out.mkdir(parents=True, exist_ok=True)
    built: list[Path] = []
    symvers: list[Path] = []
    with file_lock(out / ".lock"):
        for sub in MODULE_DIRS:
            src = paths.source_root() / sub
            if not (src / "Kbuild").is_file():
                continue
            built += build_dir(kernel, src, out / sub, extra_symbols=symvers, root=root)
            symvers.append(out / sub / "Module.symvers")
    if not built:
        raise PtnetError(f"no module directory with a Kbuild file in {paths.source_root()}")
    return built


def build_other_dir(kernel: Kernel, src: Path, name: str) -> list[Path]:
    """Build the module directory `src` (kernel/ of another revision, say) for `kernel`, the way
    build_modules builds ours, into modules_dir(kernel)/name; return the .ko files."""
    if not kernel.headers_installed:
        raise UsageError(
            f"the headers of {kernel.release} are not in the cache; "
            f"run: ptnet kernel fetch --series {kernel.series}"
        )
    root = _check_tools(kernel)
    out = modules_dir(kernel) / name
    out.mkdir(parents=True, exist_ok=True)
    with file_lock(modules_dir(kernel) / ".lock"):
        return build_dir(kernel, src, out, root=root)


def build_dir(
    kernel: Kernel,
    src: Path,
    out: Path,
    *,
    extra_symbols: Sequence[Path] = (),
    root: Path | None = None,
) -> list[Path]:
    """Mirror `src` into `out`, run kbuild there (in the chroot `root`, if given) and return the
    .ko files it lists."""
    mirror_sources(src, out)
    argv = [*_make(kernel, out, root), *KBUILD_ARGS, f"-j{_jobs()}"]
    if extra_symbols:
        argv.append("KBUILD_EXTRA_SYMBOLS=" + " ".join(str(_at(p, root)) for p in extra_symbols))
    host.log(f"building {src.name}/ for {kernel.release} in {out}")
    rc, lines = _run_streaming([*argv, "modules"])
    what = f"kbuild of {src.name}/ for {kernel.release}"
    if rc != 0:
        first = next((ln for ln in lines if _ERROR.search(ln)), lines[-1] if lines else "")
        raise PtnetError(f"{what} failed with exit code {rc}: {first.strip()}")
    warnings = [ln.rstrip() for ln in lines if _WARNING.search(ln)]
    if warnings:
        for ln in warnings:
            host.log(ln)
        # The objects are already built; clean them so the next build shows the warnings again.
        host.run([*_make(kernel, out, root), "clean"], capture=True, quiet=True)
        raise PtnetError(f"{what} is not warning-free ({len(warnings)}): {warnings[0]}")
    if any(_BTF_SKIPPED in ln for ln in lines):
        host.log(
            f"note: no BTF in the modules for {kernel.release}: its Debian headers ship no vmlinux"
        )
    return _built_modules(out)


def mirror_sources(src: Path, dst: Path) -> None:
    """Copy the kbuild sources of `src` into `dst`, only where their content changed.

    Copies keep the source's mtime, unless that would not be newer than the copy they replace
    (an older revision checked out), in which case they are stamped now so make rebuilds them.
    Sources mirrored before but gone from `src` are removed.
    """
    wanted = sorted(
        p.relative_to(src)
        for p in src.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(src).parts)
        and (p.name in _SOURCE_NAMES or p.suffix in _SOURCE_SUFFIXES)
    )
    dst.mkdir(parents=True, exist_ok=True)
    manifest = dst / _MANIFEST
    before = set(manifest.read_text().split("\n")) - {""} if manifest.is_file() else set()
    for rel in wanted:
        s, d = src / rel, dst / rel
        if d.is_file() and filecmp.cmp(s, d, shallow=False):
            continue
        old_mtime = d.stat().st_mtime_ns if d.is_file() else None
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = d.with_name(f".{d.name}.ptnet-tmp")
        shutil.copy2(s, tmp)
        tmp.replace(d)
        if old_mtime is not None and d.stat().st_mtime_ns <= old_mtime:
            os.utime(d, ns=(time.time_ns(), max(time.time_ns(), old_mtime + 1)))
    for rel in sorted(before - {str(r) for r in wanted}):
        (dst / rel).unlink(missing_ok=True)
    manifest.write_text("".join(f"{r}\n" for r in wanted))


def build_release(kernel: Kernel) -> str | None:
    """The Debian release of the chroot that kbuild for `kernel` runs in (None: on the host).

    A kernel built by a later Debian release than the host's needs that release's compiler and
    libc; a series not known here (a kernel cached by another ptnet) is treated as the host's.
    """
    series = SERIES.get(kernel.series)
    if series is None or series.release == HOST_RELEASE:
        return None
    return series.release


def _at(path: Path, root: Path | None) -> Path:
    """`path` as kbuild sees it: in a chroot, with symlinks resolved (the binds are real paths)."""
    return path if root is None else path.resolve()


def _make(kernel: Kernel, out: Path, root: Path | None = None) -> list[str]:
    argv = ["make", "-C", str(_at(kernel.headers_dir, root)), f"M={_at(out, root)}"]
    if root is None:
        return argv
    binds = [kernel.dir.resolve(), modules_dir(kernel).resolve()]
    return chroot.command(root, binds, argv)


def _jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def headers_compiler(kernelvariables: str) -> str | None:
    """The gcc-NN package that the headers' .kernelvariables name as the compiler, if any."""
    cc = re.search(r"\bgcc-\d+\b", kernelvariables)
    return cc.group() if cc else None


def _check_tools(kernel: Kernel) -> Path | None:
    """Check the host's tools for kbuild, or make the chroot it runs in; return its root."""
    variables = (kernel.headers_dir / ".kernelvariables").read_text(errors="replace")
    cc = headers_compiler(variables)
    release = build_release(kernel)
    if release is not None:
        return chroot.ensure(release, chroot.packages_for(release, cc or "gcc"))
    host.require("make", "make")
    if cc:
        host.require(cc, cc)
    config = (kernel.headers_dir / ".config").read_text(errors="replace")
    if "\nCONFIG_DEBUG_INFO_BTF_MODULES=y\n" in config:
        host.require("pahole", "dwarves")
    return None


def _run_streaming(argv: Sequence[str]) -> tuple[int, list[str]]:
    """Run `argv`, echoing its merged stdout and stderr to our stderr; return rc and the lines."""
    host.log("$ " + " ".join(argv))
    env = {**os.environ, "LC_ALL": "C"}  # so that the compiler says "warning:" in English
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
    except FileNotFoundError as exc:
        raise PtnetError(f"{argv[0]} not found") from exc
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stderr.write(line)
            lines.append(line)
        return proc.wait(), lines
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()


def _built_modules(out: Path) -> list[Path]:
    """The .ko files kbuild produced, from its modules.order (which lists .o or .ko names)."""
    order = out / "modules.order"
    if not order.is_file():
        raise PtnetError(f"kbuild wrote no modules.order in {out}")
    kos = []
    for line in order.read_text().split():
        ko = (out / line).with_suffix(".ko")  # absolute entries replace `out`
        if not ko.is_file():
            raise PtnetError(f"kbuild did not produce {ko}")
        kos.append(ko)
    return kos
