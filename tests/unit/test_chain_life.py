"""The pure parts of the chain lifecycle, validation and bench: records, role command lines,
the per-hop table, the bench's wiring, ratios, CSV and plot."""

import json
import subprocess
import sys

import pytest

from ptnet.chain import bench, lifecycle, validate
from ptnet.model.chain import parse_shorthand
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
    assert lines[0] == "link,nfs,mpps,tx_mpps,tx_packets,rx_packets,seconds"
    assert lines[1] == "pipe,1,0.4,0.5,,,"
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
