"""The lab's and the nested guests' QEMU lines (ptnet/plan/lab.py), and `ptnet lab run --dry-run`,
which prints the lab's line and must write, bind and start nothing."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ptnet.plan.lab import STREAMS, lab_argv, nested_argv

GOLDEN = Path(__file__).parent / "golden" / "lab"
VMLINUX = "/cache/kernels/6.1.0-57-amd64/vmlinux"

CASES = {
    "lab-tcg-1cpu": lambda: lab_argv(
        "/usr/bin/qemu-system-x86_64", "tcg", 1, 1024, VMLINUX, "/run/r1/initrd.cpio",
        "/run/r1/console.log", ["/work/tree"], {"ctl": "/dev/fd/10", "out": "/dev/fd/11",
        "err": "/dev/fd/12"},
    ),
    "lab-kvm-2cpu-2rw": lambda: lab_argv(
        "/usr/bin/qemu-system-x86_64", "kvm", 2, 2048, VMLINUX, "/run/r2/initrd.cpio",
        "/run/r2/console.log", ["/work/a", "/work/b"], {n: f"/dev/fd/<{n}>" for n in STREAMS},
    ),
    "lab-tcg-nested-kvm": lambda: lab_argv(
        "/usr/bin/qemu-system-x86_64", "tcg", 1, 2048, VMLINUX, "/run/r3/initrd.cpio",
        "/run/r3/console.log", ["/work/tree"], {n: f"/dev/fd/<{n}>" for n in STREAMS},
        nested_kvm=True,
    ),
    "nested-ptnet": lambda: nested_argv(
        "/opt/qemu/bin/qemu-system-x86_64", 256, VMLINUX, "/tmp/n/initrd.cpio",
        "/tmp/n/console.log", "/tmp/n/output.log", ["ipv6.disable=1"],
        ["-device", "ptnet-pci,netdev=p0", "-netdev", "netmap,id=p0,ifname=pipeA{1,passthrough=on"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_lab_lines_golden(case):
    text = shlex.join(CASES[case]()) + "\n"
    path = GOLDEN / f"{case}.argv"
    if os.environ.get("PTNET_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.is_file(), f"no golden file {path}; run with PTNET_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_the_nested_guest_has_two_uarts_and_no_acpi():
    argv = CASES["nested-ptnet"]()
    flags = argv[argv.index("-append") + 1].split()
    assert "8250.nr_uarts=2" in flags and "8250.nr_uarts=1" not in flags
    assert flags[-2:] == ["acpi=off", "ipv6.disable=1"]
    assert argv.count("-serial") == 2 and argv[-4:-2] == ["-device", "ptnet-pci,netdev=p0"]


def tree_of(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_lab_dry_run_is_pure_and_reproducible(tmp_path):
    """With a QEMU that records any start, a cache holding one kernel, and no state directory:
    two dry runs print the same line, start nothing, and leave both directories as they were."""
    cache, state, bin_dir = tmp_path / "cache", tmp_path / "state", tmp_path / "bin"
    kdir = cache / "kernels" / "6.1.0-57-amd64"
    kdir.mkdir(parents=True)
    meta = {"release": "6.1.0-57-amd64", "version": "6.1.158-1", "series": "bookworm"}
    (kdir / "meta.json").write_text(json.dumps(meta))
    (kdir / "vmlinux").write_bytes(b"")
    bin_dir.mkdir()
    started = tmp_path / "qemu-started"
    qemu = bin_dir / "qemu-system-x86_64"
    qemu.write_text(f"#!/bin/sh\ntouch {started}\n")
    qemu.chmod(0o755)
    env = dict(
        os.environ,
        PTNET_CACHE_DIR=str(cache),
        PTNET_STATE_DIR=str(state),
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        PTNET_ACCEL="",
    )
    before = tree_of(cache)
    argv = [sys.executable, "-m", "ptnet", "lab", "run", "--dry-run", "--cpus", "2"]
    argv += ["--mem", "2G", "--rw", str(tmp_path), "--", "uname", "-r"]
    runs = [subprocess.run(argv, env=env, capture_output=True, text=True) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    line = shlex.split(runs[0].stdout)
    assert line[0] == str(qemu) and line[line.index("-m") + 1] == "2048"
    assert line[line.index("-smp") + 1] == "2" and line[line.index("-kernel") + 1] == str(
        kdir / "vmlinux"
    )
    assert f"{state}/lab-runs/<run>/initrd.cpio" in line
    assert "file,id=ctl,path=/dev/fd/<ctl>" in line
    assert not started.exists() and not state.exists() and tree_of(cache) == before


def test_lab_dry_run_rejects_bad_input_in_one_line(tmp_path):
    env = dict(os.environ, PTNET_STATE_DIR=str(tmp_path / "state"))
    argv = [sys.executable, "-m", "ptnet", "lab", "run", "--dry-run", "--mem", "lots", "--", "true"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "ptnet: error: bad --mem 'lots': a size in MiB, or with an M or G suffix"
    ]


def test_nested_kvm_offers_svm_under_tcg_only():
    def cpu(accel: str, nested_kvm: bool) -> str:
        argv = lab_argv("q", accel, 1, 1024, VMLINUX, "i", "c", [], {n: n for n in STREAMS},
                        nested_kvm=nested_kvm)  # fmt: skip
        return argv[argv.index("-cpu") + 1]

    v2 = "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt"  # x86-64-v2, for the host's NumPy
    assert cpu("tcg", True) == f"{v2},+svm"
    assert cpu("tcg", False) == v2
    assert cpu("kvm", True) == "host"  # the host's CPU: nested KVM is the host's to give


def test_nested_kvm_with_more_than_one_cpu_is_refused_in_one_line(tmp_path):
    env = dict(os.environ, PTNET_STATE_DIR=str(tmp_path / "state"))
    argv = [sys.executable, "-m", "ptnet", "lab", "run", "--dry-run", "--nested-kvm"]
    proc = subprocess.run([*argv, "--cpus", "2", "--", "true"], env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "ptnet: error: --nested-kvm needs --cpus 1: with 2 CPUs, QEMU's SVM emulation stalls "
        "nested guests"
    ]
