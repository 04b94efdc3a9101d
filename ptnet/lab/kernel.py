"""Debian kernels for the lab: resolve the current ABI, fetch, extract, and find them in the cache.

The ABI (the 56 in 6.1.0-56) is resolved from the linux-image-amd64 metapackage every time, because
Debian retires old ABIs with each point release. The image .deb is extracted into the cache and
never installed into the host's /boot. The matching headers (the arch package, its -common
package and linux-kbuild) are extracted the same way, because Debian's 6.12 headers depend on the
image package and installing them would install a kernel on the host.

Series of a later Debian release than the host's (trixie-backports, 7.x) are read through a
private apt configuration in the cache (apt/<suite>/), so that the host's apt never sees that
release. Since 7.x the image package is empty and depends on linux-binary-<release> (vmlinuz),
linux-modules-<release> and linux-base-<release> (config, System.map), all under usr/lib/modules/;
those packages are extracted together. Their headers name a newer compiler and their kbuild
programs link against a newer libc than the host's, so their modules are built in a chroot of
that release (ptnet.build.chroot).

Cache layout, one directory per kernel release:
    kernels/<release>/vmlinux          uncompressed ELF, booted with PVH
    kernels/<release>/lib/modules/...  the image's modules, with modules.dep
    kernels/<release>/headers/         usr/src/linux-headers-*, usr/lib/linux-kbuild-*
    kernels/<release>/meta.json        release, Debian version, series
"""

import json
import lzma
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ptnet import host, paths
from ptnet.errors import PtnetError, UsageError
from ptnet.locking import file_lock

HOST_RELEASE = "bookworm"  # the Debian release ptnet's host runs


@dataclass(frozen=True)
class Series:
    """Where the kernels of one series come from."""

    suite: str | None  # the apt suite to enable and prefer (None: the host's own default)
    release: str = HOST_RELEASE  # the Debian release whose toolchain built these kernels

    @property
    def private_apt(self) -> bool:
        """Read through a private apt configuration: the host's apt must not see this release."""
        return self.release != HOST_RELEASE


SERIES: dict[str, Series] = {
    "bookworm": Series(None),
    "bookworm-backports": Series("bookworm-backports"),
    "trixie-backports": Series("trixie-backports", release="trixie"),
}
DEFAULT_SERIES = "bookworm"

_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class Kernel:
    release: str  # uname -r, for example 6.1.0-56-amd64
    version: str  # the Debian package version, for example 6.1.192-2
    series: str

    @property
    def dir(self) -> Path:
        return paths.kernels_dir() / self.release

    @property
    def vmlinux(self) -> Path:
        return self.dir / "vmlinux"

    @property
    def modules_dir(self) -> Path:
        return self.dir / "lib" / "modules" / self.release

    @property
    def headers_dir(self) -> Path:
        """The kbuild directory (what /lib/modules/<release>/build points at on a normal host)."""
        return self.dir / "headers" / "usr" / "src" / f"linux-headers-{self.release}"

    @property
    def headers_installed(self) -> bool:
        return (self.headers_dir / "Makefile").is_file()


def check_series(series: str) -> str:
    if series not in SERIES:
        raise UsageError(f"unknown kernel series {series!r}; choose one of: {', '.join(SERIES)}")
    return series


def apt_dir(suite: str) -> Path:
    """The private apt configuration of a suite that the host's apt must not see."""
    return paths.cache_dir() / "apt" / suite


def apt_options(series: str) -> list[str]:
    """apt options that read `series` (its suite preferred) the way its Series says."""
    entry = SERIES[series]
    argv = ["-o", f"APT::Default-Release={entry.suite}"] if entry.suite else []
    if entry.private_apt:
        base = apt_dir(str(entry.suite))
        argv += [
            *("-o", f"Dir::Etc::SourceList={base / 'sources.list'}"),
            *("-o", f"Dir::Etc::SourceParts={base / 'sources.list.d'}"),
            *("-o", f"Dir::Etc::Preferences={base / 'preferences'}"),
            *("-o", f"Dir::Etc::PreferencesParts={base / 'preferences.d'}"),
            *("-o", f"Dir::State::Lists={base / 'lists'}"),
            *("-o", f"Dir::Cache={base / 'cache'}"),
        ]
    return argv


def parse_control(text: str) -> tuple[str, list[str]]:
    """The Version and the Depends package names (first alternatives) of one apt-cache stanza."""
    version, depends = "", ""
    for line in text.splitlines():
        if line.startswith("Version:"):
            version = line.split(":", 1)[1].strip()
        elif line.startswith("Depends:"):
            depends = line.split(":", 1)[1]
    return version, [alt.split("|")[0].split()[0] for alt in depends.split(",") if alt.strip()]


