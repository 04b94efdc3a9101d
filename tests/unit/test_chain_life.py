"""The pure parts of the chain lifecycle, validation and bench: records, role command lines,
the per-hop table, the bench's wiring, ratios, CSV and plot."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from ptnet.chain import bench, lifecycle, validate
from ptnet.model.chain import parse_shorthand
from ptnet.model.vm import VmSpec
from ptnet.plan import chain as chain_plan


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("PTNET_STATE_DIR", str(tmp_path))
    return tmp_path


def nf(name: str = "fw", devs: list[str] | None = None) -> lifecycle.NfRecord:
    plan = chain_plan.plan(parse_shorthand("fw,ids:untrusted,nat", name="c1"))
    rec = lifecycle._nf_records(plan)[0]
    rec.devs = devs or []
    return rec


def test_nf_records_follow_the_plan():
    plan = chain_plan.plan(parse_shorthand("fw,ids:untrusted,nat", name="c1"))
    recs = lifecycle._nf_records(plan)
    assert [(r.name, r.role, r.trust, r.vm) for r in recs] == [
        ("fw", "fw", "trusted", "c1-fw"),
        ("ids", "ids", "untrusted", "c1-ids"),
        ("nat", "nat", "trusted", "c1-nat"),
    ]
    assert recs[0].ports == [str(p) for p in plan.nfs[0].vm.ports]
    assert recs[0].command[:5] == ["nf-fw", "-i", "netmap:eth1", "-o", "netmap:eth2"]


def test_role_argv_takes_the_netdevs_the_guest_gave_the_ports():
    assert lifecycle.role_argv(nf(devs=["eth2", "eth1"]))[:5] == [
        "nf-fw", "-i", "netmap:eth2", "-o", "netmap:eth1",
    ]  # fmt: skip
    same = nf(devs=["eth1", "eth2"])
    assert lifecycle.role_argv(same) == same.command


def test_the_record_round_trips_through_its_file(state):
    rec = lifecycle.ChainRecord(
        name="c1",
        state="creating",
        nfs=[nf()],
        owned_vms=["c1-fw"],
        plan={"hops": []},
        ingress_port="netmap:c1{0",
        egress_port="netmap:c1}3",
        persistent=[["c1", "1024", "1"]],
    )
    lifecycle.save(rec)
    assert lifecycle.load("c1") == rec
    assert json.loads((state / "chains" / "c1.json").read_text())["state"] == "creating"
    assert lifecycle.load("nope") is None


def test_a_broken_record_is_an_error_naming_the_file(state):
    (state / "chains").mkdir()
    (state / "chains" / "c1.json").write_text("{")
    with pytest.raises(lifecycle.PtnetError, match="c1.json is not a ptnet chain record"):
        lifecycle.load("c1")


def test_hop_table_shows_what_each_port_moved_during_the_run():
    rec = lifecycle.ChainRecord("c1", "ready", [nf()], [], {}, "", "")
    port = {"rx": 10, "tx": 9, "drop": 1}
    before = {"fw": {"ports": {"in": port, "out": {"rx": 0, "tx": 0, "drop": 0}}}}
    after = {"fw": {"ports": {"in": {"rx": 30, "tx": 25, "drop": 4}, "out": {"rx": 5, "tx": 7}}}}
    rows = validate.hop_table(rec, before, after)
    assert [(r["side"], r["rx"], r["tx"], r["drop"], r["stats"]) for r in rows] == [
        ("in", 20, 16, 3, True),
        ("out", 5, 7, 0, True),
    ]
    none = validate.hop_table(rec, {"fw": None}, {"fw": None})
    assert [(r["rx"], r["stats"]) for r in none] == [(0, False), (0, False)]


def test_bench_chains_grow_by_one_vm_without_touching_the_others():
    for link in bench.LINKS:
        short = [bench.nf_record(link, "bx", k, mem_mb=160, image="default") for k in (1, 2)]
        longer = [bench.nf_record(link, "bx", k, mem_mb=160, image="default") for k in (1, 2, 3)]
        assert longer[:2] == short
        # NF k's in port is the right end of hop k-1; its out port the left end of hop k.
        assert longer[1].ports == [bench.ports(link, "bx", 1)[1], bench.ports(link, "bx", 2)[0]]
    assert bench.ports("pipe", "bx", 2) == ("bx{2", "bx}2")
    assert bench.ports("vale", "bx", 2) == ("valebx2:l", "valebx2:r")


def test_a_bench_nfs_pipe_ports_find_their_netdevs_though_the_vm_spells_them_netmap():
    """A bench NF names its pipe ports bare (bxp}0); its VM record keeps them canonical
    (netmap:bxp}0), and the guest's netdevs are found by MAC either way."""
    for link in bench.LINKS:
        nf = bench.nf_record(link, "bx", 1, mem_mb=160, image="default")
        spec = VmSpec.from_dict(nf.spec)
        macs = {str(p): f"52:54:00:00:00:0{i}" for i, p in enumerate(spec.ports)}
        probe = "52:54:00:00:00:00 eth1\n52:54:00:00:00:01 eth2\n00:00:00:00:00:00 lo\n"
        assert lifecycle.devs_by_mac(nf, macs, probe) == ["eth1", "eth2"]
    with pytest.raises(lifecycle.PtnetError, match=r"^NF fwd1: no netdev for port bx}0 in VM"):
        lifecycle.devs_by_mac(
            nf_pipe := bench.nf_record("pipe", "bx", 1, mem_mb=160, image="default"), {}, ""
        )
    assert nf_pipe.ports[0] == "bx}0"


