"""`ptnet build qemu`: the pinned Debian QEMU source, our patch series, an incremental build.

The slow tests run the real pipeline. The first one on a fresh cache fetches 40 MB and builds
QEMU (minutes); later runs reuse the cache. They share the cache's single source tree, so the
test that swaps in its own series builds the checkout's series again when it is done.
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ptnet.build import qemu
from ptnet.lab import nested

PTNET = Path(sys.executable).with_name("ptnet")
BUILD_TIMEOUT = 3600


def _ptnet(*args: str, timeout: float = BUILD_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PTNET), *args], capture_output=True, text=True, check=False, timeout=timeout
    )


def _build(*args: str) -> Path:
    proc = _ptnet("build", "qemu", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return Path(lines[0])


def _compiled(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "Compiling C object" in ln]


def test_the_pin_lives_in_qemu_patches_version() -> None:
    pin = qemu.load_pin()
    assert pin.package == "qemu"
    assert pin.version == "1:10.0.13+ds-0+deb13u1"
    assert pin.suite == "trixie"
    assert len(pin.dsc_sha256) == 64
    assert pin.upstream == "10.0.13"
    assert pin.dsc_name == "qemu_10.0.13+ds-0+deb13u1.dsc"


def test_a_series_naming_a_missing_patch_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "series").write_text("# ours\n0001-there.patch\n0002-missing.patch\n")
    (tmp_path / "0001-there.patch").write_text("")
    proc = _ptnet("build", "qemu", "--patches", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"ptnet: error: {tmp_path}/series: patch 0002-missing.patch does not exist"
    ]
    assert proc.stdout == ""


def test_a_malformed_pin_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "VERSION").write_text("package: qemu\nversion: 1:10.0.13+ds-0+deb13u1\n")
    proc = _ptnet("build", "qemu", "--patches", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"ptnet: error: {tmp_path}/VERSION: missing field suite"


@pytest.mark.slow
def test_the_build_is_qemu_10_0_13_with_netmap() -> None:
    binary = _build()
    assert binary == qemu.binary_path()
    assert binary.name == "qemu-system-x86_64"
    version = subprocess.run(
        [binary, "-version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.splitlines()[0].startswith("QEMU emulator version 10.0.13")
    netdevs = subprocess.run(
        [binary, "-netdev", "help"], capture_output=True, text=True, check=True
    ).stdout
    assert "netmap" in netdevs.split()


@pytest.mark.slow
def test_the_build_boots_the_lab_kernel_with_debian_firmware() -> None:
    result = nested.run(
        qemu=_build(),
        kmods=["virtio_pci", "virtio_net"],
        qemu_args=["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"],
        command=["sh", "-c", "ls /sys/class/net; exit 5"],
        timeout=300,
    )
    assert (result.exit_code, result.output) == (5, "eth0  lo\n")


@pytest.mark.slow
def test_a_second_build_is_a_no_op() -> None:
    binary = _build()
    before = binary.stat().st_mtime_ns
    t0 = time.monotonic()
    proc = _ptnet("build", "qemu")
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert Path(proc.stdout.strip()) == binary
    assert "ptnet: QEMU is up to date" in proc.stderr
    assert _compiled(proc.stderr) == []
    assert "Linking" not in proc.stderr
    assert "configuring" not in proc.stderr and "applying" not in proc.stderr
    assert binary.stat().st_mtime_ns == before
    assert elapsed < 30, f"a no-op build took {elapsed:.1f} s"


@pytest.mark.slow
def test_a_patch_that_does_not_apply_is_named(tmp_path: Path) -> None:
    _build()  # the pristine tree must exist, so that only the patch can fail
    stamp = qemu.version_dir(qemu.load_pin()) / "src" / ".ptnet-series"
    series_before = stamp.read_text()
    (tmp_path / "series").write_text("0001-fine.patch\n0002-broken.patch\n")
    (tmp_path / "0001-fine.patch").write_text(_patch("net/netmap.c", "ptnet-fine"))
    (tmp_path / "0002-broken.patch").write_text(
        "--- a/net/netmap.c\n+++ b/net/netmap.c\n@@ -1,3 +1,3 @@\n"
        " no such line\n-in this file\n+at all\n no such line either\n"
    )
    proc = _ptnet("build", "qemu", "--patches", str(tmp_path))
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ptnet: error:")]
    assert len(errors) == 1
    assert errors[0].startswith(
        "ptnet: error: patch 0002-broken.patch does not apply to qemu 1:10.0.13+ds-0+deb13u1: "
    )
    assert "Traceback" not in proc.stderr
    assert proc.stderr.rstrip().endswith(errors[0])
    # The tree in use is untouched, and nothing half-patched is left behind.
    assert stamp.read_text() == series_before
    assert not (stamp.parent.parent / ".src-new").exists()
    assert qemu.binary_path().is_file()


@pytest.mark.slow
def test_changing_a_patch_reapplies_and_rebuilds_only_what_it_touches(tmp_path: Path) -> None:
    checkout = qemu.patches_dir()
    ours = tmp_path / "patches"
    shutil.copytree(checkout, ours)
    (ours / "VERSION").unlink()  # the checkout's pin applies
    with (ours / "series").open("a") as f:
        f.write("9999-marker.patch\n")
    try:
        for marker in (b"ptnet-marker-one", b"ptnet-marker-two"):
            (ours / "9999-marker.patch").write_text(_patch("net/netmap.c", marker.decode()))
            proc = _ptnet("build", "qemu", "--patches", str(ours))
            assert proc.returncode == 0, proc.stderr[-3000:]
            assert "patch 9999-marker.patch" in proc.stderr
            binary = Path(proc.stdout.strip())
            assert marker in binary.read_bytes()
            assert b"ptnet-marker-" + (b"two" if marker.endswith(b"one") else b"one") not in (
                binary.read_bytes()
            )
        # The second round recompiled the one file the patch touches, nothing else.
        assert [ln.split()[-1] for ln in _compiled(proc.stderr)] == [
            "libcommon.a.p/net_netmap.c.o"
        ], _compiled(proc.stderr)
    finally:
        back = _ptnet("build", "qemu")
        assert back.returncode == 0, back.stderr[-3000:]
    assert b"ptnet-marker-" not in qemu.binary_path().read_bytes()


def _patch(rel: str, marker: str) -> str:
    """A patch (diff -u form) that appends a string the binary keeps to `rel` of the source."""
    pristine = qemu.version_dir(qemu.load_pin()) / "pristine" / rel
    old = pristine.read_text()
    line = f'static const char ptnet_marker[] __attribute__((used)) = "{marker}";\n'
    with_marker = old + line
    n = old.count("\n")
    tail = old.splitlines(keepends=True)[-3:]
    start = n - len(tail) + 1
    hunk = f"@@ -{start},{len(tail)} +{start},{len(tail) + 1} @@\n"
    body = "".join(" " + t for t in tail) + "+" + line
    assert with_marker.endswith(line)
    return f"--- a/{rel}\n+++ b/{rel}\n{hunk}{body}"


def test_a_patch_directory_that_does_not_exist_is_bad_input(tmp_path: Path) -> None:
    proc = _ptnet("build", "qemu", "--patches", str(tmp_path / "nowhere"), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"ptnet: error: patch directory {tmp_path}/nowhere does not exist"
