"""ptnet.lab.nested on the host: the same helper the lab tests use for nested guests.

On the host it boots the guest directly (one level of TCG, a few seconds) with Debian's QEMU; the
lab tests (tests/lab/test_qemu_netmap.py) use it one level down with our QEMU build.
"""

import time
from pathlib import Path

import pytest

from ptnet.build import kbuild
from ptnet.build.tools import tool_path
from ptnet.errors import PtnetError, UsageError
from ptnet.lab import kernel, nested

pytestmark = pytest.mark.slow

QEMU = Path("/usr/bin/qemu-system-x86_64")
if not QEMU.is_file() or not kernel.cached():
    pytest.skip("needs qemu-system-x86 and a cached kernel", allow_module_level=True)


def test_the_command_runs_with_modules_devices_and_tools(tmp_path: Path):
    k = nested.default_kernel()
    netmap = kbuild.module_path(k, "netmap")
    result = nested.run(
        qemu=QEMU,
        kernel=k,
        kmods=["virtio_pci", "virtio_net"],
        modules=[netmap],
        tools=[tool_path("pkt-gen")],
        files={"etc/greeting": b"hello from the initramfs\n"},
        qemu_args=["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"],
        command=[
            "sh",
            "-c",
            "uname -r; cat /etc/greeting; ls /sys/class/net; grep -o '^netmap ' /proc/modules;"
            " test -c /dev/netmap && test -x /bin/pkt-gen && echo tools-ok; echo oops >&2;"
            " exit 7",
        ],
        workdir=tmp_path / "run",
        timeout=120,
    )
    assert result.exit_code == 7
    assert result.output.split("\n") == [
        k.release,
        "hello from the initramfs",
        "eth0  lo",
        "netmap ",
        "tools-ok",
        "oops",
        "",
    ]
    assert result.workdir == tmp_path / "run"
    assert (tmp_path / "run" / "console.log").is_file()
    assert result.boot_seconds is not None and 0 < result.boot_seconds < result.wall_seconds


def test_a_command_that_outlives_its_timeout_is_killed(tmp_path: Path):
    t0 = time.monotonic()
    with nested.NestedGuest(
        qemu=QEMU, command=["sh", "-c", "echo started; sleep 600"], workdir=tmp_path
    ) as guest:
        guest.wait_for("started", timeout=120)
        result = guest.wait(timeout=time.monotonic() - t0 + 2)
        assert guest.proc.poll() is not None
    assert result.exit_code == 124
    assert result.output == "started\n"


def test_waiting_for_text_the_command_never_prints_fails(tmp_path: Path):
    with (
        nested.NestedGuest(qemu=QEMU, command=["true"], workdir=tmp_path) as guest,
        pytest.raises(PtnetError, match="ended without printing 'never'"),
    ):
        guest.wait_for("never", timeout=120)


def test_a_module_that_does_not_load_is_reported(tmp_path: Path):
    bogus = tmp_path / "bogus.ko"
    bogus.write_bytes(b"not an ELF module")
    with pytest.raises(PtnetError, match=r"module failed to load: lib/modules/bogus\.ko"):
        nested.run(qemu=QEMU, modules=[bogus], command=["true"], workdir=tmp_path / "r")


def test_bad_arguments_are_usage_errors(tmp_path: Path):
    with pytest.raises(UsageError, match="no such file"):
        nested.run(qemu=tmp_path / "no-qemu", command=["true"])
    with pytest.raises(UsageError, match="needs a command"):
        nested.run(qemu=QEMU, command=[])
    with pytest.raises(PtnetError, match="has no module no_such_module"):
        nested.run(qemu=QEMU, kmods=["no_such_module"], command=["true"])
