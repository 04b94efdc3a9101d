"""A chain's life across hosts, with the VM layer and the hosts faked: each host's steps (built,
and run as shell scripts), the remote NFs defined through their host's libvirt and reached
through its SSH, destroy on every host even when one is gone, and show naming each NF's host;
and the VM layer's part: a VM's record keeping its host's libvirt and SSH target."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_chain_life import FakeVms, quiet

from ptnet.backend import base
from ptnet.backend import libvirt as libvirt_backend
from ptnet.chain import host_steps, lifecycle, validate
from ptnet.chain.host_steps import HostRecord
from ptnet.errors import PtnetError, UsageError
from ptnet.guest import ssh
from ptnet.model.chain import parse_text
from ptnet.model.vm import BackendName, VmSpec
from ptnet.plan import chain as chain_plan
from ptnet.vm import lifecycle as vms

FILE = """\
name: far
mtu: 1400
hosts:
  local: {address: 10.16.0.1, uplink: {vxlan: eth1}}
  b: {uri: 'qemu+ssh://root@10.16.0.2/system', uplink: {vxlan: eth1}}
nfs:
  - {role: fw}
  - {role: nat, host: b}
"""
B_URI = "qemu+ssh://root@10.16.0.2/system"


def spread() -> chain_plan.ChainPlan:
    return chain_plan.plan(parse_text(FILE))


def records() -> list[HostRecord]:
    return host_steps.host_records(
        spread(),
        tool=lambda name: f"/opt/tools/{name}",
        dirs=lambda vm: [f"/run/p/vms/{vm}", "/state/vms"],
        files=lambda vm: [f"/run/p/vms/{vm}", f"/state/vms/{vm}.console.log"],
    )


def test_each_host_gets_its_steps_with_the_tools_and_vm_files():
    local, b = records()
    p = spread()
    assert (local.name, local.uri, local.ssh, b.name, b.uri, b.ssh) == (
        "local", None, None, "b", B_URI, "root@10.16.0.2",
    )  # fmt: skip
    assert not local.remote and b.remote
    assert local.setup == [list(s) for s in _tools(chain_plan.setup_commands(p))]
    assert local.teardown == [list(s) for s in _tools(chain_plan.teardown_commands(p))]
    # A remote host first gets the directories its domains name, and loses them last.
    assert b.setup[0] == ["mkdir", "-p", "-m", "700", "/run/p/vms/far-nat", "/state/vms"]
    assert b.setup[1:] == [list(s) for s in _tools(chain_plan.setup_commands(p, "b"))]
    assert b.teardown[-1] == ["rm", "-rf", "/run/p/vms/far-nat", "/state/vms/far-nat.console.log"]
    assert b.teardown[:-1] == [list(s) for s in _tools(chain_plan.teardown_commands(p, "b"))]
    assert any(s[:3] == ["ip", "link", "add"] for s in b.setup)
    assert ["/opt/tools/vale-ctl", "-a", b.setup[-1][2]] == b.setup[-1]


def _tools(steps):
    return [("/opt/tools/vale-ctl", *s[1:]) if s[0] == "vale-ctl" else s for s in steps]


def sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)


def test_setup_stops_at_the_first_failing_step_but_takes_what_exists(tmp_path):
    log = tmp_path / "log"
    script = host_steps.setup_script(
        [
            ["sh", "-c", f"echo one >>{log}"],
            ["sh", "-c", "echo 'RTNETLINK answers: File exists' >&2; exit 2"],
            ["sh", "-c", "echo 'vale-ctl: Device or resource busy' >&2; exit 1"],
            ["sh", "-c", "echo 'Cannot find device \"eth9\"' >&2; exit 1"],
            ["sh", "-c", f"echo never >>{log}"],
        ]
    )
    r = sh(script)
    assert r.returncode == 1 and log.read_text() == "one\n"
    # The failed step (its words) and its output, on one line.
    assert r.stderr == "sh -c echo 'Cannot find device \"eth9\"' >&2; exit 1: " + (
        'Cannot find device "eth9"\n'
    )
    assert sh(host_steps.setup_script([["true"]])).returncode == 0


def test_teardown_runs_every_step_whatever_each_does(tmp_path):
    log = tmp_path / "log"
    script = host_steps.teardown_script(
        [["sh", "-c", f"echo a >>{log}; exit 1"], ["false"], ["sh", "-c", f"echo b >>{log}"]]
    )
    r = sh(script)
    assert (r.returncode, r.stdout, r.stderr, log.read_text()) == (0, "", "", "a\nb\n")


def test_a_remote_host_runs_its_script_as_one_ssh_command():
    local, b = records()
    assert host_steps.argv(local, "echo hi", 20) == ["sh", "-c", "echo hi"]
    assert host_steps.argv(b, "echo hi", 20) == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "--", "root@10.16.0.2", "echo hi",
    ]  # fmt: skip


def test_an_unreachable_host_and_a_failing_script_name_the_host(monkeypatch):
    local, b = records()

    def fake(argv, **kw):
        code = 255 if argv[0] == "ssh" else 1
        return subprocess.CompletedProcess(argv, code, "", "no route to host\n")

    monkeypatch.setattr(host_steps.subprocess, "run", fake)
    with pytest.raises(host_steps.HostUnreachable, match=r"^host b: ssh root@10.16.0.2 failed: no"):
        host_steps.run(b, "true", 5)
    with pytest.raises(host_steps.PtnetError, match=r"^host local: no route to host$") as exc:
        host_steps.run(local, "true", 5)
    assert not isinstance(exc.value, host_steps.HostUnreachable)


def test_a_guest_on_another_host_is_reached_through_that_hosts_ssh():
    t = ssh.Target(40022, Path("/k"), "root@10.16.0.2")
    assert ssh.jump_command(t) == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=60",
        "-W", "127.0.0.1:40022", "--", "root@10.16.0.2",
    ]  # fmt: skip
    argv = ssh.openssh_argv(t, ["true"])
    assert argv[1:3] == ["-J", "root@10.16.0.2"]
    assert "-J" not in ssh.openssh_argv(ssh.Target(40022, Path("/k")), ["true"])


class Hosts:
    """The hosts' scripts, in memory: which ran where, and which hosts do not answer."""

    def __init__(self, fake: FakeVms, monkeypatch):
        self.fake = fake
        self.ran: list[tuple[str, str]] = []
        self.gone: set[str] = set()
        monkeypatch.setattr(lifecycle, "_host_records", self.host_records)
        monkeypatch.setattr(lifecycle.host_steps, "run", self.run)
        monkeypatch.setattr(lifecycle, "_down_remote", self.down_remote)
        monkeypatch.setattr(lifecycle, "host_timeout", lambda: 5.0)
        # Marks of libvirt domains, in the fake VMs' run directories.
        monkeypatch.setattr(lifecycle, "_libvirt_mark", self.mark)
        monkeypatch.setattr(lifecycle, "_libvirt_chain", self.marked)
        monkeypatch.setattr(lifecycle, "discover_remote", self.discover_remote)

    @staticmethod
    def mark(record, chain: str) -> None:
        Path(record.run_dir, "chain").write_text(chain + "\n")

    @staticmethod
    def marked(record) -> str | None:
        path = Path(record.run_dir, "chain")
        return path.read_text().strip() if path.exists() else None

    @staticmethod
    def host_records(plan):
        return records()

    def discover_remote(self, uris, timeout):
        """The fake VMs on the hosts that answer, as their libvirt lists them."""
        self.asked = list(uris)
        gone = {B_URI} if "b" in self.gone else set()
        return [
            self.fake.record(vm)
            for vm, (uri, _) in self.fake.where.items()
            if uri in set(uris) - gone and vm in self.fake.running
        ]

    def run(self, host: HostRecord, script: str, timeout: float) -> None:
        if host.name in self.gone:
            raise host_steps.HostUnreachable(f"host {host.name}: ssh {host.ssh} failed: timeout")
        if script == "true":  # destroy's probe of a remote host
            self.ran.append((host.name, "probe"))
            return
        kind = "setup" if "step()" in script else "teardown"
        self.ran.append((host.name, kind))
        self.fake.events.append((kind, host.name))

    def down_remote(self, nf):
        if nf.host in self.gone:
            raise lifecycle.PtnetError(f"cannot connect to libvirt at {nf.uri}: no route")
        return self.fake.down(nf.vm)


