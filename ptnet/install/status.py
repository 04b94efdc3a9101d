"""The state of ptnet on this host, piece by piece: `ptnet host status`, and `ptnet doctor`."""

import grp
import platform
import shutil
import stat
import subprocess
from pathlib import Path

from ptnet import doctor
from ptnet.doctor import Check
from ptnet.errors import PtnetError
from ptnet.install import dkms, libvirt_conf, modconf, preflight
from ptnet.install import qemu as qemu_prefix

DEVICE = Path("/dev/netmap")
SYS_MODULE = Path("/sys/module") / modconf.MODULE


def _modinfo(field: str, release: str) -> str | None:
    if not shutil.which("modinfo"):
        return None
    out = subprocess.run(
        ["modinfo", "-k", release, "-F", field, modconf.MODULE],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or None if out.returncode == 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def kernel_check(release: str) -> Check:
    try:
        preflight.check_kernel(release)
        preflight.headers_dir(release)
    except PtnetError as exc:
        return Check("host kernel", False, False, str(exc))
    return Check("host kernel", True, False, f"{release}, headers installed")


def module_check(release: str) -> Check:
    """The loaded netmap.ko against the one installed for `release` (version and srcversion)."""
    built = _modinfo("version", release)
    built_src = _modinfo("srcversion", release)
    where = _modinfo("filename", release)
    built_text = f"built {built} ({where})" if built else "none built for this kernel"
    if not SYS_MODULE.is_dir():
        return Check("netmap.ko", False, False, f"not loaded; {built_text}")
    ver = _read(SYS_MODULE / "version") or "no version"
    src = _read(SYS_MODULE / "srcversion")
    same = built is not None and ver == built and src == built_src
    state = "the built one" if same else "not the built one"
    return Check("netmap.ko", same, False, f"loaded {ver}, {state}; {built_text}")


def dkms_check() -> Check:
    if not shutil.which("dkms"):
        return Check("dkms", False, False, "not installed (apt-get install dkms)")
    text = dkms.status()
    if not text:
        return Check("dkms", False, False, f"{dkms.NAME} not registered")
    return Check("dkms", "installed" in text, False, "; ".join(text.splitlines()))


def device_check() -> Check:
    try:
        st = DEVICE.stat()
    except OSError:
        return Check(str(DEVICE), False, False, "absent (netmap.ko is not loaded)")
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    mode = stat.S_IMODE(st.st_mode)
    rule = "udev rule installed" if modconf.UDEV_RULE.is_file() else "no udev rule of ours"
    return Check(str(DEVICE), True, False, f"0{mode:o} root:{group}; {rule}")


def params_check() -> Check:
    params = modconf.read_params()
    if not modconf.MODPROBE_CONF.is_file():
        return Check("module options", False, False, f"no {modconf.MODPROBE_CONF}")
    text = " ".join(f"{k}={v}" for k, v in sorted(params.items())) or "defaults"
    return Check("module options", True, False, f"{text} ({modconf.MODPROBE_CONF})")


def qemu_check() -> Check:
    binary = qemu_prefix.installed()
    if binary is None:
        return Check("ptnet qemu", False, False, f"not installed in {qemu_prefix.PREFIX}")
    try:
        return Check("ptnet qemu", True, False, f"{binary} {qemu_prefix.version(binary)}")
    except PtnetError as exc:
        return Check("ptnet qemu", False, False, f"{binary}: {exc}")


def libvirt_check(conf: Path = libvirt_conf.QEMU_CONF) -> Check:
    """Whether libvirt's QEMU finds /dev/netmap in its private /dev (not needed without
    libvirt)."""
    name = "libvirt /dev/netmap"
    if not conf.parent.is_dir():
        return Check(name, True, False, "libvirt is not installed")
    try:
        text = conf.read_text() if conf.exists() else ""
    except PermissionError:
        return Check(name, False, False, f"{conf} is root's: run `ptnet host status` as root")
    if not libvirt_conf.allows_netmap(text):
        return Check(name, False, False, f"{conf} has no /dev/netmap in cgroup_device_acl")
    return Check(name, True, False, f"in cgroup_device_acl ({conf})")


def checks() -> list[Check]:
    """The host install's pieces (kernel, module, DKMS, device, options, QEMU)."""
    release = platform.release()
    return [
        kernel_check(release),
        module_check(release),
        dkms_check(),
        device_check(),
        params_check(),
        qemu_check(),
        libvirt_check(),
    ]


def all_checks() -> list[Check]:
    """checks(), then whether KVM works and whether libvirtd runs."""
    return [*checks(), doctor.kvm(), doctor.libvirtd()]
