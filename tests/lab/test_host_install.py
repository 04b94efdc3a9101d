"""`ptnet host install`, `status` and `uninstall` on a user's host, played by the lab (issue 17):
the lab kernel is "the running kernel", its cached headers are linked where linux-headers puts
them, and everything the install writes lands in tmpfs overlays (nm/userhost.py), never on the
real host. The CLI runs as a user types it, as a subprocess.

The refusals run in make test. The whole install (DKMS compiles both modules in the lab: minutes
under TCG) and a VM with a real port on the installed module and QEMU are `extended`.
"""

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nm.userhost import user_host

# The CLI starts in seconds under TCG, more on a busy machine: generous limits.
pytestmark = [pytest.mark.lab(modules=[], smp=2), pytest.mark.timeout(900)]

MODULES = ("netmap", "ptnet_guest")
VERSION = "0.1.0"


def ptnet(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ptnet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ptnet: error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def loaded(module: str = "netmap") -> bool:
    return Path("/sys/module", module).is_dir()


def nothing_installed(release: str) -> None:
    """No trace of an install: module, DKMS tree, sources, configuration, rule, prefix."""
    assert not loaded() and not loaded("ptnet_guest")
    assert not Path("/var/lib/dkms/ptnet").exists()
    assert not list(Path("/usr/src").glob("ptnet-*"))
    # Where DKMS installs (updates/dkms) and where a by-hand install would go (extra): walking the
    # whole module tree over the lab's 9p root would take minutes under TCG.
    for where in ("updates", "extra"):
        top = Path("/lib/modules", release, where)
        assert not (top.is_dir() and list(top.rglob("*.ko*"))), where
    for f in (
        "/etc/modprobe.d/ptnet.conf",
        "/etc/modules-load.d/ptnet.conf",
        "/etc/udev/rules.d/70-ptnet-netmap.rules",
        "/opt/ptnet",
    ):
        assert not Path(f).exists(), f


def test_install_without_headers_names_the_package_and_changes_nothing():
    with user_host(headers=False) as release:
        line = one_line_error(ptnet("host", "install"))
        assert f"no headers for the running kernel {release}" in line
        assert line.endswith(f"install them with: apt-get install linux-headers-{release}")
        nothing_installed(release)


def _cache_built_netmap() -> Path:
    from ptnet.build import kbuild
    from ptnet.lab import kernel

    return kbuild.module_path(kernel.find(os.uname().release), "netmap")


def test_a_module_in_use_is_refused_naming_the_process_until_force():
    with user_host(headers=True) as release:
        subprocess.run(["insmod", str(_cache_built_netmap())], check=True)
        holder = subprocess.Popen(["sh", "-c", "exec 3<>/dev/netmap; exec sleep 600"])
        try:
            for _ in range(100):  # until sh has opened the device and become sleep
                if Path(f"/proc/{holder.pid}/comm").read_text().strip() == "sleep":
                    break
                time.sleep(0.05)
            who = f"{holder.pid} (sleep)"
            line = one_line_error(ptnet("host", "uninstall"))
            assert f"netmap is in use by: {who}; stop them, or pass --force" in line
            line = one_line_error(ptnet("host", "install"))
            assert f"netmap is in use by: {who}" in line
            assert loaded() and holder.poll() is None
            nothing_installed_but_the_module = not Path("/usr/src", f"ptnet-{VERSION}").exists()
            assert nothing_installed_but_the_module

            proc = ptnet("host", "uninstall", "--force")
            assert proc.returncode == 0, proc.stderr
            assert f"stopping the processes that hold /dev/netmap: {who}" in proc.stderr
            assert holder.wait(timeout=10) == -15  # SIGTERM
            nothing_installed(release)
        finally:
            if holder.poll() is None:
                holder.kill()
            if loaded():
                subprocess.run(["rmmod", "netmap"], check=False)


def _status() -> dict[str, dict[str, object]]:
    proc = ptnet("host", "status", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return {row["name"]: row for row in json.loads(proc.stdout)}


@pytest.mark.slow
@pytest.mark.nested
@pytest.mark.extended  # DKMS compiles both modules under TCG, then a nested VM: see README
@pytest.mark.timeout(5400)
def test_install_loads_the_dkms_build_and_uninstall_leaves_nothing():
    with user_host(headers=True) as release:
        qemu_conf = Path("/etc/libvirt/qemu.conf")
        qemu_conf_before = qemu_conf.read_text() if qemu_conf.exists() else None
        start = time.monotonic()
        proc = ptnet("host", "install", "--group", "users", "--param", "ring_size=1024",
                     timeout=3500)  # fmt: skip
        took = time.monotonic() - start
        print(f"ptnet host install on {release}: {took:.0f} s", file=sys.stderr)
        assert proc.returncode == 0, proc.stderr

        # /dev/netmap as the permission model makes it: root's, the group's, 0660.
        st = Path("/dev/netmap").stat()
        assert stat.S_ISCHR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
        assert (st.st_uid, st.st_gid) == (0, 100)  # users
        assert Path("/sys/module/netmap/parameters/ring_size").read_text().strip() == "1024"

        # The loaded module is the one DKMS built and installed for this kernel.
        updates = Path("/lib/modules", release, "updates", "dkms")
        for module in MODULES:
            info = subprocess.run(
                ["modinfo", "-k", release, "-F", "filename", module],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            assert Path(info).parent == updates, info
        srcversion = subprocess.run(
            ["modinfo", "-k", release, "-F", "srcversion", "netmap"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert Path("/sys/module/netmap/srcversion").read_text().strip() == srcversion
        assert Path("/sys/module/netmap/version").read_text().strip() == VERSION
        dkms = subprocess.run(["dkms", "status", "-m", "ptnet"], capture_output=True, text=True)
        assert re.search(rf"ptnet/{VERSION}, {re.escape(release)}, x86_64: installed", dkms.stdout)

        conf = Path("/etc/modprobe.d/ptnet.conf").read_text().splitlines()
        assert conf[-1] == "options netmap dev_gid=100 dev_mode=0660 ring_size=1024"
        rule = Path("/etc/udev/rules.d/70-ptnet-netmap.rules").read_text().splitlines()
        assert rule[-1] == (
            'SUBSYSTEM=="netmap", KERNEL=="netmap", OWNER="root", GROUP="users", MODE="0660"'
        )
        assert Path("/etc/modules-load.d/ptnet.conf").read_text().splitlines()[-1] == "netmap"
        qemu = Path("/opt/ptnet/qemu/bin/qemu-system-x86_64")
        assert (
            "ptnet-pci"
            in subprocess.run(
                [str(qemu), "-device", "help"], capture_output=True, text=True, check=True
            ).stdout
        )

        # libvirt's QEMU finds /dev/netmap in its private /dev.
        conf = qemu_conf.read_text()
        assert '"/dev/netmap" ]' in conf or '[ "/dev/netmap",' in conf, conf

        status = _status()
        for name in (
            "host kernel", "netmap.ko", "dkms", "/dev/netmap", "ptnet qemu", "libvirt /dev/netmap"
        ):  # fmt: skip
            assert status[name]["ok"], status[name]
        assert "loaded 0.1.0, the built one" in str(status["netmap.ko"]["detail"])
        assert str(status["/dev/netmap"]["detail"]).startswith("0660 root:users; udev rule")

        if os.environ.get("PTNET_HOST_TEST_VM") != "0":
            vm_with_a_port_on_the_install()

        proc = ptnet("host", "uninstall", timeout=600)
        assert proc.returncode == 0, proc.stderr
        nothing_installed(release)
        assert not updates.exists() or not any(updates.iterdir())
        assert (qemu_conf.read_text() if qemu_conf.exists() else None) == qemu_conf_before


def vm_with_a_port_on_the_install() -> None:
    """Step 4: `vm up --port vale1:10` with no flag and no preloaded module runs on the
    DKMS-built module and /opt/ptnet/qemu, and validates against vale1:11."""
    images = json.loads(ptnet("image", "list", "--format", "json").stdout)
    assert any(i["name"] == "default" and i["current"] for i in images), "ptnet image build"
    try:
        up = ptnet("vm", "up", "h1", "--port", "vale1:10", "--format", "json", timeout=1200)
        assert up.returncode == 0, up.stderr
        assert json.loads(up.stdout)["ports"] == ["vale1:10"]
        qemus = subprocess.run(["pgrep", "-a", "qemu"], capture_output=True, text=True).stdout
        assert "/opt/ptnet/qemu/bin/qemu-system-x86_64" in qemus, qemus
        checked = ptnet(
            "vm", "validate", "h1", "--peer", "vale1:11", "--count", "1000", "--rate", "500",
            "--format", "json", timeout=900,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
        verdict = json.loads(checked.stdout)
        assert verdict["verdict"] == "pass", verdict
        assert (verdict["tx"]["packets"], verdict["rx"]["packets"]) == (1000, 1000)
    finally:
        down = ptnet("vm", "down", "h1", timeout=120)
    assert down.returncode == 0, down.stderr
