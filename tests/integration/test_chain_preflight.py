"""The preflight of a chain's remote hosts (ptnet/chain/hosts.py) against real processes:
OpenSSH's client and libvirt-python, on an unreachable URI, and on a host played by this machine
(an `ssh` on PATH that runs the command here, libvirt's test driver for the URI). A host that is
not ready is one line naming it and what failed, exit code 2, and nothing is started;
`create --dry-run` contacts no host."""

import dataclasses
import os
import sys
import time
from pathlib import Path

import pytest

import ptnet
from ptnet.chain import hosts
from ptnet.chain.hosts import Expect, HostCheckFailed, libvirt_uri, preflight
from ptnet.errors import UsageError
from ptnet.model.chain import from_data
from ptnet.plan.chain import plan

UNREACHABLE = "qemu+ssh://nobody@127.0.0.1:1/system"
FILE = f"""\
name: far
mtu: 1450
hosts:
  local: {{address: 127.0.0.1, uplink: {{vxlan: lo}}}}
  b:
    uri: {UNREACHABLE}
    address: 127.0.0.2
    uplink: {{vxlan: lo}}
nfs:
  - {{role: fw, image: default}}
  - {{role: nat, image: default, host: b}}
"""


@pytest.fixture
def env(tmp_path):
    return {"PTNET_STATE_DIR": str(tmp_path / "state"), "PTNET_RUNTIME_DIR": str(tmp_path / "r")}


@pytest.fixture
def chain_file(tmp_path) -> Path:
    path = tmp_path / "multi.yml"
    path.write_text(FILE)
    return path


def _fake_ssh(tmp_path: Path, body: str) -> tuple[str, Path]:
    """A directory with an `ssh` that logs its arguments and then runs `body` (bash)."""
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    log = tmp_path / "ssh.log"
    script = shim / "ssh"
    script.write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >> {log}\n{body}\n')
    script.chmod(0o755)
    return str(shim), log


def test_an_unreachable_host_is_named_exit_2_and_nothing_starts(run_ptnet, env, chain_file):
    started = time.monotonic()
    proc = run_ptnet("chain", "create", "-f", str(chain_file), env=env)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("ptnet: error: chain far: not started, a host is not ready: host b: ")
    assert f"libvirt at {UNREACHABLE} does not answer: " in line
    assert "ssh ssh://nobody@127.0.0.1:1 failed: ssh: connect to host 127.0.0.1 port 1" in line
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - started < 30
    assert not Path(env["PTNET_STATE_DIR"]).exists()
    assert not Path(env["PTNET_RUNTIME_DIR"]).exists()


def test_dry_run_contacts_no_host(run_ptnet, env, chain_file, tmp_path):
    shim, log = _fake_ssh(tmp_path, "exit 255")
    env = {**env, "PATH": f"{shim}:{os.environ['PATH']}"}
    for fmt in ("text", "json"):
        proc = run_ptnet(
            "chain", "create", "-f", str(chain_file), "--dry-run", "--format", fmt, env=env
        )
        assert proc.returncode == 0, proc.stderr
        assert UNREACHABLE in proc.stdout
    proc = run_ptnet("chain", "graph", "-f", str(chain_file), env=env)
    assert proc.returncode == 0 and 'subgraph host_b["b: ' in proc.stdout
    assert not log.exists()  # neither we nor libvirt ran ssh
    # and a create does: libvirt's transport and our command, both through the same ssh
    proc = run_ptnet("chain", "create", "-f", str(chain_file), env=env)
    assert proc.returncode == 2
    assert len(log.read_text().splitlines()) == 2


# -- a host played by this machine -------------------------------------------------------------


def _plan(uri: str = "test:///default"):
    """FILE's plan, with host b's libvirt at `uri` (the model takes remote URIs only)."""
    import yaml

    spec = from_data(yaml.safe_load(FILE))
    spec = dataclasses.replace(
        spec,
        hosts=tuple(
            dataclasses.replace(h, uri=uri, ssh="nobody@b") if h.remote else h for h in spec.hosts
        ),
    )
    return plan(spec)


