"""What refuses `ptnet host install` before it changes anything: a kernel outside the supported
range, no headers for the running kernel, Secure Boot with modules DKMS cannot sign."""

import re
import shutil
import subprocess
from pathlib import Path

from ptnet.errors import MissingTool, UsageError

# The kernels ptnet supports: 6.1 up to any 7.x.
OLDEST = (6, 1)
NEWEST_MAJOR = 7
MODULES_ROOT = Path("/lib/modules")
EFIVARS = Path("/sys/firmware/efi/efivars")
SECURE_BOOT_VAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-e7cdf6a6a5d8"
# Where Debian's dkms keeps the key it signs modules with (its mok_certificate).
DKMS_MOK_CERT = Path("/var/lib/dkms/mok.pub")


def kernel_version(release: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", release)
    if m is None:
        raise UsageError(f"cannot read a kernel version from the release {release!r}")
    return int(m.group(1)), int(m.group(2))


def check_kernel(release: str) -> None:
    """Refuse a kernel older than 6.1 or newer than 7.x."""
    version = kernel_version(release)
    supported = f"ptnet supports 6.1 to {NEWEST_MAJOR}.x"
    if version < OLDEST:
        raise UsageError(f"the running kernel {release} is too old: {supported}")
    if version[0] > NEWEST_MAJOR:
        raise UsageError(f"the running kernel {release} is too new: {supported}")


def headers_dir(release: str, modules_root: Path = MODULES_ROOT) -> Path:
    """The running kernel's kbuild directory; refuse, naming the package, when it is missing."""
    build = modules_root / release / "build"
    if not (build / "Makefile").is_file():
        raise MissingTool(
            f"no headers for the running kernel {release} ({build} is missing); "
            f"install them with: apt-get install linux-headers-{release}"
        )
    return build


def secure_boot_enabled(efivars: Path = EFIVARS) -> bool:
    """Secure Boot's state, from mokutil when it is installed, else from the EFI variable (four
    bytes of attributes, then the value). A machine without EFI has none."""
    if shutil.which("mokutil"):
        out = subprocess.run(["mokutil", "--sb-state"], capture_output=True, text=True, check=False)
        text = (out.stdout + out.stderr).lower()
        if "secureboot enabled" in text:
            return True
        if "secureboot disabled" in text or "not supported" in text:
            return False
    try:
        data = (efivars / SECURE_BOOT_VAR).read_bytes()
    except OSError:
        return False
    return len(data) >= 5 and data[4] == 1


def dkms_key_enrolled(cert: Path = DKMS_MOK_CERT) -> bool:
    """Whether the key DKMS signs with is enrolled in the machine owner's keys."""
    if not cert.is_file() or not shutil.which("mokutil"):
        return False
    out = subprocess.run(
        ["mokutil", "--test-key", str(cert)], capture_output=True, text=True, check=False
    )
    return "already enrolled" in (out.stdout + out.stderr)


def check_secure_boot(efivars: Path = EFIVARS, cert: Path = DKMS_MOK_CERT) -> None:
    """Refuse when Secure Boot is on and the modules DKMS builds would not be trusted."""
    if not secure_boot_enabled(efivars) or dkms_key_enrolled(cert):
        return
    raise UsageError(
        "Secure Boot is on and DKMS's signing key is not enrolled, so the kernel would refuse "
        f"our unsigned modules; enroll it (mokutil --import {cert}, then reboot and confirm) "
        "or turn Secure Boot off"
    )
