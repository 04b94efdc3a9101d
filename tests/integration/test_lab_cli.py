"""`ptnet lab run` and friends, against real QEMU boots of the cached Debian kernel."""

import json
import lzma
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ptnet.lab import kernel

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not kernel.cached() or shutil.which("qemu-system-x86_64") is None,
    reason="needs a cached lab kernel (ptnet kernel fetch) and qemu-system-x86",
)


def qemu_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "qemu-system-x86_64"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def one_line_error(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ptnet: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_uname_prints_the_debian_release(run_ptnet):
    proc = run_ptnet("lab", "run", "--", "uname", "-r")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == kernel.find(None).release


def test_exit_code_is_the_commands(run_ptnet):
    assert run_ptnet("lab", "run", "--", "sh", "-c", "exit 7").returncode == 7


def test_stdout_and_stderr_stay_apart(run_ptnet):
    proc = run_ptnet("lab", "run", "--", "sh", "-c", "echo to-out; echo to-err >&2")
    assert proc.returncode == 0
    assert proc.stdout == "to-out\n"
    assert "to-err\n" in proc.stderr and "to-out" not in proc.stderr


def test_timeout_kills_the_vm_and_exits_124(run_ptnet):
    before = qemu_pids()
    proc = run_ptnet("lab", "run", "--timeout", "5", "--", "sleep", "60", timeout=60)
    assert proc.returncode == 124
    assert qemu_pids() - before == set()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=str)
def test_a_killed_lab_run_takes_its_vm_with_it(tmp_path, sig):
    """SIGKILL, SIGTERM (neither runs our cleanup) or SIGINT (Ctrl-C) of ptnet ends its QEMU
    within seconds: a lab VM never outlives us."""
    marker = tmp_path / "started"
    before = qemu_pids()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ptnet", "lab", "run", "--rw", str(tmp_path), "--"]
        + ["sh", "-c", f"touch {marker}; sleep 300"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stderr").open("wb"),
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            why = f"the guest never started: {(tmp_path / 'stderr').read_text()}"
            assert time.monotonic() < deadline and proc.poll() is None, why
            time.sleep(0.2)
        ours = qemu_pids() - before
        assert ours
    finally:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        finally:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while qemu_pids() & ours and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not qemu_pids() & ours


def test_guest_sees_the_host_python_environment(run_ptnet):
    proc = run_ptnet(
        "lab", "run", "--", sys.executable, "-c", "import ptnet, sys; print(ptnet.__file__)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", "..", "ptnet", "__init__.py")
    )


def test_host_root_is_read_only_and_the_tree_is_writable(run_ptnet, tmp_path):
    probe = tmp_path / "written-by-guest"
    script = f"touch /usr/ptnet-must-fail 2>/dev/null && exit 3; echo hello > {probe}; id -u"
    proc = run_ptnet("lab", "run", "--rw", str(tmp_path), "--", "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"  # root inside
    assert probe.read_text() == "hello\n"
    assert not os.path.exists("/usr/ptnet-must-fail")


def test_guest_can_load_debian_modules(run_ptnet):
    proc = run_ptnet("lab", "run", "--", "sh", "-c", "modprobe veth && grep -c ^veth /proc/modules")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


def test_a_cache_reached_through_symbolic_links_works(run_ptnet, tmp_path):
    # The kernels and the scratch directory both sit behind links, as with a cache on another disk.
    from ptnet import paths

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "kernels").symlink_to(paths.kernels_dir().resolve())
    (tmp_path / "real").mkdir()
    (tmp_path / "rw").symlink_to(tmp_path / "real")
    script = f"modprobe veth && grep -c ^veth /proc/modules > {tmp_path / 'rw' / 'out'}"
    env = {"PTNET_CACHE_DIR": str(tmp_path / "cache")}
    proc = run_ptnet("lab", "run", "--rw", str(tmp_path / "rw"), "--", "sh", "-c", script, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "real" / "out").read_text() == "1\n"


def test_unknown_kernel_is_a_usage_error(run_ptnet):
    proc = run_ptnet("lab", "run", "--kernel", "9.99", "--", "true")
    assert proc.returncode == 2
    assert "unknown kernel '9.99'" in one_line_error(proc)


def test_missing_command_is_a_usage_error(run_ptnet):
    proc = run_ptnet("lab", "run")
    assert proc.returncode == 2
    assert "no command given" in one_line_error(proc)


def test_missing_module_is_a_usage_error(run_ptnet):
    proc = run_ptnet("lab", "run", "--modules", "/nonexistent/foo.ko", "--", "true")
    assert proc.returncode == 2
    assert "/nonexistent/foo.ko" in one_line_error(proc)


def test_no_qemu_installed_is_a_clear_error(run_ptnet, tmp_path):
    # A PATH with everything but QEMU: link the tools ptnet itself may call.
    for tool in ("busybox", "depmod", "dpkg-deb"):
        if shutil.which(tool):
            os.symlink(shutil.which(tool), tmp_path / tool)
    proc = run_ptnet("lab", "run", "--", "true", env={"PATH": str(tmp_path)})
    assert proc.returncode == 2
    assert "qemu-system-x86_64 not found" in one_line_error(proc)


