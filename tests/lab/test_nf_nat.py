"""nf-nat on pipes: inside flows leave with the outside address and a port of the range, replies
come back to the inside address and port, every checksum stays valid (updated incrementally),
unsolicited frames are dropped, the range runs out, and idle mappings age away.

The tools must be built on the host first (ptnet build tools): the guest sees the cache read-only.
"""

import subprocess
import time
from pathlib import Path

from nm import nf

from ptnet.build.tools import tool_path

OUTSIDE = "198.51.100.1"


def _conf(tmp_path: Path, ports: str = "20000-20009", timeout: int = 60) -> Path:
    conf = tmp_path / "nat.conf"
    conf.write_text(f"# test\noutside {OUTSIDE}\nports {ports}\ntimeout {timeout}\n")
    return conf


MIX = """\
flow u ab udp 10.0.0.1 1111 203.0.113.5 53 3 0102030405
flow t ab tcp 10.0.0.2 2222 203.0.113.5 80 4 474554202f
flow i ab icmp 10.0.0.1 77 203.0.113.5 77 2 abcdef
flow t2 ab tcp 10.0.0.3 2222 203.0.113.6 80 2
flow stray ba udp 203.0.113.5 53 198.51.100.1 20009 3
flow passby ba udp 203.0.113.5 53 10.9.9.9 4444 2
reply ur u 2 0a0b
reply tr t 3
reply ir i 2
"""


def test_translation_both_ways_with_valid_checksums(pname, tmp_path: Path):
    stats = tmp_path / "stats.json"
    (a, b), [(i, o)] = nf.ends(pname, 1), nf.hops(pname, 1)
    with nf.running("nat", i, o, "-c", str(_conf(tmp_path)), "--stats", str(stats)):
        got = nf.flows(nf.probe(a, b, MIX, tmp_path))
    ports = set()
    for name in ("u", "t", "i", "t2"):
        f = got[name]
        assert f["received"] == f["sent"] > 0, name
        assert f["consistent"] and f["csum_ok"] and f["payload_ok"], f
        out, sent = f["received_as"], f["sent_as"]
        assert out["src"] == OUTSIDE and out["dst"] == sent["dst"], f
        assert out["dport"] == (out["sport"] if name == "i" else sent["dport"]), f
        assert 20000 <= out["sport"] <= 20009, f
        ports.add((f["proto"], out["sport"]))
    assert len(ports) == 4, "each inside flow has its own mapping"
    for name, of in (("ur", "u"), ("tr", "t"), ("ir", "i")):
        f, orig = got[name], got[of]["sent_as"]
        assert not f["skipped"] and f["received"] == f["sent"] > 0, f
        assert f["csum_ok"] and f["payload_ok"] and f["consistent"], f
        back = f["received_as"]
        assert (back["dst"], back["dport"]) == (orig["src"], orig["sport"]), f
        assert back["src"] == orig["dst"], f
    assert got["stray"]["received"] == 0
    assert (
        got["passby"]["received"] == 2 and got["passby"]["received_as"] == got["passby"]["sent_as"]
    )
    s = nf.stats(stats)["nat"]
    assert s["translations"] == 3 + 4 + 2 + 2
    assert s["reverse_translations"] == 2 + 3 + 2
    assert s["active_mappings"] == 4 and s["mappings_created"] == 4
    assert s["no_mapping_drops"] == 3
    assert s["port_exhaustion_drops"] == 0 and s["mappings_expired"] == 0


def test_port_exhaustion_drops_new_flows(pname, tmp_path: Path):
    stats = tmp_path / "stats.json"
    (a, b), [(i, o)] = nf.ends(pname, 1), nf.hops(pname, 1)
    mix = "".join(f"flow f{k} ab udp 10.0.0.{k + 1} 1000 203.0.113.5 53 2\n" for k in range(3))
    with nf.running(
        "nat", i, o, "-c", str(_conf(tmp_path, ports="30000-30001")), "--stats", str(stats)
    ):
        got = nf.flows(nf.probe(a, b, mix, tmp_path))
    assert [got[f"f{k}"]["received"] for k in range(3)] == [2, 2, 0]
    assert {got[f"f{k}"]["received_as"]["sport"] for k in range(2)} == {30000, 30001}
    s = nf.stats(stats)["nat"]
    assert s["port_exhaustion_drops"] == 2 and s["active_mappings"] == 2


def test_idle_mappings_age_away(pname, tmp_path: Path):
    stats = tmp_path / "stats.json"
    (a, b), [(i, o)] = nf.ends(pname, 1), nf.hops(pname, 1)
    mix = "flow u ab udp 10.0.0.1 1111 203.0.113.5 53 1\n"
    argv = ["-c", str(_conf(tmp_path)), "--timeout", "3", "--stats", str(stats)]
    with nf.running("nat", i, o, *argv, "--stats-interval", "0.2"):
        got = nf.flows(nf.probe(a, b, mix, tmp_path, "--settle", "0.3"))
        port = got["u"]["received_as"]["sport"]
        time.sleep(0.5)
        assert nf.stats(stats)["nat"]["active_mappings"] == 1
        time.sleep(5)
        s = nf.stats(stats)["nat"]
        assert s["active_mappings"] == 0 and s["mappings_expired"] == 1
        late = f"flow late ba udp 203.0.113.5 53 {OUTSIDE} {port} 2\n"
        report = nf.probe(a, b, late, tmp_path, "--settle", "0.3")
        assert nf.flows(report)["late"]["received"] == 0
    assert nf.stats(stats)["nat"]["timeout_s"] == 3


def test_a_bad_config_names_the_line(tmp_path: Path):
    for text, where in (
        ("outside 198.51.100.1\nports 9-2\n", ":2: '9-2'"),
        ("outside 300.1.1.1\n", ":1: '300.1.1.1'"),
        ("ports 1000-2000\n", "no outside address"),
        ("outside 1.2.3.4\nmasquerade yes\n", ":2: 'masquerade'"),
        ("outside 1.2.3.4\n" + "#" * 600 + "\n", ":2: line too long (at most 510 bytes)"),
    ):
        conf = tmp_path / "nat.conf"
        conf.write_text(text)
        r = subprocess.run(
            [str(tool_path("nf-nat")), "-i", "netmap:x{1", "-o", "netmap:y{1", "-c", str(conf)],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert r.returncode == 2 and where in r.stderr and len(r.stderr.splitlines()) == 1, (
            text,
            r.stderr,
        )
