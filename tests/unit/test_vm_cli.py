"""`ptnet vm` input handling: one-line errors with exit code 2, --dry-run, and refusing ports
that this host cannot provide (ports are never faked)."""

import os
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptnet.cli import app
from ptnet.lab import kernel

needs_image_inputs = pytest.mark.skipif(
    not kernel.cached() or shutil.which("qemu-system-x86_64") is None,
    reason="needs a cached lab kernel and qemu-system-x86",
)


@pytest.fixture
def env(tmp_path):
    return {"PTNET_STATE_DIR": str(tmp_path / "state"), "PTNET_RUNTIME_DIR": str(tmp_path / "r")}


def one_line_error(proc, code=2) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ptnet: error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "Bad"], "bad VM name 'Bad'"),
        (["up", "vm1", "--cpus", "0"], "bad --cpus 0"),
        (["up", "vm1", "--mem", "1T"], "bad --mem '1T'"),
        (["up", "vm1", "--port", "vale1:"], "bad port spec 'vale1:'"),
        (["up", "vm1", "--port", "pipeA{"], "bad port spec 'pipeA{'"),
        (["up", "vm1", "--port", "vale1:1", "--port", "vale1:1"], "port 'vale1:1' is given twice"),
        (["up", "vm1", "--port", "vale1:1/t"], "cannot be a VM's passthrough NIC"),
        (["up", "vm1", "--backend", "xen"], "xen"),
        (["up", "vm1", "--image", "nope", "--dry-run"], "unknown image 'nope'"),
        (["down"], "give a VM name or --all"),
        (["down", "vm1", "--all"], "give a VM name or --all"),
        (["show", "ghost"], "no VM named 'ghost'"),
        (["exec", "ghost", "--", "true"], "no VM named 'ghost'"),
        (["exec", "ghost"], "no command given"),
        (["port", "add", "ghost", "vale1:"], "bad port spec 'vale1:'"),
        (["port", "del", "ghost", "vale1:1"], "no VM named 'ghost'"),
        (["validate", "ghost", "--size", "20"], "--size"),
        (["validate", "ghost", "--rate", "-5"], "--rate"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_ptnet, env, args, message):
    assert message in one_line_error(run_ptnet("vm", *args, env=env))


def test_down_of_an_unknown_vm_is_a_no_op(run_ptnet, env):
    proc = run_ptnet("vm", "down", "ghost", env=env)
    assert proc.returncode == 0 and "nothing to do" in proc.stderr
    assert run_ptnet("vm", "list", "--format", "json", env=env).stdout.strip() == "[]"


@pytest.mark.skipif(os.path.exists("/dev/netmap"), reason="this host has netmap.ko loaded")
def test_a_port_without_netmap_on_the_host_fails_before_anything_starts(run_ptnet, env):
    proc = run_ptnet("vm", "up", "vm1", "--port", "vale1:10", env=env)
    line = one_line_error(proc, code=1)
    assert "--port vale1:10: this host has no /dev/netmap" in line
    assert "sudo ptnet host install" in line and "ptnet lab run" in line
    assert not (Path(env["PTNET_STATE_DIR"]) / "vms" / "vm1.json").exists()
    assert not (Path(env["PTNET_RUNTIME_DIR"]) / "vms" / "vm1").exists()
    assert run_ptnet("vm", "list", "--format", "json", env=env).stdout.strip() == "[]"


@needs_image_inputs
@pytest.mark.parametrize("backend", ["qemu", "libvirt"])
def test_dry_run_prints_the_plan_and_starts_nothing(run_ptnet, env, backend):
    args = ["vm", "up", "dry1", "--port", "vale1:10", "--port", "pipeA{2", "--cpus", "2"]
    proc = run_ptnet(*args, "--mem", "1G", "--backend", backend, "--dry-run", env=env)
    assert proc.returncode == 0, proc.stderr
    if backend == "qemu":
        argv = shlex.split(proc.stdout)
        assert argv[argv.index("-smp") + 1] == "2" and argv[argv.index("-m") + 1] == "1024"
        assert "netmap,id=port0,ifname=vale1:10,passthrough=on" in argv
        assert "netmap,id=port1,ifname=netmap:pipeA{2,passthrough=on" in argv
        assert argv[-1] == "-daemonize"
    else:
        assert proc.stdout.startswith("<domain type=")
        assert "<qemu:arg value='ptnet-pci,netdev=port1," in proc.stdout
    assert not (Path(env["PTNET_STATE_DIR"]) / "vms" / "dry1.json").exists()
    assert not (Path(env["PTNET_RUNTIME_DIR"]) / "vms" / "dry1").exists()