@pytest.fixture
def hosts(state, tmp_path, monkeypatch):
    return Hosts(FakeVms(tmp_path, monkeypatch), monkeypatch)


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("PTNET_STATE_DIR", str(tmp_path))
    return tmp_path


def test_create_sets_up_every_host_then_boots_each_nf_on_its_host(hosts):
    rec = lifecycle.create(spread(), say=quiet)
    events = hosts.fake.events
    # Every host's setup before any VM.
    assert sorted(events[:2]) == [("setup", "b"), ("setup", "local")]
    assert sorted(events[2:4]) == [("up", "far-fw"), ("up", "far-nat")]
    assert hosts.fake.where == {"far-fw": (None, None), "far-nat": (B_URI, "root@10.16.0.2")}
    # The record keeps each NF's host, and every host with its steps: no local-only parts.
    assert [(n.name, n.host, n.uri, n.jump) for n in rec.nfs] == [
        ("fw", "local", None, None),
        ("nat", "b", B_URI, "root@10.16.0.2"),
    ]
    again = lifecycle.load("far")
    assert again == rec and [h.name for h in again.hosts] == ["local", "b"]
    assert again.persistent == [] and again.attached == [] and hosts.fake.vale == []
    status = lifecycle.status(again)
    assert [(n["name"], n["host"], n["state"]) for n in status["nfs"]] == [
        ("fw", "local", "running"),
        ("nat", "b", "running"),
    ]
    # list finds the remote NF through its host's libvirt (never through its local record).
    assert lifecycle._discovered_members() == {"far": ["far-fw", "far-nat"]}
    assert hosts.asked == [B_URI]
    hosts.gone = {"b"}
    assert lifecycle._discovered_members() == {"far": ["far-fw"]}
    hosts.gone = set()
    rows = validate.hop_table(again, {"fw": None, "nat": None}, {"fw": None, "nat": None})
    assert [(r["nf"], r["host"], r["side"]) for r in rows] == [
        ("fw", "local", "in"), ("fw", "local", "out"), ("nat", "b", "in"), ("nat", "b", "out"),
    ]  # fmt: skip


