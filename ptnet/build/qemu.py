"""`ptnet build qemu`: one pinned Debian QEMU source release, our patch series, built in the cache.

    qemu-patches/VERSION   the pin (the only place it lives): source package, version, the Debian
                           suite that carries it, and the sha256 of its .dsc (which in turn lists
                           the checksums of the tarballs; dpkg-source verifies those)
    qemu-patches/series    the patches to apply, in order: one file name a line, # comments

PTNET_QEMU_PATCHES (or the patches_dir argument) points at another directory with a series (and
optionally its own VERSION), for tests and experiments.

Cache layout, under paths.builds_dir()/"qemu":
    apt/                   a private apt configuration (sources, lists, caches) for the trixie
                           sources and bookworm-backports' meson: the host's apt state is untouched
    meson/                 a venv holding meson from bookworm-backports (QEMU 10 needs >= 1.5)
    <version>/dl/          the downloaded .dsc and tarballs
    <version>/pristine/    dpkg-source -x of them (Debian's own patches applied)
    <version>/src/         pristine (hard links) + our series; .ptnet-series holds the series hash
    <version>/build/       the meson/ninja build; the binary is build/qemu-system-x86_64

Every step builds in a temporary directory and renames it into place, or writes its stamp last,
so an interrupted run leaves nothing half-made. When the series changes the patched tree is made
anew beside the old one, and only files whose content changed get a new mtime, so ninja rebuilds
just what the change touches.
"""

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ptnet import host, paths
from ptnet.build import tools
from ptnet.build.kbuild import _run_streaming
from ptnet.errors import MissingTool, PtnetError, UsageError
from ptnet.locking import file_lock

PATCHES_ENV = "PTNET_QEMU_PATCHES"
BINARY = "qemu-system-x86_64"
MESON_SUITE = "bookworm-backports"
MESON_MIN = (1, 5)
# Firmware comes from Debian's packages (the +ds source ships none): the SeaBIOS image, and the
# option ROMs that -kernel needs, in the directories qemu-system-data and seabios install (see
# _link_firmware for the uninstalled binary).
FIRMWARE_PATH = ("/usr/share/qemu", "/usr/share/seabios", "/usr/lib/ipxe/qemu")


def firmware_args() -> list[str]:
    """QEMU's -L options for FIRMWARE_PATH: where our (uninstalled) QEMU finds its firmware."""
    return [a for d in FIRMWARE_PATH for a in ("-L", d)]


CONFIGURE_ARGS = (
    "--target-list=x86_64-softmmu",
    "--enable-netmap",
    "--enable-slirp",
    "--disable-install-blobs",  # the +ds source has no firmware images
    "--disable-download",  # configure stays offline
    "--disable-docs",
    "--disable-tools",
    "--disable-guest-agent",
    "--disable-gtk",
    "--disable-sdl",
    "--disable-opengl",
    "--disable-vnc",
    "--disable-spice",
    "--disable-curses",
    "--disable-curl",
    "--disable-gnutls",
    "--disable-nettle",
    "--disable-gcrypt",
    "--firmwarepath=" + ":".join(FIRMWARE_PATH),
)
_SERIES_STAMP = ".ptnet-series"
_CONFIGURED_STAMP = ".ptnet-configured"
_BUILT_STAMP = ".ptnet-built"


@dataclass(frozen=True)
class Pin:
    package: str  # the Debian source package, qemu
    version: str  # its Debian version, with epoch
    suite: str  # the Debian suite whose deb-src carries it
    dsc_sha256: str

    @property
    def upstream(self) -> str:
        """The upstream version, for example 10.0.13 (what `qemu -version` reports)."""
        return self.version.split(":", 1)[-1].split("+", 1)[0].split("-", 1)[0]

    @property
    def dsc_name(self) -> str:
        return f"{self.package}_{self.version.split(':', 1)[-1]}.dsc"


