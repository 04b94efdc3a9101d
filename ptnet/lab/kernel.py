"""Debian kernels for the lab: resolve the current ABI, fetch, extract, and find them in the cache.

The ABI (the 56 in 6.1.0-56) is resolved from the linux-image-amd64 metapackage every time, because
Debian retires old ABIs with each point release. The image .deb is extracted into the cache and
never installed into the host's /boot. The matching headers (the arch package, its -common
package and linux-kbuild) are extracted the same way, because Debian's 6.12 headers depend on the
image package and installing them would install a kernel on the host.

Cache layout, one directory per kernel release:
    kernels/<release>/vmlinux          uncompressed ELF, booted with PVH
    kernels/<release>/lib/modules/...  the image's modules, with modules.dep
    kernels/<release>/headers/         usr/src/linux-headers-*, usr/lib/linux-kbuild-*
    kernels/<release>/meta.json        release, Debian version, series
"""

import json
import lzma
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ptnet import host, paths
from ptnet.errors import PtnetError, UsageError

# series name -> apt default release used to pick the metapackage's candidate (None: the host's own)
SERIES: dict[str, str | None] = {"bookworm": None, "bookworm-backports": "bookworm-backports"}
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


def _candidate(series: str, package: str) -> tuple[str, list[str]]:
    """The candidate version of `package` in `series` and the package names it depends on."""
    argv = ["apt-cache"]
    if SERIES[series]:
        argv += ["-o", f"APT::Default-Release={SERIES[series]}"]
    out = host.apt_query([*argv, "show", "--no-all-versions", package])
    version, depends = "", ""
    for line in out.splitlines():
        if line.startswith("Version:"):
            version = line.split(":", 1)[1].strip()
        elif line.startswith("Depends:"):
            depends = line.split(":", 1)[1]
    names = [alt.split("|")[0].split()[0] for alt in depends.split(",") if alt.strip()]
    if not version:
        raise PtnetError(f"apt does not know {package} for {series}; run apt-get update and retry")
    return version, names


def resolve(series: str) -> Kernel:
    """Ask apt which kernel the metapackage currently points at for `series`."""
    check_series(series)
    suite = SERIES[series]
    if suite and host.ensure_apt_suite(suite):
        host.apt_update()
    version, depends = _candidate(series, "linux-image-amd64")
    image = next((d for d in depends if d.startswith("linux-image-")), "")
    if not image:
        raise PtnetError(f"linux-image-amd64 in {series} depends on no linux-image package")
    return Kernel(release=image.removeprefix("linux-image-"), version=version, series=series)


def fetch(series: str, *, headers: bool = True) -> Kernel:
    """Resolve, download and extract the kernel of `series` and its headers. Idempotent."""
    kernel = resolve(series)
    if kernel.vmlinux.is_file():
        host.log(f"kernel {kernel.release} is already cached in {kernel.dir}")
    else:
        _extract_into_cache(kernel)
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
            host.dpkg_extract(host.apt_download(pkg, work / "deb"), root)
        # The arch package's Makefile includes the -common tree by absolute path; point it at
        # the extracted copy. Its scripts/ and tools/ links are relative and stay inside root.
        src = root / "usr" / "src"
        makefile = src / arch_pkg / "Makefile"
        text = makefile.read_text()
        makefile.write_text(
            text.replace("include /usr/src/", f"include {kernel.dir}/headers/usr/src/")
        )
        root.rename(kernel.dir / "headers")
    host.log(f"headers for {kernel.release} extracted into {kernel.headers_dir}")


def _extract_into_cache(kernel: Kernel) -> None:
    host.require("dpkg-deb", "dpkg")
    depmod = host.require("depmod", "kmod")
    paths.kernels_dir().mkdir(parents=True, exist_ok=True)
    # Build in a temporary directory beside the target and rename at the end, so that an
    # interrupted fetch leaves nothing half-made in the cache.
    with tempfile.TemporaryDirectory(dir=paths.kernels_dir(), prefix=".fetch-") as tmp:
        work = Path(tmp)
        deb = host.apt_download(f"linux-image-{kernel.release}", work / "deb")
        root = work / "root"
        host.log(f"extracting {deb.name}")
        host.dpkg_extract(deb, root)
        vmlinuz = root / "boot" / f"vmlinuz-{kernel.release}"
        if not vmlinuz.is_file():
            raise PtnetError(f"{deb.name} has no boot/vmlinuz-{kernel.release}")
        stage = work / "kernel"
        stage.mkdir()
        write_vmlinux(vmlinuz, stage / "vmlinux")
        shutil.copy2(root / "boot" / f"config-{kernel.release}", stage / "config")
        (stage / "lib").mkdir()
        (root / "lib" / "modules").rename(stage / "lib" / "modules")
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