def test_a_failed_setup_names_the_host_starts_no_vm_and_leaves_nothing(hosts, monkeypatch):
    real = hosts.run

    def setup_fails_on_b(host, script, timeout):
        if host.name == "b" and "step()" in script:
            raise host_steps.PtnetError("host b: ip link add vxlanb: File too large")
        real(host, script, timeout)

    monkeypatch.setattr(lifecycle.host_steps, "run", setup_fails_on_b)
    with pytest.raises(lifecycle.PtnetError, match=r"^chain far: setup failed: host b: ip link"):
        lifecycle.create(spread(), say=quiet)
    assert hosts.fake.running == {}
    # A first create that fails removes what it started, on every host: local's setup ran, so
    # both hosts are torn down, and the record is gone.
    assert ("local", "setup") in hosts.ran
    assert {("local", "teardown"), ("b", "teardown")} <= set(hosts.ran)
    assert lifecycle.load("far") is None


def test_a_failed_boot_removes_every_vm_started_on_any_host(hosts):
    hosts.fake.fail_boot = {"far-fw"}
    with pytest.raises(lifecycle.PtnetError, match="far-fw did not answer"):
        lifecycle.create(spread(), say=quiet)
    assert hosts.fake.running == {} and lifecycle.load("far") is None
    assert ("down", "far-nat") in hosts.fake.events


