"""`ptnet host` without changing the host: the refusals (kernel range, headers, Secure Boot),
the files it would write (dkms.conf from the Kbuild files, the module options, the udev rule),
the holders of /dev/netmap, and its one-line errors with exit code 2."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import ptnet
from ptnet.errors import MissingTool, UsageError
from ptnet.install import dkms, holders, modconf, preflight

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("release", ["6.1.0-57-amd64", "6.12.95+deb12-amd64", "7.3.4+deb13-amd64"])
def test_supported_kernels_pass(release):
    preflight.check_kernel(release)


@pytest.mark.parametrize(
    ("release", "word"),
    [("5.10.0-28-amd64", "too old"), ("6.0.12-amd64", "too old"), ("8.0.1-amd64", "too new")],
)
def test_kernels_outside_the_range_are_refused(release, word):
    with pytest.raises(UsageError, match=f"{re.escape(release)} is {word}: ptnet supports 6.1"):
        preflight.check_kernel(release)


def test_missing_headers_name_the_package(tmp_path):
    with pytest.raises(MissingTool) as exc:
        preflight.headers_dir("6.1.0-57-amd64", modules_root=tmp_path)
    assert exc.value.exit_code == 2
    assert "apt-get install linux-headers-6.1.0-57-amd64" in str(exc.value)
    build = tmp_path / "6.1.0-57-amd64" / "build"
    build.mkdir(parents=True)
    (build / "Makefile").write_text("")
    assert preflight.headers_dir("6.1.0-57-amd64", modules_root=tmp_path) == build


def _efivars(tmp_path: Path, value: int) -> Path:
    (tmp_path / preflight.SECURE_BOOT_VAR).write_bytes(b"\x06\x00\x00\x00" + bytes([value]))
    return tmp_path


@pytest.mark.skipif(shutil.which("mokutil") is not None, reason="mokutil answers for the host")
def test_secure_boot_from_the_efi_variable(tmp_path):
    assert not preflight.secure_boot_enabled(tmp_path / "none")
    assert not preflight.secure_boot_enabled(_efivars(tmp_path, 0))
    assert preflight.secure_boot_enabled(_efivars(tmp_path, 1))
    with pytest.raises(
        UsageError, match="Secure Boot is on and DKMS's signing key is not enrolled"
    ):
        preflight.check_secure_boot(efivars=tmp_path, cert=tmp_path / "mok.pub")
    preflight.check_secure_boot(efivars=_efivars(tmp_path, 0), cert=tmp_path / "mok.pub")


def test_dkms_conf_names_each_kbuild_module_in_build_order():
    dirs = dkms.module_dirs()
    assert dirs == [("kernel", ["netmap"]), ("guest", ["ptnet_guest"])]
    conf = dkms.dkms_conf("9.9", dirs)
    assert 'PACKAGE_NAME="ptnet"\nPACKAGE_VERSION="9.9"\n' in conf
    assert 'BUILT_MODULE_NAME[0]="netmap"\nBUILT_MODULE_LOCATION[0]="kernel/"\n' in conf
    assert 'BUILT_MODULE_NAME[1]="ptnet_guest"\nBUILT_MODULE_LOCATION[1]="guest/"\n' in conf
    assert conf.count("DEST_MODULE_LOCATION[") == 2 and 'AUTOINSTALL="yes"' in conf
    make = re.search(r'^MAKE\[0\]="(.*)"$', conf, re.MULTILINE)
    assert make is not None
    first, second = make.group(1).split(" && ")
    assert first.endswith("M=${dkms_tree}/ptnet/9.9/build/kernel modules")
    assert "KBUILD_EXTRA_SYMBOLS='${dkms_tree}/ptnet/9.9/build/kernel/Module.symvers'" in second


def test_dkms_conf_is_a_shell_file_that_dkms_can_source():
    conf = dkms.dkms_conf(ptnet.__version__, dkms.module_dirs())
    script = conf + 'echo "$PACKAGE_NAME ${#BUILT_MODULE_NAME[@]} $MAKE"'
    out = subprocess.run(
        ["bash", "-c", script],
        env={"kernel_source_dir": "/k", "dkms_tree": "/d", "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("ptnet 2 make -C /k M=/d/ptnet/")


@pytest.mark.parametrize(
    ("release", "built"),
    [("6.1.0-57-amd64", True), ("6.12.9-amd64", True), ("7.3.4+deb13-amd64", True),
     ("5.10.0-1-amd64", False), ("6.0.1", False), ("8.1.0", False)],
)  # fmt: skip
def test_dkms_builds_only_for_the_supported_kernels(release, built):
    assert bool(re.search(dkms.BUILD_EXCLUSIVE_KERNEL, release)) is built


def test_the_staged_tree_holds_the_kbuild_sources_without_the_tools(tmp_path):
    dkms.stage(tmp_path)
    assert (tmp_path / "dkms.conf").is_file()
    assert (tmp_path / "kernel" / "Kbuild").is_file() and (tmp_path / "guest" / "Kbuild").is_file()
    assert (tmp_path / "kernel" / "include" / "uapi" / "net" / "netmap.h").is_file()
    assert not (tmp_path / "kernel" / "tools").exists()
    assert not list(tmp_path.rglob("*.o")) and not list(tmp_path.rglob("Makefile"))


def test_the_module_version_is_the_package_version():
    header = (ROOT / "kernel" / "ptnet_version.h").read_text()
    assert f'#define PTNET_VERSION "{ptnet.__version__}"' in header
    for src in ("kernel/main.c", "guest/ptnet.c"):
        assert "MODULE_VERSION(PTNET_VERSION);" in (ROOT / src).read_text(), src


def test_module_params_are_the_settable_ones():
    params = modconf.module_params()
    assert {"dev_gid", "dev_mode", "ring_size", "buf_num", "vale_age"} <= params
    assert not params & {"priv_count", "buf_in_use", "vale_offload_drops"}


def test_group_gives_the_device_to_it_with_0660():
    opts = modconf.parse(["ring_size=1024"], "root", modconf.module_params())
    assert opts.params == {"ring_size": "1024", "dev_gid": "0", "dev_mode": "0660"}
    assert modconf.modprobe_conf(opts).endswith(
        "options netmap dev_gid=0 dev_mode=0660 ring_size=1024\n"
    )
    rule = modconf.udev_rule(opts).splitlines()[-1]
    assert rule == (
        'SUBSYSTEM=="netmap", KERNEL=="netmap", OWNER="root", GROUP="root", MODE="0660"'
    )


def test_defaults_keep_the_device_root_only():
    opts = modconf.parse([], None, modconf.module_params())
    assert opts.params == {} and opts.mode == 0o600
    assert modconf.modprobe_conf(opts) == modconf.HEADER
    assert modconf.udev_rule(opts).endswith('GROUP="root", MODE="0600"\n')


def test_read_params_reads_back_what_was_written(tmp_path):
    opts = modconf.parse(["dev_mode=0666", "ring_size=512"], None, modconf.module_params())
    conf = tmp_path / "ptnet.conf"
    conf.write_text(modconf.modprobe_conf(opts))
    assert modconf.read_params(conf) == {"dev_mode": "0666", "ring_size": "512"}


@pytest.mark.parametrize(
    ("pairs", "group", "message"),
    [
        (["nope=1"], None, "netmap.ko has no parameter 'nope'"),
        (["priv_count=1"], None, "has no parameter 'priv_count'"),
        (["ring_size"], None, "--param ring_size: expected NAME=VALUE"),
        (["ring_size=1 2"], None, "the value may hold"),
        (["ring_size=1\noptions x"], None, "the value may hold"),
        (["dev_mode=0700"], None, "dev_mode=0700: from 0600 to 0666"),
        (["dev_mode=0066"], None, "dev_mode=0066: from 0600 to 0666"),
        (["dev_mode=9"], None, "not an octal mode"),
        (["dev_gid=0"], "root", "--group and --param dev_gid= both"),
        ([], "no-such-group-ptnet", "--group no-such-group-ptnet: no such group"),
    ],
)
def test_bad_load_options_are_refused(pairs, group, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        modconf.parse(pairs, group, modconf.module_params())


def test_holders_are_the_processes_with_the_device_open(tmp_path):
    proc = tmp_path / "proc"
    for pid, comm, targets in [
        ("10", "pkt-gen", ["/dev/null", "/dev/netmap"]),
        ("7", "qemu-system-x86", ["/dev/netmap", "/dev/netmap"]),
        ("12", "bash", ["/dev/pts/0"]),
    ]:
        (proc / pid / "fd").mkdir(parents=True)
        (proc / pid / "comm").write_text(comm + "\n")
        for i, target in enumerate(targets):
            (proc / pid / "fd" / str(i)).symlink_to(target)
    (proc / "self").mkdir()
    got = holders.holders(proc=proc)
    assert [str(h) for h in got] == ["7 (qemu-system-x86)", "10 (pkt-gen)"]


def _one_line(proc, code=2) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ptnet: error: "), proc.stderr
    return lines[0]


def test_bad_param_on_the_command_line_is_one_line_exit_2(run_ptnet):
    line = _one_line(run_ptnet("host", "install", "--param", "bogus=1"))
    assert "--param bogus=1: netmap.ko has no parameter 'bogus'" in line


@pytest.mark.skipif(
    Path(f"/lib/modules/{os.uname().release}/build/Makefile").exists(),
    reason="this host has the running kernel's headers",
)
def test_install_without_headers_is_refused_before_any_change(run_ptnet):
    line = _one_line(run_ptnet("host", "install"))
    assert f"apt-get install linux-headers-{os.uname().release}" in line
    assert not dkms.source_dir().exists() and not modconf.MODPROBE_CONF.exists()


def test_status_lists_each_piece(run_ptnet):
    proc = run_ptnet("host", "status", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    names = [row["name"] for row in json.loads(proc.stdout)]
    assert names == [
        "host kernel", "netmap.ko", "dkms", "/dev/netmap", "module options", "ptnet qemu",
        "libvirt /dev/netmap", "kvm", "libvirtd",
    ]  # fmt: skip


def test_doctor_reports_the_host_install_too(run_ptnet):
    proc = run_ptnet("doctor", "--format", "json")
    names = [row["name"] for row in json.loads(proc.stdout)]
    for name in ("host kernel", "netmap.ko", "dkms", "/dev/netmap", "ptnet qemu", "kvm"):
        assert name in names


def test_vm_takes_the_installed_qemu_when_there_is_one(tmp_path, monkeypatch):
    from ptnet.install import qemu as qemu_prefix
    from ptnet.vm import launch

    binary = tmp_path / "opt" / "qemu" / "bin" / "qemu-system-x86_64"
    monkeypatch.setattr(qemu_prefix, "BINARY", binary)
    assert launch._our_qemu(dry_run=True) != str(binary)
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    assert launch._our_qemu(dry_run=True) == str(binary)