@pytest.mark.parametrize(
    ("env_vars", "accel", "seconds"),
    [
        ({}, "kvm", 180.0),
        ({}, "tcg", 180.0),
        ({"PTNET_LAB_ACCEL": "kvm"}, "tcg", 180.0),
        ({"PTNET_LAB_ACCEL": "tcg"}, "tcg", 900.0),  # TCG inside the TCG lab
        ({"PTNET_LAB_ACCEL": "tcg"}, "kvm", 360.0),  # KVM on the SVM the TCG lab emulates
        ({"PTNET_LAB_ACCEL": "tcg", "PTNET_VM_READY_TIMEOUT": "42"}, "tcg", 42.0),
    ],
)
def test_ready_timeout_follows_the_accelerators(monkeypatch, env_vars, accel, seconds):
    from ptnet.vm import lifecycle

    for k in ("PTNET_LAB_ACCEL", "PTNET_VM_READY_TIMEOUT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env_vars.items():
        monkeypatch.setenv(k, v)
    assert lifecycle.ready_timeout(accel) == seconds


def test_a_bad_ready_timeout_is_named(monkeypatch):
    from ptnet.errors import UsageError
    from ptnet.vm import lifecycle

    monkeypatch.setenv("PTNET_VM_READY_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="PTNET_VM_READY_TIMEOUT='soon': not a number of seconds"):
        lifecycle.ready_timeout("tcg")


def test_dry_run_is_pure_and_reproducible(tmp_path, monkeypatch):
    """With nothing cached, `vm up --dry-run` prints the same plan twice, with placeholders for
    what only a start knows, and writes, binds and starts nothing."""
    dirs = {k: tmp_path / k for k in ("cache", "state", "run")}
    for d in dirs.values():
        d.mkdir()
    env = {
        "PTNET_CACHE_DIR": str(dirs["cache"]),
        "PTNET_STATE_DIR": str(dirs["state"]),
        "PTNET_RUNTIME_DIR": str(dirs["run"] / "r"),
        "PTNET_ACCEL": "",
    }

    def refuse(what):
        def refused(*args, **kwargs):
            raise AssertionError(f"--dry-run called {what}{args[1:2]}")

        return refused

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("subprocess.Popen"))
    monkeypatch.setattr(socket.socket, "bind", refuse("socket.bind"))
    monkeypatch.setattr(os, "fork", refuse("os.fork"))
    args = ["vm", "up", "dry1", "--port", "vale1:10", "--mem", "1G", "--dry-run"]
    outputs = []
    for _ in range(2):
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    argv = shlex.split(outputs[0])
    assert "user,id=mgmt,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:SSH_PORT-:22" in argv
    assert argv[argv.index("-accel") + 1] in ("ACCEL", "tcg")  # tcg where /dev/kvm is unusable
    assert argv[argv.index("-m") + 1] == "1024"
    assert (
        argv[argv.index("-initrd") + 1] == f"{dirs['cache']}/images/default/IMAGE_KEY/initrd.cpio"
    )
    assert argv[argv.index("-kernel") + 1] == f"{dirs['cache']}/kernels/KERNEL/vmlinux"
    assert [p for d in dirs.values() for p in d.rglob("*")] == []


@pytest.mark.parametrize("command", [["vm", "up"], ["vm", "down"], ["lab", "run"], []])
def test_help_shows_no_type_after_a_flag(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout and "--help" in result.stdout
