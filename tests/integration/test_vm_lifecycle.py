"""Real VM lifecycles under TCG (or KVM where it works) on both backends, from the default image.

Each test boots a real guest: QEMU, dropbear, our image. Nothing is mocked: SSH goes through
slirp's loopback forward with the pinned host key, and clean-up is checked against /proc, the
runtime and state directories, and the forwarded port.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ptnet.lab import kernel

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not kernel.cached() or shutil.which("qemu-system-x86_64") is None,
        reason="needs a cached lab kernel (ptnet kernel fetch) and qemu-system-x86",
    ),
]


@pytest.fixture(scope="module")
def vm_env(tmp_path_factory):
    """A private lab: state (so a fresh client key) and a short runtime dir for the sockets."""
    state = tmp_path_factory.mktemp("state")
    run = Path(tempfile.mkdtemp(prefix="ptnet-t-", dir="/tmp"))
    env = {"PTNET_STATE_DIR": str(state), "PTNET_RUNTIME_DIR": str(run / "r")}
    yield env, state, run / "r"
    from tests.conftest import ptnet

    ptnet("vm", "down", "--all", env=env, timeout=120)
    shutil.rmtree(run, ignore_errors=True)


def cli(vm_env, *args, timeout=300):
    from tests.conftest import ptnet

    return ptnet(*args, env=vm_env[0], timeout=timeout)


def show(vm_env, name) -> dict:
    proc = cli(vm_env, "vm", "show", name, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def port_free(port: int) -> bool:
    """No listener on 127.0.0.1:port (connections of the gone VM may linger in TIME_WAIT)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def assert_gone(vm_env, name: str, pid: int | None, ssh_port: int) -> None:
    _, state, run = vm_env
    deadline = time.monotonic() + 10
    while pid is not None and pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid is None or not pid_alive(pid)
    assert not (run / "vms" / name).exists()
    assert sorted(p.name for p in (state / "vms").glob(f"{name}.*")) == []
    assert port_free(ssh_port)
    listed = json.loads(cli(vm_env, "vm", "list", "--format", "json").stdout)
    assert name not in [v["name"] for v in listed]