def patches_dir(override: Path | None = None) -> Path:
    """The directory holding `series` and the patches."""
    env = os.environ.get(PATCHES_ENV)
    chosen = override if override is not None else Path(env) if env else None
    if chosen is None:
        return paths.source_root() / "qemu-patches"
    if not chosen.is_dir():
        raise UsageError(f"patch directory {chosen} does not exist")
    return chosen


def load_pin(pdir: Path | None = None) -> Pin:
    """The pin from `pdir`/VERSION, or from the checkout's qemu-patches/VERSION."""
    path = patches_dir(pdir) / "VERSION"
    if not path.is_file():
        path = paths.source_root() / "qemu-patches" / "VERSION"
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, sep, value = line.partition(":")
            if not sep:
                raise UsageError(f"{path}: malformed line {line!r} (want key: value)")
            fields[key.strip()] = value.strip()
    try:
        pin = Pin(
            package=fields["package"],
            version=fields["version"],
            suite=fields["suite"],
            dsc_sha256=fields["dsc-sha256"].lower(),
        )
    except KeyError as exc:
        raise UsageError(f"{path}: missing field {exc.args[0]}") from exc
    if not re.fullmatch(r"[0-9a-f]{64}", pin.dsc_sha256):
        raise UsageError(f"{path}: dsc-sha256 is not a sha256 hex digest")
    return pin


def read_series(pdir: Path) -> list[Path]:
    """The patch files listed in `pdir`/series, in order (no series file: no patches)."""
    series = pdir / "series"
    if not series.is_file():
        return []
    found = []
    for line in series.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        patch = pdir / name
        if not patch.is_file():
            raise UsageError(f"{series}: patch {name} does not exist")
        found.append(patch)
    return found


def series_digest(patches: list[Path]) -> str:
    h = hashlib.sha256()
    for p in patches:
        data = p.read_bytes()
        h.update(f"{p.name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def qemu_dir() -> Path:
    return paths.builds_dir() / "qemu"


def version_dir(pin: Pin) -> Path:
    return qemu_dir() / pin.version.replace(":", "_")


def binary_path(pdir: Path | None = None) -> Path:
    """The built QEMU binary; UsageError when it has not been built (completely) yet."""
    build = version_dir(load_pin(pdir)) / "build"
    if not (build / _BUILT_STAMP).is_file():
        raise UsageError("QEMU is not built; run: ptnet build qemu")
    return build / BINARY


def build(pdir: Path | None = None) -> Path:
    """Fetch, unpack, patch, configure and build QEMU (each step only when needed)."""
    from ptnet import prereqs

    pdir = patches_dir(pdir)
    pin = load_pin(pdir)
    patches = read_series(pdir)
    if missing := prereqs.missing(prereqs.QEMU_BUILD_PACKAGES):
        raise MissingTool(
            "QEMU's build dependencies are missing; install them with: "
            "apt-get install " + " ".join(missing)
        )
    vdir = version_dir(pin)
    vdir.mkdir(parents=True, exist_ok=True)
    with file_lock(qemu_dir() / ".lock"):
        pristine = _pristine(pin, vdir)
        src = _patched_tree(pin, vdir, pristine, patches)
        include = tools.install_headers()
        out = _configure(pin, src, vdir / "build", include)
        _ninja(out)
    return out / BINARY


# --------------------------------------------------------------------------------------------
# Fetching through a private apt configuration
# --------------------------------------------------------------------------------------------


def _apt_dir(pin: Pin) -> Path:
    """A private apt setup: deb-src for the pinned suite and deb for meson's suite."""
    base = qemu_dir() / "apt"
    for sub in ("sources.list.d", "lists/partial", "cache/archives/partial"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "sources.list").touch()
    mirror = host._configured_debian_uri("bookworm")
    stanzas = [("deb-src", pin.suite), ("deb", MESON_SUITE)]
    body = "\n".join(
        f"Types: {types}\nURIs: {mirror}\nSuites: {suite}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        for types, suite in stanzas
    )
    sources = base / "sources.list.d" / "ptnet-qemu.sources"
    if not sources.is_file() or sources.read_text() != body:
        sources.write_text(body)
    return base


def _apt(apt_dir: Path, *args: str) -> list[str]:
    opts = {
        "Dir::Etc::SourceList": apt_dir / "sources.list",
        "Dir::Etc::SourceParts": apt_dir / "sources.list.d",
        "Dir::State::Lists": apt_dir / "lists",
        "Dir::Cache": apt_dir / "cache",
        "Debug::NoLocking": "1",  # the lists and caches are ours; the file lock serialises us
    }
    if os.geteuid() == 0:
        # apt's _apt sandbox user cannot write into root's cache.
        opts["APT::Sandbox::User"] = "root"
    argv = ["apt-get", "-q"]
    for k, v in opts.items():
        argv += ["-o", f"{k}={v}"]
    return [*argv, *args]


def _apt_run(apt_dir: Path, what: str, *args: str, cwd: Path | None = None) -> None:
    argv = _apt(apt_dir, *args)
    host.log("$ " + " ".join(argv))
    proc = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **host.APT_ENV}, capture_output=True, text=True
    )
    sys.stderr.write(proc.stdout)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    sys.stderr.writelines(ln + "\n" for ln in lines)
    failures = [ln for ln in lines if ln.startswith(("E:", "Err:", "W: Failed to fetch"))]
    if proc.returncode != 0 or (args[0] == "update" and failures):
        detail = (failures or lines or [f"exit code {proc.returncode}"])[0]
        raise PtnetError(f"cannot {what}: {detail}")