def _candidate(series: str, package: str) -> tuple[str, list[str]]:
    """The candidate version of `package` in `series` and the package names it depends on."""
    argv = ["apt-cache", *apt_options(series), "show", "--no-all-versions", package]
    version, names = parse_control(host.apt_query(argv))
    if not version:
        raise PtnetError(f"apt does not know {package} for {series}; run apt-get update and retry")
    return version, names


def release_of(image_depends: list[str]) -> str:
    """The kernel release named by linux-image-amd64's dependencies ('' if none)."""
    image = next((d for d in image_depends if d.startswith("linux-image-")), "")
    return image.removeprefix("linux-image-")


def image_packages(release: str, image_depends: list[str]) -> list[str]:
    """The packages that together hold a release's image: linux-image-<release> and, since 7.x,
    the linux-binary/-modules/-base-<release> packages it depends on."""
    parts = [d for d in image_depends if d.endswith(f"-{release}") and d.startswith("linux-")]
    return [f"linux-image-{release}", *(d for d in parts if not d.startswith("linux-image-"))]


def _update_private_apt(series: str) -> None:
    """Write the private sources of `series` (the host's mirror, Debian's keyring); update them."""
    suite = str(SERIES[series].suite)
    base = apt_dir(suite)
    for sub in ("sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    uri = host._configured_debian_uri(HOST_RELEASE)
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    (base / "sources.list").write_text(f"deb [signed-by={keyring}] {uri} {suite} main\n")
    (base / "preferences").write_text("")
    host.run(["apt-get", *apt_options(series), *host.APT_AS_ROOT, "update", "-q"], env=host.APT_ENV)


def resolve(series: str) -> Kernel:
    """Ask apt which kernel the metapackage currently points at for `series`."""
    return _resolve(series)[0]


def _resolve(series: str) -> tuple[Kernel, list[str]]:
    check_series(series)
    entry = SERIES[series]
    if entry.private_apt:
        with file_lock(apt_dir(str(entry.suite)) / ".lock"):
            _update_private_apt(series)
    elif entry.suite and host.ensure_apt_suite(entry.suite):
        host.apt_update()
    version, depends = _candidate(series, "linux-image-amd64")
    release = release_of(depends)
    if not release:
        raise PtnetError(f"linux-image-amd64 in {series} depends on no linux-image package")
    kernel = Kernel(release=release, version=version, series=series)
    _, image_depends = _candidate(series, f"linux-image-{release}")
    return kernel, image_packages(release, image_depends)


def fetch(series: str, *, headers: bool = True) -> Kernel:
    """Resolve, download and extract the kernel of `series` and its headers. Idempotent."""
    kernel, packages = _resolve(series)
    paths.kernels_dir().mkdir(parents=True, exist_ok=True)
    # Other ptnet processes may fetch the same kernel into the same (shared) cache.
    with file_lock(paths.kernels_dir() / f".{kernel.release}.lock"):
        if kernel.vmlinux.is_file():
            host.log(f"kernel {kernel.release} is already cached in {kernel.dir}")
        else:
            _extract_into_cache(kernel, packages)
        if headers and not kernel.headers_installed:
            _extract_headers(kernel)
    return kernel


def _extract_headers(kernel: Kernel) -> None:
    """Extract linux-headers-<release>, its -common package and linux-kbuild into the cache."""
    arch_pkg = f"linux-headers-{kernel.release}"
    _, depends = _candidate(kernel.series, arch_pkg)
    wanted = [arch_pkg] + [d for d in depends if d.startswith(("linux-headers-", "linux-kbuild-"))]
    with tempfile.TemporaryDirectory(dir=kernel.dir, prefix=".headers-") as tmp:
        work = Path(tmp)
        root = work / "headers"
        for pkg in wanted:
            deb = host.apt_download(pkg, work / "deb", options=apt_options(kernel.series))
            host.dpkg_extract(deb, root)
        # The arch package's Makefile names the -common tree (and, since 7.x, its own directory
        # as KBUILD_OUTPUT) by absolute path; point those at the extracted copy. Its scripts/
        # and tools/ links are relative and stay inside root.
        src = root / "usr" / "src"
        makefile = src / arch_pkg / "Makefile"
        makefile.write_text(relocate_makefile(makefile.read_text(), kernel.dir.resolve()))
        root.rename(kernel.dir / "headers")
    host.log(f"headers for {kernel.release} extracted into {kernel.headers_dir}")


def image_layout(root: Path, release: str) -> tuple[Path, Path, Path]:
    """vmlinuz, config and the modules directory in an extracted image: under boot/ and lib/
    (up to 6.x), or all under usr/lib/modules/<release>/ (7.x)."""
    merged = root / "usr" / "lib" / "modules" / release
    if (merged / "vmlinuz").is_file():
        return merged / "vmlinuz", merged / "config", merged
    return (
        root / "boot" / f"vmlinuz-{release}",
        root / "boot" / f"config-{release}",
        root / "lib" / "modules" / release,
    )


def relocate_makefile(text: str, kernel_dir: Path) -> str:
    """The headers' arch Makefile with its /usr/src/ paths moved under `kernel_dir`/headers."""
    return re.sub(r"(?<=[ =])/usr/src/", f"{kernel_dir}/headers/usr/src/", text)


def _extract_into_cache(kernel: Kernel, packages: list[str]) -> None:
    host.require("dpkg-deb", "dpkg")
    depmod = host.require("depmod", "kmod")
    # Build in a temporary directory beside the target and rename at the end, so that an
    # interrupted fetch leaves nothing half-made in the cache.
    with tempfile.TemporaryDirectory(dir=paths.kernels_dir(), prefix=".fetch-") as tmp:
        work = Path(tmp)
        root = work / "root"
        for pkg in packages:
            deb = host.apt_download(pkg, work / "deb", options=apt_options(kernel.series))
            host.log(f"extracting {deb.name}")
            host.dpkg_extract(deb, root)
        vmlinuz, config, modules = image_layout(root, kernel.release)
        if not vmlinuz.is_file():
            raise PtnetError(f"{', '.join(packages)} hold no vmlinuz for {kernel.release}")
        stage = work / "kernel"
        stage.mkdir()
        write_vmlinux(vmlinuz, stage / "vmlinux")
        shutil.copy2(config, stage / "config")
        vmlinuz.unlink()
        (stage / "lib" / "modules").mkdir(parents=True)
        modules.rename(stage / "lib" / "modules" / kernel.release)
        host.run([depmod, "-b", str(stage), kernel.release], quiet=True)
        (stage / "meta.json").write_text(json.dumps(asdict(kernel), indent=2) + "\n")
        stage.rename(kernel.dir)
    host.log(f"kernel {kernel.release} cached in {kernel.dir}")


def write_vmlinux(vmlinuz: Path, out: Path) -> None:
    """Extract the uncompressed ELF kernel from a bzImage (xz or zstd payload)."""
    data = vmlinuz.read_bytes()
    for pos, magic in sorted(_occurrences(data, (_XZ_MAGIC, _ZSTD_MAGIC))):
        try:
            payload = _decompress(data[pos:], magic)
        except (lzma.LZMAError, subprocess.CalledProcessError):
            continue
        if payload[:4] == b"\x7fELF":
            out.write_bytes(payload)
            return
    raise PtnetError(f"could not find an xz or zstd compressed ELF kernel in {vmlinuz}")


def _occurrences(data: bytes, magics: tuple[bytes, ...]) -> list[tuple[int, bytes]]:
    found = []
    for magic in magics:
        pos = data.find(magic)
        while pos >= 0:
            found.append((pos, magic))
            pos = data.find(magic, pos + 1)
    return found


def _decompress(blob: bytes, magic: bytes) -> bytes:
    if magic == _XZ_MAGIC:
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)
    zstd = host.require("zstd", "zstd")
    proc = subprocess.run([zstd, "-dc", "-q"], input=blob, capture_output=True, check=False)
    # zstd complains about the bzImage trailer after the frame but still writes the payload.
    if not proc.stdout:
        raise subprocess.CalledProcessError(proc.returncode, zstd)
    return proc.stdout


def cached() -> list[Kernel]:
    found = []
    base = paths.kernels_dir()
    if base.is_dir():
        for meta in sorted(base.glob("*/meta.json")):
            found.append(Kernel(**json.loads(meta.read_text())))
    return found


def find(spec: str | None) -> Kernel:
    """Pick a cached kernel by release, Debian version prefix or series; None means the default.

    Examples: "6.1.0-56-amd64", "6.1", "6.12", "bookworm-backports".
    """
    kernels = cached()
    if not kernels:
        raise UsageError("no kernel in the cache; run: ptnet kernel fetch")
    if spec is None:
        spec = DEFAULT_SERIES
    matches = [
        k
        for k in kernels
        if spec in (k.release, k.series)
        or k.version == spec
        or k.version.startswith(spec + ".")
        or k.release.startswith(spec + ".")
    ]
    if not matches and spec == DEFAULT_SERIES:
        matches = kernels
    if not matches:
        have = ", ".join(f"{k.release} ({k.series})" for k in kernels)
        raise UsageError(f"unknown kernel {spec!r}; cached: {have}")
    return sorted(matches, key=lambda k: k.version)[-1]