@pytest.fixture
def here(tmp_path, monkeypatch):
    """`ssh TARGET CMD` runs CMD here; /sys/module/netmap is a directory of ours."""
    shim, log = _fake_ssh(tmp_path, 'exec bash -c "${@: -1}"')
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    module = tmp_path / "module-netmap"
    module.mkdir()
    monkeypatch.setattr(hosts, "NETMAP_SYSFS", str(module))
    return log


def test_a_ready_host_passes(here):
    preflight(_plan(), expect=Expect(qemu="/bin/true", python=sys.executable))
    [call] = here.read_text().splitlines()
    assert call.startswith("-o BatchMode=yes -o ConnectTimeout=20 -- nobody@b echo netmap=")


def test_each_missing_part_is_named_with_its_host(here, monkeypatch):
    monkeypatch.setattr(hosts, "NETMAP_SYSFS", "/nonexistent/module/netmap")
    with pytest.raises(HostCheckFailed) as exc:
        preflight(_plan(), expect=Expect(qemu="/nonexistent/qemu", version="9.9"))
    assert exc.value.exit_code == 2
    assert str(exc.value) == (
        "chain far: not started, a host is not ready: host b: netmap.ko is not loaded (no "
        "/nonexistent/module/netmap); our QEMU is not at /nonexistent/qemu (ptnet build qemu); "
        f"{sys.executable} imports ptnet {ptnet.__version__} there, and this is ptnet 9.9"
    )


def test_a_host_without_netmap_is_refused(here, monkeypatch):
    monkeypatch.setattr(hosts, "NETMAP_SYSFS", "/sys/module/netmap-absent")
    with pytest.raises(HostCheckFailed, match=r"host b: netmap.ko is not loaded \(no /sys/"):
        preflight(_plan(), expect=Expect(qemu="/bin/true"))


def test_a_libvirt_that_fails_is_named(here, tmp_path):
    missing = tmp_path / "no-such-driver.xml"
    with pytest.raises(HostCheckFailed) as exc:
        preflight(_plan(f"test://{missing}"), expect=Expect(qemu="/bin/true"))
    assert f"host b: libvirt at test://{missing} does not answer: " in str(exc.value)
    assert "netmap" not in str(exc.value)


def test_a_host_that_does_not_answer_times_out(tmp_path, monkeypatch):
    shim, _ = _fake_ssh(tmp_path, "exec sleep 30")
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    started = time.monotonic()
    with pytest.raises(HostCheckFailed, match=r"host b: ssh nobody@b: no answer in 1 s$"):
        preflight(_plan(), timeout=1, expect=Expect(qemu="/bin/true"))
    assert time.monotonic() - started < 10


def test_ptnet_host_timeout_bounds_each_check(tmp_path, monkeypatch):
    shim, _ = _fake_ssh(tmp_path, "exec sleep 30")
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    monkeypatch.setenv("PTNET_HOST_TIMEOUT", "1.5")
    with pytest.raises(HostCheckFailed, match=r"host b: ssh nobody@b: no answer in 1.5 s$"):
        preflight(_plan(), expect=Expect(qemu="/bin/true"))
    for bad in ("0", "-1", "soon", "nan", "1e9"):
        monkeypatch.setenv("PTNET_HOST_TIMEOUT", bad)
        with pytest.raises(UsageError, match=rf"^PTNET_HOST_TIMEOUT='{bad}': expected seconds"):
            preflight(_plan(), expect=Expect(qemu="/bin/true"))


def test_a_chain_on_one_host_checks_nothing(tmp_path, monkeypatch):
    shim, log = _fake_ssh(tmp_path, "exit 255")
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    preflight(plan(from_data({"nfs": [{"role": "fw"}]})))
    assert not log.exists()


def test_ssh_uris_never_prompt():
    assert libvirt_uri(UNREACHABLE) == UNREACHABLE + "?no_tty=1"
    assert (
        libvirt_uri("qemu+ssh://h/system?keyfile=/k") == "qemu+ssh://h/system?keyfile=/k&no_tty=1"
    )
    assert libvirt_uri("qemu+ssh://h/system?no_tty=0") == "qemu+ssh://h/system?no_tty=0"
    assert libvirt_uri("qemu+tls://h/system") == "qemu+tls://h/system"