@functools.cache
def _apt_update(apt_dir: Path) -> None:
    """Refresh the private lists (once per process)."""
    _apt_run(apt_dir, "update the private apt lists for QEMU", "update")


def _pristine(pin: Pin, vdir: Path) -> Path:
    """The unpacked, checksum-verified source tree of `pin`."""
    pristine = vdir / "pristine"
    stamp = pristine / ".ptnet-dsc-sha256"
    if stamp.is_file() and stamp.read_text() == pin.dsc_sha256:
        return pristine
    dsc = _download(pin, vdir)
    host.require("dpkg-source", "dpkg-dev")
    with tempfile.TemporaryDirectory(dir=vdir, prefix=".unpack-") as tmp:
        host.log(f"unpacking {dsc.name} (dpkg-source checks the tarballs against the .dsc)")
        t0 = time.monotonic()
        host.run(
            ["dpkg-source", "--no-copy", "-x", dsc, Path(tmp) / "tree"],
            capture=True,
            quiet=True,
        )
        (Path(tmp) / "tree" / stamp.name).write_text(pin.dsc_sha256)
        if pristine.exists():
            shutil.rmtree(pristine)
        (Path(tmp) / "tree").rename(pristine)
        host.log(f"unpacked into {pristine} in {time.monotonic() - t0:.0f} s")
    return pristine


def _download(pin: Pin, vdir: Path) -> Path:
    """The .dsc and its tarballs in vdir/dl, fetched and verified when not already there."""
    dl = vdir / "dl"
    dsc = dl / pin.dsc_name
    if dsc.is_file() and _sha256(dsc) == pin.dsc_sha256:
        return dsc
    apt_dir = _apt_dir(pin)
    _apt_update(apt_dir)
    with tempfile.TemporaryDirectory(dir=vdir, prefix=".dl-") as tmp:
        t0 = time.monotonic()
        _apt_run(
            apt_dir,
            f"fetch {pin.package}={pin.version} from {pin.suite}",
            "source",
            "--download-only",
            f"{pin.package}={pin.version}",
            cwd=Path(tmp),
        )
        got = Path(tmp) / pin.dsc_name
        if not got.is_file():
            raise PtnetError(f"apt-get source wrote no {pin.dsc_name}")
        digest = _sha256(got)
        if digest != pin.dsc_sha256:
            raise PtnetError(
                f"checksum mismatch for {pin.dsc_name}: got sha256 {digest}, "
                f"qemu-patches/VERSION pins {pin.dsc_sha256}"
            )
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        host.log(f"fetched {size / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s; checksum ok")
        if dl.exists():
            shutil.rmtree(dl)
        Path(tmp).rename(dl)
        # TemporaryDirectory's cleanup finds nothing left, which it tolerates.
        Path(tmp).mkdir()
    return dsc


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Meson >= 1.5 from bookworm-backports, in a small venv
# --------------------------------------------------------------------------------------------