def test_a_host_gone_while_undoing_a_failed_create_is_named_too(hosts):
    hosts.gone = {"b"}
    with pytest.raises(lifecycle.PtnetError) as exc:
        lifecycle.create(spread(), say=quiet)
    assert str(exc.value).startswith("chain far: setup failed: host b: ssh root@10.16.0.2 ")
    assert "; and then: chain far: every other host was cleaned, but not b: " in str(exc.value)
    # The record stays, for destroy once b is back.
    assert lifecycle.load("far").state == "destroying" and hosts.fake.running == {}


def test_destroy_cleans_every_host_it_reaches_and_names_the_one_it_cannot(hosts):
    lifecycle.create(spread(), say=quiet)
    hosts.fake.events.clear()
    hosts.gone = {"b"}
    with pytest.raises(lifecycle.HostsLeft) as exc:
        lifecycle.destroy("far", say=quiet)
    line = str(exc.value)
    assert "\n" not in line
    assert line.startswith("chain far: every other host was cleaned, but not b: host b: ")
    # Its SSH was probed first: its libvirt over SSH was never opened.
    assert "host b: ssh root@10.16.0.2 failed: timeout; run ptnet" in line
    assert line.endswith("run ptnet chain destroy far again once it is back")
    # The local VM and the local host's steps are gone; b's NF still runs; the record stays.
    assert sorted(hosts.fake.events) == [("down", "far-fw"), ("teardown", "local")]
    assert list(hosts.fake.running) == ["far-nat"]
    assert lifecycle.load("far").state == "destroying"
    # b is back: the second destroy finishes.
    hosts.gone = set()
    hosts.fake.events.clear()
    assert lifecycle.destroy("far", say=quiet)
    assert ("down", "far-nat") in hosts.fake.events and ("teardown", "b") in hosts.fake.events
    assert hosts.fake.running == {} and lifecycle.load("far") is None


def test_a_host_lost_only_at_teardown_is_named_too(hosts, monkeypatch):
    lifecycle.create(spread(), say=quiet)
    real = hosts.run

    def teardown_fails_on_b(host, script, timeout):
        if host.name == "b" and script.startswith("/opt/tools/vale-ctl -d"):
            raise host_steps.HostUnreachable("host b: ssh root@10.16.0.2 failed: reset")
        real(host, script, timeout)

    monkeypatch.setattr(lifecycle.host_steps, "run", teardown_fails_on_b)
    with pytest.raises(lifecycle.HostsLeft, match=r"but not b: host b: ssh root@10"):
        lifecycle.destroy("far", say=quiet)
    assert hosts.fake.running == {} and ("local", "teardown") in hosts.ran