def test_qemu_up_exec_console_down(vm_env):
    up = cli(vm_env, "vm", "up", "q1", "--format", "json")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    assert (info["state"], info["backend"], info["ports"]) == ("running", "qemu", [])
    assert info["ready_seconds"] > 0
    run_dir = Path(info["run_dir"])
    assert (run_dir.stat().st_mode & 0o777) == 0o700
    assert (run_dir / "qmp.sock").exists() and (run_dir / "console.sock").exists()

    proc = cli(vm_env, "vm", "exec", "q1", "--", "sh", "-c", "uname -r; echo oops >&2; exit 7")
    assert proc.returncode == 7
    assert proc.stdout == kernel.find(None).release + "\n"
    assert proc.stderr == "oops\n"
    assert cli(vm_env, "vm", "exec", "q1", "--", "hostname").stdout == "q1\n"
    big = cli(vm_env, "vm", "exec", "q1", "--", "sh", "-c", "seq 1 200000; seq 1 50000 >&2")
    assert big.returncode == 0
    assert big.stdout.splitlines()[-1] == "200000" and big.stderr.splitlines()[-1] == "50000"

    # A command past its deadline is abandoned with an error, not waited for.
    slow = cli(vm_env, "vm", "exec", "q1", "--timeout", "2", "--", "sleep", "30")
    assert slow.returncode == 1 and "timed out after 2 s" in slow.stderr

    # The system ssh client with the same pinned key works too.
    assert cli(vm_env, "vm", "ssh", "q1", "--", "echo", "via-openssh").stdout == "via-openssh\n"

    # Idempotent: a second up with the same settings returns the same VM.
    again = cli(vm_env, "vm", "up", "q1", "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["pid"] == info["pid"]
    other = cli(vm_env, "vm", "up", "q1", "--cpus", "2")
    assert other.returncode == 2 and "already up with other settings" in other.stderr

    # Nothing to validate or unplug on a VM without ports; no port to hot-plug on this host.
    proc = cli(vm_env, "vm", "validate", "q1")
    assert proc.returncode == 1 and "q1 has no netmap port to validate" in proc.stderr
    proc = cli(vm_env, "vm", "port", "del", "q1", "vale1:3")
    assert proc.returncode == 2 and "VM q1 has no port 'vale1:3'" in proc.stderr
    if not os.path.exists("/dev/netmap"):
        proc = cli(vm_env, "vm", "port", "add", "q1", "vale1:3")
        assert proc.returncode == 1 and "this host has no /dev/netmap" in proc.stderr
    assert show(vm_env, "q1")["ports"] == []

    # The serial console is a root shell.
    con = subprocess.run(
        [sys.executable, "-m", "ptnet", "vm", "console", "q1"],
        input="echo console-$((6*7))\n",
        capture_output=True,
        text=True,
        env={**os.environ, **vm_env[0]},
        timeout=60,
    )
    assert con.returncode == 0, con.stderr
    assert "console-42" in con.stdout

    cli(vm_env, "vm", "down", "q1")
    assert_gone(vm_env, "q1", info["pid"], int(info["ssh"].rsplit(":", 1)[1]))


def test_a_changed_host_key_is_refused(vm_env):
    up = cli(vm_env, "vm", "up", "q2", "--format", "json")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    known = Path(vm_env[1]) / "vms" / "q2.known_hosts"
    line = known.read_text()
    assert line.startswith(f"[127.0.0.1]:{info['ssh'].rsplit(':', 1)[1]} ssh-ed25519 ")
    # Pin some other ed25519 key: SSH must refuse the guest rather than learn its key.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    other = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = other.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    known.write_text(line.split(" ssh-ed25519 ")[0] + " " + blob.decode() + "\n")
    proc = cli(vm_env, "vm", "exec", "q2", "--", "true")
    assert proc.returncode == 1
    assert "host key does not match" in proc.stderr and "Traceback" not in proc.stderr
    assert cli(vm_env, "vm", "ssh", "q2", "--", "true").returncode != 0
    known.write_text(line)
    assert cli(vm_env, "vm", "exec", "q2", "--", "true").returncode == 0

    # kill -9 of QEMU: list says dead, and down still removes everything.
    os.kill(info["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while show(vm_env, "q2")["state"] != "dead" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert show(vm_env, "q2")["state"] == "dead"
    down = cli(vm_env, "vm", "down", "q2")
    assert down.returncode == 0, down.stderr
    assert_gone(vm_env, "q2", info["pid"], int(info["ssh"].rsplit(":", 1)[1]))


def test_concurrent_ups_start_one_vm_and_down_all_finds_it_without_state(vm_env):
    argv = [sys.executable, "-m", "ptnet", "vm", "up", "q3", "--format", "json"]
    env = {**os.environ, **vm_env[0]}
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    infos = [json.loads(o) for o in outs]
    assert infos[0]["pid"] == infos[1]["pid"]
    info = infos[0]
    (Path(vm_env[1]) / "vms" / "q3.json").unlink()
    listed = json.loads(cli(vm_env, "vm", "list", "--format", "json").stdout)
    assert ("q3", "running") in [(v["name"], v["state"]) for v in listed]
    assert cli(vm_env, "vm", "down", "--all").returncode == 0
    assert_gone(vm_env, "q3", info["pid"], int(info["ssh"].rsplit(":", 1)[1]))


@pytest.fixture(scope="module")
def libvirtd():
    """A running libvirtd (qemu:///system): started here, and stopped again, when it is not."""
    import libvirt

    libvirt.registerErrorHandler(lambda _c, _e: None, None)

    def up() -> bool:
        try:
            libvirt.open("qemu:///system").close()
        except libvirt.libvirtError:
            return False
        return True

    if up():
        yield
        return
    if shutil.which("libvirtd") is None or os.geteuid() != 0:
        pytest.skip("needs libvirtd (apt-get install libvirt-daemon-driver-qemu) and root")
    started = []
    for daemon in ("virtlogd", "libvirtd"):
        pidfile = Path(f"/run/{daemon}.pid")
        if not pidfile.is_file() or not pid_alive(int(pidfile.read_text().split()[0])):
            subprocess.run([daemon, "-d"], check=True)
            started.append(pidfile)
    deadline = time.monotonic() + 30
    while not up():
        assert time.monotonic() < deadline, "libvirtd did not come up"
        time.sleep(0.2)
    yield
    for pidfile in reversed(started):
        if pidfile.is_file():
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)


def test_libvirt_up_exec_metadata_and_kill9(vm_env, libvirtd):
    up = cli(vm_env, "vm", "up", "l1", "--backend", "libvirt", "--format", "json")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    assert (info["backend"], info["state"]) == ("libvirt", "running")
    proc = cli(vm_env, "vm", "exec", "l1", "--", "sh", "-c", "cat /proc/cmdline; exit 4")
    assert proc.returncode == 4 and "ptnet.name=l1" in proc.stdout

    # Lose every local file: list, exec and down find the domain through its metadata.
    for p in (Path(vm_env[1]) / "vms").glob("l1.*"):
        p.unlink()
    listed = json.loads(cli(vm_env, "vm", "list", "--format", "json").stdout)
    assert ("l1", "libvirt", info["ssh"]) in [(v["name"], v["backend"], v["ssh"]) for v in listed]
    assert cli(vm_env, "vm", "exec", "l1", "--", "hostname").stdout == "l1\n"

    # kill -9 of libvirt's QEMU, then down --all: no domain, process, socket or file is left.
    import libvirt

    pid = int(Path("/run/libvirt/qemu/l1.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    down = cli(vm_env, "vm", "down", "--all")
    assert down.returncode == 0, down.stderr
    assert_gone(vm_env, "l1", pid, int(info["ssh"].rsplit(":", 1)[1]))
    conn = libvirt.open("qemu:///system")
    try:
        assert "l1" not in [d.name() for d in conn.listAllDomains()]
    finally:
        conn.close()