def _meson_python(pin: Pin) -> Path:
    """The python3 of a venv that can import meson >= 1.5 (made once)."""
    venv = qemu_dir() / "meson"
    python = venv / "bin" / "python3"
    if python.exists():
        return python
    apt_dir = _apt_dir(pin)
    _apt_update(apt_dir)
    with tempfile.TemporaryDirectory(dir=qemu_dir(), prefix=".meson-") as tmp:
        work = Path(tmp)
        (work / "deb").mkdir()
        _apt_run(
            apt_dir, f"download meson from {MESON_SUITE}", "download", "meson", cwd=work / "deb"
        )
        debs = sorted((work / "deb").glob("meson_*.deb"))
        if not debs:
            raise PtnetError(f"apt-get download meson produced no .deb in {work / 'deb'}")
        host.dpkg_extract(debs[-1], work / "root")
        host.run([sys.executable, "-m", "venv", "--without-pip", work / "venv"], quiet=True)
        site = next((work / "venv" / "lib").glob("python3*/site-packages"))
        for item in (work / "root" / "usr" / "lib" / "python3" / "dist-packages").iterdir():
            shutil.move(item, site / item.name)
        version = host.run(
            [work / "venv" / "bin" / "python3", "-c", "import mesonbuild.coredata as c;"
             "print(c.version)"],
            capture=True,
            quiet=True,
        ).stdout.strip()  # fmt: skip
        if tuple(int(x) for x in version.split(".")[:2]) < MESON_MIN:
            raise PtnetError(f"meson {version} from {MESON_SUITE} is older than QEMU needs")
        host.log(f"meson {version} from {debs[-1].name} in {venv}")
        (work / "venv").rename(venv)
    return python


# --------------------------------------------------------------------------------------------
# The patched tree
# --------------------------------------------------------------------------------------------


def _patched_tree(pin: Pin, vdir: Path, pristine: Path, patches: list[Path]) -> Path:
    """vdir/src: the pristine tree (hard links) with `patches` applied."""
    src = vdir / "src"
    digest = series_digest(patches)
    stamp = src / _SERIES_STAMP
    if stamp.is_file() and stamp.read_text() == digest:
        return src
    for stale in (vdir / ".src-new", vdir / ".src-old"):
        if stale.exists():
            shutil.rmtree(stale)
    new = vdir / ".src-new"
    host.log(f"applying {len(patches)} patch(es) to a fresh copy of {pin.package} {pin.version}")
    # GNU patch writes each patched file anew, so the hard links to pristine/ stay untouched.
    host.run(["cp", "-al", pristine, new], quiet=True)
    try:
        for patch in patches:
            _apply(patch, new, pin)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    if src.is_dir():
        _carry_mtimes(src, new)
    (new / _SERIES_STAMP).write_text(digest)
    if src.exists():
        src.rename(vdir / ".src-old")
    new.rename(src)
    shutil.rmtree(vdir / ".src-old", ignore_errors=True)
    return src


def _apply(patch: Path, tree: Path, pin: Pin) -> None:
    host.log(f"patch {patch.name}")
    proc = subprocess.run(
        ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-s", "-d", tree,
         "-i", patch.resolve()],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        detail = next((ln for ln in lines if "FAILED" in ln or "can't find" in ln), "")
        detail = detail or (lines[0] if lines else f"exit code {proc.returncode}")
        raise UsageError(
            f"patch {patch.name} does not apply to {pin.package} {pin.version}: {detail.strip()}"
        )