def test_console_log_is_kept(run_ptnet):
    proc = run_ptnet("lab", "run", "--", "sh", "-c", "echo marker-for-console > /dev/ttyS0")
    assert proc.returncode == 0
    logs = sorted(
        (p for p in kernel.paths.lab_runs_dir().glob("*/console.log")),
        key=lambda p: p.stat().st_mtime,
    )
    assert "marker-for-console" in logs[-1].read_text()


def test_bench_lab_writes_json_with_the_median(run_ptnet, tmp_path):
    out = tmp_path / "lab.json"
    proc = run_ptnet("bench", "lab", "--boots", "2", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == json.loads(out.read_text())
    boot = result["scenarios"]["boot_to_command"]
    assert len(boot["runs"]) == 2 and boot["median_s"] > 0
    assert result["env"]["accel"] in ("tcg", "kvm")


def test_vmlinux_extraction_finds_the_compressed_elf(tmp_path):
    elf = b"\x7fELF" + os.urandom(4096)
    bzimage = tmp_path / "vmlinuz"
    # A setup header that happens to contain a stray xz magic, then the real payload.
    bzimage.write_bytes(
        b"MZ" + b"\xfd7zXZ\x00garbage" + os.urandom(512) + lzma.compress(elf) + b"trailer"
    )
    kernel.write_vmlinux(bzimage, tmp_path / "vmlinux")
    assert (tmp_path / "vmlinux").read_bytes() == elf


def test_doctor_json_reports_and_fails_without_qemu(run_ptnet, tmp_path):
    proc = run_ptnet("doctor", "--format", "json", env={"PATH": str(tmp_path)})
    assert proc.returncode == 1
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert checks["qemu"]["status"] == "MISSING"
    assert "apt-get install qemu-system-x86" in checks["qemu"]["detail"]


def test_our_module_loads_and_unloads(run_ptnet):
    assert run_ptnet("build", "modules").returncode == 0
    proc = run_ptnet(
        "lab", "run", "--modules", "netmap", "--",
        "sh", "-c", "test -c /dev/netmap && rmmod netmap && test ! -e /dev/netmap && echo ok",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"


def test_unbuilt_module_name_is_a_usage_error(run_ptnet):
    proc = run_ptnet("lab", "run", "--modules", "nosuchmod", "--", "true")
    assert proc.returncode == 2
    assert "nosuchmod" in one_line_error(proc)


def test_host_tmp_is_visible_and_guest_tmp_writes_stay_in_the_guest(run_ptnet, tmp_path):
    # tmp_path is under the host's /tmp: a checkout or cache there must stay reachable.
    (tmp_path / "from-host").write_text("host data\n")
    leak = tmp_path / "from-guest"
    script = f"cat {tmp_path}/from-host && echo x > {leak} && cat {leak}"
    proc = run_ptnet("lab", "run", "--rw", str(ROOT), "--", "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "host data\nx\n"
    assert not leak.exists()


def test_smp_gives_the_guest_that_many_cpus(run_ptnet):
    proc = run_ptnet("lab", "run", "--smp", "2", "--", "nproc")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2"


NESTED_UNDER_KVM = """
import sys
from pathlib import Path
from ptnet.lab import nested
r = nested.run(qemu=Path("/usr/bin/qemu-system-x86_64"), command=["uname", "-r"], timeout=240)
argv = r.workdir.joinpath("qemu.argv").read_text().split()
print(argv[argv.index("-accel") + 1], r.exit_code, r.output.strip())
"""


@pytest.mark.slow
def test_nested_kvm_runs_the_guests_nested_in_the_lab_under_kvm(run_ptnet):
    """--nested-kvm: the lab's TCG CPU offers SVM, init loads kvm_amd, /dev/kvm is there and
    the command is told PTNET_ACCEL=kvm, so a nested guest boots under KVM inside TCG."""
    proc = run_ptnet(
        "lab", "run", "--nested-kvm", "--mem", "1024", "--timeout", "280", "--",
        sys.executable, "-c", f"import os; print(os.environ['PTNET_ACCEL']); {NESTED_UNDER_KVM}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    release = kernel.find(None).release
    assert proc.stdout.splitlines() == ["kvm", f"kvm 0 {release}"]


def test_a_lab_gone_silent_is_stopped_as_stalled(tmp_path):
    """init's heartbeat on the control port stops (its sleep is frozen here, as a stalled lab
    kernel freezes everything): the runner stops the VM long before its timeout and says so."""
    from ptnet.lab import runner

    before = qemu_pids()
    out = tmp_path / "out"
    with out.open("wb") as sink:
        result = runner.run(
            runner.LabSpec(
                kernel=kernel.find(None),
                command=["sh", "-c", "kill -STOP $(pidof sleep) && echo frozen && sleep 300"],
                timeout=280,
                stall_seconds=15,
            ),
            output=sink,
        )
    assert (result.exit_code, result.stalled) == (124, True)
    assert out.read_text() == "frozen\n"
    assert result.wall_seconds < 120
    assert result.console_tail() == result.console_log.read_text().strip()  # a quiet boot: short
    assert qemu_pids() - before == set()