def test_destroy_cli_exits_nonzero_naming_the_host(state):
    # A record whose only remote host does not answer (port 1 on this machine refuses).
    rec = lifecycle.ChainRecord(
        name="gone",
        state="ready",
        nfs=[],
        owned_vms=[],
        plan={},
        ingress_port="",
        egress_port="",
        hosts=[HostRecord("c", "qemu+ssh://root@127.0.0.1:1/system", "ssh://root@127.0.0.1:1")],
    )
    lifecycle.save(rec)
    r = subprocess.run(
        [sys.executable, "-m", "ptnet", "chain", "destroy", "gone"],
        capture_output=True,
        text=True,
        env={**os.environ, "PTNET_HOST_TIMEOUT": "5"},
        check=False,
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1, r.stderr
    assert lines[0].startswith(
        "ptnet: error: chain gone: every other host was cleaned, but not c: host c: ssh "
        "ssh://root@127.0.0.1:1 failed: "
    )
    assert lifecycle.load("gone") is not None


# -- the VM layer on another host ----------------------------------------------------------


def vm_record(tmp_path: Path, extra: dict[str, object]) -> base.Record:
    known = tmp_path / "known"
    known.write_text("[127.0.0.1]:40022 ssh-ed25519 AAAA\n")
    return base.Record(
        name="far-nat",
        backend=BackendName.libvirt,
        settings={},
        ports=[],
        image={},
        ssh_port=40022,
        run_dir=str(tmp_path),
        console_log="",
        known_hosts=str(known),
        accel="tcg",
        extra=extra,
    )


def test_a_remote_vm_keeps_its_libvirt_and_is_reached_through_its_host(tmp_path, monkeypatch):
    monkeypatch.delenv("PTNET_LIBVIRT_URI", raising=False)
    assert vms.remote_extra(None, None) == {}
    extra = vms.remote_extra(B_URI, "root@10.16.0.2")
    assert extra == {"uri": B_URI, "jump": "root@10.16.0.2"}
    far, here = vm_record(tmp_path, extra), vm_record(tmp_path, {})
    assert vms.target(far) == ssh.Target(40022, tmp_path / "known", "root@10.16.0.2")
    assert vms.target(here).jump is None
    assert libvirt_backend.record_uri(far) == B_URI
    assert libvirt_backend.record_uri(here) == "qemu:///system"
    assert libvirt_backend.libvirt_uri(B_URI) == B_URI + "?no_tty=1"


def test_only_libvirt_starts_a_vm_on_another_host():
    spec = VmSpec(name="far-nat", backend=BackendName.qemu)
    with pytest.raises(UsageError, match="only the libvirt backend starts VMs on other hosts"):
        vms.up(spec, uri=B_URI, jump="root@10.16.0.2")


def test_a_remote_vm_is_waited_for_through_its_host_until_ssh_answers(tmp_path, monkeypatch):
    rec = vm_record(tmp_path, vms.remote_extra(B_URI, "root@10.16.0.2"))
    tries: list[str] = []

    def ports(record, wanted, deadline):
        tries.append(record.name)
        if len(tries) < 3:
            raise PtnetError("SSH to 127.0.0.1:40022 on root@10.16.0.2 failed: refused")

    class Alive:
        def __init__(self, alive: bool):
            self.up = alive

        def alive(self, record) -> bool:
            return self.up

    monkeypatch.setattr(vms, "wait_ports", ports)
    monkeypatch.setattr(vms.time, "sleep", lambda s: None)
    vms._wait_ready(Alive(True), rec, vms.time.monotonic() + 60)
    assert tries == ["far-nat"] * 3
    tries.clear()
    with pytest.raises(PtnetError, match="VM far-nat stopped before SSH answered"):
        vms._wait_ready(Alive(False), rec, vms.time.monotonic() + 60)
    with pytest.raises(PtnetError, match="VM far-nat did not answer on SSH in time: SSH to"):
        vms._wait_ready(Alive(True), rec, vms.time.monotonic() - 1)


def test_show_does_not_wait_for_a_host_whose_libvirt_hangs(hosts, monkeypatch):
    lifecycle.create(spread(), say=quiet)
    released = threading.Event()
    answers = hosts.fake.alive

    def hangs_on_b(record):
        if record.name == "far-nat":
            released.wait(30)  # a qemu+ssh connection that neither answers nor fails
        return answers(record)

    monkeypatch.setattr(hosts.fake, "alive", hangs_on_b)
    monkeypatch.setattr(lifecycle, "host_timeout", lambda: 0.5)
    start = time.monotonic()
    status = lifecycle.status(lifecycle.load("far"))
    took = time.monotonic() - start
    released.set()
    assert [(n["name"], n["state"]) for n in status["nfs"]] == [
        ("fw", "running"),
        ("nat", "unreachable"),
    ]
    assert status["state"] == "degraded"
    assert took < 10, took
