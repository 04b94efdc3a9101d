"""`ptnet chain validate NAME`: the validation mix through a running chain, judged.

nf-probe (ptnet/chain/traffic.py builds its command line and judges its report) sends the mix
into the chain's ingress host port and receives at the egress, both directions. Each NF's stats
are read before and after over SSH, so the per-hop table shows what each NF's ports moved during
the run: rx, tx and drops, like NFVbench's chain analysis.
"""

import json
import subprocess
import tempfile
import time
from typing import Any

from ptnet.build.tools import tool_path
from ptnet.chain import lifecycle
from ptnet.errors import PtnetError
from ptnet.vm.lifecycle import slowdown

COUNTERS = ("rx", "tx", "drop")


def _port_counters(stats: dict[str, Any] | None, side: str) -> dict[str, int]:
    port = ((stats or {}).get("ports") or {}).get(side) or {}
    return {k: int(port.get(k, 0)) for k in COUNTERS}


def hop_table(
    record: lifecycle.ChainRecord,
    before: dict[str, dict[str, Any] | None],
    after: dict[str, dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """One row per NF port: the counters it moved between `before` and `after`."""
    rows = []
    for nf in record.nfs:
        for side, port in zip(("in", "out"), nf.ports, strict=True):
            start, end = _port_counters(before[nf.name], side), _port_counters(after[nf.name], side)
            rows.append(
                {
                    "nf": nf.name,
                    "role": nf.role,
                    "host": nf.host,
                    "side": side,
                    "port": port,
                    **{k: end[k] - start[k] for k in COUNTERS},
                    "stats": after[nf.name] is not None,
                }
            )
    return rows


def all_stats(record: lifecycle.ChainRecord) -> dict[str, dict[str, Any] | None]:
    return {nf.name: lifecycle.nf_stats(nf) for nf in record.nfs}


def stats_after(record: lifecycle.ChainRecord) -> dict[str, dict[str, Any] | None]:
    """all_stats() once traffic has stopped: the NFs write their stats every second, so one
    write passes after the last frame first."""
    time.sleep(1.5)
    return all_stats(record)


def host_port_ends(record: lifecycle.ChainRecord, verb: str) -> tuple[str, str]:
    """The chain's ingress and egress host ports, which `verb` sends into and receives from."""
    if not (record.ingress_port and record.egress_port):
        raise PtnetError(
            f"chain {record.name} has a NIC at an end: {verb} needs host ports at both"
        )
    return record.ingress_port, record.egress_port


def ids_hits(
    record: lifecycle.ChainRecord,
    before: dict[str, dict[str, Any] | None],
    after: dict[str, dict[str, Any] | None],
) -> dict[str, int] | None:
    """What the ids NFs' signatures matched between `before` and `after` ({"SID": frames});
    None when the chain has no ids, or an ids NF's stats could not be read."""
    ids = [nf for nf in record.nfs if nf.role == "ids"]
    if not ids:
        return None
    hits: dict[str, int] = {}
    for nf in ids:
        start, end = before[nf.name], after[nf.name]
        if end is None:
            return None
        old = ((start or {}).get("ids") or {}).get("hits") or {}
        for sid, n in ((end.get("ids") or {}).get("hits") or {}).items():
            hits[sid] = hits.get(sid, 0) + int(n) - int(old.get(sid, 0))
    return hits


def validate(name: str, *, repeat: int = 1) -> dict[str, Any]:
    """Run the mix through chain `name`; the verdict, the flows, the hop table and the Mpps."""
    from ptnet.chain import traffic  # the mix (the nf part of issue 15)

    record = lifecycle.find(name)
    ingress, egress = host_port_ends(record, "validate")
    roles = [nf.role for nf in record.nfs]
    ips = any(nf.role == "ids" and "ips" in nf.command for nf in record.nfs)
    accel = ""
    if record.nfs and (vm := lifecycle.base.load_record(record.nfs[0].vm)) is not None:
        accel = vm.accel
    slow = slowdown(accel)
    before = all_stats(record)
    with tempfile.NamedTemporaryFile("w", prefix="ptnet-mix-", suffix=".txt") as mix:
        mix.write(traffic.mix_text())
        mix.flush()
        argv = traffic.probe_argv(
            ingress,
            egress,
            mix.name,
            probe=str(tool_path("nf-probe")),
            repeat=repeat,
            timeout=10.0 * slow,
        )
        # Through nested guests a frame may take seconds: a phase ends after this long quiet.
        argv += ["--settle", f"{1.0 * slow:g}"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120 * slow)
        except subprocess.TimeoutExpired:
            raise PtnetError(f"nf-probe did not finish within {120 * slow:g} s") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise PtnetError(f"nf-probe failed: {lines[-1] if lines else proc.returncode}")
    report = json.loads(proc.stdout)
    after = stats_after(record)
    judged = traffic.judge(roles, report, ips=ips, ids_hits=ids_hits(record, before, after))
    return {
        "chain": name,
        "verdict": judged["verdict"],
        "mpps": report.get("mpps"),
        "flows": judged["flows"],
        "ids": judged.get("ids"),
        "hops": hop_table(record, before, after),
        "probe": {k: report.get(k) for k in ("a", "b", "elapsed_s")},
    }