def _files(tree: Path) -> Iterator[tuple[str, os.stat_result]]:
    for dirpath, _, names in os.walk(tree):
        for name in names:
            path = os.path.join(dirpath, name)
            yield os.path.relpath(path, tree), os.lstat(path)


def _carry_mtimes(old: Path, new: Path) -> None:
    """Give `new` the mtimes of `old` where content is equal, and a fresh one where it differs.

    Unchanged files are hard links to the same pristine inode in both trees. A file patched in
    either tree is compared by content: equal keeps the old mtime (no rebuild), different gets
    a new one, also when it is back to pristine (its pristine mtime is older than the objects).
    """
    before = dict(_files(old))
    now = time.time_ns()
    for rel, st in _files(new):
        prev = before.get(rel)
        if prev is None or prev.st_ino == st.st_ino or not os.path.isfile(new / rel):
            continue
        same = prev.st_size == st.st_size and (old / rel).read_bytes() == (new / rel).read_bytes()
        mtime = prev.st_mtime_ns if same else max(now, prev.st_mtime_ns + 1)
        os.utime(new / rel, ns=(mtime, mtime), follow_symlinks=False)


# --------------------------------------------------------------------------------------------
# Configure and build
# --------------------------------------------------------------------------------------------


def _configure(pin: Pin, src: Path, out: Path, include: Path) -> Path:
    """Configure `out` unless it was configured with the same arguments; return it."""
    python = _meson_python(pin)
    argv = [
        str(src / "configure"),
        f"--python={python}",
        f"--extra-cflags=-I{include}",
        *CONFIGURE_ARGS,
    ]
    digest = hashlib.sha256("\0".join([pin.version, *argv]).encode()).hexdigest()
    stamp = out / _CONFIGURED_STAMP
    if stamp.is_file() and stamp.read_text() == digest:
        return out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    host.log(f"configuring QEMU in {out}")
    rc, lines = _run_streaming_in(out, argv)
    if rc != 0:
        first = next((ln for ln in lines if "ERROR" in ln), lines[-1] if lines else "")
        raise PtnetError(f"QEMU configure failed with exit code {rc}: {first.strip()}")
    if not any(re.search(r"netmap support\s*:\s*YES", ln) for ln in lines):
        raise PtnetError(f"QEMU configure did not enable netmap with the headers in {include}")
    stamp.write_text(digest)
    return out


def _run_streaming_in(cwd: Path, argv: list[str]) -> tuple[int, list[str]]:
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return _run_streaming(argv)
    finally:
        os.chdir(here)


def _ninja(out: Path) -> None:
    ninja = host.require("ninja", "ninja-build")
    jobs = max(1, min(2, len(os.sched_getaffinity(0))))
    built = out / _BUILT_STAMP
    built.unlink(missing_ok=True)
    t0 = time.monotonic()
    rc, lines = _run_streaming([ninja, "-C", str(out), f"-j{jobs}", BINARY])
    if rc != 0:
        first = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
        raise PtnetError(f"the QEMU build failed with exit code {rc}: {first.strip()}")
    # ninja always re-runs QEMU's qemu-version.h generator; it rebuilds nothing unless it changed.
    if any(re.search(r"\] (Compiling|Linking) ", ln) for ln in lines):
        host.log(f"QEMU built in {time.monotonic() - t0:.0f} s")
    else:
        host.log("QEMU is up to date")
    _link_firmware(out)
    built.write_text(str(out / BINARY) + "\n")


def _link_firmware(out: Path) -> None:
    """Make the firmware directories visible where the uninstalled binary looks for them.

    Run from the build directory, QEMU relocates its configured paths into out/qemu-bundle.
    """
    for d in FIRMWARE_PATH:
        link = out / "qemu-bundle" / d.lstrip("/")
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(d)