def test_a_bench_nfs_forwarder_runs_between_the_netdevs_its_guest_gave():
    for link in bench.LINKS:
        nf = bench.nf_record(link, "bx", 2, mem_mb=160, image="default")
        nf.devs = ["ens4", "ens5"]
        assert lifecycle.role_argv(nf) == ["bridge", "-i", "netmap:ens4", "-i", "netmap:ens5"]


def test_bench_ratio_csv_and_plot(tmp_path):
    results = [
        {"link": "pipe", "nfs": 1, "mpps": 0.4, "tx_mpps": 0.5},
        {"link": "vale", "nfs": 1, "mpps": 0.1, "tx_mpps": 0.5},
        {"link": "pipe", "nfs": 2, "mpps": 0.3},
        {"link": "vale", "nfs": 2, "mpps": 0.0},
        {"link": "pipe", "nfs": 3, "mpps": 0.3},
    ]
    assert bench.ratios(results) == {"1": 4.0, "2": None}
    lines = bench.to_csv(results).splitlines()
    assert lines[0] == "link,nfs,mpps,tx_mpps,tx_packets,rx_packets,seconds,stray_packets"
    assert lines[1] == "pipe,1,0.4,0.5,,,,"
    png = tmp_path / "b.png"
    bench.plot(results, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["destroy"], "give a chain NAME or --all"),
        (["destroy", "nope"], "no chain named 'nope'"),
        (["show", "nope"], "no chain named 'nope'"),
        (["validate", "nope"], "no chain named 'nope'"),
        (["bench", "--nfs", "0"], "bad --nfs '0'"),
        (["bench", "--nfs", "x"], "bad --nfs 'x'"),
        (["bench", "--links", "pipe,tap"], "bad --links 'tap'"),
        (["bench", "nope"], "no chain named 'nope'"),
        (["bench", "nope", "--nfs", "2"], "--nfs: the sweep's option, not for a running chain"),
        (["bench", "nope", "--out", "d"], "--out: the sweep's option, not for a running chain"),
    ],
)
def test_bad_cli_input_is_one_line_and_exit_2(state, args, message):
    r = subprocess.run(
        [sys.executable, "-m", "ptnet", "chain", *args], capture_output=True, text=True
    )
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_list_is_empty_without_chains(state):
    r = subprocess.run(
        [sys.executable, "-m", "ptnet", "chain", "list", "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stderr


class FakeVms:
    """The VM layer and the guests, in memory: which VMs run with which spec, which role runs
    in each, and every change made."""

    def __init__(self, tmp_path, monkeypatch):
        self.tmp = tmp_path
        self.running: dict[str, VmSpec] = {}
        self.where: dict[str, tuple[str | None, str | None]] = {}  # VM: (libvirt URI, jump)
        self.roles: dict[str, list[str]] = {}
        self.events: list[tuple[str, str]] = []
        self.vale: list[tuple[str, ...]] = []
        self.fail_boot: set[str] = set()
        self.on_boot = lambda spec: None
        m = monkeypatch
        m.setattr(lifecycle, "netmap_present", lambda: True)
        m.setattr(lifecycle, "_vale_ctl", self.vale_ctl)
        m.setattr(lifecycle.base, "load_record", self.load_record)
        m.setattr(lifecycle.vms, "backend_for", lambda backend: self)
        m.setattr(lifecycle.vms, "up", self.up)
        m.setattr(lifecycle.vms, "down", self.down)
        m.setattr(lifecycle.vms, "discovered", lambda: [self.record(n) for n in self.running])
        m.setattr(lifecycle, "resolve_devs", lambda nf: ["eth1", "eth2"])
        m.setattr(lifecycle, "role_running", lambda nf: self.roles.get(nf.vm) == nf.command)
        m.setattr(lifecycle, "start_role", self.start_role)

    def vale_ctl(self, *args):
        self.vale.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")

    def record(self, name):
        run_dir = self.tmp / "run" / name
        run_dir.mkdir(parents=True, exist_ok=True)
        spec = self.running[name]

        class Rec:
            backend = spec.backend
            run_dir_ = run_dir

        rec = Rec()
        rec.name, rec.run_dir, rec.accel = name, str(run_dir), "tcg"
        rec.extra = lifecycle.vms.remote_extra(*self.where.get(name, (None, None)))
        rec.spec = lambda: spec
        return rec

    def load_record(self, name):
        return self.record(name) if name in self.running else None

    def alive(self, record):
        return record.name in self.running

    def up(self, spec, *, uri=None, jump=None):
        self.on_boot(spec)
        if spec.name in self.fail_boot:
            raise lifecycle.PtnetError(f"VM {spec.name} did not answer on SSH in time")
        assert spec.name not in self.running
        self.running[spec.name] = spec
        self.where[spec.name] = (uri, jump)
        self.events.append(("up", spec.name))
        return self.record(spec.name), True

    def down(self, name):
        self.roles.pop(name, None)
        if self.running.pop(name, None) is None:
            return False
        self.events.append(("down", name))
        return True

    def start_role(self, nf):
        self.roles[nf.vm] = list(nf.command)
        self.events.append(("role", nf.vm))


@pytest.fixture
def fake(state, tmp_path, monkeypatch):
    return FakeVms(tmp_path, monkeypatch)


def planned(text: str, **kw):
    return chain_plan.plan(parse_shorthand(text, name="c1", **kw))


def quiet(line: str) -> None:
    pass


def test_create_boots_every_nf_starts_its_role_and_converges(fake):
    rec = lifecycle.create(planned("fw,ids:untrusted,nat"), say=quiet)
    assert rec.state == "ready" and lifecycle.load("c1").state == "ready"
    assert sorted(fake.events) == sorted(
        [("up", v) for v in ("c1-fw", "c1-ids", "c1-nat")]
        + [("role", v) for v in ("c1-fw", "c1-ids", "c1-nat")]
    )
    # The pipe parent, a persistent VALE port, was made before any VM.
    assert fake.vale == [("-n", "c1", "-C", "1024,1024,1,1")]
    # Each VM is marked with its chain, for discovery without the record.
    assert (fake.tmp / "run" / "c1-fw" / "chain").read_text() == "c1\n"
    # Again, the same: nothing changes.
    fake.events.clear()
    lines: list[str] = []
    lifecycle.create(planned("fw,ids:untrusted,nat"), say=lines.append)
    assert fake.events == []
    assert sum("already up as planned" in ln for ln in lines) == 3
    assert sum("already runs" in ln for ln in lines) == 3


def test_a_changed_chain_changes_only_what_differs(fake):
    lifecycle.create(planned("fw,ids:untrusted,nat"), say=quiet)
    fake.events.clear()
    # ids becomes trusted: its hops become pipes, so ids's ports change and so do fw's out
    # and nat's in; every VM is replaced.
    lifecycle.create(planned("fw,ids,nat"), say=quiet)
    assert {e for e in fake.events if e[0] == "up"} == {
        ("up", "c1-fw"), ("up", "c1-ids"), ("up", "c1-nat"),
    }  # fmt: skip
    fake.events.clear()
    # nat goes: its VM goes, the others stay (fw and ids keep their ports: hop 2 becomes the
    # egress pipe, the same names).
    lifecycle.create(planned("fw,ids"), say=quiet)
    assert fake.events == [("down", "c1-nat")]
    assert lifecycle.load("c1").owned_vms == ["c1-fw", "c1-ids"]


def test_a_changed_role_command_restarts_only_that_role(fake):
    lifecycle.create(planned("fw,nat"), say=quiet)
    fake.events.clear()
    fake.roles["c1-nat"] = ["something", "else"]  # the role died and something else runs
    lifecycle.create(planned("fw,nat"), say=quiet)
    assert fake.events == [("role", "c1-nat")]


def test_intent_is_recorded_before_any_vm_boots_so_destroy_finds_everything(fake):
    seen = []

    def check(spec):
        rec = lifecycle.load("c1")
        seen.append((rec.state, spec.name in rec.owned_vms, rec.persistent))

    fake.on_boot = check
    fake.fail_boot = {"c1-nat"}
    with pytest.raises(lifecycle.PtnetError, match="c1-nat did not answer"):
        lifecycle.create(planned("fw,nat"), say=quiet)
    assert seen and all(s == ("creating", True, [["c1", "1024", "1"]]) for s in seen)
    # As after a kill -9: the record says creating; destroy takes down what runs, the pipe
    # parent, and every file.
    assert lifecycle.load("c1").state == "creating" and "c1-fw" in fake.running
    assert lifecycle.destroy("c1", say=quiet)
    assert fake.running == {}
    assert ("-r", "c1") in fake.vale
    assert not list((lifecycle.chains_dir()).iterdir())
    assert not lifecycle.destroy("c1", say=quiet)


def test_destroy_without_the_record_finds_the_vms_by_their_mark(fake):
    lifecycle.create(planned("fw,nat"), say=quiet)
    lifecycle.record_path("c1").unlink()
    assert lifecycle.names() == ["c1"]
    assert [r["state"] for r in lifecycle.listing()] == ["orphan"]
    assert lifecycle.destroy("c1", say=quiet)
    assert fake.running == {} and lifecycle.names() == []


def test_no_more_boots_overlap_than_the_machine_has_cpus():
    code = (
        "import os; os.sched_setaffinity(0, {0}); from ptnet.chain import lifecycle; "
        "print(lifecycle.boot_slots())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1"]
    assert lifecycle.boot_slots() == len(os.sched_getaffinity(0))


def test_two_chains_booting_at_once_share_the_cpus_rather_than_each_take_them_all(fake):
    """The bench grows its pipe and VALE chains at once, each booting all its NFs at once: their
    local boots together stay within the machine's CPUs."""
    cpus = len(os.sched_getaffinity(0))
    inflight, most = [0], [0]
    lock = threading.Lock()

    def booting(spec):
        with lock:
            inflight[0] += 1
            most[0] = max(most[0], inflight[0])
        time.sleep(0.05)
        with lock:
            inflight[0] -= 1

    fake.on_boot = booting
    chains = {
        link: [bench.nf_record(link, link[0], k, mem_mb=256, image="default") for k in (1, 2, 3)]
        for link in bench.LINKS
    }
    threads = [
        threading.Thread(target=lifecycle._boot_all, args=(nfs, f"b-{link}", quiet))
        for link, nfs in chains.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake.running) == 6
    assert most[0] == min(cpus, 6), f"{most[0]} boots at once on {cpus} CPUs"


def test_the_bench_plot_is_drawn_apart_and_a_failed_one_says_why(tmp_path):
    good = [{"link": "pipe", "nfs": 1, "mpps": 0.9}, {"link": "vale", "nfs": 1, "mpps": 0.4}]
    assert bench.plot_apart(good, tmp_path / "ok.png") is None
    assert (tmp_path / "ok.png").read_bytes()[:4] == b"\x89PNG"
    why = bench.plot_apart([{"link": "pipe", "nfs": 1}], tmp_path / "bad.png")
    assert why == "KeyError: 'mpps'", why
    assert not (tmp_path / "bad.png").exists()
