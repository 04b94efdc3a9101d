"""The Python port-spec parser and the C one, nm_spec_parse() in our netmap_user.h (compiled from
tests/lab/port_spec_check.c with the host's gcc), give the same answers."""

import subprocess
from pathlib import Path

from port_fuzz import check_one, fuzz_specs

from ptnet.errors import UsageError
from ptnet.model.ports import parse_port

ROOT = Path(__file__).resolve().parents[2]


def c_parse(exe: Path, specs: list[str]) -> list[list[str]]:
    """Per spec: ["ok", mode, ringid, flags, memid, txr, rxr, htxr, hrxr, txs, rxs, "-", name]
    or ["err", message]."""
    data = b"".join(s.encode(errors="surrogateescape") + b"\0" for s in specs)
    out = subprocess.run([exe], input=data, capture_output=True, timeout=120, check=True).stdout
    records = out.split(b"\0")[:-1]
    assert len(records) == len(specs)
    return [
        r.decode(errors="surrogateescape").split(" ", 12 if r.startswith(b"ok") else 1)
        for r in records
    ]


def kernel_level_reason(spec: str, message: str) -> bool:
    """Python refuses what the C parser passes only where nm_open() or the kernel refuse it."""
    return any(
        w in message
        for w in (
            "IFNAMSIZ",
            "is not an interface name",
            "an interface name cannot hold",
            "only on NIC ports",
        )
    )


def test_python_and_c_parsers_agree_on_ten_thousand_random_specs(port_spec_checker):
    specs = fuzz_specs(12000, seed=7) + [
        "vale1:10", "netmap:eth0-2/T", "pipeA}1", "vale0:0{0", "vale:x{3", "netmap:pipe{1}2",
        "netmap:eth0/@2", "netmap:e@conf:rings=3,host-tx-rings=1,rx-slots=9", "a b^3/xz@4",
    ]  # fmt: skip
    counts = {"both": 0, "neither": 0, "kernel": 0}
    for spec, c in zip(specs, c_parse(port_spec_checker, specs), strict=True):
        try:
            p = parse_port(spec)
        except UsageError as exc:
            assert check_one(spec) is None
            if c[0] == "ok":
                assert kernel_level_reason(spec, str(exc)), (spec, str(exc))
                counts["kernel"] += 1
            else:
                counts["neither"] += 1
            continue
        assert c[0] == "ok", (spec, c)
        conf = p.conf
        assert c[1:12] == [
            str(v)
            for v in (
                p.nr_mode, p.nr_ringid, p.nr_flags, p.mem_id or 0, conf.tx_rings, conf.rx_rings,
                conf.host_tx_rings, conf.host_rx_rings, conf.tx_slots, conf.rx_slots,
            )
        ] + ["-"], spec  # fmt: skip
        assert c[12] == p.nr_name, spec
        counts["both"] += 1
    # The fuzz reaches all three outcomes often enough to mean something.
    assert min(counts.values()) >= 200, counts
