"""Pick the accelerator: KVM where it really boots our kernel, TCG otherwise.

/dev/kvm existing is not enough: on some hosts (a PVM hypervisor, nested setups) QEMU aborts
while the guest kernel boots. So the probe boots the lab kernel under KVM once and caches the
verdict per QEMU binary, guest kernel and host kernel. PTNET_ACCEL=kvm|tcg overrides it.
"""

import json
import os
import platform
from pathlib import Path

from ptnet import host, paths
from ptnet.errors import UsageError
from ptnet.lab.kernel import Kernel

PROBE_TIMEOUT = 30.0


def kvm_device_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def _cache_key(qemu: str, kernel: Kernel) -> str:
    st = Path(qemu).stat()
    return f"{qemu}:{st.st_mtime_ns}:{kernel.release}:{platform.release()}"


def _cache_file() -> Path:
    return paths.cache_dir() / "accel.json"


def probed_verdicts() -> dict[str, str]:
    """Earlier probe results on this host kernel: cache key -> 'kvm' or 'tcg'."""
    cache = _cache_file()
    verdicts: dict[str, str] = json.loads(cache.read_text()) if cache.is_file() else {}
    return {k: v for k, v in verdicts.items() if k.endswith(f":{platform.release()}")}


def known(qemu: str, kernel: Kernel) -> str | None:
    """The accelerator choose() would pick, when that needs no probe; None when it does."""
    forced = os.environ.get("PTNET_ACCEL")
    if forced:
        if forced not in ("kvm", "tcg"):
            raise UsageError(f"PTNET_ACCEL={forced}: use kvm or tcg")
        return forced
    if not kvm_device_usable():
        return "tcg"
    return probed_verdicts().get(_cache_key(qemu, kernel))


def choose(qemu: str, kernel: Kernel) -> str:
    """known(), else the verdict of a KVM probe boot, cached for next time."""
    verdict = known(qemu, kernel)
    if verdict:
        return verdict
    cache = _cache_file()
    verdicts: dict[str, str] = json.loads(cache.read_text()) if cache.is_file() else {}
    verdict = verdicts[_cache_key(qemu, kernel)] = probe_kvm(kernel)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(verdicts, indent=2) + "\n")
    return verdict


def probe_kvm(kernel: Kernel) -> str:
    """Boot `kernel` under KVM to the point where init answers; 'kvm' if it did, else 'tcg'."""
    from ptnet.lab import runner

    host.log("probing whether KVM can boot the lab kernel (once per host and kernel)")
    spec = runner.LabSpec(kernel=kernel, command=["true"], timeout=PROBE_TIMEOUT)
    result = runner.run(spec, probe_accel="kvm")
    verdict = "kvm" if result.exit_code == 0 else "tcg"
    host.log(f"KVM probe: {'KVM works' if verdict == 'kvm' else 'KVM unusable, using TCG'}")
    return verdict
